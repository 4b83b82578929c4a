"""First contact: a consent officer records a person's choices with them, on a tablet.

Functions take a session and plain values, write audit entries through the consent and
portal operations they call, flush and never commit.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from consent import operations as consent_ops
from consent import receipts
from consent.first_contact.models import FirstContactReceipt
from consent.models import ConsentEvent, ExpressedBy, Method, Notice, NoticeText, NoticeVersion
from portal import audit, mail
from portal.database import utcnow
from portal.errors import Invalid, NotFound
from portal.identity.models import StaffUser
from portal.identity.staff import staff_actor
from portal.mail import WORDINGS
from portal.reference import operations
from portal.reference.models import LawfulBasis, Subject
from portal.reference.operations import visible_subject

# How a choice that did not come through the portal or a first contact arrived.
REMOTE_METHODS = (Method.PHONE.value, Method.PAPER.value, Method.EMAIL.value)


@dataclass(frozen=True)
class Applicable:
    """A notice the officer's agency asks about, in its newest published version."""

    version: NoticeVersion
    text: NoticeText
    language: str  # the language of ``text`` (English if no approved translation)


def applicable_notices(session: Session, agency_id: int, language: str) -> list[Applicable]:
    """The consent notices whose sharing starts at this agency, newest published versions."""
    out: list[Applicable] = []
    notices = session.scalars(select(Notice).where(Notice.retired_at.is_(None))
                              .order_by(Notice.id))
    for notice in notices:
        published = [v for v in notice.versions if v.status == "published"]
        if not published:
            continue
        version = published[-1]
        # A notice whose agreements are all retired would ask for consent to nothing.
        if not any(a.from_agency_id == agency_id and a.lawful_basis == LawfulBasis.CONSENT
                   and a.retired_at is None for a in version.agreements):
            continue
        texts = {t.language: t for t in version.texts if t.status == "approved"}
        text = texts.get(language) or texts.get("en")
        if text is None:
            continue
        out.append(Applicable(version, text, text.language))
    return out


def possible_duplicates(session: Session, staff: StaffUser, given_name: str, family_name: str,
                        date_of_birth: dt.date | None) -> list[Subject]:
    """People this agency can see who may be the same person (same family name and birth
    date, or same full name): shown before a new record is made."""
    family = family_name.strip().lower()
    given = given_name.strip().lower()
    stmt = select(Subject).where(func.lower(Subject.family_name) == family)
    found = []
    for candidate in session.scalars(stmt.limit(200)):
        same_dob = date_of_birth is not None and candidate.date_of_birth == date_of_birth
        same_name = candidate.given_name.strip().lower() == given
        if not (same_dob or same_name):
            continue
        try:
            found.append(visible_subject(session, staff, candidate.id))
        except NotFound:
            continue  # another agency's person is not this officer's to see
    return found


def register_or_link(session: Session, staff: StaffUser, *, agency_ref: str,
                     new_subject: operations.NewSubject | None = None,
                     subject_id: uuid.UUID | None = None) -> Subject:
    """Register the person (or take one the agency already knows) and record the agency's
    own reference as a holding."""
    actor = staff_actor(staff)
    if subject_id is not None:
        subject = visible_subject(session, staff, subject_id)
    elif new_subject is not None:
        subject = operations.register_subject(session, new_subject, agency_id=staff.agency_id,
                                              actor=actor)
    else:
        raise Invalid("a person is required", field="subject")
    if agency_ref:
        operations.put_holding(session, staff.agency_id, agency_ref, categories=[],
                               since=utcnow().date(), actor=actor, subject_id=subject.id)
    return subject


@dataclass(frozen=True)
class Started:
    """Step 1's outcome: the person the journey is with, or the people they may already be."""

    subject: Subject | None
    language: str  # the language the journey is in
    duplicates: Sequence[Subject] = ()


def start(session: Session, staff: StaffUser, *, agency_ref: str,
          details: operations.NewSubject, subject_id: uuid.UUID | None = None,
          confirmed_new: bool = False) -> Started:
    """Step 1 of a first contact: take the person chosen (``subject_id``) or register them
    from ``details``, with the agency's reference; a new record waits while people the agency
    already knows may be the same person, until the officer confirms it is someone new."""
    if subject_id is not None:
        subject = register_or_link(session, staff, agency_ref=agency_ref, subject_id=subject_id)
        return Started(subject, subject.preferred_language)
    if not confirmed_new:
        duplicates = possible_duplicates(session, staff, details.given_name,
                                         details.family_name, details.date_of_birth)
        if duplicates:
            return Started(None, details.preferred_language, duplicates)
    subject = register_or_link(session, staff, agency_ref=agency_ref, new_subject=details)
    return Started(subject, details.preferred_language)


