"""The audit log's commands: verify the chains (and every record kept beside an entry), print
or sign their heads, make a signing key."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, TextIO

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy.orm import Session

from portal import audit, audit_head
from portal.database import app_sessions, transaction, utcnow

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
        with transaction(app_sessions()) as session:
            checked = audit_head.verify_against(session, document, trusted)
            records = _verify_records(session) if checked.ok else None
        if not checked.ok:
            click.echo(f"audit chain BROKEN: {checked.problem}", err=True)
            sys.exit(1)
        click.echo(f"audit chain intact and matches the signed head of "
                   f"{document['signed_at']}: {checked.count} entries in "
                   f"{checked.chains} chain(s)")
        _report_records(records)
        return
    with transaction(app_sessions()) as session:
        result = audit.verify(session)
        records = _verify_records(session) if result.ok else None
    if not result.ok:
        click.echo(f"audit chain BROKEN: {result.problem}", err=True)
        sys.exit(1)
    click.echo(f"audit chain intact: {result.count} entries in {len(result.heads)} "
               "chain(s)")
    _report_records(records)


def _verify_records(session: Session) -> list[tuple[str, audit.RecordsVerified]]:
    # Each area that keeps records beside their entries (consent events, check decisions)
    # registers how to compare them: the kernel knows no area.
    verifiers = current_app.extensions.get("audit.record_verifiers", [])
    return [result for verify in verifiers for result in verify(session)]


def _report_records(records: list[tuple[str, audit.RecordsVerified]] | None) -> None:
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
        with transaction(app_sessions()) as session:
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
    with transaction(app_sessions()) as session:
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
