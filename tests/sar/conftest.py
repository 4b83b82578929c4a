"""Factories for SAR tests: a subject held by two agencies, requests, tasks, bundles."""

from __future__ import annotations

import datetime as dt
import io
import socket
import uuid
from collections.abc import Callable, Iterator
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.app import create_app
from portal.audit import Actor
from portal.database import get_database
from portal.identity.models import Role, StaffUser
from portal.reference import operations
from portal.reference.models import Holding
from sar import operations as ops
from sar.models import SarBundle, SarRequest
from tests.conftest import make_config
from tests.identity_helpers import make_staff

STAFF = Actor("staff", "1", None)


def image_bytes(fmt: str, size: tuple[int, int] = (8, 8)) -> bytes:
    """A small, real image (PNG or JPEG) that an upload check reads whole."""
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", size, (200, 180, 40)).save(out, fmt)
    return out.getvalue()


PNG = image_bytes("PNG")
JPEG = image_bytes("JPEG")


@pytest.fixture
def officers(session: Session, demo: Any) -> tuple[StaffUser, StaffUser]:
    """Two SAR coordinators (ids 1 and 2 in a fresh database): one builds, one approves."""
    first = make_staff(session, "victim-care", Role.SAR_COORDINATOR)
    second = make_staff(session, "fenshire-city-council", Role.SAR_COORDINATOR)
    assert (first.id, second.id) == (1, 2)
    return first, second


@pytest.fixture
def reviewers(session: Session, officers: tuple[StaffUser, StaffUser]
              ) -> dict[str, StaffUser]:
    """A SAR officer (an agency's reviewer) of the police, of the IDVA service and of Victim
    Care (which holds nothing on Morgan)."""
    return {slug: make_staff(session, slug, Role.SAR_OFFICER)
            for slug in ("fenshire-police", "fenshire-idva", "victim-care")}


def open_documents(session: Session, sar: SarRequest, staff_id: int = 1) -> None:
    """The coordinator opens every ID and authority document (as the document page logs)."""
    for doc in ops.documents(session, sar):
        ops.audit_view(session, sar, actor=Actor("staff", str(staff_id), None),
                       what="document", role=Role.SAR_COORDINATOR.value,
                       object_id=str(doc.id))


def open_bundle(session: Session, bundle: SarBundle, staff_id: int) -> None:
    """A coordinator opens the bundle's PDF (as the preview page logs)."""
    ops.audit_view(session, bundle.request, actor=Actor("staff", str(staff_id), None),
                   what="bundle", role=Role.SAR_COORDINATOR.value, object_id=str(bundle.id))


@pytest.fixture
def morgan(session: Session, officers: tuple[StaffUser, StaffUser]) -> uuid.UUID:
    """Morgan Lee (has a safe contact), held by the police and the IDVA service."""
    holding = session.scalar(select(Holding).where(Holding.agency_ref == "FP-DEMO-0004"))
    assert holding is not None
    idva = operations.agency_by_slug(session, "fenshire-idva")
    # A holding matched to Morgan and reviewed (an agency's API may not link by id alone),
    # audited like every holding.
    operations.put_holding(session, idva.id, "IDVA-77", categories=[],
                           since=dt.date(2026, 3, 1), actor=STAFF,
                           subject_id=holding.subject_id, reviewed=True)
    session.commit()
    return holding.subject_id


@pytest.fixture
def filed(session: Session, morgan: uuid.UUID) -> Callable[..., SarRequest]:
    """File a committed request for Morgan, verified (clock started) unless told otherwise."""

    def make(*, verified: bool = True, account_id: uuid.UUID | None = None,
             email: str = "morgan.lee@example.org", **kw: Any) -> SarRequest:
        new = ops.NewRequest(requester_name="Morgan Lee", requester_email=email,
                             subject_name="Morgan Lee", documents=[("identity", PNG)], **kw)
        sar = ops.file_request(session, new, actor=STAFF, today=dt.date(2026, 11, 2))
        if account_id is not None:
            sar.account_id = account_id
        if verified:
            open_documents(session, sar)
            ops.verify_identity(session, sar, subject_id=morgan, staff_id=1,
                                method="document", note="passport photo matches",
                                today=dt.date(2026, 11, 3), actor=STAFF)
        session.commit()
        return sar

    return make


class Inbox:
    """Messages a local SMTP server (aiosmtpd) received."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.content, policy=default))  # type: ignore[arg-type]
        return "250 OK"

    def bodies(self) -> list[str]:
        """Every message's text."""
        out = []
        for msg in self.messages:
            part = msg.get_body(("plain",))
            out.append(part.get_content() if part is not None else "")
        return out


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    """A real SMTP server on a free local port."""
    inbox = Inbox()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


@pytest.fixture
def mail_app(db_url: str, tmp_path: Path, smtp: tuple[Inbox, int]) -> Iterator[Flask]:
    """The app, sending mail to the local SMTP server, without rate limits."""
    _inbox, port = smtp
    application = create_app(make_config(db_url, tmp_path / "instance", smtp_host="127.0.0.1",
                                         smtp_port=port, smtp_tls="none", rate_limits=False))
    yield application
    get_database(application).engine.dispose()


@pytest.fixture
def inbox(smtp: tuple[Inbox, int]) -> Inbox:
    """What the SMTP server received."""
    return smtp[0]
