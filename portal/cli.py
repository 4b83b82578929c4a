"""Command-line entry points: ``flask --app portal <command>``."""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from pathlib import Path
from typing import Any, TextIO

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from consent import operations as consent_ops
from portal import audit, audit_head, migrate
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
    for group in (db_cli, api_keys_cli, consent_cli, audit_cli, holdings_cli):
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


@click.command("demo-data", help="Seed the demo partnership (idempotent) and print a demo key "
                                 "and, outside production, a claim code for a demo person.")
@with_appcontext
def demo_data() -> None:
    """Seed the demo partnership; end with the URL, the key, a claim code and a check to try."""
    from portal import demo

    config = current_app.config["PORTAL"]
    with transaction(_factory()) as session:
        summary = demo.seed(session)
        _client, key = demo.fresh_demo_key(session)
        # A claim code takes over a person's records: never printed by a production instance.
        code = None if config.is_production else demo.fresh_claim_code(session)
    outbox = Path(config.instance_path) / "outbox"
    if outbox.is_relative_to(Path.cwd()):
        outbox = outbox.relative_to(Path.cwd())
    click.echo(demo.describe(summary))
    click.echo()
    click.echo(demo.banner(config.public_url, key, claim_code=code,
                           already_linked=code is None and not config.is_production,
                           mail="sent by SMTP" if config.smtp_host else f"written to {outbox}/"))


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


holdings_cli = AppGroup("holdings", help="Which agency holds records on whom.")


@holdings_cli.command("link")
@click.option("--agency", required=True, help="The agency's slug")
@click.option("--ref", "agency_ref", required=True, help="The agency's own reference")
@click.option("--subject", "subject_id", type=click.UUID, required=True,
              help="The person's subject id")
@click.option("--by", "admin_email", required=True,
              help="The email address of the partnership admin who reviewed the match")
@click.option("--category", "categories", multiple=True,
              help="A data category slug the agency holds; repeat for several")
@click.option("--since", type=click.DateTime(formats=["%Y-%m-%d"]), required=True,
              help="The date the agency's records began (YYYY-MM-DD)")
def holdings_link(agency: str, agency_ref: str, subject_id: Any, admin_email: str,
                  categories: tuple[str, ...], since: dt.datetime) -> None:
    """Link an agency's reference to a person, as a partnership admin decided after matching
    it to the person's identity facts (the API never links by an id alone)."""
    from portal.identity.models import StaffUser
    from portal.staff import operations as staff_ops

    try:
        with transaction(_factory()) as session:
            admin = session.scalar(select(StaffUser).where(
                StaffUser.email == admin_email.strip().lower()))
            if admin is None:
                raise click.ClickException("no staff member with that email address")
            holding = staff_ops.link_reviewed_holding(
                session, admin, agency, agency_ref, subject_id,
                categories=list(categories), since=since.date())
            held = holding.id
    except DomainError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(f"linked {agency} reference {agency_ref} to subject {subject_id} "
               f"(holding {held})")


consent_cli = AppGroup("consent", help="Consent register maintenance.")


@consent_cli.command("expire-due")
def consent_expire_due() -> None:
    """Record an expiry for every consent whose validity has run out."""
    with transaction(_factory()) as session:
        count = consent_ops.expire_due(session)
    click.echo(f"{count} consent(s) expired")


audit_cli = AppGroup("audit", help="The hash-chained audit log.")


def _trusted_key(public_key: str | None) -> Any:
    """The key a head must be signed by: --public-key, else the configured signing key's."""
    if public_key:
        return audit_head.load_public_key(public_key)
    configured = current_app.config["PORTAL"].audit_signing_key
    if configured:
        return audit_head.load_private_key(configured).public_key()
    raise click.ClickException("give --public-key (or set PORTAL_AUDIT_SIGNING_KEY) to say "
                               "which key the head must be signed by")


@audit_cli.command("verify")
@click.option("--against", "head_file", type=click.File("r", encoding="utf-8"), default=None,
              help="A signed head file (from 'audit head --signed'): also prove that every "
                   "chain still holds the signed entries.")
@click.option("--public-key", default=None,
              help="The trusted Ed25519 public key (PEM text, a PEM file's path, or base64); "
                   "default: the public half of PORTAL_AUDIT_SIGNING_KEY.")
