"""Command-line entry points: ``flask --app portal <command>``."""

from __future__ import annotations

import datetime as dt
import sys

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from consent import operations as consent_ops
from portal import audit, migrate
from portal.audit import Actor
from portal.database import get_database
from portal.db import transaction, utcnow
from portal.errors import DomainError
from portal.models import ApiClient

CLI_ACTOR = Actor("cli", "cli")


def _factory() -> sessionmaker[Session]:
    return get_database(current_app).sessionmaker


def register(app: Flask) -> None:
    """Attach every command group to the app's CLI."""
    for group in (db_cli, api_keys_cli, consent_cli, audit_cli):
        app.cli.add_command(group)
    app.cli.add_command(demo_data)


db_cli = AppGroup("db", help="Database schema (Alembic migrations).")


@db_cli.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    """Upgrade the database schema to REVISION (default: head)."""
    migrate.upgrade(get_database(current_app).engine, revision)
    click.echo(f"database at {revision}")


@db_cli.command("downgrade")
@click.argument("revision")
def db_downgrade(revision: str) -> None:
    """Downgrade the database schema to REVISION."""
    migrate.downgrade(get_database(current_app).engine, revision)
    click.echo(f"database at {revision}")


@click.command("demo-data", help="Seed the demo partnership (idempotent) and print a demo key.")
@with_appcontext
def demo_data() -> None:
    """Seed the demo partnership."""
    from portal import demo

    with transaction(_factory()) as session:
        summary = demo.seed(session)
        _client, key = demo.fresh_demo_key(session)
    click.echo(demo.describe(summary))
    click.echo("Demo API key for fenshire-police (scopes consent:check holdings:write):")
    click.echo(key)


api_keys_cli = AppGroup("api-keys", help="Create and revoke API keys.")


@api_keys_cli.command("create")
@click.option("--agency", required=True, help="The agency's slug")
@click.option("--scope", "scopes", multiple=True, required=True,
              help="consent:check, holdings:write or sar:supply; repeat for several")
@click.option("--name", default="", help="A label for the key")
@click.option("--expires-days", type=click.IntRange(1, 3650), default=None)
def api_keys_create(agency: str, scopes: tuple[str, ...], name: str,
                    expires_days: int | None) -> None:
    """Create a key; the key alone is printed on the last line."""
    from portal import operations

    expires = utcnow() + dt.timedelta(days=expires_days) if expires_days else None
    try:
        with transaction(_factory()) as session:
            client, key = operations.create_api_key(session, agency, list(scopes),
                                                    actor=CLI_ACTOR, name=name,
                                                    expires_at=expires)
    except DomainError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(f"created key {client.id} ({client.key_prefix}…) for {agency}: "
               f"{' '.join(sorted(scopes))}")
    click.echo(key)


@api_keys_cli.command("revoke")
@click.argument("key_id", type=int)
def api_keys_revoke(key_id: int) -> None:
    """Revoke the key with this id."""
    from portal import operations

    try:
        with transaction(_factory()) as session:
            operations.revoke_api_key(session, key_id, actor=CLI_ACTOR)
    except DomainError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(f"revoked key {key_id}")


@api_keys_cli.command("list")
def api_keys_list() -> None:
    """List keys (never the keys themselves)."""
    with transaction(_factory()) as session:
        for c in session.scalars(select(ApiClient).order_by(ApiClient.id)):
            state = "revoked" if c.revoked_at else "live"
            click.echo(f"{c.id}\t{c.key_prefix}…\t{c.agency.slug}\t{c.scopes}\t{state}\t"
                       f"last used {c.last_used_at or 'never'}")


consent_cli = AppGroup("consent", help="Consent register maintenance.")


@consent_cli.command("expire-due")
def consent_expire_due() -> None:
    """Record an expiry for every consent whose validity has run out."""
    with transaction(_factory()) as session:
        count = consent_ops.expire_due(session)
    click.echo(f"{count} consent(s) expired")


audit_cli = AppGroup("audit", help="The hash-chained audit log.")


@audit_cli.command("verify")
def audit_verify() -> None:
    """Exit 0 if the chain is intact; otherwise name the first bad entry and exit 1."""
    with transaction(_factory()) as session:
        result = audit.verify(session)
    if result.ok:
        click.echo(f"audit chain intact: {result.count} entries in {len(result.heads)} "
                   "chain(s)")
        return
    click.echo(f"audit chain BROKEN: {result.problem}", err=True)
    sys.exit(1)


@audit_cli.command("head")
def audit_head() -> None:
    """Print each chain's head (chain, sequence number, hash) for anchoring elsewhere."""
    with transaction(_factory()) as session:
        heads = audit.head(session)
    for chain, (seq, digest) in heads.items():
        click.echo(f"{chain} {seq} {digest}")
