"""Subject access requests: the request and its clock, agency tasks, records, redactions,
bundles and downloads."""

from __future__ import annotations

import datetime as dt
import enum
import uuid

from sqlalchemy import (
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.database import Base, new_uuid, utcnow
from portal.reference.models import Agency


class Status(enum.StrEnum):
    """Where a request stands, as the person sees it."""

    RECEIVED = "received"
    WAITING_FOR_ID = "waiting-for-id"
    PAUSED = "paused"  # clock stopped for clarification
    IN_PROGRESS = "in-progress"
    EXTENDED = "extended"
    READY = "ready"
    DELIVERED = "delivered"
    REFUSED = "refused"


class Reason(enum.StrEnum):
    """Why something was redacted or withheld: a fixed list, each with its legal source."""

    THIRD_PARTY = "third-party"  # DPA 2018 Sch 2 Part 3 para 16
    CRIME_TAXATION = "sch2-part1-para2"  # DPA 2018 Sch 2 Part 1 para 2
    S45_4_A = "s45-4-a"  # avoid obstructing an official inquiry or investigation
    S45_4_B = "s45-4-b"  # avoid prejudicing prevention, detection or prosecution
    S45_4_C = "s45-4-c"  # protect public security
    S45_4_D = "s45-4-d"  # protect national security
    S45_4_E = "s45-4-e"  # protect the rights and freedoms of others
    LEGAL_PRIVILEGE = "legal-privilege"  # DPA 2018 Sch 2 Part 4 para 19
    OTHER = "other"  # with the provision relied on named (its ground), and free text


class Regime(enum.StrEnum):
    """The part of DPA 2018 a record was processed under, which decides the exemptions that
    may be relied on: Part 2 (UK GDPR, exemptions in Schedules 2 to 4) or Part 3 (a competent
    authority's law-enforcement processing, restrictions in s45(4))."""

    PART2 = "part2"
    PART3 = "part3"


# The one place that says which reason fits which regime: forms, operations and the API
# all read it. Third-party data under Part 3 is s45(4)(e) (the rights of others); legal
# privilege is a Part 2 exemption only; "another reason" names its own provision.
REASON_REGIMES: dict[Reason, frozenset[Regime]] = {
    Reason.THIRD_PARTY: frozenset({Regime.PART2}),
    Reason.CRIME_TAXATION: frozenset({Regime.PART2}),
    Reason.S45_4_A: frozenset({Regime.PART3}),
    Reason.S45_4_B: frozenset({Regime.PART3}),
    Reason.S45_4_C: frozenset({Regime.PART3}),
    Reason.S45_4_D: frozenset({Regime.PART3}),
    Reason.S45_4_E: frozenset({Regime.PART3}),
    Reason.LEGAL_PRIVILEGE: frozenset({Regime.PART2}),
    Reason.OTHER: frozenset({Regime.PART2, Regime.PART3}),
}


def reasons_for(regime: str) -> list[Reason]:
    """The reasons that may be relied on for a record processed under this regime."""
    return [r for r in Reason if Regime(regime) in REASON_REGIMES[r]]


class PauseReason(enum.StrEnum):
    """Why the clock stopped (UK GDPR Art 12A; DPA 2018 s45A): a fixed list."""

    IDENTITY = "identity"  # waiting for information to confirm identity or authority
    CLARIFICATION = "clarification"  # waiting for the person to say what they want
    FEE = "fee"  # waiting for a fee (a manifestly unfounded or excessive request, or copies)


class AddressKind(enum.StrEnum):
    """Where a letter to the person was posted."""

    REQUEST = "request"  # the postal address given with the request
    SAFE = "safe"  # the person's safe-contact address
    AGENCY = "agency"  # an address an agency holds for them
    HAND = "hand"  # handed to them in person


class SarRequest(Base):
    """One subject access request and its legal clock."""

    __tablename__ = "sar_requests"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    reference: Mapped[str] = mapped_column(String(20), unique=True)
    account_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("accounts.id"),
                                                         default=None, index=True)
    subject_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("subjects.id"),
                                                         default=None, index=True)
    channel: Mapped[str] = mapped_column(String(16), default="web")  # web | verbal | written
    requester_name: Mapped[str] = mapped_column(String(200))
    requester_email: Mapped[str] = mapped_column(String(320), default="")
    on_behalf: Mapped[bool] = mapped_column(Boolean, default=False)
    relationship_to_subject: Mapped[str] = mapped_column(String(200), default="")
    subject_name: Mapped[str] = mapped_column(String(400))
    subject_date_of_birth: Mapped[dt.date | None] = mapped_column(Date, default=None)
    scope_everything: Mapped[bool] = mapped_column(Boolean, default=True)
    scope_agencies: Mapped[str] = mapped_column(Text, default="")  # space-separated slugs
    scope_from: Mapped[dt.date | None] = mapped_column(Date, default=None)
    scope_to: Mapped[dt.date | None] = mapped_column(Date, default=None)
    scope_text: Mapped[str] = mapped_column(Text, default="")
    delivery: Mapped[str] = mapped_column(String(16), default="download")  # download | post
    postal_address: Mapped[str] = mapped_column(Text, default="")
    language: Mapped[str] = mapped_column(String(8), default="en")
    # What emails to the requester may say: neutral (the default), detailed or none.
    email_wording: Mapped[str] = mapped_column(String(16), default="neutral")
    nation: Mapped[str] = mapped_column(String(24), default="england-and-wales")
    identity_method: Mapped[str] = mapped_column(String(16), default="document")
    status: Mapped[str] = mapped_column(String(24), default=Status.RECEIVED, index=True)
    received_on: Mapped[dt.date] = mapped_column(Date)
    # Day one of the clock: receipt, or the day proof of identity or authority arrived.
    clock_start: Mapped[dt.date | None] = mapped_column(Date, default=None)
    # The UK date the request was answered (its bundle released) or refused: the reports'
    # on-time rate compares it with the deadline.
    answered_on: Mapped[dt.date | None] = mapped_column(Date, default=None)
    extension_months: Mapped[int] = mapped_column(Integer, default=0)
    extension_reason: Mapped[str] = mapped_column(Text, default="")
    refusal_reason: Mapped[str] = mapped_column(Text, default="")
    neither_confirm_nor_deny: Mapped[bool] = mapped_column(Boolean, default=False)
    ncnd_reason: Mapped[str] = mapped_column(Text, default="")
    assigned_to_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"),
                                                       default=None)
    verified_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"),
                                                       default=None)
    # Why the verifier was satisfied of identity (and authority), in their words.
    verification_note: Mapped[str] = mapped_column(Text, default="")
    # Recorded at verification: the person is an adult at risk (a child is known by age).
    adult_at_risk: Mapped[bool] = mapped_column(Boolean, default=False)
    # Before release to someone acting for a child or an adult at risk: "release" or
    # "withhold" (the requester may be the person they need protecting from), with reasons.
    safeguarding_decision: Mapped[str] = mapped_column(String(16), default="")
    safeguarding_reason: Mapped[str] = mapped_column(Text, default="")
    safeguarding_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"),
                                                           default=None)
    safeguarding_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # When the case closed (delivered or refused): the retention periods run from here.
    closed_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    raw_purged_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    case_purged_at: Mapped[dt.datetime | None] = mapped_column(default=None)

    tasks: Mapped[list[SarTask]] = relationship(back_populates="request",
                                                order_by="SarTask.created_at")
    pauses: Mapped[list[SarPause]] = relationship(order_by="SarPause.start")
    messages: Mapped[list[SarMessage]] = relationship(order_by="SarMessage.at")
    notices: Mapped[list[SarNotice]] = relationship(order_by="SarNotice.id")
    searches: Mapped[list[SarSearch]] = relationship(order_by="SarSearch.id")

    @property
    def agency_slugs(self) -> list[str]:
        """The agencies the person chose (empty: all of them)."""
        return self.scope_agencies.split()


