"""The release check: every form of a redacted string or a safe-contact detail is found, in
the PDF and in the zip's files, and release is refused as an audited error."""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.audit import AuditEntry
from portal.database import get_database
from portal.identity.models import StaffUser
from portal.reference.models import Subject
from sar import attachments, worker
from sar import operations as ops
from sar.models import SarBundle, SarRequest
from tests.identity_helpers import login
from tests.sar.conftest import STAFF, open_bundle
from tests.staff_helpers import csrf

SAFE = "Flat 2, 14 Mill Lane, Fenton FN1 2AB\nText 07700 900123 after 6pm"


@pytest.mark.parametrize("written", [
    "07700-900-123",  # the phone number with other separators
    "(07700) 900.123",
    "+44 7700 900123",  # and in its international form
    "fn12ab",  # the postcode without its space
    "FN1-2AB",
    "14 mill lane",  # an address line on its own
    "14\u202e Mill Lane",  # a right-to-left override inside it
    "14 Mi\u200bll Lane",  # a zero-width space
    "\uff11\uff14 Mill Lane",  # fullwidth digits (NFKC folds them)
])
def test_a_paraphrase_of_the_safe_contact_is_found(written: str) -> None:
    parts = attachments.safe_contact_parts(SAFE)
    assert attachments.leaks_in(f"Notes: {written}. End.", parts), written


def test_the_safe_contacts_parts_are_its_lines_pieces_numbers_and_postcodes() -> None:
    parts = attachments.safe_contact_parts(SAFE)
    assert {"14 Mill Lane", "FN12AB", "07700900123", "447700900123"} <= set(parts)
    assert parts[0] == "Flat 2, 14 Mill Lane, Fenton FN1 2AB"
    # A town on its own, or another number, is not the safe contact
    assert attachments.leaks_in("Seen in Fenton, call 01632 960000", parts) == []


def test_punctuation_between_words_does_not_hide_a_redacted_name() -> None:
    assert attachments.leaks_in("Jane.Doe / of 4-Elm-Road", ["Jane Doe of 4 Elm Road"])
    assert attachments.leaks_in("J\u200dane Doe", ["jane doe"])
    assert attachments.strip_controls("A\u202eB\u2066C\u200bD\ufeffE") == "ABCDE"


def _supply(session: Session, sar: SarRequest, text: str,
            files: list[tuple[str, str, bytes]] | None = None) -> None:
    police = next(t for t in sar.tasks if t.agency.slug == "fenshire-police")
    idva = next(t for t in sar.tasks if t.agency.slug == "fenshire-idva")
    ops.supply_records(session, police, [ops.NewRecord(
        "INC-1", "incident", "Report", text, files=files or [])], actor=STAFF)
    ops.hold_nothing(session, idva, actor=STAFF)
    for f in ops.records(sar)[0].files:
        attachments.record_open(session, sar, f, actor=STAFF)
        attachments.decide(session, sar, ops.records(sar)[0], f, "as-is", staff_id=1,
                           forbidden=[], actor=STAFF)


def _build(app: Flask, session: Session, sar: SarRequest) -> SarBundle:
    bundle = ops.request_bundle(session, sar, staff_id=1, actor=STAFF)
    session.commit()
    with app.app_context():
        assert worker.run_once(get_database(app).sessionmaker) == "built"
    session.rollback()
    session.refresh(bundle)
    return bundle


def _set_safe(session: Session, subject_id: uuid.UUID | None, safe: str) -> None:
    subject = session.get(Subject, subject_id)
    assert subject is not None
    subject.safe_contact = safe
    session.flush()


def _blocked(session: Session) -> dict[str, object]:
    session.commit()
    entry = session.scalars(select(AuditEntry).where(
        AuditEntry.action == "sar.release_blocked")).one()
    assert "07700" not in entry.details and "Mill" not in entry.details
    return dict(json.loads(entry.details))


