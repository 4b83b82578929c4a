"""SAR domain operations: take a Session and plain values, audit, flush, never commit."""

from __future__ import annotations

import datetime as dt
import enum
import secrets
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from sqlalchemy import ColumnElement, exists, func, select
from sqlalchemy.orm import Session

from portal import audit, outbox
from portal.audit import STAFF_VIEW_ACTION, Actor
from portal.database import utcnow
from portal.errors import Conflict, Invalid, InvalidTransition, NotFound
from portal.identity.models import Account, Role, StaffUser
from portal.reference.models import Agency, Holding, Subject
from sar import access, attachments, clock, uploads
from sar.models import (
    REASON_REGIMES,
    AddressKind,
    FileReview,
    PauseReason,
    Regime,
    SarBundle,
    SarDocument,
    SarDownload,
    SarFile,
    SarFileRedaction,
    SarMessage,
    SarNotice,
    SarPause,
    SarRecord,
    SarRedaction,
    SarRequest,
    SarSearch,
    SarTask,
    SarView,
    Status,
)

MAX_DOCUMENT_BYTES = 10 * 1024 * 1024
MAX_RECORD_FILE_BYTES = 10 * 1024 * 1024
# Agencies answer well inside the statutory month so that review and approval have time.
TASK_DAYS = 14
OPEN_STATUSES = (Status.RECEIVED, Status.WAITING_FOR_ID, Status.PAUSED, Status.IN_PROGRESS,
                 Status.EXTENDED)
_REF_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


@dataclass(frozen=True, slots=True)
class Notice:
    """An email the requester is owed after a step: the step (an event of ``sar.notify``)
    and what its wording needs. A released bundle's download link is signed with the
    application's key, so the web layer makes it from ``bundle_id``."""

    sar: SarRequest
    event: str
    extra: Mapping[str, object] = field(default_factory=dict)
    bundle_id: uuid.UUID | None = None


def new_reference() -> str:
    """A short reference a person can read out on the phone: SAR-XXXX-XXXX."""
    chars = "".join(secrets.choice(_REF_ALPHABET) for _ in range(8))
    return f"SAR-{chars[:4]}-{chars[4:]}"


def sniff(data: bytes) -> str:
    """The media type of an ID document judged by its content, or raise Invalid.

    Only PDF, PNG and JPEG that parse whole are accepted (see ``sar.uploads``).
    """
    return uploads.sniff_document(data, field="document", max_bytes=MAX_DOCUMENT_BYTES)


@dataclass(frozen=True, slots=True)
class NewRequest:
    """What a person (or staff, for a verbal or written request) asks for."""

    requester_name: str
    requester_email: str
    subject_name: str
    subject_date_of_birth: dt.date | None = None
    on_behalf: bool = False
    relationship_to_subject: str = ""
    scope_everything: bool = True
    scope_agencies: tuple[str, ...] = ()
    scope_from: dt.date | None = None
    scope_to: dt.date | None = None
    scope_text: str = ""
    delivery: str = "download"
    postal_address: str = ""
    language: str = "en"
    nation: str = "england-and-wales"
    identity_method: str = "document"  # document | in-person (a linked account needs none)
    channel: str = "web"
    documents: Sequence[tuple[str, bytes]] = field(default_factory=tuple)  # (kind, bytes)


def _validate(session: Session, new: NewRequest, *, has_account: bool, linked: bool) -> None:
    if not new.requester_name.strip():
        raise Invalid("enter your name", field="requester_name")
    if not new.subject_name.strip():
        raise Invalid("enter the name of the person the records are about",
                      field="subject_name")
    if new.channel == "web" and not has_account and "@" not in new.requester_email:
        raise Invalid("enter an email address, like name@example.com", field="requester_email")
    if new.delivery not in ("download", "post"):
        raise Invalid("choose how you want the records", field="delivery")
    if new.delivery == "post" and not new.postal_address.strip():
        raise Invalid("enter the postal address", field="postal_address")
    if new.on_behalf and not new.relationship_to_subject.strip():
        raise Invalid("say how you are acting for this person", field="relationship")
    if new.identity_method not in ("document", "in-person"):
        raise Invalid("choose how to prove identity", field="identity_method")
    if (new.channel == "web" and new.identity_method == "document" and not linked
            and not any(kind == "identity" for kind, _data in new.documents)):
        raise Invalid("upload a photo or scan of an identity document", field="document")
    # Acting for someone needs evidence of authority: uploaded, or shown in person.
    if (new.channel == "web" and new.on_behalf and new.identity_method == "document"
            and not any(kind == "authority" for kind, _data in new.documents)):
        raise Invalid("upload evidence of your authority to act for this person",
                      field="authority_document")
    if new.nation not in clock.NATIONS:
        raise Invalid("choose a nation", field="nation")
    if new.scope_from and new.scope_to and new.scope_from > new.scope_to:
        raise Invalid("the start date must be before the end date", field="scope_from")
    if not new.scope_everything:
        # "Only what I choose" with nothing chosen would silently mean every agency.
        if not new.scope_agencies:
            raise Invalid("choose at least one agency", field="scope")
        known = set(session.scalars(select(Agency.slug)))
        for slug in new.scope_agencies:
            if slug not in known:
                raise Invalid(f"unknown agency {slug}", field="scope_agencies")


@dataclass(frozen=True, slots=True)
class Filed:
    """A request just filed, and the emails its filing owes the requester."""

    sar: SarRequest
    notices: list[Notice]


def record_request(session: Session, new: NewRequest, *, actor: Actor, today: dt.date,
                   account: Account | None = None) -> Filed:
    """File a request (``file_request``) and say what to tell the requester: that it was
    received."""
    sar = file_request(session, new, actor=actor, today=today, account=account)
    return Filed(sar, [Notice(sar, "filed")])


def file_request(session: Session, new: NewRequest, *, actor: Actor, today: dt.date,
                 account: Account | None = None) -> SarRequest:
    """Record a request; a person whose account is linked to their subject needs no ID."""
    linked = account is not None and account.subject_id is not None and not new.on_behalf
    _validate(session, new, has_account=account is not None, linked=linked)
    for _kind, data in new.documents:
        sniff(data)  # refuse a bad file before anything is written
    sar = SarRequest(
        reference=new_reference(), account_id=account.id if account else None,
        subject_id=account.subject_id if linked and account else None, channel=new.channel,
        requester_name=new.requester_name.strip(),
        requester_email=(new.requester_email or (account.email if account else "")).strip(),
        on_behalf=new.on_behalf, relationship_to_subject=new.relationship_to_subject.strip(),
        subject_name=new.subject_name.strip(), subject_date_of_birth=new.subject_date_of_birth,
        scope_everything=new.scope_everything, scope_agencies=" ".join(new.scope_agencies),
        scope_from=new.scope_from, scope_to=new.scope_to, scope_text=new.scope_text.strip(),
        delivery=new.delivery, postal_address=new.postal_address.strip(),
        language=new.language, nation=new.nation,
        identity_method="account" if linked else new.identity_method,
        received_on=today, status=Status.RECEIVED)
    session.add(sar)
    session.flush()
    for kind, data in new.documents:
        add_document(session, sar, kind, data, today=today, actor=actor)
    audit.record(session, "sar.filed", actor, subject_id=sar.subject_id, object_type="sar",
                 object_id=str(sar.id), details={"reference": sar.reference,
                                                 "channel": sar.channel,
                                                 "identity": sar.identity_method})
    if linked:
        _start_clock(session, sar, today, actor=actor)
    else:
        sar.status = Status.WAITING_FOR_ID
    session.flush()
    return sar


def add_document(session: Session, sar: SarRequest, kind: str, data: bytes, *,
                 today: dt.date, actor: Actor) -> SarDocument:
    """Keep an identity or authority document while the request is open."""
    if kind not in ("identity", "authority"):
        raise Invalid("unknown kind of document", field="document")
    mime = sniff(data)
    doc = SarDocument(request_id=sar.id, kind=kind, mime=mime, size=len(data), content=data,
                      received_on=today)
    session.add(doc)
    session.flush()
    audit.record(session, "sar.document_received", actor, subject_id=sar.subject_id,
                 object_type="sar", object_id=str(sar.id),
                 details={"kind": kind, "mime": mime, "size": len(data)})
    return doc


