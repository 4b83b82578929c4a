"""Domain operations for agencies, people, holdings and API keys."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, exists, func, or_, select
from sqlalchemy.orm import Session

from portal import audit, signals
from portal.audit import STAFF_VIEW_ACTION, Actor
from portal.database import utcnow
from portal.errors import Conflict, Invalid, NotFound
from portal.identity.models import Role, StaffUser
from portal.identity.staff import ROLE_ORDER, staff_actor
from portal.reference.models import Agency, DataCategory, Holding, Subject


def agency_by_slug(session: Session, slug: str) -> Agency:
    """The agency with this slug, or NotFound."""
    agency = session.scalar(select(Agency).where(Agency.slug == slug))
    if agency is None:
        raise NotFound(f"no agency {slug!r}", field="agency")
    return agency


@dataclass(frozen=True, slots=True)
class NewSubject:
    """Minimal identity for a person an agency registers."""

    given_name: str
    family_name: str
    date_of_birth: dt.date | None = None
    email: str = ""
    phone: str = ""
    postal_address: str = ""
    safe_contact: str = ""
    preferred_language: str = "en"
    contact_channel: str = ""  # email | phone | post | none, as the person chose
    email_wording: str = "neutral"  # neutral | detailed | none


def _categories(session: Session, slugs: list[str]) -> list[DataCategory]:
    found = {c.slug: c for c in session.scalars(
        select(DataCategory).where(DataCategory.slug.in_(slugs)))}
    for i, slug in enumerate(slugs):
        if slug not in found:
            raise Invalid(f"categories[{i}]: no category {slug!r}", field=f"categories[{i}]")
    return [found[s] for s in dict.fromkeys(slugs)]


def register_subject(session: Session, new: NewSubject, *, agency_id: int | None,
                     actor: Actor) -> Subject:
    """Create a subject record (never matched automatically to an existing one)."""
    subject = Subject(given_name=new.given_name, family_name=new.family_name,
                      date_of_birth=new.date_of_birth, email=new.email, phone=new.phone,
                      postal_address=new.postal_address, safe_contact=new.safe_contact,
                      preferred_language=new.preferred_language,
                      contact_channel=new.contact_channel, email_wording=new.email_wording,
                      registered_by_agency_id=agency_id)
    session.add(subject)
    session.flush()
    audit.record(session, "subject.register", actor, subject_id=subject.id,
                 object_type="subject", object_id=str(subject.id))
    return subject


def linked(agency_id: int) -> ColumnElement[bool]:
    """The condition that a subject is linked to the agency: it holds current records on
    them under its own reference, or it registered them. Nothing else links an agency to a
    person (an identifier alone never does)."""
    held = exists().where(Holding.subject_id == Subject.id, Holding.agency_id == agency_id,
                          Holding.ended_at.is_(None))
    return or_(held, Subject.registered_by_agency_id == agency_id)


def is_linked(session: Session, agency_id: int, subject_id: uuid.UUID) -> bool:
    """True when the subject exists and is linked to the agency."""
    return session.scalar(select(Subject.id).where(Subject.id == subject_id,
                                                   linked(agency_id))) is not None


class UnknownSubject(Invalid):
    """A subject id that names nobody the agency is linked to (unknown or another's: the
    caller is told the same either way)."""

    # Not found, like any other name of nothing the caller can see (and the same for both).
    status = 404
    code = "unknown-subject"

    def __init__(self, subject_id: uuid.UUID, *, exists: bool) -> None:
        super().__init__("no subject with that subject_id", field="subject.subject_id")
        self.subject_id = subject_id
        self.exists = exists


def record_refused_holding(session: Session, agency_ref: str, refused: UnknownSubject, *,
                           actor: Actor) -> None:
    """Audit a holding refused for naming a subject the agency has no link to."""
    audit.record(session, "holding.refused", actor,
                 subject_id=refused.subject_id if refused.exists else None,
                 object_type="holding", object_id="",
                 details={"agency_ref": agency_ref, "subject_id": str(refused.subject_id),
                          "reason": "not-linked" if refused.exists else "unknown"})


def put_holding(session: Session, agency_id: int, agency_ref: str, *,
                categories: list[str], since: dt.date, actor: Actor,
                subject_id: uuid.UUID | None = None,
                new_subject: NewSubject | None = None,
                reviewed: bool = False) -> tuple[Holding, bool]:
    """Register or update what an agency holds about a subject; True when created.

    ``reviewed`` links a subject the agency has no link to yet: only for a match of the
    agency's reference to identity facts that staff reviewed, or a partnership admin's
    decision. The API never passes it.
    """
    cats = _categories(session, categories)
    holding = session.scalar(select(Holding).where(Holding.agency_id == agency_id,
                                                   Holding.agency_ref == agency_ref))
    created = holding is None
    reopened = holding is not None and holding.ended_at is not None
    if holding is not None:
        if subject_id is not None and subject_id != holding.subject_id:
            raise Conflict("this reference already belongs to another subject",
                           field="subject.subject_id")
        holding.categories = cats
        holding.since = since
        holding.ended_at = None
        holding.updated_at = utcnow()
    else:
        if subject_id is not None:
            # Knowing an id grants nothing: one the agency has no link to is answered as if
            # it named nobody, and nothing is made.
            if not reviewed and not is_linked(session, agency_id, subject_id):
                raise UnknownSubject(subject_id, exists=session.get(Subject, subject_id)
                                     is not None)
            target = subject_id
        elif new_subject is not None:
            target = register_subject(session, new_subject, agency_id=agency_id,
                                      actor=actor).id
        else:
            # Without a subject this is an update, and there is nothing under the reference.
            raise NotFound("no holding under this reference: send subject to register one",
                           field="subject")
        holding = Holding(agency_id=agency_id, subject_id=target, agency_ref=agency_ref,
                          since=since, categories=cats, updated_at=utcnow())
        session.add(holding)
    session.flush()
    audit.record(session, "holding.create" if created else "holding.update", actor,
                 subject_id=holding.subject_id, object_type="holding",
                 object_id=str(holding.id),
                 details={"agency_ref": agency_ref, "categories": [c.slug for c in cats],
                          "since": since.isoformat(), **({"reviewed": True} if reviewed else {})})
    if created or reopened:
        signals.holding_registered.send(session, subject_id=holding.subject_id,
                                        agency_id=agency_id, actor=actor)
    return holding, created


def end_holding(session: Session, agency_id: int, agency_ref: str, *, actor: Actor) -> Holding:
    """Record that the agency no longer holds records under this reference."""
    holding = session.scalar(select(Holding).where(Holding.agency_id == agency_id,
                                                   Holding.agency_ref == agency_ref,
                                                   Holding.ended_at.is_(None)))
    if holding is None:
        raise NotFound("no current holding with that reference")
    holding.ended_at = utcnow()
    session.flush()
    audit.record(session, "holding.end", actor, subject_id=holding.subject_id,
                 object_type="holding", object_id=str(holding.id),
                 details={"agency_ref": agency_ref})
    return holding


def _visible(agency_id: int) -> ColumnElement[bool]:
    # The one access model for people: the API's holdings follow it too.
    return linked(agency_id)


def visible_subject(session: Session, staff: StaffUser, subject_id: uuid.UUID) -> Subject:
    """The subject, if the staff member's agency holds records on them or registered them."""
    subject = session.scalar(select(Subject).where(Subject.id == subject_id,
                                                   _visible(staff.agency_id)))
    if subject is None:
        raise NotFound("no such subject")
    return subject