class SarPause(Base):
    """The clock stood still from ``start`` until ``end``, for one of the reasons of
    ``PauseReason``."""

    __tablename__ = "sar_pauses"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sar_requests.id"), index=True)
    reason: Mapped[str] = mapped_column(String(24))  # a PauseReason
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"), default=None)
    start: Mapped[dt.date] = mapped_column(Date)
    end: Mapped[dt.date | None] = mapped_column(Date, default=None)


class SarMessage(Base):
    """A message between the SAR team and the requester, either way."""

    __tablename__ = "sar_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sar_requests.id"), index=True)
    from_requester: Mapped[bool] = mapped_column(Boolean)
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"), default=None)
    body: Mapped[str] = mapped_column(Text)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class SarNotice(Base):
    """A notice the person is owed (extension, refusal, clarification...), proved by the
    delivery record of its email or by a letter recorded as posted: never by a checkbox."""

    __tablename__ = "sar_notices"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sar_requests.id"), index=True)
    event: Mapped[str] = mapped_column(String(24))  # an event of sar.notify
    mail_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("mail_outbox.id"),
                                                      default=None)
    letter_posted_on: Mapped[dt.date | None] = mapped_column(Date, default=None)
    letter_address: Mapped[str] = mapped_column(String(16), default="")  # an AddressKind
    letter_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"),
                                                     default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class SarSearch(Base):
    """The search an agency made for the person's records (UK GDPR Art 15(1A)): where, with
    what terms, when, and why that was reasonable and proportionate."""

    __tablename__ = "sar_searches"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sar_requests.id"), index=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"))
    task_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("sar_tasks.id"), default=None)
    systems: Mapped[str] = mapped_column(Text)
    terms: Mapped[str] = mapped_column(Text)
    searched_on: Mapped[dt.date] = mapped_column(Date)
    proportionality: Mapped[str] = mapped_column(Text)
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    agency: Mapped[Agency] = relationship()