@dataclass(frozen=True)
class Signature:
    """How the person signed: a drawn image (PNG data URL) or their typed name."""

    typed_name: str = ""
    drawn_png: str = ""

    def evidence(self) -> dict[str, Any]:
        """What is stored with each consent event."""
        if self.drawn_png:
            return {"signature": {"kind": "drawn", "image": self.drawn_png,
                                  "sha256": hashlib.sha256(self.drawn_png.encode()).hexdigest()}}
        return {"signature": {"kind": "typed", "name": self.typed_name}}


@dataclass(frozen=True)
class Conversation:
    """Everything said and shown in one first contact."""

    subject_id: uuid.UUID
    language: str
    choices: Mapping[int, bool]  # notice version id -> yes
    signature: Signature
    witnessed: bool
    interpreter: bool = False
    interpreter_language: str = ""
    guardian_name: str = ""
    guardian_relationship: str = ""
    device: str = ""
    shown: Sequence[int] = field(default_factory=tuple)  # notice version ids, in order


def record(session: Session, staff: StaffUser, talk: Conversation) -> FirstContactReceipt:
    """Record each yes and no of a first contact as consent events, with their evidence."""
    subject = visible_subject(session, staff, talk.subject_id)
    if not talk.witnessed:
        raise Invalid("the officer must confirm they witnessed the choices", field="witness")
    if not (talk.signature.typed_name.strip() or talk.signature.drawn_png):
        raise Invalid("the person must sign", field="typed_name")
    if talk.signature.drawn_png and not talk.signature.drawn_png.startswith(
            "data:image/png;base64,"):
        raise Invalid("the signature image is not a PNG", field="signature_image")
    if not talk.choices:
        raise Invalid("there are no choices to record", field="choices")
    offered = {a.version.id for a in applicable_notices(session, staff.agency_id,
                                                        talk.language)}
    if not set(talk.choices) <= offered:
        raise Invalid("a choice was for a notice this agency does not ask about",
                      field="choices")
    guardian = bool(talk.guardian_name.strip())
    expressed_by = ExpressedBy.GUARDIAN if guardian else ExpressedBy.SUBJECT
    now = utcnow()
    evidence: dict[str, Any] = {
        **talk.signature.evidence(),
        "witness": {"staff_id": staff.id, "name": staff.name, "confirmed": True},
        "interpreter": {"used": talk.interpreter, "language": talk.interpreter_language},
        "notice_versions_shown": list(talk.shown or talk.choices),
        "device": talk.device[:300],
        "at": now.isoformat(),
    }
    events: list[ConsentEvent] = []
    for version_id, yes in talk.choices.items():
        kwargs: dict[str, Any] = {
            "actor": staff_actor(staff), "method": Method.FIRST_CONTACT.value,
            "expressed_by": expressed_by.value, "guardian_name": talk.guardian_name,
            "guardian_relationship": talk.guardian_relationship, "evidence": evidence,
            "language": talk.language, "occurred_at": now}
        if yes:
            events.append(consent_ops.give(session, subject.id, version_id, **kwargs))
        else:
            events.append(consent_ops.refuse(session, subject.id, version_id, **kwargs))
    receipt = FirstContactReceipt(subject_id=subject.id, agency_id=staff.agency_id,
                                  staff_user_id=staff.id, language=talk.language,
                                  event_ids=json.dumps([str(e.public_id) for e in events]))
    session.add(receipt)
    session.flush()
    audit.record(session, "first_contact.record", staff_actor(staff), subject_id=subject.id,
                 object_type="first_contact_receipt", object_id=str(receipt.id),
                 details={"choices": len(events), "expressed_by": expressed_by.value,
                          "interpreter": talk.interpreter})
    return receipt


def receipt_for(session: Session, staff: StaffUser, receipt_id: uuid.UUID
                ) -> tuple[FirstContactReceipt, Subject, list[receipts.Choice]]:
    """A receipt this staff member's agency took, with its person and choices."""
    receipt = session.get(FirstContactReceipt, receipt_id)
    if receipt is None or receipt.agency_id != staff.agency_id:
        raise NotFound("no such receipt")
    subject = visible_subject(session, staff, receipt.subject_id)
    ids = [uuid.UUID(i) for i in json.loads(receipt.event_ids)]
    by_id = {e.public_id: e for e in session.scalars(
        select(ConsentEvent).where(ConsentEvent.public_id.in_(ids)))}
    events = [by_id[i] for i in ids if i in by_id]
    return receipt, subject, receipts.load_choices(session, events, receipt.language)


