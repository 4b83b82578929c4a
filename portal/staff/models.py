"""Models of this area (imported by portal.all_models)."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import BigInteger, Boolean, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from portal.db import Base, new_uuid, utcnow


class FirstContactReceipt(Base):
    """The receipt of one first-contact conversation: which events it covered, who took it."""

    __tablename__ = "first_contact_receipts"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    subject_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("subjects.id"), index=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"))
    staff_user_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id"))
    language: Mapped[str] = mapped_column(String(8), default="en")
    # JSON list of the consent events' public ids, in the order they were shown.
    event_ids: Mapped[str] = mapped_column(Text, default="[]")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


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
