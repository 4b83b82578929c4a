"""What a member of the public can do with their account and their records.

Functions take a session and plain values, raise the typed errors of ``portal.errors``, write
their audit entry and flush; the request commits once at the end.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import uuid
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from consent import operations as consent_ops
from consent.models import (
    CheckDecision,
    ConsentEvent,
    Notice,
    NoticeText,
    NoticeVersion,
    notice_version_agreements,
)
from portal import audit, csvfile, signals
from portal.audit import STAFF_VIEW_ACTION, Actor, AuditEntry
from portal.database import utcnow
from portal.errors import Conflict, NotFound
from portal.identity.operations import PERMITTING
from portal.reference.models import (
    Agency,
    DataCategory,
    Holding,
    Purpose,
    SharingAgreement,
    Subject,
)

# --- accounts --------------------------------------------------------------------------------


# --- my consents -----------------------------------------------------------------------------

@dataclass
class Sharing:
    """One agreement in plain terms: who shares what with whom, for what."""

    from_agency: str
    to_agency: str
    purpose: str
    categories: list[str]
    lawful_basis: str
    statutory_gateway: str


@dataclass
class NoticeView:
    """A notice as one person sees it: its words, its sharing, their state."""

    notice_id: int
    version: NoticeVersion
    text: NoticeText | None
    sharing: list[Sharing]
    latest: ConsentEvent | None
    state: str
    reconsent: bool
    history: list[ConsentEvent] = field(default_factory=list)

    @property
    def since(self) -> dt.datetime | None:
        """When the current state began."""
        return self.latest.occurred_at if self.latest is not None else None


def _sharing(agreements: Sequence[SharingAgreement]) -> list[Sharing]:
    return [Sharing(a.from_agency.name, a.to_agency.name, a.purpose.name,
                    [c.name for c in a.categories], a.lawful_basis, a.statutory_gateway)
            for a in agreements]


def _text(session: Session, version_id: int, language: str) -> NoticeText | None:
    texts = {t.language: t for t in session.scalars(
        select(NoticeText).where(NoticeText.notice_version_id == version_id))}
    return texts.get(language) or texts.get("en")


def _current_version(session: Session, notice_id: int) -> NoticeVersion | None:
    return session.scalar(select(NoticeVersion).where(NoticeVersion.notice_id == notice_id,
                                                      NoticeVersion.status == "published")
                          .order_by(NoticeVersion.version.desc()).limit(1))


def _holding_agencies(session: Session, subject_id: uuid.UUID) -> set[int]:
    return set(session.scalars(select(Holding.agency_id).where(Holding.subject_id == subject_id,
                                                               Holding.ended_at.is_(None))))


def applicable_notice_ids(session: Session, subject_id: uuid.UUID) -> list[int]:
    """Notices that apply: they cover sharing from an agency holding records on the person,
    or the person has a consent event for them."""
    agencies = _holding_agencies(session, subject_id)
    ids: set[int] = set(session.scalars(select(ConsentEvent.notice_id)
                                        .where(ConsentEvent.subject_id == subject_id)))
    if agencies:
        ids.update(session.scalars(
            select(NoticeVersion.notice_id)
            .join(notice_version_agreements,
                  notice_version_agreements.c.notice_version_id == NoticeVersion.id)
            .join(SharingAgreement,
                  SharingAgreement.id == notice_version_agreements.c.agreement_id)
            .join(Notice, Notice.id == NoticeVersion.notice_id)
            .where(NoticeVersion.status == "published", Notice.retired_at.is_(None),
                   SharingAgreement.from_agency_id.in_(agencies))))
    return sorted(ids)


def notice_view(session: Session, subject_id: uuid.UUID, notice_id: int, language: str,
                now: dt.datetime | None = None) -> NoticeView:
    """One notice for one person; NotFound if it does not apply to them."""
    if notice_id not in applicable_notice_ids(session, subject_id):
        raise NotFound("no such notice")
    now = now or utcnow()
    events = list(session.scalars(select(ConsentEvent).where(
        ConsentEvent.subject_id == subject_id, ConsentEvent.notice_id == notice_id)
        .order_by(ConsentEvent.id)))
    latest = events[-1] if events else None
    current = _current_version(session, notice_id)
    # The words the person agreed to stay tied to their version; a newer one is offered.
    version = current
    if version is None and latest is not None:
        version = session.get(NoticeVersion, latest.notice_version_id)
    if version is None:
        raise NotFound("no such notice")
    state = consent_ops.current_state(latest, now)
    reconsent = False
    if latest is not None and current is not None and latest.notice_version_id != current.id:
        later = session.scalars(select(NoticeVersion).where(
            NoticeVersion.notice_id == notice_id, NoticeVersion.id != latest.notice_version_id,
            NoticeVersion.status == "published", NoticeVersion.requires_reconsent.is_(True)))
        seen = session.get(NoticeVersion, latest.notice_version_id)
        reconsent = state in PERMITTING and any(
            v.version > (seen.version if seen else 0) for v in later)
    return NoticeView(notice_id, version, _text(session, version.id, language),
                      _sharing(version.shown_agreements), latest, state, reconsent,
                      list(reversed(events)))


def my_notices(session: Session, subject_id: uuid.UUID, language: str) -> list[NoticeView]:
    """Every notice that applies to the person, with their current state."""
    now = utcnow()
    return [notice_view(session, subject_id, nid, language, now)
            for nid in applicable_notice_ids(session, subject_id)]


def give(session: Session, subject_id: uuid.UUID, notice_id: int, *, language: str,
         actor: Actor) -> ConsentEvent:
    """The person says yes, online, to the current version of a notice that applies."""
    view = notice_view(session, subject_id, notice_id, language)
    if view.state in PERMITTING and not view.reconsent:
        raise Conflict("you have already said yes")
    if view.version.status != "published":
        raise NotFound("no such notice")
    return consent_ops.give(session, subject_id, view.version.id, actor=actor, method="web",
                            expressed_by="subject", language=language,
                            evidence={"channel": "public portal"})


def withdraw(session: Session, subject_id: uuid.UUID, notice_id: int, *, language: str,
             actor: Actor) -> ConsentEvent:
    """The person withdraws a consent, online; checks deny once the request commits."""
    notice_view(session, subject_id, notice_id, language)  # applies to them, or NotFound
    return consent_ops.withdraw(session, subject_id, notice_id, actor=actor, method="web",
                                expressed_by="subject", language=language,
                                evidence={"channel": "public portal"})


def event_of(session: Session, subject_id: uuid.UUID, public_id: str) -> ConsentEvent:
    """One of the person's consent events by its public id; NotFound for anyone else's."""
    try:
        pid = uuid.UUID(public_id)
    except ValueError as exc:
        raise NotFound("no such consent") from exc
    event = session.scalar(select(ConsentEvent).where(ConsentEvent.public_id == pid))
    if event is None or event.subject_id != subject_id:
        raise NotFound("no such consent")
    return event


# --- who holds my records, what happened to my data ------------------------------------------

@dataclass
class HoldingView:
    """An agency's holding, as the person sees it."""

    agency: str
    sar_contact: str
    categories: list[str]
    since: dt.date


