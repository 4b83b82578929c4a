"""The durable outbox: a message is a row of the transaction that causes it, sent after the
commit, retried with backoff, proved by its delivery record, and purged after retention."""

from __future__ import annotations

import datetime as dt
import email
import smtplib
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal import database, mail, outbox
from portal.config import Config
from portal.database import get_database, transaction, utcnow
from portal.outbox import OutboxMail


def _message(app: Flask, to: str = "person@example.org") -> EmailMessage:
    with app.app_context():
        return mail.build(to, "A message from the portal", "There is a message for you.",
                          config=app.config["PORTAL"])


def _queued(app: Flask, **kw: str) -> OutboxMail:
    factory = get_database(app).sessionmaker
    with transaction(factory) as s:
        row = outbox.enqueue(s, _message(app), kind="test.notice", **kw)
    return row


class Flaky:
    """An SMTP server that refuses the first ``failures`` messages, then takes them."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.delivered: list[EmailMessage] = []

    def __call__(self, msg: EmailMessage, config: Config) -> None:
        if self.failures:
            self.failures -= 1
            raise smtplib.SMTPServerDisconnected("connection unexpectedly closed")
        self.delivered.append(msg)


def test_every_message_carries_date_and_message_id(app: Flask) -> None:
    msg = _message(app)
    assert msg["Message-ID"].startswith("<") and msg["Message-ID"].endswith(">")
    sent = parsedate_to_datetime(msg["Date"])
    assert abs((sent - utcnow()).total_seconds()) < 60


def test_a_failed_send_is_retried_with_backoff_and_recorded(app: Flask,
                                                            session: Session) -> None:
    # Given a queued message and a mail server that drops the first attempt
    row = _queued(app, object_type="sar", object_id="x")
    factory, config = get_database(app).sessionmaker, app.config["PORTAL"]
    server = Flaky(failures=1)
    now = utcnow()
    # When the worker sends what is due
    assert outbox.send_due(factory, config, now=now, send=server) == 0
    # Then the failure is recorded and the message waits a minute, not lost
    failed = session.get(OutboxMail, row.id)
    assert failed is not None
    assert (failed.state, failed.attempts) == ("queued", 1)
    assert "SMTPServerDisconnected" in failed.last_error
    assert failed.next_attempt_at == now + dt.timedelta(minutes=1)
    assert failed.content is not None
    session.rollback()
    # And it is not tried again before then
    assert outbox.send_due(factory, config, now=now + dt.timedelta(seconds=30),
                           send=server) == 0
    assert server.delivered == []
    # When its time comes, it is sent, once, with the headers it was written with
    later = now + dt.timedelta(minutes=2)
    assert outbox.send_due(factory, config, now=later, send=server) == 1
    assert outbox.send_due(factory, config, now=later, send=server) == 0
    [delivered] = server.delivered
    assert delivered["Message-ID"] == row.message_id and delivered["Date"]
    session.rollback()
    done = session.get(OutboxMail, row.id)
    assert done is not None
    # And the delivery record says so; the body is no longer kept
    assert (done.state, done.attempts, done.sent_at, done.last_error) == (
        "sent", 2, later, "")
    assert done.content is None and done.message_id == row.message_id
    assert outbox.records_for(session, "sar", "x")[0].id == row.id


def test_backoff_doubles_and_a_message_is_given_up_after_the_last_attempt(
        app: Flask, session: Session) -> None:
    assert [outbox.backoff(n).total_seconds() / 60 for n in (1, 2, 3, 4)] == [1, 2, 4, 8]
    assert outbox.backoff(30) == outbox.MAX_RETRY
    row = _queued(app)
    factory, config = get_database(app).sessionmaker, app.config["PORTAL"]
    server = Flaky(failures=100)
    moment = utcnow()
    for _ in range(outbox.MAX_ATTEMPTS):
        outbox.send_due(factory, config, now=moment, send=server)
        moment += outbox.MAX_RETRY
    gone = session.get(OutboxMail, row.id)
    assert gone is not None
    assert (gone.state, gone.attempts, gone.content) == ("failed", outbox.MAX_ATTEMPTS, None)


def test_nothing_is_lost_when_the_process_dies_between_commit_and_send(
        app: Flask, session: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a request whose change and message commit together, and a process that dies
    # before it sends anything
    with app.test_request_context("/"):
        mail.queue(_message(app, "survivor@example.org"), kind="test.notice")
        database.commit_if_open()
        mail.discard_queue()  # what was in memory is gone with the process
    folder = Path(app.config["PORTAL"].instance_path) / "outbox"
    assert not folder.exists() or list(folder.glob("*.eml")) == []
    assert session.scalars(select(OutboxMail.state)).all() == ["queued"]
    # When the worker's command runs
    result = app.test_cli_runner().invoke(args=["mail", "send"])
    # Then the message is sent, from the outbox, and recorded as sent
    assert "sent 1 message(s)" in result.output, result.output
    [written] = list(folder.glob("*.eml"))
    assert email.message_from_bytes(written.read_bytes())["To"] == "survivor@example.org"
    session.rollback()
    assert session.scalars(select(OutboxMail.state)).all() == ["sent"]


def test_a_rolled_back_request_sends_nothing(app: Flask, session: Session) -> None:
    with app.test_request_context("/"):
        mail.queue(_message(app), kind="test.notice")
        database.rollback_if_open()
        mail.discard_queue()
    assert session.scalars(select(OutboxMail)).all() == []


def test_the_send_after_commit_goes_at_once(app: Flask, session: Session) -> None:
    with app.test_request_context("/"):
        mail.queue(_message(app), kind="test.notice")
        database.commit_if_open()
        mail.flush_queue()
    folder = Path(app.config["PORTAL"].instance_path) / "outbox"
    assert len(list(folder.glob("*.eml"))) == 1
    assert session.scalars(select(OutboxMail.state)).all() == ["sent"]


def test_addresses_are_purged_after_the_retention(app: Flask, session: Session) -> None:
    row = _queued(app)
    factory, config = get_database(app).sessionmaker, app.config["PORTAL"]
    outbox.send_due(factory, config, send=Flaky(0))
    now = utcnow()
    with transaction(factory) as s:
        assert outbox.purge(s, now=now, retention_days=30) == 0
        assert outbox.purge(s, now=now + dt.timedelta(days=31), retention_days=30) == 1
    kept = session.get(OutboxMail, row.id)
    assert kept is not None
    # The proof stays; who it went to and what it said do not
    assert (kept.recipient, kept.subject, kept.content) == ("", "", None)
    assert kept.state == "sent" and kept.message_id == row.message_id and kept.sent_at
