"""The SAR workflow as domain operations: identity, tasks, clock, review, approval, purge."""

from __future__ import annotations

import datetime as dt
import io
import uuid
import zipfile
from collections.abc import Callable
from typing import Any

import pytest
from pypdf import PdfWriter
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.audit import AuditEntry
from portal.errors import Conflict, Invalid, InvalidTransition
from sar import clock
from sar import operations as ops
from sar.models import SarBundle, SarDocument, SarRequest, Status
from tests.identity_helpers import make_account
from tests.sar.conftest import JPEG, PNG, STAFF, open_bundle


def _zip() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("records.json", '{"records": []}')
    return out.getvalue()


ZIP = _zip()


def _pdf() -> bytes:
    out = io.BytesIO()
    writer = PdfWriter()
    writer.add_blank_page(width=100, height=100)
    writer.write(out)
    return out.getvalue()


def test_sniff_judges_by_content_not_name() -> None:
    assert ops.sniff(PNG) == "image/png"
    assert ops.sniff(JPEG) == "image/jpeg"
    assert ops.sniff(_pdf()) == "application/pdf"
    # An executable or HTML disguised by its name is refused.
    with pytest.raises(Invalid, match="photo"):
        ops.sniff(b"MZ\x90\x00 this is a program")
    with pytest.raises(Invalid, match="photo"):
        ops.sniff(b"<html><script>alert(1)</script></html>")
    # A file that claims to be a PDF but does not parse is refused.
    with pytest.raises(Invalid, match="PDF"):
        ops.sniff(b"%PDF-1.7 not really")
    with pytest.raises(Invalid, match="10 MB"):
        ops.sniff(PNG + b"\x00" * (10 * 1024 * 1024))


def test_unverified_request_waits_for_id(filed: Callable[..., SarRequest]) -> None:
    sar = filed(verified=False)
    assert sar.status == Status.WAITING_FOR_ID
    assert sar.clock_start is None and ops.due(sar, dt.date(2026, 11, 3)) is None
    assert sar.tasks == []


def test_documents_are_taken_only_while_waiting_for_id(
        session: Session, filed: Callable[..., SarRequest]) -> None:
    # Given one request waiting for ID and one already verified
    waiting, verified = filed(verified=False), filed()
    # Then a document is kept for the first and refused for the second, with nothing saved
    ops.receive_document(session, waiting, "identity", PNG, today=dt.date(2026, 11, 3),
                         actor=STAFF)
    before = len(session.scalars(select(SarDocument)).all())
    with pytest.raises(InvalidTransition) as err:
        ops.receive_document(session, verified, "identity", PNG, today=dt.date(2026, 11, 3),
                             actor=STAFF)
    assert err.value.field == "document"
    assert len(session.scalars(select(SarDocument)).all()) == before


def test_verification_starts_the_clock_creates_tasks_and_keeps_the_id(
        session: Session, filed: Callable[..., SarRequest]) -> None:
    sar = filed()
    assert sar.status == Status.IN_PROGRESS
    # Day one is the day the ID arrived (2 Nov), not the day staff looked at it.
    assert sar.clock_start == dt.date(2026, 11, 2)
    assert ops.due(sar, dt.date(2026, 11, 3)) == dt.date(2026, 12, 2)
    assert sorted(t.agency.slug for t in sar.tasks) == ["fenshire-idva", "fenshire-police"]
    assert all(t.due_on == dt.date(2026, 11, 16) for t in sar.tasks)
    # The documents the verifier looked at stay with the request, and so does why they were
    # satisfied (the documents go when the bundle is purged).
    docs = session.scalars(select(SarDocument)).all()
    assert docs and all(d.content is not None and d.deleted_at is None for d in docs)
    assert sar.verification_note == "passport photo matches"
    actions = set(session.scalars(select(AuditEntry.action)))
    assert {"sar.filed", "sar.document_received", "sar.identity_verified",
            "sar.task_created"} <= actions