@dataclass
class CheckView:
    """One check made about the person."""

    at: dt.datetime
    asker: str
    recipient: str
    purpose: str
    categories: list[str]
    decision: str
    basis: str | None


@dataclass
class StaffViewEntry:
    """One time staff looked at the person's record (never who, by name)."""

    at: dt.datetime
    agency: str
    role: str


def holdings(session: Session, subject_id: uuid.UUID) -> list[HoldingView]:
    """Each agency holding records about the person, today."""
    rows = session.scalars(select(Holding).where(Holding.subject_id == subject_id,
                                                 Holding.ended_at.is_(None))
                           .order_by(Holding.since))
    return [HoldingView(h.agency.name, h.agency.sar_contact,
                        sorted(c.name for c in h.categories), h.since) for h in rows]


def statutory_sharing(session: Session, subject_id: uuid.UUID) -> list[Sharing]:
    """Sharing by law (not on consent) from agencies that hold the person's records."""
    agencies = _holding_agencies(session, subject_id)
    if not agencies:
        return []
    rows = session.scalars(select(SharingAgreement).where(
        SharingAgreement.from_agency_id.in_(agencies), SharingAgreement.lawful_basis != "consent",
        SharingAgreement.retired_at.is_(None)).order_by(SharingAgreement.id))
    return _sharing(list(rows))


