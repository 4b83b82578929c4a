"""Subject access requests: the request and its clock, agency tasks, records, redactions,
bundles and downloads."""

from __future__ import annotations

import datetime as dt
import enum
import uuid

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, LargeBinary, String, Text
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
    LEGAL_PRIVILEGE = "legal-privilege"
    OTHER = "other"  # with free text


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

    tasks: Mapped[list[SarTask]] = relationship(back_populates="request",
                                                order_by="SarTask.created_at")
    pauses: Mapped[list[SarPause]] = relationship(order_by="SarPause.start")
    messages: Mapped[list[SarMessage]] = relationship(order_by="SarMessage.at")

    @property
    def agency_slugs(self) -> list[str]:
        """The agencies the person chose (empty: all of them)."""
        return self.scope_agencies.split()


class SarPause(Base):
    """The clock stood still from ``start`` until ``end`` (clarification or missing ID)."""

    __tablename__ = "sar_pauses"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sar_requests.id"), index=True)
    reason: Mapped[str] = mapped_column(String(24))  # clarification | identity
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
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    request: Mapped[SarRequest] = relationship(back_populates="tasks")
    agency: Mapped[Agency] = relationship()
    records: Mapped[list[SarRecord]] = relationship(order_by="SarRecord.id")


class SarRecord(Base):
    """One record an agency supplied, and the reviewer's decision on it."""

    __tablename__ = "sar_records"

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sar_tasks.id"), index=True)
    external_id: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(300))
    occurred_on: Mapped[dt.date | None] = mapped_column(Date, default=None)
    text: Mapped[str] = mapped_column(Text)
    withheld: Mapped[bool] = mapped_column(Boolean, default=False)
    withhold_reason: Mapped[str] = mapped_column(String(32), default="")
    withhold_detail: Mapped[str] = mapped_column(Text, default="")
    withheld_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"),
                                                       default=None)

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
