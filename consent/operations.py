"""Consent domain operations: record choices and derive state (checks: consent/check/).

Each function takes a session and plain values, raises typed errors, writes its audit entry
and flushes; the caller commits once, before it answers anyone.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Uuid, cast, exists, func, select
from sqlalchemy.orm import Session

from consent import engine
from consent.check.service import CHECK_ACTION, DECISION_OBJECT, decision_digest
from consent.models import (
    CheckDecision,
    ConsentEvent,
    EventType,
    ExpressedBy,
    Method,
    NoticeVersion,
)
from portal import audit
from portal.audit import Actor, AuditEntry, RecordsVerified
from portal.database import new_uuid, utcnow
from portal.errors import GuardianRequired, Invalid, InvalidTransition, NotFound
from portal.reference.models import Agency, Purpose, Subject

GUARDIAN_AGE = 13
# How an event's audit entry names what it records (verify_events finds the event by it).
EVENT_OBJECT = "consent_event"


def age_on(date_of_birth: dt.date, day: dt.date) -> int:
    """Whole years between a date of birth and a day."""
    years = day.year - date_of_birth.year
    if (day.month, day.day) < (date_of_birth.month, date_of_birth.day):
        years -= 1
    return years


def _subject(session: Session, subject_id: uuid.UUID) -> Subject:
    subject = session.get(Subject, subject_id)
    if subject is None:
        raise NotFound("no such subject")
    return subject


def latest_events(session: Session, subject_id: uuid.UUID) -> dict[int, ConsentEvent]:
    """The subject's latest consent event per notice: the current state of each choice."""
    latest: dict[int, ConsentEvent] = {}
    rows = session.scalars(select(ConsentEvent).where(ConsentEvent.subject_id == subject_id)
                           .order_by(ConsentEvent.id))
    for event in rows:
        latest[event.notice_id] = event
    return latest


def current_state(event: ConsentEvent | None, now: dt.datetime) -> str:
    """The DPV-style state a latest event stands for at ``now``."""
    if event is None:
        return "none"
    if event.event_type in engine.PERMITTING_EVENTS and event.valid_until is not None \
            and now >= event.valid_until:
        return EventType.EXPIRED.value
    return event.event_type


def _record_event(session: Session, *, subject: Subject, version: NoticeVersion,
                  event_type: EventType, actor: Actor, method: str, expressed_by: str,
                  occurred_at: dt.datetime, guardian_name: str = "",
                  guardian_relationship: str = "", evidence: Mapping[str, Any] | None = None,
                  language: str = "en", valid_until: dt.datetime | None = None) -> ConsentEvent:
    if method not in {m.value for m in Method}:
        raise Invalid(f"unknown method {method!r}", field="method")
    if expressed_by not in {e.value for e in ExpressedBy}:
        raise Invalid(f"unknown expressed_by {expressed_by!r}", field="expressed_by")
    if expressed_by == ExpressedBy.GUARDIAN and not (guardian_name.strip()
                                                     and guardian_relationship.strip()):
        raise GuardianRequired("a guardian's name and relationship must be recorded",
                               field="guardian_name")
    event = ConsentEvent(
        public_id=new_uuid(), subject_id=subject.id, notice_id=version.notice_id,
        notice_version_id=version.id, event_type=event_type.value, occurred_at=occurred_at,
        recorded_at=utcnow(), valid_until=valid_until, expressed_by=expressed_by,
        guardian_name=guardian_name.strip(), guardian_relationship=guardian_relationship.strip(),
        method=method, language=language, recorded_by=f"{actor.type}:{actor.id}",
        agency_id=actor.agency_id, evidence=audit.canonical_json(dict(evidence or {})),
    )
    session.add(event)
    session.flush()
    audit.record(session, f"consent.{event_type.value}", actor, subject_id=subject.id,
                 object_type=EVENT_OBJECT, object_id=str(event.public_id),
                 details={"notice_id": version.notice_id, "notice_version": version.version,
                          "method": method, "expressed_by": expressed_by,
                          "row": event_digest(event)})
    return event