def receive_document(session: Session, sar: SarRequest, kind: str, data: bytes, *,
                     today: dt.date, actor: Actor) -> SarDocument:
    """A document sent after filing: only while the request waits for proof of identity."""
    if sar.status != Status.WAITING_FOR_ID:
        raise InvalidTransition("this request is not waiting for a document", field="document")
    return add_document(session, sar, kind, data, today=today, actor=actor)


def documents(session: Session, sar: SarRequest) -> list[SarDocument]:
    """The request's identity and authority documents (content gone once purged)."""
    return list(session.scalars(select(SarDocument).where(SarDocument.request_id == sar.id)
                                .order_by(SarDocument.id)))


def verify_identity(session: Session, sar: SarRequest, *, subject_id: uuid.UUID,
                    staff_id: int | None, method: str, note: str, today: dt.date,
                    actor: Actor, adult_at_risk: bool = False) -> list[Notice]:
    """Staff confirm identity (and authority) and the subject, saying why they are satisfied;
    the clock starts (the requester is told the deadline). A check by document needs the
    verifier to have opened each document; the documents are kept until the bundle is
    purged."""
    if sar.status != Status.WAITING_FOR_ID:
        raise Conflict("this request is not waiting for proof of identity")
    if session.get(Subject, subject_id) is None:
        raise Invalid("choose the person the records are about", field="subject_id")
    if not note.strip():
        raise Invalid("say why you are satisfied of identity", field="note")
    docs = [d for d in documents(session, sar) if d.content is not None]
    if method == "document":
        kinds = {d.kind for d in docs}
        if "identity" not in kinds:
            raise Invalid("no identity document has been received", field="method")
        if sar.on_behalf and "authority" not in kinds:
            raise Invalid("no evidence of authority has been received", field="method")
        unopened = [d for d in docs if staff_id is None
                    or not access.has_opened(session, staff_id, "document", str(d.id))]
        if unopened:
            raise Invalid("open every document before verifying by document", field="method")
        start = max(d.received_on for d in docs)
    elif method == "in-person":
        start = today
    else:
        raise Invalid("unknown way of checking identity", field="method")
    sar.subject_id = subject_id
    sar.verified_by_id = staff_id
    sar.identity_method = method
    sar.verification_note = note.strip()
    sar.adult_at_risk = adult_at_risk
    audit.record(session, "sar.identity_verified", actor, subject_id=subject_id,
                 object_type="sar", object_id=str(sar.id),
                 details={"method": method, "documents": len(docs),
                          "adult_at_risk": adult_at_risk})
    _start_clock(session, sar, start, actor=actor)
    return [Notice(sar, "started", {"due": due(sar, today)})]


def _age_on(born: dt.date, day: dt.date) -> int:
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def needs_safeguarding(session: Session, sar: SarRequest) -> bool:
    """An on-behalf request about a child (under 18 when received, or of unknown age) or an
    adult at risk: the requester may be the person the subject needs protecting from."""
    if not sar.on_behalf:
        return False
    if sar.adult_at_risk:
        return True
    subject = session.get(Subject, sar.subject_id) if sar.subject_id else None
    born = subject.date_of_birth if subject and subject.date_of_birth else (
        sar.subject_date_of_birth)
    return born is None or _age_on(born, sar.received_on) < 18


SAFEGUARDING_DECISIONS = ("release", "withhold")


def record_safeguarding(session: Session, sar: SarRequest, *, decision: str, reason: str,
                        staff_id: int, actor: Actor) -> SarRequest:
    """Record whether the records may go to this requester, with reasons."""
    _require_open(sar)
    if decision not in SAFEGUARDING_DECISIONS:
        raise Invalid("choose whether the records may be released to this requester",
                      field="decision")
    if not reason.strip():
        raise Invalid("give the reasons for the safeguarding decision",
                      field="safeguarding_reason")
    sar.safeguarding_decision = decision
    sar.safeguarding_reason = reason.strip()
    sar.safeguarding_by_id = staff_id
    sar.safeguarding_at = utcnow()
    session.flush()
    audit.record(session, "sar.safeguarding_decided", actor, subject_id=sar.subject_id,
                 object_type="sar", object_id=str(sar.id), details={"decision": decision})
    return sar


def _start_clock(session: Session, sar: SarRequest, start: dt.date, *, actor: Actor) -> None:
    sar.clock_start = start
    sar.status = Status.IN_PROGRESS
    create_tasks(session, sar, actor=actor)


def task_due(sar: SarRequest, today: dt.date) -> dt.date:
    """An agency's internal due date: TASK_DAYS from the start of the clock (or from today,
    for a task added later), on a working day, and never after the statutory deadline."""
    assert sar.clock_start is not None  # noqa: S101 - only for a request whose clock runs
    wanted = clock.next_working_day(max(sar.clock_start, today)
                                    + dt.timedelta(days=TASK_DAYS), sar.nation)
    deadline = due(sar, today) or wanted
    # A deadline already past leaves the agency the next working day.
    return max(min(wanted, deadline), clock.next_working_day(today, sar.nation))


def create_tasks(session: Session, sar: SarRequest, *, actor: Actor,
                 today: dt.date | None = None) -> list[SarTask]:
    """One task per agency holding records on the subject (within the chosen agencies), due
    on a working day; called again when a holding is registered while the clock runs."""
    if sar.subject_id is None or sar.clock_start is None:
        return []
    holdings = session.scalars(select(Holding).where(Holding.subject_id == sar.subject_id))
    wanted = set(sar.agency_slugs)
    have = {t.agency_id for t in sar.tasks}
    due_on = task_due(sar, today or sar.clock_start)
    created = []
    for holding in holdings:
        agency = holding.agency
        if agency.id in have or (not sar.scope_everything and wanted
                                 and agency.slug not in wanted):
            continue
        have.add(agency.id)
        task = SarTask(request_id=sar.id, agency_id=agency.id, due_on=due_on)
        session.add(task)
        sar.tasks.append(task)
        created.append(task)
    session.flush()
    for task in created:
        audit.record(session, "sar.task_created", actor, subject_id=sar.subject_id,
                     object_type="sar_task", object_id=str(task.id),
                     details={"agency_id": task.agency_id, "due_on": task.due_on.isoformat()})
    return created


def holding_registered(session: Session, subject_id: uuid.UUID, *, actor: Actor,
                       today: dt.date) -> list[SarTask]:
    """A holding registered for a person whose request is open and whose clock runs: the
    agency gets its task too."""
    stmt = select(SarRequest).where(SarRequest.subject_id == subject_id,
                                    SarRequest.clock_start.is_not(None),
                                    SarRequest.status.in_(OPEN_STATUSES))
    return [task for sar in session.scalars(stmt)
            for task in create_tasks(session, sar, actor=actor, today=today)]


def pauses(sar: SarRequest) -> list[clock.Pause]:
    """The request's pauses as clock values."""
    return [clock.Pause(p.start, p.end) for p in sar.pauses]


def due(sar: SarRequest, today: dt.date) -> dt.date | None:
    """The current deadline (None until the clock starts)."""
    if sar.clock_start is None:
        return None
    return clock.effective_due(sar.clock_start, sar.nation, pauses=pauses(sar),
                               extension_months=sar.extension_months, today=today)


def _require_open(sar: SarRequest) -> None:
    if sar.status not in OPEN_STATUSES:
        raise Conflict("this request is closed")


PAUSE_REASONS = tuple(PauseReason)


