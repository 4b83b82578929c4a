"""Notices, consent events and check decisions."""

from __future__ import annotations

import datetime as dt
import enum
import uuid

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.database import Base, new_uuid, utcnow
from portal.reference.models import SharingAgreement


class EventType(enum.StrEnum):
    """What a consent event records (ISO/IEC TS 27560 states via W3C DPV)."""

    GIVEN = "given"  # dpv:ConsentGiven
    REFUSED = "refused"  # dpv:ConsentRefused: asked, and said no
    WITHDRAWN = "withdrawn"  # dpv:ConsentWithdrawn
    RENEWED = "renewed"  # dpv:RenewedConsentGiven
    EXPIRED = "expired"  # dpv:ConsentExpired


class ExpressedBy(enum.StrEnum):
    """Who expressed the choice."""

    SUBJECT = "subject"
    GUARDIAN = "guardian"
    STAFF_ASSISTED = "staff-assisted"  # the person, with staff recording it for them
    SYSTEM = "system"  # only for expiry


class Method(enum.StrEnum):
    """How the choice reached the portal."""

    WEB = "web"
    FIRST_CONTACT = "first-contact"
    PAPER = "paper"
    PHONE = "phone"
    EMAIL = "email"
    SYSTEM = "system"


class Notice(Base):
    """A consent option: the statement a person says yes or no to, in versions."""

    __tablename__ = "notices"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    retired_at: Mapped[dt.datetime | None] = mapped_column(default=None)

    versions: Mapped[list[NoticeVersion]] = relationship(
        back_populates="notice", order_by="NoticeVersion.version")


notice_version_agreements = Table(
    "notice_version_agreements",
    Base.metadata,
    Column("notice_version_id", ForeignKey("notice_versions.id", ondelete="CASCADE"),
           primary_key=True),
    Column("agreement_id", ForeignKey("sharing_agreements.id"), primary_key=True),
)


class NoticeVersion(Base):
    """One version of a notice: its texts and the agreements it covers."""

    __tablename__ = "notice_versions"
    __table_args__ = (UniqueConstraint("notice_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    notice_id: Mapped[int] = mapped_column(ForeignKey("notices.id"))
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="draft")  # draft|published|retired
    # A material change: consents given to earlier versions no longer count.
    requires_reconsent: Mapped[bool] = mapped_column(Boolean, default=False)
    # How long a consent to this version lasts before it must be renewed (None: until withdrawn).
    validity_days: Mapped[int | None] = mapped_column(Integer, default=365)
    published_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    notice: Mapped[Notice] = relationship(back_populates="versions")
    texts: Mapped[list[NoticeText]] = relationship(back_populates="version")
    agreements: Mapped[list[SharingAgreement]] = relationship(secondary=notice_version_agreements)

    @property
    def shown_agreements(self) -> list[SharingAgreement]:
        """The agreements to show a person: of each reference, the newest version covered.

        A new version of an agreement in use is added to the notice versions that covered
        the old one (so consents carry over); people should see it once, as it now is.
        """
        newest: dict[str, SharingAgreement] = {}
        for agreement in self.agreements:
            seen = newest.get(agreement.reference)
            if seen is None or agreement.version > seen.version:
                newest[agreement.reference] = agreement
        return list(newest.values())


class NoticeText(Base):
    """A notice version's words in one language."""

    __tablename__ = "notice_texts"
    __table_args__ = (UniqueConstraint("notice_version_id", "language"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    notice_version_id: Mapped[int] = mapped_column(ForeignKey("notice_versions.id"))
    language: Mapped[str] = mapped_column(String(8))
    title: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    if_you_say_no: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="approved")  # draft|approved

    version: Mapped[NoticeVersion] = relationship(back_populates="texts")


class ConsentEvent(Base):
    """An append-only record of one expression of consent; state is derived from these."""

    __tablename__ = "consent_events"
    # Every column the consent check reads, so its read is an index-only scan (migration 0010).
    __table_args__ = (Index("ix_consent_events_check", "subject_id", "notice_id", "id",
                            "event_type", "public_id", "notice_version_id", "valid_until"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"),
                                    primary_key=True)
    public_id: Mapped[uuid.UUID] = mapped_column(unique=True, default=new_uuid)
    subject_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("subjects.id"))
    notice_id: Mapped[int] = mapped_column(ForeignKey("notices.id"))
    notice_version_id: Mapped[int] = mapped_column(ForeignKey("notice_versions.id"))
    event_type: Mapped[str] = mapped_column(String(16))
    occurred_at: Mapped[dt.datetime] = mapped_column()
    recorded_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    valid_until: Mapped[dt.datetime | None] = mapped_column(default=None)
    expressed_by: Mapped[str] = mapped_column(String(16))
    guardian_name: Mapped[str] = mapped_column(String(200), default="")
    guardian_relationship: Mapped[str] = mapped_column(String(100), default="")
    method: Mapped[str] = mapped_column(String(16))
    language: Mapped[str] = mapped_column(String(8), default="en")
    recorded_by: Mapped[str] = mapped_column(String(64))  # "account:..", "staff:..", "system"
    agency_id: Mapped[int | None] = mapped_column(ForeignKey("agencies.id"), default=None)
    evidence: Mapped[str] = mapped_column(Text, default="{}")  # JSON: signature, witness, ...


class CheckDecision(Base):
    """One question from a sharing system and the answer it got."""

    __tablename__ = "check_decisions"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    evaluated_at: Mapped[dt.datetime] = mapped_column()
    agency_id: Mapped[int] = mapped_column(Integer)  # the discloser: the key's agency
    api_client_id: Mapped[int | None] = mapped_column(Integer, default=None)
    recipient_agency_id: Mapped[int] = mapped_column(Integer)
    purpose_id: Mapped[int] = mapped_column(Integer)
    subject_id: Mapped[uuid.UUID | None] = mapped_column(default=None, index=True)
    subject_ref: Mapped[str] = mapped_column(String(100), default="")
    categories: Mapped[str] = mapped_column(Text)  # JSON list of slugs asked about
    decision: Mapped[str] = mapped_column(String(8))
    basis: Mapped[str | None] = mapped_column(String(32), default=None)
    reason: Mapped[str | None] = mapped_column(String(64), default=None)
    result: Mapped[str] = mapped_column(Text)  # JSON per-category answer
    valid_until: Mapped[dt.datetime] = mapped_column()
    audit_id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))


class ReferenceGeneration(Base):
    """A counter the database bumps (by trigger) whenever data a check relies on changes.

    Each process caches that reference data; every check reads this counter in the same
    statement as the person's facts and reloads the cache when it has moved.
    """

    __tablename__ = "reference_generation"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    value: Mapped[int] = mapped_column(BigInteger, default=0)