def event_digest(e: Any) -> str:
    """SHA-256 of what a consent event row holds beyond what its audit entry states in clear
    (``e``: the event, or a row with its column names); ``audit verify`` recomputes it."""
    def when(value: dt.datetime | None) -> str | None:
        return audit.stamp(value) if value is not None else None

    body = audit.canonical_json([
        e.event_type, e.notice_version_id, when(e.occurred_at), when(e.recorded_at),
        when(e.valid_until), e.guardian_name, e.guardian_relationship, e.language,
        e.recorded_by, e.agency_id, e.evidence])
    return hashlib.sha256(body.encode()).hexdigest()


def _published_version(session: Session, notice_version_id: int) -> NoticeVersion:
    version = session.get(NoticeVersion, notice_version_id)
    if version is None or version.status != "published":
        raise Invalid("the notice version is not published", field="notice_version")
    return version


def _guard_child(subject: Subject, expressed_by: str, day: dt.date) -> None:
    if subject.date_of_birth is not None and age_on(subject.date_of_birth, day) < GUARDIAN_AGE \
            and expressed_by != ExpressedBy.GUARDIAN:
        raise GuardianRequired("a child under 13 can only be consented for by a recorded "
                               "parent or guardian", field="expressed_by")


def give(session: Session, subject_id: uuid.UUID, notice_version_id: int, *, actor: Actor,
         method: str, expressed_by: str = ExpressedBy.SUBJECT, guardian_name: str = "",
         guardian_relationship: str = "", evidence: Mapping[str, Any] | None = None,
         language: str = "en", occurred_at: dt.datetime | None = None,
         renewal: bool = False) -> ConsentEvent:
    """Record that the person said yes to a published notice version."""
    subject = _subject(session, subject_id)
    version = _published_version(session, notice_version_id)
    at = occurred_at or utcnow()
    _guard_child(subject, expressed_by, at.date())
    event_type = EventType.GIVEN
    if renewal:
        state = current_state(latest_events(session, subject.id).get(version.notice_id), at)
        if state not in {EventType.GIVEN, EventType.RENEWED, EventType.EXPIRED}:
            raise InvalidTransition("only a consent that was given can be renewed")
        event_type = EventType.RENEWED
    valid_until = (at + dt.timedelta(days=version.validity_days)
                   if version.validity_days else None)
    return _record_event(session, subject=subject, version=version, event_type=event_type,
                         actor=actor, method=method, expressed_by=expressed_by, occurred_at=at,
                         guardian_name=guardian_name,
                         guardian_relationship=guardian_relationship, evidence=evidence,
                         language=language, valid_until=valid_until)


def renew(session: Session, subject_id: uuid.UUID, notice_version_id: int, *, actor: Actor,
          method: str, **kwargs: Any) -> ConsentEvent:
    """Record that the person renewed a consent (to the same or a newer version)."""
    return give(session, subject_id, notice_version_id, actor=actor, method=method,
                renewal=True, **kwargs)


def refuse(session: Session, subject_id: uuid.UUID, notice_version_id: int, *, actor: Actor,
           method: str, expressed_by: str = ExpressedBy.SUBJECT, guardian_name: str = "",
           guardian_relationship: str = "", evidence: Mapping[str, Any] | None = None,
           language: str = "en", occurred_at: dt.datetime | None = None) -> ConsentEvent:
    """Record that the person was asked and said no."""
    subject = _subject(session, subject_id)
    version = _published_version(session, notice_version_id)
    return _record_event(session, subject=subject, version=version,
                         event_type=EventType.REFUSED, actor=actor, method=method,
                         expressed_by=expressed_by, occurred_at=occurred_at or utcnow(),
                         guardian_name=guardian_name,
                         guardian_relationship=guardian_relationship, evidence=evidence,
                         language=language)