def checks(session: Session, subject_id: uuid.UUID, limit: int | None = None, *,
           offset: int = 0) -> list[CheckView]:
    """Every check a sharing system made about the person, newest first (``limit`` of them
    after the newest ``offset``, if given)."""
    agencies = dict(session.execute(select(Agency.id, Agency.name)).all())
    purposes = dict(session.execute(select(Purpose.id, Purpose.name)).all())
    categories = dict(session.execute(select(DataCategory.slug, DataCategory.name)).all())
    rows = session.scalars(select(CheckDecision).where(CheckDecision.subject_id == subject_id)
                           .order_by(CheckDecision.evaluated_at.desc(), CheckDecision.id.desc())
                           .offset(offset).limit(limit))
    out = []
    for row in rows:
        asked = [categories.get(c, c) for c in json.loads(row.categories or "[]")]
        out.append(CheckView(row.evaluated_at, agencies.get(row.agency_id, "?"),
                             agencies.get(row.recipient_agency_id, "?"),
                             purposes.get(row.purpose_id, "?"), asked, row.decision,
                             row.basis))
    return out


def staff_views(session: Session, subject_id: uuid.UUID, limit: int | None = None, *,
                offset: int = 0) -> list[StaffViewEntry]:
    """Every logged staff view of the person's record, newest first (``limit`` of them after
    the newest ``offset``, if given)."""
    agencies = dict(session.execute(select(Agency.slug, Agency.name)).all())
    by_id = dict(session.execute(select(Agency.id, Agency.name)).all())
    rows = session.scalars(select(AuditEntry).where(AuditEntry.subject_id == subject_id,
                                                    AuditEntry.action == STAFF_VIEW_ACTION)
                           .order_by(AuditEntry.id.desc()).offset(offset).limit(limit))
    out = []
    for row in rows:
        details = json.loads(row.details or "{}")
        agency = agencies.get(str(details.get("agency", "")),
                              by_id.get(row.agency_id or 0, str(details.get("agency", ""))))
        out.append(StaffViewEntry(row.at, agency, str(details.get("role", ""))))
    return out


@dataclass
class SarViewEntry:
    """One time staff opened part of a subject access request about the person (never who,
    by name): the request, a proof of identity, an agency's records, the draft bundle."""

    at: dt.datetime
    agency: str
    role: str
    what: str


def sar_views(session: Session, subject_id: uuid.UUID, limit: int | None = None, *,
              offset: int = 0) -> list[SarViewEntry]:
    """Every staff view of a request about the person in the areas above (subject access),
    newest first (``limit`` after the newest ``offset``)."""
    return signals.values_from(signals.person_request_views.send(
        session, subject_id=subject_id, limit=limit, offset=offset))


# --- take it away ----------------------------------------------------------------------------

def _csv(rows: list[dict[str, Any]], columns: list[str]) -> str:
    return csvfile.text(columns, ({k: _plain(v) for k, v in row.items()} for row in rows))


