"""Consent's commands: expiring consents, the demo partnership, and exporting and importing
the register."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TextIO

import click
from flask import current_app
from flask.cli import AppGroup, with_appcontext

from consent import demo, register
from consent import operations as consent_ops
from portal import audit, audit_head, database
from portal.database import app_sessions, transaction
from portal.errors import DomainError
from portal.identity.cli import CLI_ACTOR, staff_cli


@staff_cli.command("export-register")
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
@click.option("--key", "key_value", default=None,
              help="The Ed25519 private key that signs the export's audit head (PEM file's "
                   "path or base64); default: PORTAL_AUDIT_SIGNING_KEY.")
def export_register(folder: Path, key_value: str | None) -> None:
    """Export the whole register (JSON Lines, CSV, FHIR R5 Consent Bundle) to FOLDER, with
    its audit head signed (audit-head.signed.json) when a signing key is set."""

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


@click.command("demo-data", help="Seed the demo partnership (idempotent) and print a demo key "
                                 "and, outside production, a claim code for a demo person.")
@with_appcontext
def demo_data() -> None:
    """Seed the demo partnership; end with the URL, the key, a claim code and a check to try."""

    config = current_app.config["PORTAL"]
    with transaction(app_sessions()) as session:
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


consent_cli = AppGroup("consent", help="Consent register maintenance.")


@consent_cli.command("expire-due")
def consent_expire_due() -> None:
    """Record an expiry for every consent whose validity has run out."""
    with transaction(app_sessions()) as session:
        count = consent_ops.expire_due(session)
    click.echo(f"{count} consent(s) expired")
