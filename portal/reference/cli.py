"""The partnership's reference data from the command line: API keys and reviewed links."""

from __future__ import annotations

import datetime as dt
from typing import Any

import click
from flask.cli import AppGroup
from sqlalchemy import select

from portal.audit import Actor
from portal.database import app_sessions, transaction, utcnow
from portal.errors import DomainError
from portal.identity.models import StaffUser
from portal.reference import apikeys
from portal.reference import operations as staff_ops
from portal.reference.models import ApiClient

CLI_ACTOR = Actor("cli", "cli")

api_keys_cli = AppGroup("api-keys", help="Create and revoke API keys.")

holdings_cli = AppGroup("holdings", help="Which agency holds records on whom.")




@api_keys_cli.command("create")
@click.option("--agency", required=True, help="The agency's slug")
@click.option("--scope", "scopes", multiple=True, required=True,
              help="consent:check, holdings:write or sar:supply; repeat for several")
@click.option("--name", default="", help="A label for the key")
@click.option("--expires-days", type=click.IntRange(1, 3650), default=None)
def api_keys_create(agency: str, scopes: tuple[str, ...], name: str,
                    expires_days: int | None) -> None:
    """Create a key; the key alone is printed on the last line."""

    expires = utcnow() + dt.timedelta(days=expires_days) if expires_days else None
    try:
        with transaction(app_sessions()) as session:
            client, key = apikeys.create_api_key(session, agency, list(scopes),
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

    try:
        with transaction(app_sessions()) as session:
            apikeys.revoke_api_key(session, key_id, actor=CLI_ACTOR)
    except DomainError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(f"revoked key {key_id}")


@api_keys_cli.command("list")
def api_keys_list() -> None:
    """List keys (never the keys themselves)."""
    with transaction(app_sessions()) as session:
        for c in session.scalars(select(ApiClient).order_by(ApiClient.id)):
            state = "revoked" if c.revoked_at else "live"
            click.echo(f"{c.id}\t{c.key_prefix}…\t{c.agency.slug}\t{c.scopes}\t{state}\t"
                       f"last used {c.last_used_at or 'never'}")


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

    try:
        with transaction(app_sessions()) as session:
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