def pause(session: Session, sar: SarRequest, question: str, *, reason: str, staff_id: int,
          today: dt.date, actor: Actor) -> list[Notice]:
    """Stop the clock for one of the reasons of Art 12A (identity, clarification, a fee),
    asking the person for what is needed (they are sent the question); it runs again when
    they answer."""
    _require_open(sar)
    if reason not in PAUSE_REASONS:
        raise Invalid("choose why the clock stops", field="pause_reason")
    if sar.status == Status.PAUSED:
        raise Conflict("the clock is already paused")
    if sar.clock_start is None:
        raise Conflict("the clock has not started")
    if not question.strip():
        raise Invalid("write the question for the person", field="question")
    session.add(SarPause(request_id=sar.id, reason=reason, start=today, staff_id=staff_id))
    session.add(SarMessage(request_id=sar.id, from_requester=False, staff_id=staff_id,
                           body=question.strip()))
    sar.status = Status.PAUSED
    session.flush()
    session.refresh(sar)
    audit.record(session, "sar.paused", actor, subject_id=sar.subject_id, object_type="sar",
                 object_id=str(sar.id), details={"on": today.isoformat(), "reason": reason})
    return [Notice(sar, "paused", {"question": question})]


def pause_for_clarification(session: Session, sar: SarRequest, question: str, *,
                            staff_id: int, today: dt.date, actor: Actor) -> list[Notice]:
    """Ask the person to clarify (``pause`` for clarification)."""
    return pause(session, sar, question, reason=PauseReason.CLARIFICATION, staff_id=staff_id,
                 today=today, actor=actor)


def resume(session: Session, sar: SarRequest, *, today: dt.date, actor: Actor) -> SarRequest:
    """Restart the clock (the answer arrived); the deadline moves by the days paused."""
    if sar.status != Status.PAUSED:
        raise Conflict("the clock is not paused")
    for p in sar.pauses:
        if p.end is None:
            p.end = today
    sar.status = Status.EXTENDED if sar.extension_months else Status.IN_PROGRESS
    session.flush()
    audit.record(session, "sar.resumed", actor, subject_id=sar.subject_id, object_type="sar",
                 object_id=str(sar.id), details={"on": today.isoformat(),
                                                 "due": str(due(sar, today))})
    return sar


def post_message(session: Session, sar: SarRequest, body: str, *, from_requester: bool,
                 staff_id: int | None, today: dt.date, actor: Actor) -> list[Notice]:
    """A message either way (staff's is announced to the requester); the requester's answer
    to a clarification restarts the clock."""
    if not body.strip():
        raise Invalid("write a message", field="body")
    if len(body) > 5000:
        raise Invalid("a message must be 5,000 characters or fewer", field="body")
    msg = SarMessage(request_id=sar.id, from_requester=from_requester, staff_id=staff_id,
                     body=body.strip())
    session.add(msg)
    session.flush()
    session.refresh(sar)
    audit.record(session, "sar.message", actor, subject_id=sar.subject_id, object_type="sar",
                 object_id=str(sar.id), details={"from_requester": from_requester})
    if from_requester and sar.status == Status.PAUSED:
        resume(session, sar, today=today, actor=actor)
    return [] if from_requester else [Notice(sar, "message")]


def extend(session: Session, sar: SarRequest, *, months: int, reason: str,
           today: dt.date, actor: Actor) -> list[Notice]:
    """Extend by one or two months, within the first month; the person is owed the notice
    of it with the reasons and the new deadline, proved by its delivery record or by a letter
    recorded as posted (see ``notice_states``)."""
    _require_open(sar)
    if sar.clock_start is None:
        raise Conflict("the clock has not started")
    sar.extension_months = clock.check_extension(
        sar.clock_start, sar.nation, months=months, reason=reason,
        already=sar.extension_months, pauses=pauses(sar), today=today)
    sar.extension_reason = reason.strip()
    if sar.status != Status.PAUSED:
        sar.status = Status.EXTENDED
    session.flush()
    audit.record(session, "sar.extended", actor, subject_id=sar.subject_id, object_type="sar",
                 object_id=str(sar.id), details={"months": sar.extension_months,
                                                 "reason": sar.extension_reason})
    return [Notice(sar, "extended", {"due": due(sar, today)})]


def refuse(session: Session, sar: SarRequest, *, reason: str, actor: Actor) -> list[Notice]:
    """Refuse as manifestly unfounded or excessive, with reasons (the person is told, and may
    complain)."""
    _require_open(sar)
    sar.refusal_reason = clock.check_refusal(reason)
    sar.status = Status.REFUSED
    sar.closed_at = utcnow()
    sar.answered_on = clock.today()
    for p in sar.pauses:
        if p.end is None:
            p.end = clock.today()
    # The case is closed: proof of identity and authority is not kept past it.
    deleted = 0
    for doc in documents(session, sar):
        if doc.content is not None:
            doc.content = None
            doc.deleted_at = utcnow()
            deleted += 1
    session.flush()
    audit.record(session, "sar.refused", actor, subject_id=sar.subject_id, object_type="sar",
                 object_id=str(sar.id), details={"reason": sar.refusal_reason,
                                                 "documents_deleted": deleted})
    return [Notice(sar, "refused")]


def assign(session: Session, sar: SarRequest, staff_id: int | None, *, actor: Actor) -> None:
    """Give the request to a SAR coordinator (or nobody): an agency's reviewer or anyone
    else would be handed the whole request."""
    if staff_id is not None:
        staff = session.get(StaffUser, staff_id)
        if (staff is None or staff.disabled_at is not None
                or Role.SAR_COORDINATOR not in staff.role_set):
            raise Invalid("choose a SAR coordinator", field="staff_id")
    sar.assigned_to_id = staff_id
    session.flush()
    audit.record(session, "sar.assigned", actor, subject_id=sar.subject_id, object_type="sar",
                 object_id=str(sar.id), details={"staff_id": staff_id})


def set_ncnd(session: Session, sar: SarRequest, *, reason: str, actor: Actor) -> None:
    """Record a neither-confirm-nor-deny decision for the whole request: existence itself
    must not be disclosed."""
    if not reason.strip():
        raise Invalid("give the reason", field="ncnd_reason")
    sar.neither_confirm_nor_deny = True
    sar.ncnd_reason = reason.strip()
    session.flush()
    audit.record(session, "sar.ncnd", actor, subject_id=sar.subject_id, object_type="sar",
                 object_id=str(sar.id), details={"reason": sar.ncnd_reason})


def set_task_ncnd(session: Session, task: SarTask, *, reason: str, detail: str = "",
                  ground: str = "", actor: Actor) -> SarTask:
    """Neither confirm nor deny this agency's part, for a listed legal reason: the response
    then says nothing about the agency (not even that it holds nothing) and counts nothing."""
    sar = task.request
    _require_open(sar)
    # A competent authority may rely on a law-enforcement restriction or, for its other
    # processing, on a Part 2 exemption; any other agency only on Part 2.
    competent = task.agency is not None and task.agency.competent_authority
    regime = Regime.PART3 if competent and reason in {
        r.value for r, fits in REASON_REGIMES.items() if Regime.PART3 in fits} else Regime.PART2
    task.ncnd_reason, task_ground = attachments.checked_reason(reason, detail, regime=regime,
                                                               ground=ground)
    task.ncnd_detail = " ".join(p for p in (task_ground, detail.strip()) if p)
    task.ncnd = True
    session.flush()
    audit.record(session, "sar.ncnd", actor, subject_id=sar.subject_id,
                 object_type="sar_task", object_id=str(task.id),
                 details={"reason": task.ncnd_reason})
    return task


def set_record_ncnd(session: Session, record: SarRecord, *, reason: str, detail: str = "",
                    ground: str = "", actor: Actor) -> SarRecord:
    """Neither confirm nor deny one record, for a listed legal reason: it is left out of the
    response with its files, and unlike a withheld record it is not counted."""
    task = session.get(SarTask, record.task_id)
    if task is None:  # a record always has its task
        raise NotFound("no such record")
    _require_open(task.request)
    record.ncnd_reason, record_ground = attachments.checked_reason(
        reason, detail, regime=record.regime, ground=ground)
    record.ncnd_detail = " ".join(p for p in (record_ground, detail.strip()) if p)
    record.ncnd = True
    session.flush()
    audit.record(session, "sar.ncnd", actor, subject_id=task.request.subject_id,
                 object_type="sar_record", object_id=str(record.id),
                 details={"reason": record.ncnd_reason})
    return record