def withdraw(session: Session, subject_id: uuid.UUID, notice_id: int, *, actor: Actor,
             method: str, expressed_by: str = ExpressedBy.SUBJECT, guardian_name: str = "",
             guardian_relationship: str = "", evidence: Mapping[str, Any] | None = None,
             language: str = "en", occurred_at: dt.datetime | None = None) -> ConsentEvent:
    """Record a withdrawal; every check after the caller commits says deny.

    Anyone entitled to speak for the person may withdraw, a child included: withdrawing
    only ever reduces sharing.
    """
    subject = _subject(session, subject_id)
    latest = latest_events(session, subject.id).get(notice_id)
    if latest is None or latest.event_type not in engine.PERMITTING_EVENTS:
        raise InvalidTransition("there is no consent to withdraw")
    version = session.get(NoticeVersion, latest.notice_version_id)
    if version is None:  # pragma: no cover - a foreign key guarantees it
        raise NotFound("the notice version has gone")
    return _record_event(session, subject=subject, version=version,
                         event_type=EventType.WITHDRAWN, actor=actor, method=method,
                         expressed_by=expressed_by, occurred_at=occurred_at or utcnow(),
                         guardian_name=guardian_name,
                         guardian_relationship=guardian_relationship, evidence=evidence,
                         language=language)


def expire_due(session: Session, now: dt.datetime | None = None) -> int:
    """Append an ``expired`` event for every consent whose validity has run out."""
    now = now or utcnow()
    candidates = session.scalars(
        select(ConsentEvent).where(ConsentEvent.event_type.in_(engine.PERMITTING_EVENTS),
                                   ConsentEvent.valid_until.is_not(None),
                                   ConsentEvent.valid_until <= now)
        .order_by(ConsentEvent.id)).all()
    count = 0
    for event in candidates:
        latest = latest_events(session, event.subject_id).get(event.notice_id)
        if latest is None or latest.id != event.id:
            continue  # superseded by a later event
        version = session.get(NoticeVersion, event.notice_version_id)
        subject = session.get(Subject, event.subject_id)
        if version is None or subject is None:  # pragma: no cover - foreign keys
            raise NotFound("a consent event's notice or subject has gone")
        _record_event(session, subject=subject, version=version, event_type=EventType.EXPIRED,
                      actor=audit.SYSTEM, method=Method.SYSTEM, expressed_by=ExpressedBy.SYSTEM,
                      occurred_at=event.valid_until or now)
        count += 1
    return count


# --- Records against their audit entries ---------------------------------------------------


def verify_records(session: Session) -> list[tuple[str, RecordsVerified]]:
    """Consent events and check decisions, each compared with its entry (run once
    ``audit.verify`` has proved the entries themselves)."""
    return [("consent events", verify_events(session)),
            ("check decisions", verify_decisions(session))]


def _mismatch(d: Any, agencies: Mapping[int, str], purposes: Mapping[int, str]) -> str:
    """The first way a decision row differs from what its audit entry recorded, or ''."""
    if d.entry_id is None or d.action != CHECK_ACTION:
        return "has no consent.check audit entry"
    try:
        details = json.loads(d.details)
        categories = json.loads(d.categories)
    except ValueError:
        return "or its audit entry is not valid JSON"
    expected = (
        ("decision id", d.object_type == DECISION_OBJECT and d.object_id == str(d.id)),
        ("time", d.at == d.evaluated_at),
        ("caller", (d.actor_type, d.actor_id, d.entry_agency_id)
         == ("api_client", str(d.api_client_id or 0), d.agency_id)),
        ("subject", d.entry_subject_id == d.subject_id),
        ("recipient", details.get("recipient") == agencies.get(d.recipient_agency_id)),
        ("purpose", details.get("purpose") == purposes.get(d.purpose_id)),
        ("categories", details.get("categories") == categories),
        ("decision", details.get("decision") == d.decision),
        ("reason", details.get("reason") == d.reason),
        # Entries of releases before the digest have none; their chains still hold them.
        ("reference, basis, result or validity", "row" not in details or details["row"]
         == decision_digest(d.subject_ref, d.basis, d.result, d.valid_until)),
    )
    return next((f"differs from its audit entry ({name})" for name, same in expected
                 if not same), "")


