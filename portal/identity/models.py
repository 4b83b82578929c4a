"""Public accounts, staff users and claim codes."""

from __future__ import annotations

import datetime as dt
import enum
import uuid

from sqlalchemy import BigInteger, Boolean, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.database import Base, new_uuid, utcnow
from portal.reference.models import Agency


class Role(enum.StrEnum):
    """Staff roles, each scoped to the staff member's agency."""

    CONSENT_OFFICER = "consent-officer"  # records consent, manages holdings
    SAR_OFFICER = "sar-officer"  # reviews and redacts its own agency's records for a SAR
    # Partnership-wide: runs each request (identity, clock, letters, bundle, approval) but
    # sees no agency's records except in the bundle it builds or approves.
    SAR_COORDINATOR = "sar-coordinator"
    AGENCY_ADMIN = "agency-admin"  # the agency's staff and API keys
    PARTNERSHIP_ADMIN = "partnership-admin"  # agencies, categories, agreements, notices


class Account(Base):
    """A member of the public's sign-in. Not a subject: linked to one only by a claim code."""

    __tablename__ = "accounts"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    email: Mapped[str] = mapped_column(String(320), unique=True)  # stored lower-cased
    password_hash: Mapped[str] = mapped_column(String(200))
    email_verified_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    totp_secret: Mapped[str | None] = mapped_column(String(64), default=None)
    totp_enabled_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    preferred_language: Mapped[str] = mapped_column(String(8), default="en")
    # What emails about this account's requests may say: neutral, detailed or none.
    email_wording: Mapped[str] = mapped_column(String(16), default="neutral")
    subject_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("subjects.id"), default=None,
                                                         unique=True)
    # Raised on sign-out, password change or reset: every older session is then refused.
    session_epoch: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    disabled_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    # When the owner of the address confirmed, from an emailed link, that both the app and the
    # recovery codes are lost: the second factor goes once the waiting period has passed.
    totp_reset_confirmed_at: Mapped[dt.datetime | None] = mapped_column(default=None)


class StaffUser(Base):
    """A member of an agency's staff, who signs in with a password and TOTP."""

    __tablename__ = "staff_users"

    id: Mapped[int] = mapped_column(primary_key=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"))
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(200))
    totp_secret: Mapped[str | None] = mapped_column(String(64), default=None)
    totp_confirmed_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    roles: Mapped[str] = mapped_column(String(200), default="")  # space-separated Role values
    session_epoch: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    disabled_at: Mapped[dt.datetime | None] = mapped_column(default=None)

    agency: Mapped[Agency] = relationship()

    @property
    def role_set(self) -> frozenset[str]:
        """The staff member's roles."""
        return frozenset(self.roles.split())


class RecoveryCode(Base):
    """A one-time code that stands in for an authenticator app, once: a staff member's or a
    public account's (exactly one of the two owners is set)."""

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_user_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"), default=None)
    account_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("accounts.id"), default=None,
                                                         index=True)
    code_hash: Mapped[str] = mapped_column(String(200))
    used_at: Mapped[dt.datetime | None] = mapped_column(default=None)


class AccountTotpStep(Base):
    """The last authenticator time-step a public account used: a code works only once."""

    __tablename__ = "account_totp_steps"

    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    last_step: Mapped[int] = mapped_column(BigInteger, default=0)


class ClaimCode(Base):
    """A one-time, expiring code from a first-contact receipt that links an account."""

    __tablename__ = "claim_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    subject_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("subjects.id"))
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column()
    used_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    used_by_account_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    created_by: Mapped[str] = mapped_column(String(64), default="")
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    note: Mapped[str] = mapped_column(Text, default="")


class StaffTotpStep(Base):
    """The last authenticator time-step a staff member used: a code works only once."""

    __tablename__ = "staff_totp_steps"

    staff_user_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id"), primary_key=True,
                                               autoincrement=False)
    last_step: Mapped[int] = mapped_column(BigInteger, default=0)


class PersonNotice(Base):
    """Telling a person that an online account was linked to or unlinked from their records,
    or that the linked account's password was reset (from an emailed link).

    Sent by email when that is the channel they chose at first contact; otherwise it is a
    task for staff to make contact by phone or post, open until someone records it done.
    """

    __tablename__ = "person_notices"

    id: Mapped[int] = mapped_column(primary_key=True)
    subject_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("subjects.id"), index=True)
    account_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    reason: Mapped[str] = mapped_column(String(24))  # account-linked|-unlinked, password-reset
    channel: Mapped[str] = mapped_column(String(16))  # email | phone | post | none | ""
    emailed: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    done_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    done_by_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"),
                                                         default=None)
