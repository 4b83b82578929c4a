"""Consent events against their audit entries: `audit verify` proves none was forged, edited
or deleted outside the portal.

The append-only triggers refuse UPDATE and DELETE, but not INSERT: someone with database
access could add a "given" event for a person who never gave it, and every check would then
permit sharing their record.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from consent import operations as consent_ops
from consent.models import ConsentEvent, Notice, NoticeVersion
from portal import audit
from portal.audit import Actor, NewEntry
from portal.database import new_uuid, utcnow
from tests.conftest import bearer, lift_append_only

QUESTION = {"subject": {"agency_ref": "FP-DEMO-0002"}, "recipient": "victim-care",
            "purpose": "victim-support-referral", "categories": ["contact-details"]}


@pytest.fixture
def tamper(session: Session, demo: Any) -> Iterator[Session]:
    """Lift the append-only guard on events, as someone with database access could."""
    lift_append_only(session, "consent_events")
    yield session


def _withdrawn(session: Session) -> ConsentEvent:
    """FP-DEMO-0002's withdrawal of victim-support-referral (the demo records it)."""
    event = session.scalar(select(ConsentEvent).where(ConsentEvent.event_type == "withdrawn")
                           .order_by(ConsentEvent.id).limit(1))
    assert event is not None
    return event


def _where(event: ConsentEvent, backend: str) -> str:
    return str(event.public_id) if backend == "postgresql" else event.public_id.hex


def test_every_event_the_portal_recorded_verifies(session: Session, demo: Any) -> None:
    events = session.scalar(select(func.count()).select_from(ConsentEvent))
    result = consent_ops.verify_events(session)
    assert result.ok and result.count == events and events, result.problem


def test_a_forged_consent_is_found(client: FlaskClient, session: Session, demo: Any,
                                   api_key: Callable[..., str]) -> None:
    # Given a person who withdrew, so that checks about them deny
    key = api_key("fenshire-police", "consent:check")
    assert client.post("/api/v1/consent/check", json=QUESTION,
                       headers=bearer(key)).get_json()["decision"] == "deny"
    # When someone with database access inserts a "given" event for them (INSERT is not
    # refused), checks permit sharing their record
    withdrawn = _withdrawn(session)
    version = session.get(NoticeVersion, withdrawn.notice_version_id)
    assert version is not None
    forged = ConsentEvent(
        public_id=new_uuid(), subject_id=withdrawn.subject_id, notice_id=withdrawn.notice_id,
        notice_version_id=version.id, event_type="given", occurred_at=utcnow(),
        expressed_by="subject", method="web", recorded_by="account:1")
    session.add(forged)
    session.commit()
    assert client.post("/api/v1/consent/check", json=QUESTION,
                       headers=bearer(key)).get_json()["decision"] == "permit"
    # Then audit verify names the forged event
    result = consent_ops.verify_events(session)
    assert not result.ok
    assert result.problem == (f"1 consent events have no audit entry (first: "
                              f"{forged.public_id}); they were not recorded by the portal")


@pytest.mark.parametrize(("change", "named"), [
    ("event_type = 'given'", "(type)"),
    ("method = 'paper'", "(method or who expressed it)"),
    ("expressed_by = 'guardian'", "(method or who expressed it)"),
    ("subject_id = (SELECT id FROM subjects WHERE id <> consent_events.subject_id LIMIT 1)",
     "(subject)"),
    ("valid_until = '2099-01-01 00:00:00.000000'",
     "(times, validity, guardian, evidence or recorder)"),
    ("occurred_at = '2020-01-01 00:00:00.000000'",
     "(times, validity, guardian, evidence or recorder)"),
    ("evidence = '{\"witness\":\"nobody\"}'", "(times, validity, guardian, evidence or recorder)"),
    ("recorded_by = 'staff:999'", "(times, validity, guardian, evidence or recorder)"),
])
def test_an_edited_event_is_named(tamper: Session, backend: str, change: str,
                                  named: str) -> None:
    event = _withdrawn(tamper)
    tamper.execute(text(f"UPDATE consent_events SET {change} WHERE public_id = :id"),
                   {"id": _where(event, backend)})
    tamper.commit()
    result = consent_ops.verify_events(tamper)
    assert not result.ok
    assert result.problem == (f"the audit entry of consent event {event.public_id} "
                              f"differs from it {named}")


def test_an_event_moved_to_another_notice_version_is_named(tamper: Session, backend: str,
                                                           ) -> None:
    event = _withdrawn(tamper)
    other = tamper.scalar(select(NoticeVersion.id).where(
        NoticeVersion.id != event.notice_version_id).limit(1))
    tamper.execute(text("UPDATE consent_events SET notice_version_id = :v, notice_id = "
                        "(SELECT notice_id FROM notice_versions WHERE id = :v) "
                        "WHERE public_id = :id"), {"v": other, "id": _where(event, backend)})
    tamper.commit()
    result = consent_ops.verify_events(tamper)
    assert not result.ok and result.problem.endswith("differs from it (notice)")


def test_a_deleted_event_is_named(tamper: Session, backend: str) -> None:
    # Given a withdrawal deleted, so that the consent before it counts again
    event = _withdrawn(tamper)
    tamper.execute(text("DELETE FROM consent_events WHERE public_id = :id"),
                   {"id": _where(event, backend)})
    tamper.commit()
    result = consent_ops.verify_events(tamper)
    assert not result.ok
    assert result.problem == (f"the audit entry of consent event {event.public_id} names a "
                              "consent event that is not there (deleted)")


def test_an_entry_from_before_the_digest_still_verifies(session: Session, demo: Any) -> None:
    # Given an event and its entry as earlier releases wrote them (no digest of the row)
    notice = session.scalar(select(Notice).where(Notice.slug == "victim-support-referral"))
    assert notice is not None
    version = session.scalar(select(NoticeVersion).where(NoticeVersion.notice_id == notice.id)
                             .order_by(NoticeVersion.version).limit(1))
    assert version is not None
    subject_id = uuid.UUID(demo.subjects[0][1])
    event = ConsentEvent(public_id=new_uuid(), subject_id=subject_id, notice_id=notice.id,
                         notice_version_id=version.id, event_type="given",
                         occurred_at=utcnow() - dt.timedelta(days=1), expressed_by="subject",
                         method="web", recorded_by="system")
    session.add(event)
    session.flush()
    audit.record_many(session, [NewEntry(
        "consent.given", Actor("system", "system"), subject_id=subject_id,
        object_type="consent_event", object_id=str(event.public_id),
        details={"notice_id": notice.id, "notice_version": version.version, "method": "web",
                 "expressed_by": "subject"})])
    session.commit()
    # Then it verifies: its chain holds it, and it has nothing more to compare
    result = consent_ops.verify_events(session)
    assert result.ok, result.problem


def test_cli_verify_compares_events(app: Flask, session: Session, demo: Any) -> None:
    runner = app.test_cli_runner()
    ok = runner.invoke(args=["audit", "verify"])
    assert ok.exit_code == 0, ok.output
    assert "consent events intact:" in ok.output
    withdrawn = _withdrawn(session)
    session.add(ConsentEvent(
        public_id=new_uuid(), subject_id=withdrawn.subject_id, notice_id=withdrawn.notice_id,
        notice_version_id=withdrawn.notice_version_id, event_type="given",
        occurred_at=utcnow(), expressed_by="subject", method="web", recorded_by="system"))
    session.commit()
    bad = runner.invoke(args=["audit", "verify"])
    assert bad.exit_code == 1
    assert "consent events BROKEN: 1 consent events have no audit entry" in bad.output
