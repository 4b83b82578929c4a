"""The durable outbox: every email is a row written in the transaction of the change that
causes it, sent after the commit (and by the worker, with retries), and kept as a delivery
record.

A message is sent at least once: a process that dies after the SMTP server accepted it and
before its row says so sends it again (the Message-ID is the same, so a mailbox sees a
repeat). Its body is held only until it is sent or given up on; the recipient's address
and the subject only until the retention has passed. What stays is the proof: kind, attempts,
last error, sent-at and Message-ID.
"""

from __future__ import annotations

import datetime as dt
import logging
import smtplib
import uuid
from collections.abc import Callable
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import Index, Integer, LargeBinary, String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from portal import audit
from portal.audit import SYSTEM
from portal.config import Config
from portal.database import Base, get_database, new_uuid, transaction, utcnow

log = logging.getLogger("portal.outbox")

QUEUED, SENT, FAILED = "queued", "sent", "failed"
MAX_ATTEMPTS = 8
# The first retry after a minute, then doubling: 1, 2, 4 ... 64 minutes, about two hours in all.
FIRST_RETRY = dt.timedelta(minutes=1)
MAX_RETRY = dt.timedelta(hours=2)


class OutboxMail(Base):
    """One email: to be sent, sent (with its delivery record) or given up on."""

    __tablename__ = "mail_outbox"
    __table_args__ = (Index("ix_mail_outbox_state_next", "state", "next_attempt_at"),
                      Index("ix_mail_outbox_object", "object_type", "object_id"))

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    # What the email is (like "sar.extended"), and the object it is about, for the pages that
    # show whether a notice reached its reader.
    kind: Mapped[str] = mapped_column(String(64), default="")
    object_type: Mapped[str] = mapped_column(String(32), default="")
    object_id: Mapped[str] = mapped_column(String(64), default="")
    recipient: Mapped[str] = mapped_column(String(320), default="")
    subject: Mapped[str] = mapped_column(Text, default="")
    message_id: Mapped[str] = mapped_column(String(255))
    # The whole message as it will be sent; None once sent, given up on or purged.
    content: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    state: Mapped[str] = mapped_column(String(16), default=QUEUED)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")
    next_attempt_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    purged_at: Mapped[dt.datetime | None] = mapped_column(default=None)


def enqueue(session: Session, msg: EmailMessage, *, kind: str = "", object_type: str = "",
            object_id: str = "") -> OutboxMail:
    """Write the message to the outbox in the caller's transaction (sent after its commit)."""
    row = OutboxMail(kind=kind, object_type=object_type, object_id=object_id,
                     recipient=str(msg["To"] or ""), subject=str(msg["Subject"] or ""),
                     message_id=str(msg["Message-ID"] or ""), content=bytes(msg),
                     state=QUEUED, next_attempt_at=utcnow())
    session.add(row)
    session.flush()
    return row


def backoff(attempts: int) -> dt.timedelta:
    """How long to wait after the ``attempts``-th failed attempt: doubling, capped."""
    wait: dt.timedelta = FIRST_RETRY * (2 ** max(0, attempts - 1))
    return min(wait, MAX_RETRY)


Sender = Callable[[EmailMessage, Config], None]


def _message(row: OutboxMail) -> EmailMessage:
    msg = message_from_bytes(row.content or b"", policy=default_policy)
    assert isinstance(msg, EmailMessage)  # noqa: S101 - the default policy makes one
    return msg


def attempt(session: Session, row: OutboxMail, config: Config, *, send: Sender,
            now: dt.datetime) -> bool:
    """Try to send one queued message and record the outcome; True when it was sent."""
    if row.state != QUEUED or row.content is None:
        return row.state == SENT
    row.attempts += 1
    try:
        send(_message(row), config)
    except (OSError, smtplib.SMTPException) as exc:
        row.last_error = f"{type(exc).__name__}: {exc}"[:2000]
        if row.attempts >= MAX_ATTEMPTS:
            row.state = FAILED
            row.content = None  # given up on: the body is not kept
            log.error("mail given up", extra={"mail": str(row.id), "kind": row.kind,
                                              "attempts": row.attempts})
            audit.record(session, "mail.failed", SYSTEM, object_type="mail",
                         object_id=str(row.id), details={"kind": row.kind,
                                                         "attempts": row.attempts})
        else:
            row.next_attempt_at = now + backoff(row.attempts)
            log.warning("mail not sent; will retry", extra={
                "mail": str(row.id), "kind": row.kind, "attempts": row.attempts,
                "error": row.last_error[:200]})
        session.flush()
        return False
    row.state = SENT
    row.sent_at = now
    row.last_error = ""
    row.content = None  # sent: the delivery record needs no body
    session.flush()
    return True