# A word of a staff search needs this many letters or digits: fewer would list nearly everyone.
MIN_SEARCH_CHARS = 2


def search_words(query: str) -> list[str]:
    """The words of a staff search long enough to search by (the first four of them)."""
    return [w for w in query.lower().split()
            if sum(c.isalnum() for c in w) >= MIN_SEARCH_CHARS][:4]


def _like_literal(word: str) -> str:
    # LIKE's wildcards in what staff typed match themselves, never "anything".
    return word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def search_subjects(session: Session, staff: StaffUser, query: str,
                    limit: int = 50) -> Sequence[Subject]:
    """Subjects visible to the staff member matching a name or the agency's own reference."""
    words = search_words(query)
    if not words:
        return []
    conditions = []
    for word in words:
        like = f"%{_like_literal(word)}%"
        by_ref = exists().where(Holding.subject_id == Subject.id,
                                Holding.agency_id == staff.agency_id,
                                func.lower(Holding.agency_ref) == word)
        conditions.append(or_(func.lower(Subject.given_name).like(like, escape="\\"),
                              func.lower(Subject.family_name).like(like, escape="\\"),
                              by_ref))
    stmt = (select(Subject).where(_visible(staff.agency_id), *conditions)
            .order_by(Subject.family_name, Subject.given_name).limit(limit))
    return list(session.scalars(stmt))