class SarDocument(Base):
    """An identity or authority document, kept while the request is open (staff verify by
    looking at it) and deleted when its bundle is purged."""

    __tablename__ = "sar_documents"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sar_requests.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # identity | authority
    mime: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    content: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    received_on: Mapped[dt.date] = mapped_column(Date)
    deleted_at: Mapped[dt.datetime | None] = mapped_column(default=None)


class SarTask(Base):
    """One agency's part of a request: supply its records by the internal due date."""

    __tablename__ = "sar_tasks"
    __table_args__ = (Index("ix_sar_tasks_agency_status", "agency_id", "status"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    request_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sar_requests.id"), index=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"))
    status: Mapped[str] = mapped_column(String(16), default="open")  # open|supplied|nothing
    due_on: Mapped[dt.date] = mapped_column(Date)
    supplied_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    # The staff member who uploaded the records or answered "we hold nothing" (none by API).
    supplied_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"),
                                                       default=None)
    reminded_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    # Neither confirm nor deny for this agency's part: the response says nothing about it.
    ncnd: Mapped[bool] = mapped_column(Boolean, default=False)
    ncnd_reason: Mapped[str] = mapped_column(String(32), default="")
    ncnd_detail: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    request: Mapped[SarRequest] = relationship(back_populates="tasks")
    agency: Mapped[Agency] = relationship()
    # The current version of each record: what is reviewed, redacted and released.
    records: Mapped[list[SarRecord]] = relationship(
        primaryjoin="and_(SarTask.id == SarRecord.task_id, SarRecord.superseded_at.is_(None))",
        order_by="SarRecord.id", viewonly=True)
    # Every version, the replaced ones too (kept for staff, never released).
    all_records: Mapped[list[SarRecord]] = relationship(
        order_by="(SarRecord.external_id, SarRecord.version)", viewonly=True)


class SarRecord(Base):
    """One version of a record an agency supplied (by the agency's own id, unique per task),
    and the reviewer's decision on it. A changed record supplied again is a new version; the
    earlier one is kept, marked superseded, and never released."""

    __tablename__ = "sar_records"
    __table_args__ = (UniqueConstraint("task_id", "external_id", "version",
                                       name="uq_sar_records_task_external_version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sar_tasks.id"), index=True)
    external_id: Mapped[str] = mapped_column(String(100))
    version: Mapped[int] = mapped_column(Integer, default=1)
    supplied_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    superseded_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    regime: Mapped[str] = mapped_column(String(8), default=Regime.PART2)
    kind: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(300))
    occurred_on: Mapped[dt.date | None] = mapped_column(Date, default=None)
    text: Mapped[str] = mapped_column(Text)
    withheld: Mapped[bool] = mapped_column(Boolean, default=False)
    withhold_reason: Mapped[str] = mapped_column(String(32), default="")
    withhold_detail: Mapped[str] = mapped_column(Text, default="")
    withhold_ground: Mapped[str] = mapped_column(String(200), default="")  # for "other"
    withheld_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"),
                                                       default=None)
    # Neither confirm nor deny this record: unlike a withheld one, it is not even counted.
    ncnd: Mapped[bool] = mapped_column(Boolean, default=False)
    ncnd_reason: Mapped[str] = mapped_column(String(32), default="")
    ncnd_detail: Mapped[str] = mapped_column(Text, default="")

    # Only the redactions in force: an undone one stays, for the audit, but redacts nothing.
    redactions: Mapped[list[SarRedaction]] = relationship(
        primaryjoin="and_(SarRedaction.record_id == SarRecord.id, "
                    "SarRedaction.undone_at.is_(None))",
        order_by="SarRedaction.id", viewonly=True)
    files: Mapped[list[SarFile]] = relationship(order_by="SarFile.id")


class FileReview(enum.StrEnum):
    """A reviewer's decision on a supplied file; nothing unreviewed is ever released."""

    UNREVIEWED = "unreviewed"
    AS_IS = "as-is"
    REDACTED = "redacted"
    WITHHELD = "withheld"


