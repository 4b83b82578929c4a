"""Who may see which part of a SAR (DESIGN §12).

A partnership's SAR coordinators run each request: the request page, identity documents,
the clock, letters, the bundle and its approval. Each agency's SAR officers (its reviewers)
see only their own agency's task of a request, with its records, files and redactions, and
nothing of another agency's records nor of a bundle that holds them. Every lookup of a SAR
object by id goes through this module; another agency's object is not found, exactly like
an object that does not exist.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.errors import NotFound
from portal.identity.models import Role, StaffUser
from sar.models import (
    SarBundle,
    SarDocument,
    SarFile,
    SarRecord,
    SarRedaction,
    SarRequest,
    SarTask,
    SarView,
)


def is_coordinator(staff: StaffUser) -> bool:
    """The staff member runs requests for the whole partnership."""
    return Role.SAR_COORDINATOR in staff.role_set


def is_reviewer(staff: StaffUser) -> bool:
    """The staff member reviews their own agency's records for requests."""
    return Role.SAR_OFFICER in staff.role_set


def request_for(session: Session, staff: StaffUser, reference: str) -> SarRequest:
    """A request by reference, for a coordinator only."""
    sar = session.scalars(select(SarRequest).where(SarRequest.reference == reference)).first()
    if sar is None or not is_coordinator(staff):
        raise NotFound("no such request")
    return sar


def document_for(session: Session, staff: StaffUser, sar: SarRequest,
                 document_id: int) -> SarDocument:
    """An identity or authority document of this request, for a coordinator only."""
    doc = session.get(SarDocument, document_id)
    if doc is None or doc.request_id != sar.id or not is_coordinator(staff):
        raise NotFound("no such document")
    return doc


def task_for(session: Session, staff: StaffUser, task_id: uuid.UUID) -> SarTask:
    """An agency's task, for that agency's reviewers only."""
    task = session.get(SarTask, task_id)
    if task is None or not is_reviewer(staff) or task.agency_id != staff.agency_id:
        raise NotFound("no such task")
    return task


def record_for(session: Session, staff: StaffUser, record_id: int) -> SarRecord:
    """A supplied record, for reviewers of the agency that supplied it only."""
    record = session.get(SarRecord, record_id)
    if record is None:
        raise NotFound("no such record")
    task_for(session, staff, record.task_id)
    return record


def file_for(session: Session, staff: StaffUser, file_id: int) -> SarFile:
    """A file supplied with a record, for reviewers of the agency that supplied it only."""
    found = session.get(SarFile, file_id)
    if found is None:
        raise NotFound("no such file")
    record_for(session, staff, found.record_id)
    return found


def redaction_for(session: Session, staff: StaffUser, redaction_id: int) -> SarRedaction:
    """A redaction, for reviewers of the agency whose record it is only."""
    red = session.get(SarRedaction, redaction_id)
    if red is None:
        raise NotFound("no such redaction")
    record_for(session, staff, red.record_id)
    return red


def bundle_for(session: Session, staff: StaffUser, bundle_id: uuid.UUID) -> SarBundle:
    """A bundle (every agency's records), for a coordinator only."""
    bundle = session.get(SarBundle, bundle_id)
    if bundle is None or not is_coordinator(staff):
        raise NotFound("no such bundle")
    return bundle


def own_tasks(session: Session, staff: StaffUser) -> list[SarTask]:
    """The reviewer's agency's tasks, oldest due first (none for anyone else)."""
    if not is_reviewer(staff):
        return []
    return list(session.scalars(select(SarTask).where(SarTask.agency_id == staff.agency_id)
                                .order_by(SarTask.due_on, SarTask.created_at)))


def has_opened(session: Session, staff_id: int, what: str, object_id: str) -> bool:
    """Whether this staff member opened this document, task or bundle."""
    return session.scalar(select(SarView.id).where(
        SarView.staff_id == staff_id, SarView.what == what,
        SarView.object_id == object_id).limit(1)) is not None
