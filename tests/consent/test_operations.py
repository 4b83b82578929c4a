"""Consent operations: recording choices, deriving state, the guardian rule, expiry."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from consent import operations as ops
from consent.models import ConsentEvent, Notice, NoticeVersion
from portal.audit import AuditEntry
from portal.database import utcnow
from portal.errors import GuardianRequired, Invalid, InvalidTransition, NotFound
from portal.reference import operations
from tests.conftest import STAFF


def _version(session: Session, slug: str, version: int = 1) -> NoticeVersion:
    found = session.scalar(select(NoticeVersion).join(Notice).where(
        Notice.slug == slug, NoticeVersion.version == version))
    assert found is not None
    return found


def _subject(session: Session, dob: dt.date | None = dt.date(1990, 1, 1)) -> uuid.UUID:
    police = operations.agency_by_slug(session, "fenshire-police")
    holding, _ = operations.put_holding(
        session, police.id, f"T-{uuid.uuid4().hex[:8]}", categories=["identity"],
        since=dt.date(2026, 1, 1), actor=STAFF,
        new_subject=operations.NewSubject("Test", "Person", date_of_birth=dob))
    return holding.subject_id


def test_state_follows_the_latest_event(session: Session, demo: Any) -> None:
    # Given a person who gives, withdraws and gives again
    sid = _subject(session)
    v = _version(session, "victim-support-referral")
    ops.give(session, sid, v.id, actor=STAFF, method="web")
    ops.withdraw(session, sid, v.notice_id, actor=STAFF, method="web")
    last = ops.give(session, sid, v.id, actor=STAFF, method="web")
    session.commit()
    # Then the current state is the last given, valid for the notice's period
    latest = ops.latest_events(session, sid)[v.notice_id]
    assert latest.id == last.id and ops.current_state(latest, utcnow()) == "given"
    assert latest.valid_until is not None
    assert ops.current_state(latest, latest.valid_until) == "expired"
    # And every event was logged
    actions = session.scalars(select(AuditEntry.action).where(AuditEntry.subject_id == sid)).all()
    assert actions == ["subject.register", "holding.create", "consent.given",
                       "consent.withdrawn", "consent.given"]


def test_withdraw_needs_a_consent(session: Session, demo: Any) -> None:
    sid = _subject(session)
    v = _version(session, "victim-support-referral")
    with pytest.raises(InvalidTransition):
        ops.withdraw(session, sid, v.notice_id, actor=STAFF, method="web")
    ops.refuse(session, sid, v.id, actor=STAFF, method="first-contact")
    with pytest.raises(InvalidTransition):
        ops.withdraw(session, sid, v.notice_id, actor=STAFF, method="web")


def test_renew_only_what_was_given(session: Session, demo: Any) -> None:
    sid = _subject(session)
    v = _version(session, "victim-support-referral")
    with pytest.raises(InvalidTransition):
        ops.renew(session, sid, v.id, actor=STAFF, method="web")
    ops.give(session, sid, v.id, actor=STAFF, method="web",
             occurred_at=utcnow() - dt.timedelta(days=400))
    renewed = ops.renew(session, sid, v.id, actor=STAFF, method="web")
    assert renewed.event_type == "renewed"
    assert renewed.valid_until is not None and renewed.valid_until > utcnow()


def test_child_under_13_needs_a_recorded_guardian(session: Session, demo: Any) -> None:
    # Given a child of 12
    today = utcnow().date()
    sid = _subject(session, dob=today.replace(year=today.year - 12))
    v = _version(session, "restorative-justice")
    # When the child or staff try to consent, it is refused
    for by in ("subject", "staff-assisted"):
        with pytest.raises(GuardianRequired):
            ops.give(session, sid, v.id, actor=STAFF, method="first-contact", expressed_by=by)
    # And a guardian without name and relationship is refused
    with pytest.raises(GuardianRequired):
        ops.give(session, sid, v.id, actor=STAFF, method="first-contact",
                 expressed_by="guardian", guardian_name="Pat")
    # Then a recorded guardian can consent, and the child can still withdraw
    event = ops.give(session, sid, v.id, actor=STAFF, method="first-contact",
                     expressed_by="guardian", guardian_name="Pat Doe",
                     guardian_relationship="father")
    assert event.guardian_relationship == "father"
    ops.withdraw(session, sid, v.notice_id, actor=STAFF, method="web")


def test_child_turning_13_may_consent(session: Session, demo: Any) -> None:
    today = utcnow().date()
    sid = _subject(session, dob=today.replace(year=today.year - 13))
    v = _version(session, "restorative-justice")
    assert ops.give(session, sid, v.id, actor=STAFF, method="web").event_type == "given"


def test_unpublished_versions_and_bad_values_are_refused(session: Session, demo: Any) -> None:
    sid = _subject(session)
    v = _version(session, "victim-support-referral")
    draft = NoticeVersion(notice_id=v.notice_id, version=9, status="draft")
    session.add(draft)
    session.flush()
    with pytest.raises(Invalid):
        ops.give(session, sid, draft.id, actor=STAFF, method="web")
    with pytest.raises(Invalid):
        ops.give(session, sid, v.id, actor=STAFF, method="carrier-pigeon")
    with pytest.raises(NotFound):
        ops.give(session, uuid.uuid4(), v.id, actor=STAFF, method="web")


def test_expire_due_appends_expiry_once(session: Session, demo: Any) -> None:
    # FP-DEMO-0003 gave consent 400 days ago with 365 days' validity
    count = ops.expire_due(session)
    session.commit()
    assert count == 1
    assert ops.expire_due(session) == 0
    expired = session.scalars(select(ConsentEvent).where(ConsentEvent.event_type == "expired")
                              ).one()
    assert expired.recorded_by == "system:system"
    total = session.scalar(select(func.count()).select_from(ConsentEvent))
    assert total == 8


def test_cli_expire_due(app: Any, demo: Any) -> None:
    result = app.test_cli_runner().invoke(args=["consent", "expire-due"])
    assert result.exit_code == 0 and "1 consent(s) expired" in result.output
