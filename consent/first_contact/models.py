"""First contact's record: the receipt of what a person chose, kept for the agency."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from portal.database import Base, new_uuid, utcnow


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