NO_EMAIL = "no-email"


def email_receipt(session: Session, staff: StaffUser, receipt_id: uuid.UUID
                  ) -> tuple[FirstContactReceipt, Subject]:
    """Record that a receipt is emailed; refused (``NO_EMAIL``) when the person chose no
    emails. The caller sends it, in the wording the person chose."""
    receipt = session.get(FirstContactReceipt, receipt_id)
    if receipt is None or receipt.agency_id != staff.agency_id:
        raise NotFound("no such receipt")
    subject = visible_subject(session, staff, receipt.subject_id)
    if mail.wording(subject.email_wording) == mail.NO_EMAIL:
        raise Invalid(NO_EMAIL, field="email")
    # Who sent a person's receipt where is security-relevant: the address is not logged.
    audit.record(session, "first_contact.receipt_emailed", staff_actor(staff),
                 subject_id=subject.id, object_type="first_contact_receipt",
                 object_id=str(receipt_id))
    return receipt, subject


def choices_of(session: Session, subject_id: uuid.UUID, agency_id: int
               ) -> list[receipts.Choice]:
    """The person's current choice per notice, newest first, for the notices whose sharing
    starts or ends at this agency: a choice about sharing between two other agencies (a
    referral to an IDVA service, say) is not this agency's to see."""
    latest = consent_ops.latest_events(session, subject_id)
    events = sorted(latest.values(), key=lambda e: e.id, reverse=True)
    return [c for c in receipts.load_choices(session, events)
            if any(agency_id in (a.from_agency_id, a.to_agency_id) for a in c.agreements)]


def record_remote_choice(session: Session, staff: StaffUser, subject_id: uuid.UUID, *,
                         notice_version_id: int, choice: str, method: str,
                         received_on: dt.date, note: str = "") -> ConsentEvent:
    """Record a yes, a no or a withdrawal that reached the agency by phone, letter or email."""
    subject = visible_subject(session, staff, subject_id)
    if method not in REMOTE_METHODS:
        raise Invalid("say how the choice arrived", field="method")
    version = session.get(NoticeVersion, notice_version_id)
    offered = {a.version.id: a.version for a in applicable_notices(
        session, staff.agency_id, subject.preferred_language)}
    if version is None or (choice != "withdraw" and version.id not in offered):
        raise Invalid("choose a notice", field="notice")
    # A withdrawal may reach any agency the sharing involves (the recipient too), but not an
    # agency that is no party to it: knowing a notice's id must not let it stop a referral.
    if not any(staff.agency_id in (a.from_agency_id, a.to_agency_id)
               for a in version.agreements):
        raise Invalid("choose a notice", field="notice")
    at = dt.datetime.combine(received_on, dt.time(12, 0)) if received_on < utcnow().date() \
        else utcnow()
    evidence = {"received_by": method, "received_on": received_on.isoformat(),
                "note": note, "recorded_by": {"staff_id": staff.id, "name": staff.name}}
    kwargs: dict[str, Any] = {"actor": staff_actor(staff), "method": method,
                              "expressed_by": ExpressedBy.STAFF_ASSISTED.value,
                              "evidence": evidence, "occurred_at": at,
                              "language": subject.preferred_language}
    if choice == "withdraw":
        return consent_ops.withdraw(session, subject.id, version.notice_id, **kwargs)
    if choice == "yes":
        return consent_ops.give(session, subject.id, version.id, **kwargs)
    if choice == "no":
        return consent_ops.refuse(session, subject.id, version.id, **kwargs)
    raise Invalid("choose yes, no or withdraw", field="choice")


CONTACT_CHANNELS = ("email", "phone", "post", "none")


def set_contact_preferences(session: Session, staff: StaffUser, subject_id: uuid.UUID, *,
                            channel: str, wording: str) -> Subject:
    """Record, as the person tells a consent officer, how they want to be contacted and what
    emails to them may say (their address itself is not changed here)."""
    person = visible_subject(session, staff, subject_id)
    if channel not in CONTACT_CHANNELS:
        raise Invalid("choose how they want to be contacted", field="contact_channel")
    if wording not in WORDINGS:
        raise Invalid("choose what emails may say", field="email_wording")
    if channel == "email" and not person.email:
        raise Invalid("no email address is recorded", field="contact_channel")
    before = {"channel": person.contact_channel, "wording": person.email_wording}
    person.contact_channel, person.email_wording = channel, wording
    session.flush()
    audit.record(session, "subject.contact_preferences", staff_actor(staff),
                 subject_id=person.id, object_type="subject", object_id=str(person.id),
                 details={"before": before, "after": {"channel": channel,
                                                      "wording": wording}})
    return person
