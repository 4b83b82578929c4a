"""Staff accounts from the command line: the first admin, and the demo partnership's staff."""

from __future__ import annotations

import base64
import hashlib

import click
import pyotp
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import select

from portal import database, mail
from portal.audit import Actor
from portal.database import utcnow
from portal.errors import DomainError
from portal.identity import staff as ops
from portal.identity.models import StaffUser
from portal.identity.people import SETUP_MAX_AGE, send_setup_link

staff_cli = AppGroup("staff", help="Staff accounts of the back office.")


CLI_ACTOR = Actor("system", "cli")


# Development only: well-known passwords and authenticator secrets for the demo partnership.
DEMO_STAFF = [
    ("consent.officer@fenshire-police.example", "Casey Consent", ("consent-officer",),
     "demo-consent-officer"),
    # SAR work: two partnership coordinators (one builds a bundle, the other approves it)
    # and the reviewers of two agencies, each seeing only their own agency's records.
    ("sar.coordinator@fenshire-police.example", "Cody Coordinator", ("sar-coordinator",),
     "demo-sar-coordinator"),
    ("sar.approver@fenshire-city-council.example", "Ali Approver", ("sar-coordinator",),
     "demo-sar-approver"),
    ("sar.officer@fenshire-police.example", "Sasha SAR", ("sar-officer",), "demo-sar-officer"),
    ("sar.officer@fenshire-idva.example", "Indra Reviewer", ("sar-officer",),
     "demo-sar-officer-idva"),
    ("agency.admin@fenshire-police.example", "Avery Admin", ("agency-admin",),
     "demo-agency-admin"),
    ("partnership.admin@fenshire-police.example", "Parker Partnership",
     ("partnership-admin",), "demo-partnership-admin"),
]


def demo_secret(email: str) -> str:
    """The demo staff member's fixed authenticator secret (derived from their email)."""
    return base64.b32encode(hashlib.sha256(email.encode()).digest()[:20]).decode()


@staff_cli.command("create-admin")
@click.option("--agency", required=True, help="The agency's slug.")
@click.option("--email", required=True)
@click.option("--name", required=True)
@click.option("--role", "roles", multiple=True, default=("partnership-admin",),
              show_default=True, help="Repeat for several roles.")
def create_admin(agency: str, email: str, name: str, roles: tuple[str, ...]) -> None:
    """Create a staff member (by default a partnership admin) and print their set-up link."""

    # The link is built as the web path builds it, against the portal's public address.
    with current_app.test_request_context(base_url=current_app.config["PORTAL"].public_url):
        db = database.session()
        try:
            staff = ops.create_staff(db, ops.NewStaff(agency, email, name, roles),
                                     actor=CLI_ACTOR)
            # The same single-use link as an agency admin's "add a member": nobody who ran
            # this command holds a password that signs in as the new member.
            link = send_setup_link(db, None, staff, actor=CLI_ACTOR)
        except DomainError as exc:
            db.rollback()
            mail.discard_queue()
            raise click.ClickException(exc.message) from exc
        db.commit()
        mail.flush_queue()
    click.echo(f"Created staff member {staff.id} ({staff.email}) of {agency}.")
    click.echo(f"Set-up link (works once, for {SETUP_MAX_AGE // 86400} days), also emailed "
               "to them:")
    click.echo(link)
    click.echo("Give the link only to them. They choose a password with it, then set up their "
               "authenticator app at their first sign-in.")


@staff_cli.command("demo-users")
def demo_users() -> None:
    """Create the demo staff (development only; each of the agency its address names) and
    print how to sign in."""

    if current_app.config["PORTAL"].is_production:
        raise click.ClickException("demo staff are for development only, never production")
    db = database.session()
    for email, name, roles, password in DEMO_STAFF:
        secret = demo_secret(email)
        staff = db.scalar(select(StaffUser).where(StaffUser.email == email))
        if staff is None:
            agency = email.split("@")[1].removesuffix(".example")
            staff = ops.create_staff(db, ops.NewStaff(agency, email, name, roles),
                                     actor=CLI_ACTOR, password=password)
        staff.totp_secret = secret
        staff.totp_confirmed_at = staff.totp_confirmed_at or utcnow()
        db.flush()
        click.echo(f"{email}  password: {password}  roles: {' '.join(roles)}")
        click.echo(f"    TOTP secret: {secret}  (code now: {pyotp.TOTP(secret).now()})")
    db.commit()