def _plain(value: Any) -> Any:
    if isinstance(value, list):
        return "; ".join(str(v) for v in value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return value


def _iso(value: dt.datetime | dt.date | None) -> str | None:
    return value.isoformat() if value is not None else None


def export(session: Session, subject_id: uuid.UUID, *, actor: Actor) -> bytes:
    """The person's data as a zip of JSON and CSV files (data portability)."""
    subject = session.get(Subject, subject_id)
    if subject is None:
        raise NotFound("no such subject")
    profile = {"id": str(subject.id), "given_name": subject.given_name,
               "family_name": subject.family_name,
               "date_of_birth": _iso(subject.date_of_birth), "email": subject.email,
               "phone": subject.phone, "postal_address": subject.postal_address,
               # Safe-contact instructions are not in the download: whoever holds the account
               # (perhaps not the person) would learn how the person hides contact. A subject
               # access request, identity checked, gives them.
               "preferred_language": subject.preferred_language}
    held = [{"agency": h.agency, "agency_contact": h.sar_contact, "categories": h.categories,
             "since": _iso(h.since)} for h in holdings(session, subject_id)]
    agency_names = dict(session.execute(select(Agency.id, Agency.name)).all())
    events = [{"id": str(e.public_id), "notice_id": e.notice_id,
               "notice_version_id": e.notice_version_id, "event": e.event_type,
               "occurred_at": _iso(e.occurred_at), "valid_until": _iso(e.valid_until),
               "expressed_by": e.expressed_by, "guardian_relationship": e.guardian_relationship,
               "method": e.method, "language": e.language,
               "recorded_by": ("you" if e.recorded_by.startswith("account:")
                               else e.recorded_by.split(":", 1)[0]),
               "agency": agency_names.get(e.agency_id or 0, "")}
              for e in session.scalars(select(ConsentEvent)
                                       .where(ConsentEvent.subject_id == subject_id)
                                       .order_by(ConsentEvent.id))]
    asked = [{"at": _iso(c.at), "asked_by": c.asker, "recipient": c.recipient,
              "purpose": c.purpose, "categories": c.categories, "decision": c.decision,
              "basis": c.basis} for c in checks(session, subject_id)]
    views = [{"at": _iso(v.at), "agency": v.agency, "role": v.role}
             for v in staff_views(session, subject_id)]
    request_views = [{"at": _iso(v.at), "agency": v.agency, "role": v.role, "what": v.what}
                     for v in sar_views(session, subject_id)]
    statutory = [{"from": s.from_agency, "to": s.to_agency, "purpose": s.purpose,
                  "categories": s.categories, "lawful_basis": s.lawful_basis,
                  "statutory_gateway": s.statutory_gateway}
                 for s in statutory_sharing(session, subject_id)]
    tables: dict[str, tuple[list[dict[str, Any]], list[str]]] = {
        "holdings": (held, ["agency", "agency_contact", "categories", "since"]),
        "consent_events": (events, ["id", "notice_id", "notice_version_id", "event",
                                    "occurred_at", "valid_until", "expressed_by",
                                    "guardian_relationship", "method", "language",
                                    "recorded_by", "agency"]),
        "checks": (asked, ["at", "asked_by", "recipient", "purpose", "categories", "decision",
                           "basis"]),
        "staff_views": (views, ["at", "agency", "role"]),
        "request_views": (request_views, ["at", "agency", "role", "what"]),
        "statutory_sharing": (statutory, ["from", "to", "purpose", "categories",
                                          "lawful_basis", "statutory_gateway"]),
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("README.txt", README)
        archive.writestr("profile.json", json.dumps(profile, indent=2, ensure_ascii=False))
        for name, (rows, columns) in tables.items():
            archive.writestr(f"{name}.json", json.dumps(rows, indent=2, ensure_ascii=False))
            archive.writestr(f"{name}.csv", _csv(rows, columns))
    audit.record(session, "subject.export", actor, subject_id=subject_id,
                 object_type="subject", object_id=str(subject_id))
    return buffer.getvalue()


README = """Your data from the community safety partnership's consent portal.

profile.json                 what the portal holds to identify you
holdings.json / .csv         which agencies hold records about you, what kinds, since when
consent_events.json / .csv   every yes, no, withdrawal, renewal and expiry recorded for you
checks.json / .csv           every time a sharing system asked whether it may share your data
staff_views.json / .csv      every time staff looked at your record (agency and role)
request_views.json / .csv    every time staff opened part of a subject access request about you
statutory_sharing.json / .csv  sharing that happens by law, without your consent

Files are UTF-8. JSON is the full record; CSV has the same rows for spreadsheets.
Safe-contact instructions are never in this download: ask for them through a subject access
request, or at any agency you have seen.
"""
