"""Staff identity: sign-in, the second factor, enrolment and new staff accounts."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import pyotp
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal import audit
from portal.audit import Actor
from portal.database import utcnow
from portal.errors import Conflict, Invalid, NotFound
from portal.identity import second_factor
from portal.identity.models import Role, StaffUser
from portal.identity.passwords import hash_password, verify_password
from portal.reference.models import Agency

ISSUER = "Consent portal (staff)"


# The roles an agency admin may grant; partnership admin is not among them.
GRANTABLE = (Role.CONSENT_OFFICER, Role.SAR_OFFICER, Role.AGENCY_ADMIN)
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