def verify_decisions(session: Session) -> RecordsVerified:
    """Prove every check decision is the one its hash-chained audit entry recorded, and
    every such entry still has its decision (run after ``audit.verify``, which proves the
    entries themselves)."""
    agencies = dict(session.execute(select(Agency.id, Agency.slug)).all())
    purposes = dict(session.execute(select(Purpose.id, Purpose.slug)).all())
    d, a = CheckDecision, AuditEntry
    # Plain rows, streamed: there is one per check ever answered.
    rows = session.execute(
        select(d.id, d.evaluated_at, d.agency_id, d.api_client_id, d.recipient_agency_id,
               d.purpose_id, d.subject_id, d.subject_ref, d.categories, d.decision, d.basis,
               d.reason, d.result, d.valid_until,
               a.id.label("entry_id"), a.action, a.object_type, a.object_id, a.at,
               a.actor_type, a.actor_id, a.agency_id.label("entry_agency_id"),
               a.subject_id.label("entry_subject_id"), a.details)
        .outerjoin(a, a.id == d.audit_id).execution_options(yield_per=2000))
    count = 0
    for row in rows:
        problem = _mismatch(row, agencies, purposes)
        if problem:
            return RecordsVerified(False, count, f"check decision {row.id} {problem}")
        count += 1
    # Each decision matched an entry naming its own id, so no two share one: as many
    # entries as decisions means none lost its decision.
    entries = session.scalar(select(func.count()).select_from(a)
                             .where(a.action == CHECK_ACTION)) or 0
    if entries != count:
        orphan = session.scalar(
            select(a.object_id).where(a.action == CHECK_ACTION,
                                      ~select(d.id).where(d.audit_id == a.id).exists())
            .order_by(a.id).limit(1))
        return RecordsVerified(False, count, f"{entries - count} consent.check audit "
                                 f"entries have no decision (first: decision {orphan})")
    return RecordsVerified(True, count)


def _event_mismatch(r: Any) -> str:
    """The first way an event differs from what its audit entry recorded, or ''."""
    if r.event_id is None:
        return "names a consent event that is not there (deleted)"
    try:
        details = json.loads(r.details)
    except ValueError:
        return "is not valid JSON"
    expected = (
        ("type", r.action == f"consent.{r.event_type}"),
        ("subject", r.entry_subject_id == r.subject_id),
        ("notice", (details.get("notice_id"), details.get("notice_version"))
         == (r.notice_id, r.version)),
        ("method or who expressed it", (details.get("method"), details.get("expressed_by"))
         == (r.method, r.expressed_by)),
        # Entries of releases before the digest have none; their chains still hold them.
        ("times, validity, guardian, evidence or recorder",
         "row" not in details or details["row"] == event_digest(r)),
    )
    return next((f"differs from it ({name})" for name, same in expected if not same), "")


def verify_events(session: Session) -> RecordsVerified:
    """Prove every consent event is the one its hash-chained audit entry recorded, and that
    none was added without one (as a forged "given" inserted into the table would be)."""
    e, a, v = ConsentEvent, AuditEntry, NoticeVersion
    # The entry names the event by its public id in text; compared in the event's own form,
    # the event is found through its unique index.
    named = (cast(a.object_id, Uuid) if session.get_bind().dialect.name == "postgresql"
             else func.replace(a.object_id, "-", ""))
    rows = session.execute(
        select(a.id, a.action, a.object_id, a.subject_id.label("entry_subject_id"), a.details,
               e.id.label("event_id"), e.subject_id, e.notice_id, e.notice_version_id,
               e.event_type, e.occurred_at, e.recorded_at, e.valid_until, e.expressed_by,
               e.guardian_name, e.guardian_relationship, e.method, e.language,
               e.recorded_by, e.agency_id, e.evidence, v.version)
        .where(a.object_type == EVENT_OBJECT)
        .outerjoin(e, e.public_id == named).outerjoin(v, v.id == e.notice_version_id)
        .execution_options(yield_per=2000))
    count = 0
    for row in rows:
        problem = _event_mismatch(row)
        if problem:
            return RecordsVerified(False, count, f"the audit entry of consent event "
                                                 f"{row.object_id} {problem}")
        count += 1
    # Each entry found its own event by a unique id: as many events as entries means none
    # was added without one.
    events = session.scalar(select(func.count()).select_from(e)) or 0
    if events != count:
        forged = session.scalar(
            select(e.public_id).where(~exists().where(a.object_type == EVENT_OBJECT,
                                                      named == e.public_id))
            .order_by(e.id).limit(1))
        return RecordsVerified(False, count, f"{events - count} consent events have no audit "
                              f"entry (first: {forged}); they were not recorded by the portal")
    return RecordsVerified(True, count)
