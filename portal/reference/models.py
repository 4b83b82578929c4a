"""Partnership reference data, people, holdings, API clients and the audit log."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
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


class AgencyKind(enum.StrEnum):
    """What sort of organisation a partnership member is."""

    POLICE = "police"
    COUNCIL = "council"
    HOUSING = "housing"
    HEALTH = "health"
    PROBATION = "probation"
    VICTIM_SERVICE = "victim-service"
    IDVA = "idva"
    YOUTH_JUSTICE = "youth-justice"
    RESOLUTION_PANEL = "resolution-panel"
    BUSINESS_CRIME = "business-crime"
    OTHER = "other"


# Kinds of agency that are public authorities: legitimate interests is not their basis.
PUBLIC_AUTHORITY_KINDS = frozenset({AgencyKind.POLICE, AgencyKind.COUNCIL, AgencyKind.HEALTH,
                                    AgencyKind.PROBATION, AgencyKind.YOUTH_JUSTICE})


# Kinds of agency that are competent authorities (DPA 2018 s30, Sch 7) for their
# law-enforcement processing: a new agency of these kinds is one unless told otherwise.
COMPETENT_AUTHORITY_KINDS = frozenset({AgencyKind.POLICE, AgencyKind.PROBATION,
                                       AgencyKind.YOUTH_JUSTICE})


def _competent_by_kind(context: Any) -> bool:
    return context.get_current_parameters().get("kind") in COMPETENT_AUTHORITY_KINDS


class LawfulBasis(enum.StrEnum):
    """The lawful basis a sharing agreement relies on (UK GDPR Art 6 / DPA 2018 Part 3)."""

    CONSENT = "consent"
    PUBLIC_TASK = "public-task"
    LEGAL_OBLIGATION = "legal-obligation"
    VITAL_INTERESTS = "vital-interests"
    LAW_ENFORCEMENT = "law-enforcement"
    LEGITIMATE_INTERESTS = "legitimate-interests"


class Agency(Base):
    """A member of the partnership."""

    __tablename__ = "agencies"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32))
    sar_contact: Mapped[str] = mapped_column(String(300), default="")
    # A competent authority (DPA 2018 Part 3): its records default to law-enforcement
    # processing, whose exemptions are the s45(4) restrictions.
    competent_authority: Mapped[bool] = mapped_column(Boolean, default=_competent_by_kind)
    # Each agency is a controller: what a subject access response says about it, as the
    # agency set it (UK GDPR Art 13-15, DPA 2018 s45).
    controller_name: Mapped[str] = mapped_column(String(300), default="")  # legal name
    controller_address: Mapped[str] = mapped_column(Text, default="")
    dpo_contact: Mapped[str] = mapped_column(String(300), default="")
    retention_statement: Mapped[str] = mapped_column(Text, default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class DataCategory(Base):
    """A kind of personal data that may be shared."""

    __tablename__ = "data_categories"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    special_category: Mapped[bool] = mapped_column(Boolean, default=False)  # UK GDPR Art 9
    criminal_offence: Mapped[bool] = mapped_column(Boolean, default=False)  # UK GDPR Art 10
    # Retired: offered for no new work, kept for history (slugs are never reused).
    retired_at: Mapped[dt.datetime | None] = mapped_column(default=None)


class Purpose(Base):
    """A reason for sharing."""

    __tablename__ = "purposes"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    # Retired: offered for no new work, kept for history (slugs are never reused).
    retired_at: Mapped[dt.datetime | None] = mapped_column(default=None)


agreement_categories = Table(
    "agreement_categories",
    Base.metadata,
    Column("agreement_id", ForeignKey("sharing_agreements.id", ondelete="CASCADE"),
           primary_key=True),
    Column("category_id", ForeignKey("data_categories.id"), primary_key=True),
)


class SharingAgreement(Base):
    """Which agency may share which categories with which agency, why, and on what basis."""

    __tablename__ = "sharing_agreements"
    __table_args__ = (Index("ix_sharing_agreements_route", "from_agency_id", "to_agency_id",
                            "purpose_id"),
                      # Every version of an agreement keeps its reference.
                      UniqueConstraint("reference", "version"))

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(300))
    from_agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"))
    to_agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"))
    purpose_id: Mapped[int] = mapped_column(ForeignKey("purposes.id"))
    lawful_basis: Mapped[str] = mapped_column(String(32))
    statutory_gateway: Mapped[str] = mapped_column(String(300), default="")
    art9_condition: Mapped[str] = mapped_column(String(300), default="")
    valid_from: Mapped[dt.datetime] = mapped_column()
    valid_to: Mapped[dt.datetime | None] = mapped_column(default=None)
    version: Mapped[int] = mapped_column(Integer, default=1)
    # An agreement in use is never rewritten: a change retires it and creates its successor.
    supersedes_id: Mapped[int | None] = mapped_column(ForeignKey("sharing_agreements.id"),
                                                      default=None)
    retired_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    from_agency: Mapped[Agency] = relationship(foreign_keys=[from_agency_id])
    to_agency: Mapped[Agency] = relationship(foreign_keys=[to_agency_id])
    purpose: Mapped[Purpose] = relationship()
    categories: Mapped[list[DataCategory]] = relationship(secondary=agreement_categories)


class Subject(Base):
    """A person the partnership holds records on: minimal identity only."""

    __tablename__ = "subjects"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    given_name: Mapped[str] = mapped_column(String(200))
    family_name: Mapped[str] = mapped_column(String(200))
    date_of_birth: Mapped[dt.date | None] = mapped_column(Date, default=None)
    email: Mapped[str] = mapped_column(String(320), default="")
    phone: Mapped[str] = mapped_column(String(40), default="")
    postal_address: Mapped[str] = mapped_column(Text, default="")
    # Safe-contact details never leave the portal towards another party (DESIGN §10).
    safe_contact: Mapped[str] = mapped_column(Text, default="")
    preferred_language: Mapped[str] = mapped_column(String(8), default="en")
    # How the person asked to be told things at first contact: email, phone, post or none
    # ("" when nobody asked). A change to who can see their records is told there, never
    # only to the mailbox of whoever changed it.
    contact_channel: Mapped[str] = mapped_column(String(16), default="")
    # What an email to the person may say: neutral (the default), detailed or none at all.
    email_wording: Mapped[str] = mapped_column(String(16), default="neutral")
    registered_by_agency_id: Mapped[int | None] = mapped_column(ForeignKey("agencies.id"),
                                                                default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


holding_categories = Table(
    "holding_categories",
    Base.metadata,
    Column("holding_id", ForeignKey("holdings.id", ondelete="CASCADE"), primary_key=True),
    Column("category_id", ForeignKey("data_categories.id"), primary_key=True),
)


class Holding(Base):
    """Agency X holds records of categories C about a subject under its reference R, since D."""

    __tablename__ = "holdings"
    __table_args__ = (
        UniqueConstraint("agency_id", "agency_ref"),
        Index("ix_holdings_subject", "subject_id", "agency_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"),
                                    primary_key=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"))
    subject_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("subjects.id"))
    agency_ref: Mapped[str] = mapped_column(String(100))
    since: Mapped[dt.date] = mapped_column(Date)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[dt.datetime | None] = mapped_column(default=None)

    agency: Mapped[Agency] = relationship()
    subject: Mapped[Subject] = relationship()
    categories: Mapped[list[DataCategory]] = relationship(secondary=holding_categories)


class ApiClient(Base):
    """A sharing system's key: stored only as a hash, scoped, expiring and revocable."""

    __tablename__ = "api_clients"

    id: Mapped[int] = mapped_column(primary_key=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"))
    name: Mapped[str] = mapped_column(String(200))
    key_prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[str] = mapped_column(String(200))  # space-separated
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(default=None)

    agency: Mapped[Agency] = relationship()

    @property
    def scope_set(self) -> frozenset[str]:
        """The key's scopes as a set."""
        return frozenset(self.scopes.split())


