"""Helpers for the public portal's tests: CSRF tokens, the outbox, a linked account."""

from __future__ import annotations

import email
import re
import uuid
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal import outbox as portal_outbox
from portal.audit import Actor
from portal.database import get_database
from portal.identity import claims
from portal.identity.models import Account
from portal.reference.models import Holding
from tests.identity_helpers import make_account

STAFF = Actor("staff", "test-officer", None)


def csrf(client: FlaskClient, url: str) -> str:
    """The CSRF token of the form on a page."""
    html = client.get(url).get_data(as_text=True)
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, f"no form on {url}"
    return match.group(1)


def post(client: FlaskClient, url: str, data: dict[str, Any] | None = None,
         form_url: str | None = None) -> Any:
    """Post a form with a valid CSRF token taken from the page that holds it."""
    token = csrf(client, form_url or url)
    return client.post(url, data={"csrf_token": token, **(data or {})})


def outbox(app: Flask) -> list[email.message.Message]:
    """Every message written to the instance outbox, oldest first (after the worker has sent
    what was queued for it)."""
    portal_outbox.send_due(get_database(app).sessionmaker, app.config["PORTAL"])
    folder = Path(app.config["PORTAL"].instance_path) / "outbox"
    files = sorted(folder.glob("*.eml"), key=lambda p: p.stat().st_mtime_ns) \
        if folder.exists() else []
    return [email.message_from_bytes(p.read_bytes()) for p in files]


def body(msg: email.message.Message) -> str:
    """The plain-text body of a message."""
    part = msg.get_payload(decode=True) if not msg.is_multipart() else \
        msg.get_payload(0).get_payload(decode=True)  # type: ignore[union-attr]
    return bytes(part).decode()  # type: ignore[arg-type]


def link_in(msg: email.message.Message) -> str:
    """The path of the first link in a message."""
    match = re.search(r"https?://[^/\s]+(/\S+)", body(msg))
    assert match, body(msg)
    return match.group(1)


def subject_of(session: Session, ref: str) -> uuid.UUID:
    """The subject id of a demo holding."""
    sid = session.scalar(select(Holding.subject_id).where(Holding.agency_ref == ref))
    assert sid is not None
    return sid


def linked_account(session: Session, ref: str = "FP-DEMO-0001") -> Account:
    """A verified account linked to a demo subject."""
    return make_account(session, subject_id=subject_of(session, ref))


def claim_code(session: Session, ref: str) -> str:
    """A fresh claim code for a demo subject (committed)."""
    _claim, code = claims.issue(session, subject_of(session, ref), actor=STAFF)
    session.commit()
    return code
