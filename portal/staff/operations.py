"""Staff domain operations: sign-in, second factor, and which subjects a staff member may see.

Each takes a session and plain values, writes its audit entry, flushes and never commits.
"""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pyotp
from sqlalchemy import ColumnElement, exists, func, or_, select
from sqlalchemy.orm import Session

from portal import audit
from portal.audit import Actor
from portal.db import utcnow
from portal.errors import Conflict, Invalid, NotFound
from portal.identity import second_factor
from portal.identity.models import Role, StaffUser
from portal.identity.passwords import hash_password, verify_password
from portal.models import STAFF_VIEW_ACTION, Agency, DataCategory, Holding, Subject
from portal.operations import agency_by_slug, linked, put_holding

ISSUER = "Consent portal (staff)"
# The order in which a role is named as "the role used" for a view that several roles may use.
ROLE_ORDER = (Role.CONSENT_OFFICER, Role.SAR_OFFICER, Role.AGENCY_ADMIN, Role.PARTNERSHIP_ADMIN)


def staff_actor(staff: StaffUser) -> Actor:
    """The audit actor for a staff member."""
    return Actor("staff", str(staff.id), staff.agency_id)


def authenticate(session: Session, email: str, password: str) -> StaffUser | None:
    """The staff member these credentials name, or None (same work either way)."""
    staff = session.scalar(select(StaffUser).where(
        func.lower(StaffUser.email) == email.strip().lower()))
    stored = staff.password_hash if staff is not None else None
    if not verify_password(stored, password) or staff is None or staff.disabled_at is not None:
        return None
    return staff


def record_sign_in(session: Session, staff: StaffUser, *, success: bool, stage: str) -> None:
    """Audit a staff sign-in step (password or second factor)."""
    audit.record(session, "staff.sign_in" if success else "staff.sign_in_failed",
                 staff_actor(staff), object_type="staff_user", object_id=str(staff.id),
                 details={"stage": stage})


def begin_enrolment(session: Session, staff: StaffUser) -> str:
    """A fresh TOTP secret for a staff member who has none confirmed yet."""
    if staff.totp_confirmed_at is not None:
        raise Conflict("an authenticator is already set up")
    staff.totp_secret = pyotp.random_base32()
    session.flush()
    return staff.totp_secret


def provisioning_uri(staff: StaffUser) -> str:
    """The otpauth:// address an authenticator app reads from the QR code."""
    if staff.totp_secret is None:
        raise Invalid("no authenticator secret")
    return pyotp.TOTP(staff.totp_secret).provisioning_uri(name=staff.email, issuer_name=ISSUER)


def confirm_enrolment(session: Session, staff: StaffUser, code: str) -> list[str]:
    """Confirm the authenticator with a code from it; return new one-time recovery codes."""
    if staff.totp_confirmed_at is not None:
        raise Conflict("an authenticator is already set up")
    if not second_factor.use_totp(session, staff, staff.totp_secret, code):
        raise Invalid("wrong code", field="code")
    staff.totp_confirmed_at = utcnow()
    codes = second_factor.new_recovery_codes(session, staff)
    audit.record(session, "staff.totp_enrolled", staff_actor(staff), object_type="staff_user",
                 object_id=str(staff.id))
    return codes


def verify_second_factor(session: Session, staff: StaffUser, code: str) -> bool:
    """True for a current TOTP code or an unused recovery code (which is then spent)."""
    if staff.totp_confirmed_at is None:
        return False
    if second_factor.use_totp(session, staff, staff.totp_secret, code):
        return True
    if second_factor.use_recovery_code(session, staff, code):
        audit.record(session, "staff.recovery_code_used", staff_actor(staff),
                     object_type="staff_user", object_id=str(staff.id))
        return True
    return False


# --- who may see whom -----------------------------------------------------------------------

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


# --- staff accounts (command line) ----------------------------------------------------------

@dataclass(frozen=True)
class NewStaff:
    """A staff member to create."""

    agency_slug: str
    email: str
    name: str
    roles: tuple[str, ...]


def create_staff(session: Session, new: NewStaff, *, actor: Actor,
                 password: str | None = None) -> StaffUser:
    """Create a staff member; without ``password`` (the demo's), nobody knows theirs.

    The member then chooses their own password from a single-use set-up link: whoever created
    them never holds a password that signs in as them.
    """
    agency = session.scalar(select(Agency).where(Agency.slug == new.agency_slug))
    if agency is None:
        raise NotFound(f"no agency {new.agency_slug!r}")
    email = new.email.strip().lower()
    if "@" not in email or len(email) > 320:
        raise Invalid("a valid email address is required", field="email")
    if not new.name.strip() or len(new.name) > 200:
        raise Invalid("a name of up to 200 characters is required", field="name")
    bad = [r for r in new.roles if r not in {role.value for role in Role}]
    if bad or not new.roles:
        raise Invalid(f"unknown or missing role: {bad}", field="roles")
    if session.scalar(select(StaffUser).where(func.lower(StaffUser.email) == email)):
        raise Conflict("a staff member with that email already exists", field="email")
    # A real hash of a secret that is thrown away: unusable, yet a sign-in attempt against it
    # costs the same work as against any other account.
    plain = password or secrets.token_urlsafe(32)
    staff = StaffUser(agency_id=agency.id, email=email, name=new.name.strip(),
                      password_hash=hash_password(plain), roles=" ".join(new.roles))
    session.add(staff)
    session.flush()
    audit.record(session, "staff.create", actor, object_type="staff_user",
                 object_id=str(staff.id),
                 details={"agency": agency.slug, "roles": list(new.roles)})
    return staff
