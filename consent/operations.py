"""Consent domain operations: record choices, derive state, answer checks.

Each function takes a session and plain values, raises typed errors, writes its audit entry
and flushes; the caller commits once, before it answers anyone.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, bindparam, insert, literal, select, union_all
from sqlalchemy.orm import Session

from consent import engine
from consent.models import (
    CheckDecision,
    ConsentEvent,
    EventType,
    ExpressedBy,
    Method,
    NoticeVersion,
    notice_version_agreements,
)
from consent.schemas import Question
from portal import audit
from portal.audit import Actor, NewEntry
from portal.db import new_uuid, utcnow
from portal.errors import GuardianRequired, Invalid, InvalidTransition, NotFound
from portal.models import (
    Agency,
    DataCategory,
    Holding,
    Purpose,
    SharingAgreement,
    Subject,
    agreement_categories,
)

GUARDIAN_AGE = 13


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
                 object_type="consent_event", object_id=str(event.public_id),
                 details={"notice_id": version.notice_id, "notice_version": version.version,
                          "method": method, "expressed_by": expressed_by})
    return event


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


# --- The check -------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Caller:
    """The sharing system asking: its key and the agency the key belongs to."""

    agency_id: int
    api_client_id: int | None = None

    @property
    def actor(self) -> Actor:
        """The audit actor for this caller."""
        return Actor("api_client", str(self.api_client_id or 0), self.agency_id)


@dataclass(frozen=True, slots=True)
class CheckOutcome:
    """A decision together with the record it was logged under."""

    decision_id: uuid.UUID
    decision: engine.Decision

    def as_json(self) -> dict[str, Any]:
        """The API response body for this check."""
        d = self.decision
        return {
            "decision": "permit" if d.permit else "deny",
            "decision_id": str(self.decision_id),
            "basis": d.basis,
            "categories": {c: cd.as_json() for c, cd in d.categories.items()},
            "reason": str(d.reason) if d.reason else None,
            "evaluated_at": _iso(d.evaluated_at),
            "valid_until": _iso(d.valid_until),
        }


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# The check path's statements are built once: building SQLAlchemy constructs per request
# costs more CPU than running them.
_SLUGS = union_all(
    select(literal("a"), Agency.slug, Agency.id, Agency.active)
    .where(Agency.slug.in_(bindparam("agencies", expanding=True))
           | (Agency.id == bindparam("caller"))),
    select(literal("p"), Purpose.slug, Purpose.id, literal(True))
    .where(Purpose.slug.in_(bindparam("purposes", expanding=True))),
    select(literal("c"), DataCategory.slug, DataCategory.id, literal(True))
    .where(DataCategory.slug.in_(bindparam("categories", expanding=True))),
)
_AGREEMENTS = (
    select(SharingAgreement.id, SharingAgreement.to_agency_id, SharingAgreement.purpose_id,
           SharingAgreement.lawful_basis, SharingAgreement.statutory_gateway,
           SharingAgreement.valid_from, SharingAgreement.valid_to, SharingAgreement.retired_at,
           DataCategory.slug)
    .join(agreement_categories, agreement_categories.c.agreement_id == SharingAgreement.id)
    .join(DataCategory, DataCategory.id == agreement_categories.c.category_id)
    .where(SharingAgreement.from_agency_id == bindparam("caller"),
           SharingAgreement.to_agency_id.in_(bindparam("recipients", expanding=True))))
_NVA = notice_version_agreements
_NOTICES = (
    select(NoticeVersion.notice_id, NoticeVersion.version, NoticeVersion.status,
           NoticeVersion.requires_reconsent, _NVA.c.agreement_id)
    .outerjoin(_NVA, _NVA.c.notice_version_id == NoticeVersion.id)
    .where(NoticeVersion.notice_id.in_(
        select(NoticeVersion.notice_id)
        .join(_NVA, _NVA.c.notice_version_id == NoticeVersion.id)
        .where(_NVA.c.agreement_id.in_(bindparam("agreements", expanding=True)))),
        NoticeVersion.status.in_(("published", "retired"))))
_SUBJECTS_BASE = (
    select(Holding.agency_ref, Holding.subject_id, ConsentEvent.notice_id,
           ConsentEvent.event_type, ConsentEvent.public_id, NoticeVersion.version,
           ConsentEvent.valid_until)
    .outerjoin(ConsentEvent, and_(
        ConsentEvent.subject_id == Holding.subject_id,
        ConsentEvent.notice_id.in_(bindparam("notices", expanding=True))))
    .outerjoin(NoticeVersion, NoticeVersion.id == ConsentEvent.notice_version_id)
    .where(Holding.agency_id == bindparam("caller"), Holding.ended_at.is_(None))
    .order_by(ConsentEvent.id))
# Two statements rather than one with an OR, which SQLite without statistics plans as a scan
# of every holding of the caller.
_SUBJECTS_BY_REF = _SUBJECTS_BASE.where(Holding.agency_ref.in_(bindparam("refs", expanding=True)))
_SUBJECTS_BY_ID = _SUBJECTS_BASE.where(Holding.subject_id.in_(bindparam("ids", expanding=True)))


def _resolve_slugs(session: Session, caller_agency_id: int, questions: Sequence[Question],
                   prefixed: bool) -> tuple[dict[str, tuple[int, bool]], dict[str, int], bool]:
    """Look up only the slugs asked about, in one round trip; 422 on the first unknown one."""
    params = {"agencies": sorted({q.recipient for q in questions}),
              "purposes": sorted({q.purpose for q in questions}),
              "categories": sorted({c for q in questions for c in q.categories}),
              "caller": caller_agency_id}
    agencies: dict[str, tuple[int, bool]] = {}
    purposes: dict[str, int] = {}
    categories: set[str] = set()
    discloser_active = False
    for kind, slug, ident, active in session.connection().execute(_SLUGS, params):
        if kind == "a":
            agencies[slug] = (ident, bool(active))
            discloser_active |= ident == caller_agency_id and bool(active)
        elif kind == "p":
            purposes[slug] = ident
        else:
            categories.add(slug)
    for i, q in enumerate(questions):
        prefix = f"questions[{i}]." if prefixed else ""
        if q.recipient not in agencies:
            raise Invalid(f"{prefix}recipient: no agency {q.recipient!r}",
                          field=prefix + "recipient")
        if q.purpose not in purposes:
            raise Invalid(f"{prefix}purpose: no purpose {q.purpose!r}", field=prefix + "purpose")
        for j, c in enumerate(q.categories):
            if c not in categories:
                raise Invalid(f"{prefix}categories[{j}]: no category {c!r}",
                              field=f"{prefix}categories[{j}]")
    return agencies, purposes, discloser_active


def _agreement_facts(session: Session, caller_agency_id: int, routes: set[tuple[int, int]]
                     ) -> dict[tuple[int, int], list[engine.AgreementFact]]:
    """The agreements from the caller on the routes asked about, with their categories."""
    rows = session.connection().execute(_AGREEMENTS, {
        "caller": caller_agency_id, "recipients": sorted({to for to, _purpose in routes})})
    grouped: dict[int, dict[str, Any]] = {}
    for (aid, to_id, purpose_id, basis, gateway, vfrom, vto, retired, cat) in rows:
        if (to_id, purpose_id) not in routes:
            continue
        entry = grouped.setdefault(aid, {"to": to_id, "purpose": purpose_id, "basis": basis,
                                         "gateway": gateway, "from": vfrom, "until": vto,
                                         "retired": retired is not None, "cats": set()})
        entry["cats"].add(cat)
    out: dict[tuple[int, int], list[engine.AgreementFact]] = defaultdict(list)
    for aid, e in grouped.items():
        out[(e["to"], e["purpose"])].append(engine.AgreementFact(
            id=aid, lawful_basis=e["basis"], categories=frozenset(e["cats"]),
            valid_from=e["from"], valid_to=e["until"], retired=e["retired"],
            statutory_gateway=e["gateway"]))
    return out


def _notice_facts(session: Session, agreement_ids: Iterable[int]) -> list[engine.NoticeFact]:
    """Every published version of every notice that covers one of these agreements."""
    ids = list(set(agreement_ids))
    if not ids:
        return []
    rows = session.connection().execute(_NOTICES, {"agreements": ids})
    coverage: dict[int, dict[int, set[int]]] = defaultdict(lambda: defaultdict(set))
    reconsent: dict[int, int] = {}
    for notice_id, version, status, requires_reconsent, agreement_id in rows:
        versions = coverage[notice_id]
        covered = versions[version]
        if agreement_id is not None:
            covered.add(agreement_id)
        if requires_reconsent and status == "published":
            reconsent[notice_id] = max(version, reconsent.get(notice_id, 0))
    return [engine.NoticeFact(id=nid, coverage={v: frozenset(a) for v, a in cov.items()},
                              reconsent_from=reconsent.get(nid))
            for nid, cov in coverage.items()]


ConsentsBySubject = dict[uuid.UUID, dict[int, engine.ConsentFact]]


def _subject_facts(session: Session, caller_agency_id: int, questions: Sequence[Question],
                   notice_ids: set[int]) -> tuple[list[uuid.UUID | None], ConsentsBySubject]:
    """Map each question to a subject linked to the caller (or None: treated as unknown), and
    each subject's latest event per notice, in one round trip."""
    refs = {q.subject.agency_ref for q in questions if q.subject.agency_ref}
    ids = {q.subject.subject_id for q in questions if q.subject.subject_id}
    base = {"caller": caller_agency_id, "notices": sorted(notice_ids)}
    lookups = ([(_SUBJECTS_BY_REF, {**base, "refs": sorted(refs)})] if refs else []) + \
        ([(_SUBJECTS_BY_ID, {**base, "ids": sorted(ids)})] if ids else [])
    by_ref: dict[str, uuid.UUID] = {}
    linked: set[uuid.UUID] = set()
    consents: ConsentsBySubject = defaultdict(dict)
    for statement, params in lookups:
        rows = session.connection().execute(statement, params)
        for ref, subject_id, notice_id, etype, public_id, version, valid_until in rows:
            by_ref[ref] = subject_id
            linked.add(subject_id)
            if notice_id is not None:
                # Rows come in recording order, so the last one per notice is the state.
                consents[subject_id][notice_id] = engine.ConsentFact(
                    notice_id=notice_id, event_type=etype, event_id=str(public_id),
                    notice_version=version, valid_until=valid_until)
    subjects: list[uuid.UUID | None] = []
    for q in questions:
        if q.subject.agency_ref:
            subjects.append(by_ref.get(q.subject.agency_ref))
        else:
            subjects.append(q.subject.subject_id if q.subject.subject_id in linked else None)
    return subjects, consents