class SarFile(Base):
    """An original file supplied with a record, its media type judged by its content, and
    the reviewer's decision on it."""

    __tablename__ = "sar_files"

    id: Mapped[int] = mapped_column(primary_key=True)
    record_id: Mapped[int] = mapped_column(ForeignKey("sar_records.id"), index=True)
    filename: Mapped[str] = mapped_column(String(200))  # sanitised, never a path
    mime: Mapped[str] = mapped_column(String(100))  # sniffed from the content
    content: Mapped[bytes] = mapped_column(LargeBinary)
    review: Mapped[str] = mapped_column(String(16), default=FileReview.UNREVIEWED)
    withhold_reason: Mapped[str] = mapped_column(String(32), default="")
    withhold_detail: Mapped[str] = mapped_column(Text, default="")
    withhold_ground: Mapped[str] = mapped_column(String(200), default="")  # for "other"
    reviewed_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"),
                                                       default=None)
    reviewed_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    # What leaves: the original re-encoded (as is) or with its redactions burnt in.
    released: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)

    # Only the regions and spans in force (an undone one is kept, but burns nothing in).
    redactions: Mapped[list[SarFileRedaction]] = relationship(
        primaryjoin="and_(SarFileRedaction.file_id == SarFile.id, "
                    "SarFileRedaction.undone_at.is_(None))",
        order_by="SarFileRedaction.id", viewonly=True)


class SarFileRedaction(Base):
    """A region of a file's page (pixels) or a span of a text file that must not be
    disclosed, and why."""

    __tablename__ = "sar_file_redactions"

    id: Mapped[int] = mapped_column(primary_key=True)
    file_id: Mapped[int] = mapped_column(ForeignKey("sar_files.id"), index=True)
    page: Mapped[int] = mapped_column(Integer, default=1)
    x: Mapped[int] = mapped_column(Integer, default=0)
    y: Mapped[int] = mapped_column(Integer, default=0)
    width: Mapped[int] = mapped_column(Integer, default=0)
    height: Mapped[int] = mapped_column(Integer, default=0)
    text: Mapped[str] = mapped_column(Text, default="")  # a text file's span
    reason: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str] = mapped_column(Text, default="")
    ground: Mapped[str] = mapped_column(String(200), default="")  # for "other"
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    undone_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    undone_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"),
                                                     default=None)


class SarRedaction(Base):
    """A span of a record's text that must not be disclosed, and why."""

    __tablename__ = "sar_redactions"

    id: Mapped[int] = mapped_column(primary_key=True)
    record_id: Mapped[int] = mapped_column(ForeignKey("sar_records.id"), index=True)
    text: Mapped[str] = mapped_column(Text)
    # Where the reviewer selected it (offsets into the record's text); the text is cut out
    # wherever it appears, so that the release check can prove it gone from the whole bundle.
    start: Mapped[int | None] = mapped_column(Integer, default=None)
    end: Mapped[int | None] = mapped_column(Integer, default=None)
    reason: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str] = mapped_column(Text, default="")
    ground: Mapped[str] = mapped_column(String(200), default="")  # for "other"
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"), default=None)
    created_at: Mapped[dt.datetime | None] = mapped_column(default=utcnow)
    undone_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    undone_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"),
                                                     default=None)


class SarBundle(Base):
    """A build job and its result; released only after a second officer approves it."""

    __tablename__ = "sar_bundles"
    __table_args__ = (Index("ix_sar_bundles_state", "state", "created_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    request_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sar_requests.id"), index=True)
    state: Mapped[str] = mapped_column(String(16), default="queued")  # queued|running|built|failed
    progress: Mapped[int] = mapped_column(Integer, default=0)  # percent
    error: Mapped[str] = mapped_column(Text, default="")
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"),
                                                        default=None)
    pdf: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    archive: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    pages: Mapped[int] = mapped_column(Integer, default=0)
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"),
                                                       default=None)
    approved_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    release_blocked: Mapped[str] = mapped_column(Text, default="")
    # What was withheld, counted by kind and reason, never the text (JSON, ``sar.bundle``):
    # the case file's version, which counts what the person's version may not name.
    manifest: Mapped[str] = mapped_column(Text, default="")
    delivered_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    link_used_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    purged_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    started_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    finished_at: Mapped[dt.datetime | None] = mapped_column(default=None)

    request: Mapped[SarRequest] = relationship()


class SarDownload(Base):
    """Every download of a bundle."""

    __tablename__ = "sar_downloads"

    id: Mapped[int] = mapped_column(primary_key=True)
    bundle_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sar_bundles.id"), index=True)
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id"))
    what: Mapped[str] = mapped_column(String(8))  # pdf | zip
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class SarView(Base):
    """A staff member opened part of a request: the request, an ID document, an agency's task
    or the draft bundle. The person the request is about sees each one; four eyes reads
    them (an approver must have opened the bundle, a verifier the documents)."""

    __tablename__ = "sar_views"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sar_requests.id"), index=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id"))
    agency_id: Mapped[int | None] = mapped_column(ForeignKey("agencies.id"), default=None)
    role: Mapped[str] = mapped_column(String(32), default="")
    what: Mapped[str] = mapped_column(String(16))  # request | document | task | bundle | file
    object_id: Mapped[str] = mapped_column(String(64), default="")
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)