def test_linked_account_needs_no_id(session: Session, morgan: uuid.UUID) -> None:
    account = make_account(session, subject_id=morgan)
    new = ops.NewRequest(requester_name="Morgan Lee", requester_email="",
                         subject_name="Morgan Lee")
    sar = ops.file_request(session, new, actor=STAFF, today=dt.date(2026, 11, 2),
                           account=account)
    assert sar.identity_method == "account" and sar.status == Status.IN_PROGRESS
    assert sar.clock_start == dt.date(2026, 11, 2) and len(sar.tasks) == 2
    assert sar.requester_email == account.email


def test_chosen_agencies_limit_the_tasks(filed: Callable[..., SarRequest]) -> None:
    sar = filed(scope_everything=False, scope_agencies=("fenshire-idva",))
    assert [t.agency.slug for t in sar.tasks] == ["fenshire-idva"]


def test_bad_request_is_refused_with_the_field(session: Session, demo: Any) -> None:
    with pytest.raises(Invalid) as err:
        ops.file_request(session, ops.NewRequest("A", "not-an-email", "A"), actor=STAFF,
                         today=dt.date(2026, 11, 2))
    assert err.value.field == "requester_email"
    with pytest.raises(Invalid) as err:
        ops.file_request(session, ops.NewRequest("A", "a@example.org", "B", on_behalf=True),
                         actor=STAFF, today=dt.date(2026, 11, 2))
    assert err.value.field == "relationship"


def test_pause_and_answer_move_the_deadline(session: Session,
                                            filed: Callable[..., SarRequest]) -> None:
    sar = filed()
    ops.pause_for_clarification(session, sar, "Which years?", staff_id=1,
                                today=dt.date(2026, 11, 10), actor=STAFF)
    assert sar.status == Status.PAUSED
    ops.post_message(session, sar, "2024 and 2025", from_requester=True, staff_id=None,
                     today=dt.date(2026, 11, 17), actor=STAFF)
    assert sar.status == Status.IN_PROGRESS
    # Seven days paused: 2 Dec + 7 = 9 Dec (a Wednesday).
    assert ops.due(sar, dt.date(2026, 11, 20)) == dt.date(2026, 12, 9)


def test_extension_and_refusal(session: Session, filed: Callable[..., SarRequest]) -> None:
    sar = filed()
    with pytest.raises(Invalid):
        ops.extend(session, sar, months=1, reason=" ", today=dt.date(2026, 11, 10),
                   actor=STAFF)
    ops.extend(session, sar, months=2, reason="eight agencies, 2,000 records",
               today=dt.date(2026, 11, 10), actor=STAFF)
    assert sar.status == Status.EXTENDED
    assert ops.due(sar, dt.date(2026, 11, 10)) == dt.date(2027, 2, 2)
    ops.refuse(session, sar, reason="the same request for the fifth time this month",
               actor=STAFF)
    assert sar.status == Status.REFUSED
    with pytest.raises(Conflict):
        ops.pause_for_clarification(session, sar, "?", staff_id=1,
                                    today=dt.date(2026, 11, 11), actor=STAFF)


def _supply(session: Session, sar: SarRequest) -> None:
    police, idva = sorted(sar.tasks, key=lambda t: t.agency.slug != "fenshire-police")
    ops.supply_records(session, police, [ops.NewRecord(
        "INC-1", "incident", "Report of 3 March",
        "Morgan reported damage. Witness Jane Doe of 4 Elm Road saw it. "
        "<img src='http://evil.example/x.png'> <b>bold</b>")], actor=STAFF)
    ops.hold_nothing(session, idva, actor=STAFF)
    session.commit()


def test_bundle_needs_every_agency_to_answer(session: Session,
                                             filed: Callable[..., SarRequest]) -> None:
    sar = filed()
    with pytest.raises(Conflict, match="waiting for"):
        ops.request_bundle(session, sar, staff_id=1, actor=STAFF)
    _supply(session, sar)
    bundle = ops.request_bundle(session, sar, staff_id=1, actor=STAFF)
    assert bundle.state == "queued"