def audit_verify(head_file: TextIO | None, public_key: str | None) -> None:
    """Exit 0 if the chains are intact and every consent event and check decision matches
    its entry; otherwise name the first problem and exit 1."""
    if head_file is not None:
        try:
            trusted = _trusted_key(public_key)
            document = json.load(head_file)
        except audit_head.SigningKeyError as exc:
            raise click.ClickException(f"the public key cannot be used: {exc}") from exc
        except ValueError as exc:
            raise click.ClickException(f"the head file is not JSON: {exc}") from exc
        with transaction(_factory()) as session:
            checked = audit_head.verify_against(session, document, trusted)
            records = consent_ops.verify_records(session) if checked.ok else None
        if not checked.ok:
            click.echo(f"audit chain BROKEN: {checked.problem}", err=True)
            sys.exit(1)
        click.echo(f"audit chain intact and matches the signed head of "
                   f"{document['signed_at']}: {checked.count} entries in "
                   f"{checked.chains} chain(s)")
        _report_records(records)
        return
    with transaction(_factory()) as session:
        result = audit.verify(session)
        records = consent_ops.verify_records(session) if result.ok else None
    if not result.ok:
        click.echo(f"audit chain BROKEN: {result.problem}", err=True)
        sys.exit(1)
    click.echo(f"audit chain intact: {result.count} entries in {len(result.heads)} "
               "chain(s)")
    _report_records(records)


def _report_records(records: list[tuple[str, consent_ops.RecordsVerified]] | None) -> None:
    """Say whether consent events and check decisions match their (already verified)
    entries; exit 1 if either does not."""
    assert records is not None  # noqa: S101 - only called once the chain verified
    for name, result in records:
        if result.ok:
            click.echo(f"{name} intact: {result.count} match their audit entries")
        else:
            click.echo(f"{name} BROKEN: {result.problem}", err=True)
    if not all(result.ok for _, result in records):
        sys.exit(1)


@audit_cli.command("head")
@click.option("--signed", is_flag=True,
              help="Write a JSON head signed with PORTAL_AUDIT_SIGNING_KEY (or --key).")
@click.option("--key", "key_value", default=None,
              help="The Ed25519 private key to sign with (PEM file's path or base64), instead "
                   "of PORTAL_AUDIT_SIGNING_KEY.")
@click.option("--output", type=click.Path(dir_okay=False, writable=True), default="-",
              show_default=True, help="Where to write the signed head ('-' for stdout).")
def audit_head_command(signed: bool, key_value: str | None, output: str) -> None:
    """Print each chain's head (chain, sequence number, hash) for anchoring elsewhere."""
    if not signed:
        with transaction(_factory()) as session:
            heads = audit.head(session)
        for chain, (seq, digest) in heads.items():
            click.echo(f"{chain} {seq} {digest}")
        return
    value = key_value or current_app.config["PORTAL"].audit_signing_key
    if not value:
        raise click.ClickException("set PORTAL_AUDIT_SIGNING_KEY or give --key to sign a head")
    try:
        key = audit_head.load_private_key(value)
    except audit_head.SigningKeyError as exc:
        raise click.ClickException(f"the signing key cannot be used: {exc}") from exc
    with transaction(_factory()) as session:
        document = audit_head.sign_head(session, key, now=utcnow())
    text = json.dumps(document, indent=2, sort_keys=True) + "\n"
    if output == "-":
        click.echo(text, nl=False)
        return
    Path(output).write_text(text, encoding="utf-8")
    click.echo(f"signed head of {len(document['chains'])} chain(s) written to {output} "
               f"(key {document['key_id']})", err=True)


@audit_cli.command("new-signing-key")
@click.option("--output", type=click.Path(dir_okay=False, writable=True), required=True,
              help="Where to write the private key (PEM, readable by its owner only).")
def audit_new_signing_key(output: str) -> None:
    """Make an Ed25519 key for signing heads; print its public half (base64)."""
    pem, public = audit_head.new_private_key_pem()
    path = Path(output)
    if path.exists():
        raise click.ClickException(f"{output} exists; refusing to overwrite a key")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
    click.echo(f"private key written to {output}; public key (base64):")
    click.echo(public)