# --- Agency tasks -------------------------------------------------------------------------


def task_for_agency(session: Session, task_id: uuid.UUID, agency_id: int) -> SarTask:
    """The task, only if it belongs to this agency (others get the same 404 as no task)."""
    task = session.get(SarTask, task_id)
    if task is None or task.agency_id != agency_id:
        raise NotFound("no such task")
    return task


def tasks_for_agency(session: Session, agency_id: int, *,
                     open_only: bool = False) -> list[SarTask]:
    """An agency's tasks, oldest due first."""
    stmt = select(SarTask).where(SarTask.agency_id == agency_id)
    if open_only:
        stmt = stmt.where(SarTask.status == "open")
    return list(session.scalars(stmt.order_by(SarTask.due_on, SarTask.created_at)))


@dataclass(frozen=True, slots=True)
class NewRecord:
    """A record as an agency supplies it, by the agency's own id for it (unique per task).
    ``regime`` is "part2" or "part3"; left out, it is the agency's (Part 3 for a competent
    authority)."""

    external_id: str
    kind: str
    title: str
    text: str
    occurred_on: dt.date | None = None
    files: Sequence[tuple[str, str, bytes]] = ()  # (filename, media type, content)
    regime: str | None = None


class RecordUnderReview(Conflict):
    """A changed record may not replace one a reviewer has started on."""

    code = "record-under-review"


class BundleApproved(Conflict):
    """Nothing may change once a bundle of the request is approved."""

    code = "bundle-approved"


@dataclass(frozen=True, slots=True)
class Outcome:
    """What supplying did with one record: ``created`` (version 1), ``replaced`` (a new
    version) or ``unchanged`` (the same content again: nothing written)."""

    external_id: str
    outcome: str
    version: int


@dataclass(frozen=True, slots=True)
class Supplied:
    """A task after records were supplied, and what became of each record sent."""

    task: SarTask
    outcomes: list[Outcome]

    @property
    def changed(self) -> bool:
        """Whether anything was written."""
        return any(o.outcome != "unchanged" for o in self.outcomes)


def review_started(record: SarRecord) -> bool:
    """Whether a reviewer has started on the record: a redaction, a withholding, or a
    redaction of or a decision on one of its files."""
    return (bool(record.redactions) or record.withheld
            or any(f.redactions or f.review != FileReview.UNREVIEWED for f in record.files))


def default_regime(agency: Agency) -> Regime:
    """The regime an agency's records are processed under unless it says otherwise."""
    return Regime.PART3 if agency.competent_authority else Regime.PART2


def _regime(task: SarTask, given: str | None, where: str) -> str:
    if given is None:
        return default_regime(task.agency).value
    try:
        regime = Regime(given)
    except ValueError as exc:
        raise Invalid("regime must be part2 or part3", field=where) from exc
    # Only a competent authority processes for law enforcement (DPA 2018 s31).
    if regime is Regime.PART3 and not task.agency.competent_authority:
        raise Invalid("only a competent authority's records are processed under Part 3",
                      field=where)
    return regime.value


def _same(record: SarRecord, new: NewRecord, regime: str,
          files: Sequence[tuple[str, str, bytes]]) -> bool:
    return ((record.kind, record.title, record.text, record.occurred_on, record.regime)
            == (new.kind, new.title, new.text, new.occurred_on, regime)
            and [(f.filename, f.mime, f.content) for f in record.files] == list(files))


def supply(session: Session, task: SarTask, records: Sequence[NewRecord], *,
           actor: Actor, staff_id: int | None = None) -> Supplied:
    """Supply an agency's records to its task, each by the agency's own id: a new id is a new
    record; the same id with the same content changes nothing; with changed content it is a
    new version (the earlier kept, never released), refused while a reviewer has started on
    the record or once a bundle is approved. All or nothing: one refusal stores none."""
    sar = task.request
    if session.scalar(select(SarBundle.id).where(SarBundle.request_id == sar.id,
                                                 SarBundle.approved_at.is_not(None))
                      .limit(1)) is not None:
        raise BundleApproved("a bundle of this request is approved: records can no longer "
                             "be supplied or replaced")
    if sar.status not in OPEN_STATUSES:
        raise Conflict("the request is closed")
    if task.status == "nothing":
        raise Conflict("this task was answered 'we hold nothing'")
    if not records:
        raise Invalid("send at least one record, or answer that you hold nothing",
                      field="records")
    seen: dict[str, int] = {}
    for i, new in enumerate(records):
        if new.external_id in seen:
            raise Invalid(f"records[{i}].id repeats records[{seen[new.external_id]}].id: "
                          "each record is sent once", field=f"records[{i}].id")
        seen[new.external_id] = i
    # Every file is judged by its content before anything is stored: what it claims to be
    # (its name, its declared type) decides nothing.
    judged: list[list[tuple[str, str, bytes]]] = []
    regimes: list[str] = []
    for i, new in enumerate(records):
        regimes.append(_regime(task, new.regime, f"records[{i}].regime"))
        judged.append([])
        for j, (filename, mime, content) in enumerate(new.files):
            where = f"records[{i}].files[{j}]"
            if len(content) > MAX_RECORD_FILE_BYTES:
                raise Invalid("each file must be 10 MB or smaller", field=where)
            judged[i].append((attachments.safe_filename(filename),
                              attachments.sniff(content, mime, field=where), content))
    current = {r.external_id: r for r in task.records}
    plan: list[tuple[NewRecord, str, list[tuple[str, str, bytes]], SarRecord | None]] = []
    outcomes: list[Outcome] = []
    for i, (new, regime, files) in enumerate(zip(records, regimes, judged, strict=True)):
        old = current.get(new.external_id)
        if old is not None and _same(old, new, regime, files):
            outcomes.append(Outcome(new.external_id, "unchanged", old.version))
            continue
        if old is not None and review_started(old):
            raise RecordUnderReview(
                f"record {new.external_id} has changed, but a reviewer has started on it "
                "(a redaction, a withholding or a file decision): ask the agency's reviewer "
                "to undo their review first, or supply the change as a new record",
                field=f"records[{i}].id")
        plan.append((new, regime, files, old))
        outcomes.append(Outcome(new.external_id, "replaced" if old else "created",
                                old.version + 1 if old else 1))
    if not plan:
        return Supplied(task, outcomes)
    now = utcnow()
    for new, regime, files, old in plan:
        if old is not None:
            old.superseded_at = now
            session.flush()
        rec = SarRecord(task_id=task.id, external_id=new.external_id,
                        version=old.version + 1 if old else 1, supplied_at=now,
                        regime=regime, kind=new.kind, title=new.title,
                        occurred_on=new.occurred_on, text=new.text)
        session.add(rec)
        session.flush()
        for filename, mime, content in files:
            session.add(SarFile(record_id=rec.id, filename=filename, mime=mime,
                                content=content))
    replaced = sum(1 for o in outcomes if o.outcome == "replaced")
    if replaced:
        _stale_bundles(session, sar)
    task.status = "supplied"
    task.supplied_at = now
    task.supplied_by_id = staff_id
    session.flush()
    session.refresh(task)
    audit.record(session, "sar.records_supplied", actor, subject_id=sar.subject_id,
                 object_type="sar_task", object_id=str(task.id),
                 details={"records": len(plan) - replaced, "replaced": replaced,
                          "unchanged": len(outcomes) - len(plan)})
    return Supplied(task, outcomes)


def _stale_bundles(session: Session, sar: SarRequest) -> None:
    # A bundle built before a record was replaced holds the earlier version: it must not be
    # approved. A queued one has not read the records yet, so it builds from the current ones.
    for bundle in session.scalars(select(SarBundle).where(
            SarBundle.request_id == sar.id, SarBundle.approved_at.is_(None),
            SarBundle.state.in_(("running", "built")))):
        bundle.state = "failed"
        bundle.error = "a record was replaced after this bundle was built: build it again"