def test_redaction_needs_a_listed_reason_and_text_in_the_record(
        session: Session, filed: Callable[..., SarRequest]) -> None:
    sar = filed()
    _supply(session, sar)
    record = ops.records(sar)[0]
    with pytest.raises(Invalid, match="list"):
        ops.redact(session, record, "Jane Doe", reason="because", staff_id=1, actor=STAFF)
    with pytest.raises(Invalid, match="provision"):
        ops.redact(session, record, "Jane Doe", reason="other", staff_id=1, actor=STAFF)
    with pytest.raises(Invalid, match="does not appear"):
        ops.redact(session, record, "John Smith", reason="s45-4-e", staff_id=1,
                   actor=STAFF)
    red = ops.redact(session, record, "Jane Doe of 4 Elm Road", reason="s45-4-e",
                     staff_id=1, actor=STAFF)
    assert red.reason == "s45-4-e"
    assert "Jane Doe of 4 Elm Road" in ops.forbidden_strings(session, sar)
    # Morgan's safe contact is always forbidden.
    assert any("Text only" in s for s in ops.forbidden_strings(session, sar))


def test_access_is_only_for_the_requester(session: Session, filed: Callable[..., SarRequest],
                                          morgan: uuid.UUID) -> None:
    mine = make_account(session, "morgan.lee@example.org")
    other = make_account(session, "someone@example.org")
    sar = filed()
    assert ops.can_download(sar, mine) and not ops.can_download(sar, other)
    unverified = make_account(session, "MORGAN.LEE@example.org".lower().replace("morgan",
                                                                                "m"),
                              verified=False)
    assert not ops.can_download(sar, unverified)


def test_approval_and_purge(session: Session, filed: Callable[..., SarRequest]) -> None:
    sar = filed()
    _supply(session, sar)
    bundle = ops.request_bundle(session, sar, staff_id=1, actor=STAFF)
    bundle.state, bundle.pdf, bundle.archive = "built", _pdf(), ZIP
    session.flush()
    with pytest.raises(Conflict, match="second"):
        ops.approve(session, bundle, staff_id=1, actor=STAFF)
    open_bundle(session, bundle, 2)
    assert ops.approve(session, bundle, staff_id=2, actor=STAFF).approved
    assert sar.status == Status.READY
    # The reports judge the request on time by the UK date it was released
    assert sar.answered_on == clock.today(bundle.approved_at)
    account = make_account(session, "morgan.lee@example.org")
    with pytest.raises(Exception, match="no such"):
        ops.download(session, bundle, account, "pdf", actor=STAFF)  # link not used yet
    ops.use_link(session, bundle, account, actor=STAFF)
    with pytest.raises(Conflict, match="already"):
        ops.use_link(session, bundle, account, actor=STAFF)
    assert ops.download(session, bundle, account, "zip", actor=STAFF) == ZIP
    assert sar.status == Status.DELIVERED
    # The case closed when the records were delivered
    now = sar.closed_at
    assert now is not None and now == bundle.delivered_at
    kept = {"now": now, "raw_grace_days": 14, "case_retention_days": 400, "actor": STAFF}
    # Within the grace period nothing goes
    assert ops.purge(session, **{**kept, "now": now + dt.timedelta(days=13)}).requests == 0
    # After it, the raw supplies go and the case file (what was sent) stays
    raw = ops.purge(session, **{**kept, "now": now + dt.timedelta(days=15)})
    assert (raw.requests, raw.record_texts, raw.documents, raw.bundles) == (1, 1, 1, 0)
    assert all(r.text == "" for r in ops.records(sar))
    assert bundle.pdf is not None and bundle.archive == ZIP
    # The proof of identity goes with the raw supplies.
    assert all(d.content is None and d.deleted_at for d in ops.documents(session, sar))
    # After the complaint period, the case file goes too
    case = ops.purge(session, **{**kept, "now": now + dt.timedelta(days=401)})
    assert (case.requests, case.bundles, case.record_texts) == (1, 1, 0)
    assert bundle.pdf is None and bundle.archive is None
    session.commit()
    assert session.scalars(select(SarBundle)).one().purged_at is not None