def test_a_phone_number_written_another_way_in_the_pdf_blocks_release(
        app: Flask, session: Session, filed: Callable[..., SarRequest]) -> None:
    # Given a record that gives the safe number with dashes, built into the bundle
    sar = filed()
    _set_safe(session, sar.subject_id, SAFE)
    _supply(session, sar, "She asked us to text 07700-900-123 only.")
    bundle = _build(app, session, sar)
    open_bundle(session, bundle, 2)
    # When the second officer approves, then release is refused, and the audit says what
    # kind of leak it was and where, never the number
    result = ops.approve(session, bundle, staff_id=2, actor=STAFF)
    assert not result.approved and result.kinds == ("safe-contact",)
    assert result.where == ("pdf", "zip")  # the zip's records carry the text too
    details = _blocked(session)
    assert details["kinds"] == ["safe-contact"] and details["in"] == ["pdf", "zip"]


def test_a_postcode_without_its_space_in_a_released_file_blocks_release(
        app: Flask, session: Session, filed: Callable[..., SarRequest]) -> None:
    # Given a text file released as is, naming the safe postcode without its space
    sar = filed()
    _supply(session, sar, "See the attached note.",
            files=[("note.txt", "text/plain", b"Moved to FN12AB last week.")])
    bundle = _build(app, session, sar)
    # When the safe contact is recorded before approval
    _set_safe(session, sar.subject_id, SAFE)
    open_bundle(session, bundle, 2)
    result = ops.approve(session, bundle, staff_id=2, actor=STAFF)
    # Then only the zip's file holds it, and release is refused
    assert not result.approved and result.where == ("zip",)
    assert _blocked(session)["kinds"] == ["safe-contact"]


def test_a_safe_contact_line_in_a_record_is_redacted_in_the_bundle(
        app: Flask, session: Session, filed: Callable[..., SarRequest]) -> None:
    # An address line written as the safe contact has it is cut out, and release passes
    sar = filed()
    _set_safe(session, sar.subject_id, SAFE)
    _supply(session, sar, "Write to 14 Mill Lane, please.")
    bundle = _build(app, session, sar)
    assert bundle.pdf is not None and "Mill Lane" not in attachments.pdf_text(bundle.pdf)
    open_bundle(session, bundle, 2)
    assert ops.approve(session, bundle, staff_id=2, actor=STAFF).approved


def test_a_bidi_override_never_reaches_the_pdf(
        app: Flask, session: Session, filed: Callable[..., SarRequest]) -> None:
    sar = filed()
    _supply(session, sar, "Paid \u202e0001\u202c pounds to \u200bthe council.")
    bundle = _build(app, session, sar)
    assert bundle.pdf is not None and bundle.archive is not None
    text = attachments.pdf_text(bundle.pdf)
    assert "\u202e" not in text and "\u200b" not in text and "0001" in text
    with zipfile.ZipFile(io.BytesIO(bundle.archive)) as z:
        assert "\u202e" not in z.read("records.json").decode()


def test_a_refused_release_is_an_error_page_with_the_summary(
        app: Flask, client: FlaskClient, session: Session,
        filed: Callable[..., SarRequest], officers: tuple[StaffUser, StaffUser]) -> None:
    sar = filed()
    _set_safe(session, sar.subject_id, SAFE)
    _supply(session, sar, "Call 07700.900.123, please.")
    bundle = _build(app, session, sar)
    open_bundle(session, bundle, 2)
    session.commit()
    login(client, officers[1])
    url = f"/staff/sar/{sar.reference}"
    r = client.post(f"{url}/approve", data={"csrf_token": csrf(client, url)})
    page = r.get_data(as_text=True)
    assert r.status_code == 409
    assert "govuk-error-summary" in page and "Release refused" in page
    assert "safe-contact details" in page and "07700" not in page
    session.rollback()
    assert _blocked(session)["kinds"] == ["safe-contact"]
    session.refresh(bundle)
    assert bundle.approved_at is None