def supply_records(session: Session, task: SarTask, records: Sequence[NewRecord], *,
                   actor: Actor, staff_id: int | None = None) -> SarTask:
    """Supply an agency's records to its task (see ``supply``) and mark it supplied."""
    return supply(session, task, records, actor=actor, staff_id=staff_id).task


def hold_nothing(session: Session, task: SarTask, *, actor: Actor,
                 staff_id: int | None = None) -> SarTask:
    """The agency answers that it holds nothing on the person."""
    if task.records:
        raise Conflict("records were already supplied for this task")
    task.status = "nothing"
    task.supplied_at = utcnow()
    task.supplied_by_id = staff_id
    session.flush()
    audit.record(session, "sar.nothing_held", actor, subject_id=task.request.subject_id,
                 object_type="sar_task", object_id=str(task.id))
    return task


def late_tasks(session: Session, today: dt.date) -> list[SarTask]:
    """Open tasks past their internal due date and not reminded today.

    On PostgreSQL the rows are locked, skipping any another worker holds, so that two SAR
    workers running at once do not both remind an agency of the same task."""
    stmt = select(SarTask).where(SarTask.status == "open", SarTask.due_on < today)
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(of=SarTask, skip_locked=True)
    return [t for t in session.scalars(stmt)
            if t.reminded_at is None or t.reminded_at.date() < today]


def mark_reminded(session: Session, task: SarTask, *, actor: Actor) -> None:
    """Note that the agency was reminded of a late task."""
    task.reminded_at = utcnow()
    session.flush()
    audit.record(session, "sar.task_reminded", actor, subject_id=task.request.subject_id,
                 object_type="sar_task", object_id=str(task.id))


# --- Review ---------------------------------------------------------------------------------


def _reviewable(record: SarRecord) -> None:
    if record.superseded_at is not None:
        raise Conflict("this is an earlier version of the record: review the current one")


def latest_approved(session: Session, sar: SarRequest) -> SarBundle | None:
    """The request's approved bundle, if one is."""
    return session.scalars(select(SarBundle).where(SarBundle.request_id == sar.id,
                                                   SarBundle.approved_at.is_not(None))
                           .limit(1)).first()


def _require_unreleased(session: Session, sar: SarRequest) -> None:
    """Review may change only before release: an approved bundle is what the person gets."""
    _require_open(sar)
    if latest_approved(session, sar) is not None:
        raise Conflict("the bundle has been approved: its redactions can no longer change")


def _request_of(session: Session, record: SarRecord) -> SarRequest:
    task = session.get(SarTask, record.task_id)
    if task is None:
        raise NotFound("no such record")
    return task.request


def _shown_offsets(text: str) -> list[int]:
    # A browser shows (and measures a selection in) the text with each CR LF or CR as one
    # LF: where each shown character, and the end, is in the text as stored.
    where, i = [], 0
    while i < len(text):
        where.append(i)
        i += 2 if text.startswith("\r\n", i) else 1
    return [*where, len(text)]


