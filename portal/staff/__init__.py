"""The staff back office: staff sign-in, roles, first contact, administration."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import Any, TextIO

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from portal.audit import Actor

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
    from portal import database, mail
    from portal.errors import DomainError
    from portal.staff import operations as ops
    from portal.staff.people import SETUP_MAX_AGE, send_setup_link

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
    import pyotp
    from sqlalchemy import select

    from portal import database
    from portal.db import utcnow
    from portal.identity.models import StaffUser
    from portal.staff import operations as ops

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


@staff_cli.command("export-register")
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
@click.option("--key", "key_value", default=None,
              help="The Ed25519 private key that signs the export's audit head (PEM file's "
                   "path or base64); default: PORTAL_AUDIT_SIGNING_KEY.")
def export_register(folder: Path, key_value: str | None) -> None:
    """Export the whole register (JSON Lines, CSV, FHIR R5 Consent Bundle) to FOLDER, with
    its audit head signed (audit-head.signed.json) when a signing key is set."""
    from portal import audit, audit_head, database
    from portal.staff import register

    value = key_value or current_app.config["PORTAL"].audit_signing_key
    try:
        key = audit_head.load_private_key(value) if value else None
    except audit_head.SigningKeyError as exc:
        raise click.ClickException(f"the signing key cannot be used: {exc}") from exc
    db = database.session()
    manifest = register.export_register(db, folder, signing_key=key)
    audit.record(db, "register.export", CLI_ACTOR, object_type="register",
                 details={"tables": manifest["tables"]})
    db.commit()
    for name, count in manifest["tables"].items():
        click.echo(f"{name}: {count}")
    for chain, head in manifest["audit_heads"].items():
        click.echo(f"audit head: chain {chain} entry {head['seq']} {head['hash']}")
    if key is None:
        click.echo("No signing key (PORTAL_AUDIT_SIGNING_KEY or --key): the export has no "
                   "signed head, so it cannot be imported.", err=True)
    else:
        click.echo(f"signed head: {folder / register.HEAD_FILE} (key "
                   f"{audit_head.key_id(key.public_key())}); give the importer the public key "
                   "separately", err=True)


@staff_cli.command("import-register")
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--against", "head_file", required=True,
              type=click.File("r", encoding="utf-8"),
              help="The export's signed audit head (audit-head.signed.json, or one from "
                   "'audit head --signed' at the moment of the export).")
@click.option("--public-key", required=True,
              help="The exporting partnership's Ed25519 public key (PEM text, a PEM file's "
                   "path, or base64), obtained separately from the folder.")
def import_register(folder: Path, head_file: TextIO, public_key: str) -> None:
    """Import an export into this empty register; its audit chain must verify and end at the
    signed head."""
    import json

    from portal import audit_head, database
    from portal.errors import DomainError
    from portal.staff import register

    try:
        trusted = audit_head.load_public_key(public_key)
        head = json.load(head_file)
    except audit_head.SigningKeyError as exc:
        raise click.ClickException(f"the public key cannot be used: {exc}") from exc
    except ValueError as exc:
        raise click.ClickException(f"the head file is not JSON: {exc}") from exc
    db = database.session()
    try:
        counts = register.import_register(db, folder, head=head, trusted=trusted)
    except DomainError as exc:
        db.rollback()
        raise click.ClickException(exc.message) from exc
    db.commit()
    for name, count in counts.items():
        click.echo(f"{name}: {count}")
    click.echo(f"The imported audit chain verifies and matches the head signed at "
               f"{head['signed_at']} by key {head['key_id']}.")


def _shown_safe_contact(staff: Any, subject: Any) -> str:
    """For the subject page: the access model decides whose safe contact it shows."""
    from consent.checks import CheckService
    from portal import database
    from portal.staff.operations import shown_safe_contact

    service: CheckService = current_app.extensions["consent.checks"]
    session = database.session()
    return shown_safe_contact(staff, subject, consented=lambda src, dst, category:
                              service.consented(session, subject.id, src, dst, category))


def init_app(app: Flask) -> None:
    """Register the staff area's blueprints."""
    from consent.first_contact import views as first_contact
    from portal.staff import admin, agreement_views, notices, partnership, people, views

    app.jinja_env.globals["shown_safe_contact"] = _shown_safe_contact
    app.register_blueprint(views.auth)
    app.register_blueprint(views.bp)
    app.register_blueprint(first_contact.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(partnership.bp)
    app.register_blueprint(agreement_views.bp)
    app.register_blueprint(notices.bp)
    app.register_blueprint(people.bp)
    app.register_blueprint(people.setup)
    app.cli.add_command(staff_cli)