def role_used(staff: StaffUser, allowed: Sequence[str]) -> str:
    """The role under which a staff member uses a view several roles may use."""
    for role in ROLE_ORDER:
        if role in allowed and role in staff.role_set:
            return role.value
    raise NotFound("no role allows this")


def view_subject(session: Session, staff: StaffUser, subject_id: uuid.UUID, *,
                 role: str) -> Subject:
    """Open a subject's page: refused as unknown if not visible, logged if shown."""
    subject = visible_subject(session, staff, subject_id)
    agency = session.get(Agency, staff.agency_id)
    audit.record(session, STAFF_VIEW_ACTION, staff_actor(staff), subject_id=subject.id,
                 object_type="subject", object_id=str(subject.id),
                 details={"agency": agency.slug if agency else "", "role": role})
    return subject


def holdings_of(session: Session, subject_id: uuid.UUID, agency_id: int) -> Sequence[Holding]:
    """The agency's own current holdings on a subject. Staff see what their agency supplied:
    which other agencies hold records on the person (an IDVA service, a health trust) is
    itself something to protect; the person sees every holding on their own page."""
    return list(session.scalars(select(Holding).where(Holding.subject_id == subject_id,
                                                      Holding.agency_id == agency_id,
                                                      Holding.ended_at.is_(None))
                                .order_by(Holding.since)))


# The data category that stands for a person's safe-contact method in sharing agreements.
SAFE_CONTACT_CATEGORY = "safe-contact"


def shown_safe_contact(staff: StaffUser, subject: Subject, *,
                       consented: Callable[[int, int, str], bool] | None = None) -> str:
    """The person's safe-contact instructions if the staff member's agency recorded them
    (it registered the person), or if the person consented to that agency passing their
    safe-contact method to the staff member's agency (``consented(from, to, category)``);
    otherwise nothing. No lawful basis but the person's own choice shows them elsewhere."""
    recorder = subject.registered_by_agency_id
    if not subject.safe_contact or recorder is None:
        return ""
    if recorder == staff.agency_id:
        return subject.safe_contact
    if consented is not None and consented(recorder, staff.agency_id, SAFE_CONTACT_CATEGORY):
        return subject.safe_contact
    return ""


def link_reviewed_holding(session: Session, admin: StaffUser, agency_slug: str,
                          agency_ref: str, subject_id: uuid.UUID, *, categories: list[str],
                          since: dt.date) -> Holding:
    """A partnership admin's decision, after matching the agency's reference to the person's
    identity facts, that the agency holds records on this person: the one way an agency
    comes to hold a person it has no link to (the API never can). Audited under the admin."""
    if admin.disabled_at is not None or Role.PARTNERSHIP_ADMIN not in admin.role_set:
        raise Invalid("only a partnership admin may link an agency to a person", field="by")
    if session.get(Subject, subject_id) is None:
        raise NotFound("no such subject", field="subject")
    agency = agency_by_slug(session, agency_slug)
    if not agency.active:
        raise Conflict("a retired agency holds nothing new", field="agency")
    holding, _created = put_holding(session, agency.id, agency_ref, categories=categories,
                                    since=since, actor=staff_actor(admin),
                                    subject_id=subject_id, reviewed=True)
    return holding


def all_categories(session: Session) -> Sequence[DataCategory]:
    """Every data category not retired, for choosing what a holding covers."""
    return list(session.scalars(select(DataCategory).where(DataCategory.retired_at.is_(None))
                                .order_by(DataCategory.name)))
