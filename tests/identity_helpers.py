"""Helpers to create and sign in accounts and staff in tests (no pages needed)."""

from __future__ import annotations

import uuid

import pyotp
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from portal.identity.models import Account, StaffUser
from portal.identity.passwords import hash_password
from portal.reference.operations import agency_by_slug

PASSWORD = "correct horse battery staple"


def make_account(session: Session, email: str | None = None, *,
                 subject_id: uuid.UUID | None = None, verified: bool = True) -> Account:
    """A committed public account."""
    from portal.database import utcnow

    account = Account(email=email or f"{uuid.uuid4().hex[:10]}@example.org",
                      password_hash=hash_password(PASSWORD), subject_id=subject_id,
                      email_verified_at=utcnow() if verified else None)
    session.add(account)
    session.commit()
    return account


def make_staff(session: Session, agency: str = "fenshire-police", *roles: str,
               email: str | None = None) -> StaffUser:
    """A committed staff member with a confirmed authenticator."""
    from portal.database import utcnow

    staff = StaffUser(agency_id=agency_by_slug(session, agency).id,
                      email=email or f"{uuid.uuid4().hex[:10]}@{agency}.example",
                      name="Test Officer", password_hash=hash_password(PASSWORD),
                      totp_secret=pyotp.random_base32(), totp_confirmed_at=utcnow(),
                      roles=" ".join(roles))
    session.add(staff)
    session.commit()
    return staff


def login(client: FlaskClient, principal: Account | StaffUser, *, mfa: bool = True) -> None:
    """Put a signed-in session for this principal into the test client's cookie."""
    from portal.database import utcnow

    kind = "account" if isinstance(principal, Account) else "staff"
    now = utcnow().timestamp()
    with client.session_transaction() as s:
        s.clear()
        s["_user_id"] = f"{kind}:{principal.id}:{principal.session_epoch}"
        s["_fresh"] = True
        s["auth_at"] = now
        s["seen_at"] = now
        s["mfa"] = mfa