def check(session: Session, caller: Caller, questions: Sequence[Question], *,
          now: dt.datetime | None = None, permit_ttl: dt.timedelta = dt.timedelta(seconds=60),
          batch: bool = False) -> list[CheckOutcome]:
    """Answer each question and log a decision record and audit entry for each (flushes)."""
    now = now or utcnow()
    agencies, purposes, discloser_active = _resolve_slugs(session, caller.agency_id, questions,
                                                          prefixed=batch)
    routes = [(agencies[q.recipient][0], purposes[q.purpose]) for q in questions]
    agreements = _agreement_facts(session, caller.agency_id, set(routes))
    used = {a.id for r in routes for a in agreements.get(r, [])}
    notices = _notice_facts(session, used)
    subjects, consents = _subject_facts(session, caller.agency_id, questions,
                                        {n.id for n in notices})
    outcomes: list[CheckOutcome] = []
    rows: list[dict[str, Any]] = []
    entries: list[NewEntry] = []
    for q, subject_id, route in zip(questions, subjects, routes, strict=True):
        route_agreements = agreements.get(route, [])
        route_ids = {a.id for a in route_agreements}
        facts = engine.CheckFacts(
            now=now, categories=q.categories, agreements=route_agreements,
            notices=[n for n in notices if any(route_ids & ids for ids in n.coverage.values())],
            # An unknown or unlinked subject has no facts: the same answer as no consent.
            consents=consents.get(subject_id, {}) if subject_id else {},
            discloser_active=discloser_active, recipient_active=agencies[q.recipient][1],
            permit_ttl=permit_ttl)
        decision = engine.decide(facts)
        outcome = CheckOutcome(new_uuid(), decision)
        outcomes.append(outcome)
        body = outcome.as_json()
        rows.append({
            "id": outcome.decision_id, "evaluated_at": now, "agency_id": caller.agency_id,
            "api_client_id": caller.api_client_id, "recipient_agency_id": route[0],
            "purpose_id": route[1], "subject_id": subject_id,
            "subject_ref": q.subject.agency_ref or str(q.subject.subject_id),
            "categories": json.dumps(list(q.categories)), "decision": body["decision"],
            "basis": decision.basis, "reason": body["reason"],
            "result": json.dumps(body["categories"], sort_keys=True),
            "valid_until": decision.valid_until,
        })
        entries.append(NewEntry(
            "consent.check", caller.actor, subject_id=subject_id, object_type="check_decision",
            object_id=str(outcome.decision_id), at=now,
            details={"recipient": q.recipient, "purpose": q.purpose,
                     "categories": list(q.categories), "decision": body["decision"],
                     "reason": body["reason"]}))
    audit_ids = audit.record_many(session, entries)
    for row, audit_id in zip(rows, audit_ids, strict=True):
        row["audit_id"] = audit_id
    session.connection().execute(_INSERT_DECISION, rows)
    return outcomes


_INSERT_DECISION = insert(CheckDecision)