def _lf(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def selected_text(record: SarRecord, start: int, end: int) -> str:
    """The text between two offsets of the record's text as a browser shows it (a
    reviewer's selection)."""
    where = _shown_offsets(record.text)
    if not 0 <= start < end < len(where):
        raise Invalid("the selection is not inside the record's text", field="text")
    return record.text[where[start]:where[end]]


def redact(session: Session, record: SarRecord, text: str, *, reason: str, detail: str = "",
           ground: str = "", staff_id: int | None, actor: Actor, start: int | None = None,
           end: int | None = None) -> SarRedaction:
    """Redact every occurrence of a span of the record's current version, for a listed reason
    that fits the record's regime ("another reason" names the provision relied on): the span
    typed exactly, or selected (its offsets; the text, when given too, must be what they
    select)."""
    _reviewable(record)
    _require_unreleased(session, _request_of(session, record))
    if record.withheld:
        raise Conflict("the whole record is withheld: undo that first to redact part of it")
    if start is not None and end is not None:
        chosen = selected_text(record, start, end)
        if text and _lf(text) != _lf(chosen):
            raise Invalid("the record changed since it was shown: select the text again",
                          field="text")
        text = chosen
    else:
        start = end = None
    if not text.strip():
        raise Invalid("enter the text to redact", field="text")
    if text not in record.text:
        raise Invalid("that text does not appear in the record", field="text")
    why, ground = attachments.checked_reason(reason, detail, regime=record.regime,
                                             ground=ground)
    red = SarRedaction(record_id=record.id, text=text, start=start, end=end, reason=why,
                       detail=detail.strip(), ground=ground, staff_id=staff_id)
    session.add(red)
    session.flush()
    session.refresh(record)
    audit.record(session, "sar.redacted", actor, object_type="sar_record",
                 object_id=str(record.id), details={"reason": red.reason,
                                                    "length": len(text),
                                                    "selected": start is not None})
    return red


def undo_redaction(session: Session, record: SarRecord, redaction_id: int, *,
                   staff_id: int | None, actor: Actor) -> SarRedaction:
    """Take a redaction back before release: the text is disclosed again. The redaction is
    kept, marked undone, for the audit (and counts as this reviewer's work on the bundle)."""
    _require_unreleased(session, _request_of(session, record))
    red = session.get(SarRedaction, redaction_id)
    if red is None or red.record_id != record.id or red.undone_at is not None:
        raise NotFound("no such redaction")
    red.undone_at = utcnow()
    red.undone_by_id = staff_id
    session.flush()
    session.refresh(record)
    audit.record(session, "sar.redaction_undone", actor, object_type="sar_record",
                 object_id=str(record.id), details={"redaction": red.id,
                                                    "reason": red.reason})
    return red


def withhold(session: Session, record: SarRecord, *, reason: str, detail: str = "",
             ground: str = "", actor: Actor, staff_id: int | None = None) -> SarRecord:
    """Withhold the current version of a whole record, for a listed reason that fits its
    regime ("another reason" names the provision relied on)."""
    _reviewable(record)
    _require_unreleased(session, _request_of(session, record))
    record.withhold_reason, record.withhold_ground = attachments.checked_reason(
        reason, detail, regime=record.regime, ground=ground)
    record.withhold_detail = detail.strip()
    record.withheld = True
    record.withheld_by_id = staff_id
    session.flush()
    audit.record(session, "sar.withheld", actor, object_type="sar_record",
                 object_id=str(record.id), details={"reason": record.withhold_reason})
    return record


def undo_withholding(session: Session, record: SarRecord, *, staff_id: int | None,
                     actor: Actor) -> SarRecord:
    """Release a withheld record again (before release). ``withheld_by_id`` then names who
    last decided, so four eyes still counts them as having worked on the bundle."""
    _require_unreleased(session, _request_of(session, record))
    if not record.withheld:
        raise Conflict("the record is not withheld")
    was = record.withhold_reason
    record.withheld = False
    record.withhold_reason = ""
    record.withhold_detail = ""
    record.withheld_by_id = staff_id
    session.flush()
    audit.record(session, "sar.withholding_undone", actor, object_type="sar_record",
                 object_id=str(record.id), details={"reason": was})
    return record


def undo_file_redaction(session: Session, record: SarRecord, redaction_id: int, *,
                        staff_id: int, actor: Actor) -> SarFileRedaction:
    """Take back a region (or a text file's span) before release; the file then waits for a
    reviewer's decision again, as after any change to its redactions."""
    sar = _request_of(session, record)
    _require_unreleased(session, sar)
    red = session.get(SarFileRedaction, redaction_id)
    file = session.get(SarFile, red.file_id) if red is not None else None
    if (red is None or file is None or file.record_id != record.id
            or red.undone_at is not None):
        raise NotFound("no such redaction")
    if record.withheld:
        raise Conflict("the whole record is withheld, with its files")
    red.undone_at = utcnow()
    red.undone_by_id = staff_id
    attachments.reset_review(file)
    session.flush()
    session.refresh(file)
    audit.record(session, "sar.file_redaction_undone", actor, subject_id=sar.subject_id,
                 object_type="sar_file", object_id=str(file.id),
                 details={"redaction": red.id, "reason": red.reason, "page": red.page})
    return red


def records(sar: SarRequest) -> list[SarRecord]:
    """Every record supplied for the request, by agency."""
    return [r for t in sar.tasks for r in t.records]


# --- Bundles, approval and release --------------------------------------------------------


def request_bundle(session: Session, sar: SarRequest, *, staff_id: int | None,
                   actor: Actor) -> SarBundle:
    """Queue a bundle build (every agency must have answered)."""
    _require_open(sar)
    if sar.status == Status.PAUSED:
        raise Conflict("the clock is paused: resume it first")
    if sar.clock_start is None:
        raise Conflict("identity has not been verified")
    waiting = [t.agency.name for t in sar.tasks if t.status == "open"]
    if waiting:
        raise Conflict("still waiting for: " + ", ".join(waiting))
    _require_files_reviewed(sar)
    bundle = SarBundle(request_id=sar.id, requested_by_id=staff_id)
    session.add(bundle)
    session.flush()
    audit.record(session, "sar.bundle_queued", actor, subject_id=sar.subject_id,
                 object_type="sar_bundle", object_id=str(bundle.id))
    return bundle


def latest_bundle(session: Session, sar: SarRequest) -> SarBundle | None:
    """The most recent bundle of a request."""
    return session.scalars(select(SarBundle).where(SarBundle.request_id == sar.id)
                           .order_by(SarBundle.created_at.desc()).limit(1)).first()


class LeakKind(enum.StrEnum):
    """What kind of thing a release check found (the audit says which, never the text)."""

    REDACTED = "redacted-text"  # a span a reviewer redacted from a record
    WITHHELD = "withheld-record"  # the text of a record withheld whole
    NCND = "ncnd-record"  # the text of a record or agency part under neither confirm nor deny
    FILE = "file-redaction"  # a span redacted from a text file
    SAFE_CONTACT = "safe-contact"  # a part of the person's safe-contact details


def forbidden_by_kind(session: Session, sar: SarRequest) -> dict[str, LeakKind]:
    """Everything that must not appear in the bundle, each with the kind of thing it is."""
    out: dict[str, LeakKind] = {}

    def add(strings: Sequence[str], kind: LeakKind) -> None:
        for s in strings:
            if s.strip():
                out.setdefault(s, kind)

    add(attachments.safe_contact_parts(_safe_contact(session, sar)), LeakKind.SAFE_CONTACT)
    add([r.text for rec in records(sar) for r in rec.redactions], LeakKind.REDACTED)
    add([rec.text for t in sar.tasks for rec in t.records if t.ncnd or rec.ncnd],
        LeakKind.NCND)
    add([rec.text for rec in records(sar) if rec.withheld], LeakKind.WITHHELD)
    add(attachments.forbidden_in_files(sar), LeakKind.FILE)
    return out


def _safe_contact(session: Session, sar: SarRequest) -> str:
    subject = session.get(Subject, sar.subject_id) if sar.subject_id is not None else None
    return subject.safe_contact if subject is not None else ""


def forbidden_strings(session: Session, sar: SarRequest) -> list[str]:
    """Everything that must not appear in the bundle: redacted spans, withheld and NCND
    records' text, and every part of the safe contact (see ``safe_contact_parts``)."""
    return list(forbidden_by_kind(session, sar))


def safe_contact_parts(safe_contact: str) -> list[str]:
    """Every form of a safe-contact detail that must never leave the portal."""
    return attachments.safe_contact_parts(safe_contact)


def leaks(pdf: bytes, forbidden: Sequence[str]) -> list[str]:
    """The forbidden strings that survive in the PDF's extracted text (normalised: NFKC,
    no bidi or zero-width characters, case, whitespace and punctuation folded)."""
    return attachments.leaks_in(attachments.pdf_text(pdf), forbidden)


def _require_files_reviewed(sar: SarRequest) -> None:
    waiting = attachments.unreviewed(sar)
    if waiting:
        raise Conflict(f"{len(waiting)} file(s) have not been reviewed: open each one and "
                       "release it, redact it or withhold it")


@dataclass(frozen=True, slots=True)
class Approval:
    """The outcome of an approval attempt."""

    approved: bool
    leaked: int = 0
    files: int = 0  # files in the zip that are not as a reviewer released them
    notices: tuple[Notice, ...] = ()  # the download link, for a bundle released to download
    kinds: tuple[str, ...] = ()  # the kinds of leak found (LeakKind values)
    where: tuple[str, ...] = ()  # where: "pdf", "zip"


def prepared_by(session: Session, bundle: SarBundle, staff_id: int) -> list[str]:
    """What this staff member did to the bundle's content: built, supplied, redacted, withheld
    or reviewed (released a file as it is)."""
    sar = bundle.request
    done = []
    if bundle.requested_by_id == staff_id:
        done.append("built")
    if any(t.supplied_by_id == staff_id for t in sar.tasks):
        done.append("supplied")
    recs = records(sar)
    files = [f for rec in recs for f in rec.files]
    # Undone redactions count too: taking one back is a reviewer's judgement as well.
    if ((recs and session.scalar(select(SarRedaction.id).where(
                SarRedaction.record_id.in_([r.id for r in recs]),
                (SarRedaction.staff_id == staff_id)
                | (SarRedaction.undone_by_id == staff_id)).limit(1)) is not None)
            or (files and session.scalar(select(SarFileRedaction.id).where(
                SarFileRedaction.file_id.in_([f.id for f in files]),
                (SarFileRedaction.staff_id == staff_id)
                | (SarFileRedaction.undone_by_id == staff_id)).limit(1)) is not None)
            or any(f.reviewed_by_id == staff_id and f.review == "redacted" for f in files)):
        done.append("redacted")
    if (any(rec.withheld_by_id == staff_id for rec in recs)
            or any(f.reviewed_by_id == staff_id and f.review == "withheld" for f in files)):
        done.append("withheld")
    # Releasing a file as it is is a reviewer's judgement too: the approver is a second one.
    if any(f.reviewed_by_id == staff_id and f.review == "as-is" for f in files):
        done.append("reviewed")
    return done


def approve(session: Session, bundle: SarBundle, *, staff_id: int, actor: Actor,
            forbidden_extra: Sequence[str] = ()) -> Approval:
    """Four eyes: someone who built, supplied, redacted and withheld none of it, and opened it,
    approves; release is refused if anything redacted survives, or while a safeguarding
    decision is missing or says not to release to this requester."""
    sar = bundle.request
    _require_open(sar)
    if bundle.state != "built" or bundle.pdf is None:
        raise Conflict("the bundle is not built")
    if bundle.approved_at is not None:
        raise Conflict("the bundle is already approved")
    done = prepared_by(session, bundle, staff_id)
    if done:
        raise Conflict("a second person must approve: you " + " and ".join(done)
                       + " part of this bundle")
    if not access.has_opened(session, staff_id, "bundle", str(bundle.id)):
        raise Conflict("open the bundle's PDF and read it before approving it")
    if needs_safeguarding(session, sar):
        if not sar.safeguarding_decision:
            raise Conflict("record the safeguarding decision before release")
        if sar.safeguarding_decision != "release":
            raise Conflict("the safeguarding decision is not to release to this requester")
    _require_files_reviewed(sar)
    kinds_of: dict[str, str] = {s: k.value for s, k in forbidden_by_kind(session, sar).items()}
    for extra in forbidden_extra:
        kinds_of.setdefault(extra, LeakKind.REDACTED.value)
    forbidden = list(kinds_of)
    in_pdf = leaks(bundle.pdf, forbidden)
    # The zip is released too: its records, its file names and every file in it are checked,
    # and it may hold only files a reviewer released, exactly as they released them.
    files = (attachments.check_archive(bundle.archive, attachments.expected_members(sar),
                                       forbidden)
             if bundle.archive is not None else attachments.ArchiveCheck([], []))
    found = list(dict.fromkeys([*in_pdf, *files.leaked]))
    if found or files.problems:
        kinds = tuple(sorted({kinds_of[s] for s in found}))
        where = tuple(w for w, hit in (("pdf", in_pdf), ("zip", files.leaked)) if hit)
        bundle.release_blocked = "; ".join(
            ([f"{len(found)} redacted or safe-contact string(s) found "
              f"({', '.join(kinds)} in {' and '.join(where)})"] if found else [])
            + ([f"{len(files.problems)} file(s) in the zip not as a reviewer released them"]
               if files.problems else []))
        session.flush()
        # What kind of leak and where, never the strings themselves.
        audit.record(session, "sar.release_blocked", actor, subject_id=sar.subject_id,
                     object_type="sar_bundle", object_id=str(bundle.id),
                     details={"found": len(found), "kinds": list(kinds), "in": list(where),
                              "files": len(files.problems)})
        return Approval(False, len(found), len(files.problems), kinds=kinds, where=where)
    bundle.approved_by_id = staff_id
    bundle.approved_at = utcnow()
    bundle.release_blocked = ""
    sar.status = Status.READY
    sar.answered_on = clock.today(bundle.approved_at)
    session.flush()
    audit.record(session, "sar.approved", actor, subject_id=sar.subject_id,
                 object_type="sar_bundle", object_id=str(bundle.id))
    if sar.delivery == "download" and sar.requester_email:
        return Approval(True, notices=(Notice(sar, "ready", bundle_id=bundle.id),))
    return Approval(True)


def can_download(sar: SarRequest, account: Account) -> bool:
    """Only the requester: the account that filed, or one with the requester's address."""
    if sar.account_id is not None:
        return sar.account_id == account.id
    return (account.email_verified_at is not None and bool(sar.requester_email)
            and account.email.lower() == sar.requester_email.lower())


def use_link(session: Session, bundle: SarBundle, account: Account, *,
             actor: Actor) -> SarBundle:
    """Spend the single-use link: only by the requester, only once, only before purge."""
    if not can_download(bundle.request, account):
        raise NotFound("no such bundle")
    if bundle.approved_at is None or bundle.purged_at is not None:
        raise NotFound("no such bundle")
    if bundle.link_used_at is not None:
        raise Conflict("this link has already been used")
    bundle.link_used_at = utcnow()
    session.flush()
    audit.record(session, "sar.link_used", actor, subject_id=bundle.request.subject_id,
                 object_type="sar_bundle", object_id=str(bundle.id))
    return bundle


def download(session: Session, bundle: SarBundle, account: Account, what: str, *,
             actor: Actor) -> bytes:
    """The PDF or zip for the requester; logged; the request becomes delivered."""
    if (not can_download(bundle.request, account) or bundle.link_used_at is None
            or bundle.purged_at is not None):
        raise NotFound("no such bundle")
    data = bundle.pdf if what == "pdf" else bundle.archive
    if data is None:
        raise NotFound("no such file")
    session.add(SarDownload(bundle_id=bundle.id, account_id=account.id, what=what))
    if bundle.delivered_at is None:
        bundle.delivered_at = utcnow()
        bundle.request.status = Status.DELIVERED
        bundle.request.closed_at = bundle.request.closed_at or bundle.delivered_at
    session.flush()
    audit.record(session, "sar.downloaded", actor, subject_id=bundle.request.subject_id,
                 object_type="sar_bundle", object_id=str(bundle.id), details={"what": what})
    return data


@dataclass
class Purged:
    """What a purge removed, counted per kind (no content, only numbers)."""

    record_texts: int = 0
    redaction_texts: int = 0
    files: int = 0
    drafts: int = 0
    documents: int = 0
    bundles: int = 0
    messages: int = 0
    searches: int = 0
    requests: int = 0

    def counts(self) -> dict[str, int]:
        """The counts by kind, for the audit entry and the command's output."""
        return {name: int(getattr(self, name)) for name in self.__dataclass_fields__}

    def add(self, other: Purged) -> None:
        """Add another request's counts to these."""
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


def _purge_raw(session: Session, sar: SarRequest, now: dt.datetime) -> Purged:
    """The raw supplies: the agencies' record texts and files, the spans redacted from them,
    drafts never released, identity documents. The case file stays."""
    out = Purged()
    for rec in records(sar):
        if rec.text:
            rec.text = ""
            out.record_texts += 1
        for red in rec.redactions:
            if red.text:
                red.text = ""
                out.redaction_texts += 1
        for file in rec.files:
            if file.content or file.released is not None:
                file.content = b""
                file.released = None  # the copy sent is in the released bundle's zip
                out.files += 1
            for region in session.scalars(select(SarFileRedaction).where(
                    SarFileRedaction.file_id == file.id, SarFileRedaction.text != "")):
                region.text = ""
                out.redaction_texts += 1
    for bundle in session.scalars(select(SarBundle).where(SarBundle.request_id == sar.id,
                                                          SarBundle.approved_at.is_(None))):
        if bundle.pdf is not None or bundle.archive is not None:
            bundle.pdf = bundle.archive = None
            bundle.purged_at = now
            out.drafts += 1
    for doc in documents(session, sar):
        if doc.content is not None:
            doc.content = None
            doc.deleted_at = doc.deleted_at or now
            out.documents += 1
    sar.raw_purged_at = now
    return out


def _purge_case(session: Session, sar: SarRequest, now: dt.datetime) -> Purged:
    """The case file, once the complaint period is over: what was sent, the messages and
    the search records (the notices' proof holds no personal data and stays)."""
    out = Purged()
    for bundle in session.scalars(select(SarBundle).where(SarBundle.request_id == sar.id)):
        if bundle.pdf is not None or bundle.archive is not None:
            bundle.pdf = bundle.archive = None
            bundle.purged_at = now
            out.bundles += 1
    for msg in sar.messages:
        if msg.body:
            msg.body = ""
            out.messages += 1
    for search in list(sar.searches):
        session.delete(search)
        out.searches += 1
    sar.case_purged_at = now
    return out


def purge(session: Session, *, now: dt.datetime, raw_grace_days: int,
          case_retention_days: int, actor: Actor) -> Purged:
    """Purge closed requests: their raw supplies ``raw_grace_days`` after closing, their case
    file after ``case_retention_days`` (the complaint period). Audited per request."""
    total = Purged()
    raw_cutoff = now - dt.timedelta(days=raw_grace_days)
    case_cutoff = now - dt.timedelta(days=case_retention_days)
    # Raw supplies and drafts go after the grace period, the case file after the complaint
    # period: each run takes what is due of each.
    for cutoff, purged, purge_one, action in (
            (raw_cutoff, SarRequest.raw_purged_at, _purge_raw, "sar.raw_purged"),
            (case_cutoff, SarRequest.case_purged_at, _purge_case, "sar.case_purged")):
        due = select(SarRequest).where(SarRequest.closed_at.is_not(None),
                                       SarRequest.closed_at < cutoff, purged.is_(None))
        for sar in list(session.scalars(due)):
            done = purge_one(session, sar, now)
            total.add(done)
            total.requests += 1
            audit.record(session, action, actor, subject_id=sar.subject_id,
                         object_type="sar", object_id=str(sar.id), details=done.counts())
    session.flush()
    return total


# --- Notices and their proof --------------------------------------------------------------

# The notices the person must receive: each needs its delivery record or a posted letter.
REQUIRED_NOTICES = frozenset({"paused", "extended", "refused"})
ADDRESS_KINDS = tuple(AddressKind)


def record_notice(session: Session, notice: Notice, *, mail_id: uuid.UUID | None
                  ) -> SarNotice:
    """Keep the notice a step owed the person, with the email that carries it (none: the
    person chose no email, or gave no address, and a letter must be posted)."""
    row = SarNotice(request_id=notice.sar.id, event=notice.event, mail_id=mail_id)
    session.add(row)
    session.flush()
    return row


def record_letter(session: Session, sar: SarRequest, notice_id: int, *,
                  posted_on: dt.date | None, address: str, staff_id: int, today: dt.date,
                  actor: Actor) -> SarNotice:
    """A letter carrying the notice was posted: when, to which kind of address, by whom."""
    row = session.get(SarNotice, notice_id)
    if row is None or row.request_id != sar.id:
        raise NotFound("no such notice")
    if posted_on is None:
        raise Invalid("enter the date the letter was posted", field="posted_on")
    if posted_on > today:
        raise Invalid("the date the letter was posted must be today or in the past",
                      field="posted_on")
    if address not in ADDRESS_KINDS:
        raise Invalid("choose where the letter was sent", field="address")
    row.letter_posted_on = posted_on
    row.letter_address = address
    row.letter_by_id = staff_id
    session.flush()
    audit.record(session, "sar.letter_posted", actor, subject_id=sar.subject_id,
                 object_type="sar", object_id=str(sar.id),
                 details={"notice": row.event, "posted_on": posted_on.isoformat(),
                          "address": address})
    return row


@dataclass(frozen=True, slots=True)
class NoticeState:
    """A notice and what proves the person received it (or that nothing does yet)."""

    notice: SarNotice
    mail: outbox.OutboxMail | None
    required: bool

    @property
    def proved(self) -> bool:
        """Delivered by email (the SMTP server accepted it) or posted as a letter."""
        return self.notice.letter_posted_on is not None or (
            self.mail is not None and self.mail.state == outbox.SENT)


def notice_states(session: Session, sar: SarRequest) -> list[NoticeState]:
    """Every notice of the request with its delivery record, oldest first."""
    out = []
    for row in sar.notices:
        found = session.get(outbox.OutboxMail, row.mail_id) if row.mail_id else None
        out.append(NoticeState(row, found, row.event in REQUIRED_NOTICES))
    return out


# --- Art 15(1A): the search made ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NewSearch:
    """The search an agency made: systems, terms, date, and why it was proportionate."""

    agency_id: int
    systems: str
    terms: str
    searched_on: dt.date | None
    proportionality: str


def record_search(session: Session, sar: SarRequest, new: NewSearch, *,
                  staff_id: int | None, today: dt.date, actor: Actor,
                  task: SarTask | None = None) -> SarSearch:
    """Record a reasonable and proportionate search (UK GDPR Art 15(1A); DPA 2018 s45A) for
    one agency that has a task in the request; kept in the case file."""
    if sar.clock_start is None:
        raise Conflict("the clock has not started")
    if sar.case_purged_at is not None:
        raise Conflict("this request's case file has been purged")
    if not any(t.agency_id == new.agency_id for t in sar.tasks):
        raise Invalid("choose an agency with a task in this request", field="agency")
    problems = [("systems", new.systems, "say which systems were searched"),
                ("terms", new.terms, "say which search terms were used"),
                ("proportionality", new.proportionality,
                 "say why this search was reasonable and proportionate")]
    for name, value, message in problems:
        if not value.strip():
            raise Invalid(message, field=name)
    if new.searched_on is None:
        raise Invalid("enter the date of the search", field="searched_on")
    if new.searched_on > today:
        raise Invalid("the date of the search must be today or in the past",
                      field="searched_on")
    row = SarSearch(request_id=sar.id, agency_id=new.agency_id,
                    task_id=task.id if task else None, systems=new.systems.strip(),
                    terms=new.terms.strip(), searched_on=new.searched_on,
                    proportionality=new.proportionality.strip(), staff_id=staff_id)
    session.add(row)
    session.flush()
    session.refresh(sar)
    audit.record(session, "sar.search_recorded", actor, subject_id=sar.subject_id,
                 object_type="sar", object_id=str(sar.id),
                 details={"agency_id": new.agency_id,
                          "searched_on": new.searched_on.isoformat()})
    return row


def requests_for_account(session: Session, account: Account) -> list[SarRequest]:
    """A person's own requests, newest first."""
    stmt = select(SarRequest).where(SarRequest.account_id == account.id)
    return list(session.scalars(stmt.order_by(SarRequest.created_at.desc())))


def by_reference(session: Session, reference: str) -> SarRequest:
    """A request by its reference."""
    sar = session.scalars(select(SarRequest).where(SarRequest.reference == reference)).first()
    if sar is None:
        raise NotFound("no such request")
    return sar


def link_requested(session: Session, *, reference: str, address: str) -> list[Notice]:
    """A fresh tracking link for whoever gives a request's reference and the address it was
    filed with; nothing, and nothing said, when they do not match."""
    sar = session.scalar(select(SarRequest).where(SarRequest.reference == reference))
    if sar is None or sar.requester_email.strip().lower() != address:
        return []
    return [Notice(sar, "link")]


def queue(session: Session, *, status: str = "", assigned_to: int | None = None
          ) -> list[SarRequest]:
    """The officers' queue, oldest first."""
    stmt = select(SarRequest)
    if status:
        stmt = stmt.where(SarRequest.status == status)
    if assigned_to is not None:
        stmt = stmt.where(SarRequest.assigned_to_id == assigned_to)
    return list(session.scalars(stmt.order_by(SarRequest.received_on, SarRequest.created_at)))


def audit_view(session: Session, sar: SarRequest, *, actor: Actor, what: str = "request",
               role: str = "", object_id: str = "") -> None:
    """Log a staff view of a request or a part of it (the person sees each one)."""
    agency = session.get(Agency, actor.agency_id) if actor.agency_id else None
    if actor.type == "staff" and actor.id.isdigit():
        session.add(SarView(request_id=sar.id, staff_id=int(actor.id),
                            agency_id=actor.agency_id, role=role, what=what,
                            object_id=object_id or str(sar.id)))
        session.flush()
    audit.record(session, "sar.viewed", actor, subject_id=sar.subject_id, object_type="sar",
                 object_id=str(sar.id), details={"what": what, "object": object_id,
                                                 "agency": agency.slug if agency else "",
                                                 "role": role})


MAX_CANDIDATES = 20


@dataclass(frozen=True, slots=True)
class Candidate:
    """A person who may be the one a request is about, with the reference searched for if it
    is one of theirs (which other agencies hold records on a candidate is not shown: an IDVA
    service's holding alone says much about a person)."""

    subject: Subject
    references: list[str]


def _like_literal(word: str) -> str:
    return word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def match_candidates(session: Session, *, name: str = "", born: dt.date | None = None,
                     reference: str = "") -> tuple[list[Candidate], bool]:
    """People matching every criterion given (words of the name, date of birth, an agency's
    reference), and whether there were more than are shown; nothing without a criterion."""
    words = [w for w in name.lower().split() if sum(c.isalnum() for c in w) >= 2][:4]
    conditions: list[ColumnElement[bool]] = []
    for word in words:
        like = f"%{_like_literal(word)}%"
        conditions.append(func.lower(Subject.given_name).like(like, escape="\\")
                          | func.lower(Subject.family_name).like(like, escape="\\"))
    if born is not None:
        conditions.append(Subject.date_of_birth == born)
    if reference.strip():
        conditions.append(exists().where(
            Holding.subject_id == Subject.id,
            func.lower(Holding.agency_ref) == reference.strip().lower()))
    if not conditions:
        return [], False
    found = list(session.scalars(select(Subject).where(*conditions)
                                 .order_by(Subject.family_name, Subject.given_name)
                                 .limit(MAX_CANDIDATES + 1)))
    out = []
    for subject in found[:MAX_CANDIDATES]:
        refs = [h.agency_ref for h in session.scalars(select(Holding).where(
            Holding.subject_id == subject.id,
            func.lower(Holding.agency_ref) == reference.strip().lower()))] \
            if reference.strip() else []
        out.append(Candidate(subject, refs))
    return out, len(found) > MAX_CANDIDATES


def log_candidates_shown(session: Session, candidates: Sequence[Candidate], *,
                         actor: Actor, agency_slug: str) -> None:
    """Each candidate shown to a coordinator is a staff view of that person (name and date
    of birth), logged as one: the person sees it on their activity page."""
    for c in candidates:
        audit.record(session, STAFF_VIEW_ACTION, actor, subject_id=c.subject.id,
                     object_type="subject", object_id=str(c.subject.id),
                     details={"agency": agency_slug, "role": "sar-coordinator"})