def _claim(session: Session, stmt: object) -> list[OutboxMail]:
    query = stmt  # a Select of OutboxMail
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)  # type: ignore[attr-defined]
    return list(session.scalars(query))  # type: ignore[call-overload]


def send_ids(factory: sessionmaker[Session], ids: list[uuid.UUID], config: Config, *,
             send: Sender | None = None) -> int:
    """Send these just-committed messages now (the rest wait for the worker); each in its
    own transaction, so one failure leaves the others' records intact."""
    from portal import mail

    sent = 0
    for mail_id in ids:
        with transaction(factory) as session:
            found = _claim(session, select(OutboxMail).where(OutboxMail.id == mail_id,
                                                             OutboxMail.state == QUEUED))
            for row in found:
                sent += attempt(session, row, config, send=send or mail.send_now,
                                now=utcnow())
    return sent


def send_due(factory: sessionmaker[Session], config: Config, *, now: dt.datetime | None = None,
             limit: int = 50, send: Sender | None = None) -> int:
    """Send every queued message whose next attempt is due (oldest first); rows another
    worker holds are skipped on PostgreSQL. Returns how many were sent."""
    from portal import mail

    sent = 0
    moment = now or utcnow()
    with transaction(factory) as session:
        due = [r.id for r in _claim(session, select(OutboxMail).where(
            OutboxMail.state == QUEUED, OutboxMail.next_attempt_at <= moment)
            .order_by(OutboxMail.created_at).limit(limit))]
    for mail_id in due:
        with transaction(factory) as session:
            for row in _claim(session, select(OutboxMail).where(
                    OutboxMail.id == mail_id, OutboxMail.state == QUEUED,
                    OutboxMail.next_attempt_at <= moment)):
                sent += attempt(session, row, config, send=send or mail.send_now, now=moment)
    return sent


def purge(session: Session, *, now: dt.datetime, retention_days: int) -> int:
    """Clear the recipient and subject of messages sent or given up on more than
    ``retention_days`` ago (the delivery record stays); returns how many."""
    cutoff = now - dt.timedelta(days=retention_days)
    count = 0
    for row in session.scalars(select(OutboxMail).where(
            OutboxMail.state.in_((SENT, FAILED)), OutboxMail.purged_at.is_(None),
            OutboxMail.created_at < cutoff)):
        row.recipient = ""
        row.subject = ""
        row.content = None
        row.purged_at = now
        count += 1
    session.flush()
    if count:
        audit.record(session, "mail.purged", SYSTEM, object_type="mail",
                     details={"messages": count})
    return count


def records_for(session: Session, object_type: str, object_id: str) -> list[OutboxMail]:
    """The delivery records of the messages about one object, oldest first."""
    return list(session.scalars(select(OutboxMail).where(
        OutboxMail.object_type == object_type, OutboxMail.object_id == object_id)
        .order_by(OutboxMail.created_at)))


mail_cli = AppGroup("mail", help="The outbox: send what is due, purge what is old.")


@mail_cli.command("send")
def send_command() -> None:
    """Send every queued message whose next attempt is due."""
    config: Config = current_app.config["PORTAL"]
    count = send_due(get_database(current_app).sessionmaker, config, limit=1000)
    click.echo(f"sent {count} message(s)")


@mail_cli.command("purge")
def purge_command() -> None:
    """Clear addresses and subjects of messages past the outbox retention."""
    config: Config = current_app.config["PORTAL"]
    with transaction(get_database(current_app).sessionmaker) as session:
        count = purge(session, now=utcnow(), retention_days=config.mail_retention_days)
    click.echo(f"purged {count} message(s)")
