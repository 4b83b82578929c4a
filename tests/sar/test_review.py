"""Reviewing a record: redaction by selection, reasons in the output, undo before release,
suggestions of personal data, the bundle's manifest and the concealment of s45(4)."""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_babel import force_locale
from PIL import Image
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.audit import Actor, AuditEntry
from portal.database import get_database
from portal.errors import Conflict, Invalid, NotFound
from portal.identity.models import StaffUser
from sar import attachments, suggest, worker
from sar import operations as ops
from sar.bundle import marker
from sar.models import SarBundle, SarRecord, SarRequest
from tests.identity_helpers import login
from tests.sar.conftest import STAFF, open_bundle

NEIGHBOUR = "Jane Doe"
TEXT = (f"Morgan reported damage. {NEIGHBOUR} saw it from number 4.\r\n"
        "She rang 07700 900123 and wrote from jd.lives@example.org; she lives at CB1 2AB. "
        "Alex Rivera (born 12/04/1988) was there too.")


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (60, 40), "white").save(out, "PNG")
    return out.getvalue()


def _supply(session: Session, sar: SarRequest, text: str = TEXT,
            files: tuple[tuple[str, str, bytes], ...] = (), regime: str = "part2") -> SarRecord:
    # A Part 2 record by default (Schedule 2's exemptions, third-party data among them).
    police = next(t for t in sar.tasks if t.agency.slug == "fenshire-police")
    idva = next(t for t in sar.tasks if t.agency.slug == "fenshire-idva")
    ops.supply_records(session, police, [ops.NewRecord("INC-1", "incident", "Damage", text,
                                                       files=files, regime=regime)],
                       actor=STAFF)
    ops.hold_nothing(session, idva, actor=STAFF)
    return ops.records(sar)[0]


def _build(app: Flask, session: Session, sar: SarRequest) -> SarBundle:
    bundle = ops.request_bundle(session, sar, staff_id=1, actor=STAFF)
    session.commit()
    with app.app_context():
        assert worker.run_once(get_database(app).sessionmaker) == "built"
    session.rollback()
    session.refresh(bundle)
    return bundle


def _pdf_text(bundle: SarBundle) -> str:
    assert bundle.pdf is not None
    return " ".join(attachments.pdf_text(bundle.pdf).split())


def _zip(bundle: SarBundle) -> dict[str, bytes]:
    assert bundle.archive is not None
    with zipfile.ZipFile(io.BytesIO(bundle.archive)) as z:
        return {n: z.read(n) for n in z.namelist()}


def _csrf(client: FlaskClient, url: str) -> tuple[str, str]:
    page = client.get(url).get_data(as_text=True)
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, url
    return match.group(1), page


# --- Redaction by selection -----------------------------------------------------------------


def test_a_selection_by_offsets_redacts_what_the_browser_showed(
        session: Session, filed: Callable[..., SarRequest]) -> None:
    # Given a record whose text has a CR LF line break (a browser shows it as one LF)
    sar = filed()
    record = _supply(session, sar)
    shown = record.text.replace("\r\n", "\n")
    start = shown.index("07700")
    # When the reviewer selects the number (offsets in the text as shown, after the break)
    red = ops.redact(session, record, "07700 900123", reason="third-party", staff_id=1,
                     actor=STAFF, start=start, end=start + len("07700 900123"))
    # Then exactly that text is redacted, where it was selected
    assert red.text == "07700 900123" and (red.start, red.end) == (start, start + 12)
    # And a selection that no longer matches the text sent is refused, not guessed at
    with pytest.raises(Invalid, match="select the text again"):
        ops.redact(session, record, "something else", reason="third-party", staff_id=1,
                   actor=STAFF, start=0, end=6)
    with pytest.raises(Invalid, match="not inside"):
        ops.redact(session, record, "", reason="third-party", staff_id=1, actor=STAFF,
                   start=5, end=len(shown) + 1)


def test_the_review_page_takes_a_selection_and_the_typed_text(
        client: FlaskClient, session: Session, filed: Callable[..., SarRequest],
        reviewers: dict[str, StaffUser]) -> None:
    sar = filed()
    record = _supply(session, sar, files=(("photo.png", "image/png", _png()),))
    session.commit()
    login(client, reviewers["fenshire-police"])
    token, page = _csrf(client, f"/staff/sar/records/{record.id}")
    # The record's text and its file's page are on one page, and the script is the app's own
    assert "Morgan reported damage" in page and "govuk-grid-column-one-half" in page
    assert f"/staff/sar/files/{record.files[0].id}/page/1.png" in page
    assert 'src="/static/js/redact.mjs"' in page and "<script>" not in page
    # When the script sends the selection's offsets
    start = TEXT.index(NEIGHBOUR)
    r = client.post(f"/staff/sar/records/{record.id}/redact", data={
        "csrf_token": token, "text": NEIGHBOUR, "start": str(start),
        "end": str(start + len(NEIGHBOUR)), "reason": "third-party"})
    assert r.status_code == 302 and r.headers["Location"].endswith(
        f"/staff/sar/records/{record.id}#redactions")
    # And without JavaScript the reviewer types the text
    r = client.post(f"/staff/sar/records/{record.id}/redact", data={
        "csrf_token": token, "text": "CB1 2AB", "reason": "third-party"})
    assert r.status_code == 302
    # A typed text that is not there is refused on the same page, in its error summary
    r = client.post(f"/staff/sar/records/{record.id}/redact", data={
        "csrf_token": token, "text": "John Smith", "reason": "third-party"})
    assert r.status_code == 400
    assert "govuk-error-summary" in r.get_data(as_text=True)
    session.rollback()
    assert [(x.text, x.start is not None) for x in record.redactions] == [
        (NEIGHBOUR, True), ("CB1 2AB", False)]


# --- The reason in the output ---------------------------------------------------------------


def test_each_redaction_shows_its_reason_in_the_pdf_and_the_zip(
        app: Flask, session: Session, filed: Callable[..., SarRequest]) -> None:
    sar = filed()
    record = _supply(session, sar)
    ops.redact(session, record, NEIGHBOUR, reason="third-party", staff_id=1, actor=STAFF)
    ops.redact(session, record, "07700 900123", reason="legal-privilege", staff_id=1,
               actor=STAFF)
    bundle = _build(app, session, sar)
    text = _pdf_text(bundle)
    assert NEIGHBOUR not in text and "[redacted]" not in text
    assert "[withheld: third-party data] saw it" in text
    assert "[withheld: legal professional privilege]" in text
    records = json.loads(_zip(bundle)["records.json"])["records"]
    assert "[withheld: third-party data] saw it" in records[0]["text"]


def test_the_reason_is_in_the_persons_language(
        app: Flask, session: Session, filed: Callable[..., SarRequest]) -> None:
    sar = filed(language="cy")
    record = _supply(session, sar)
    ops.redact(session, record, NEIGHBOUR, reason="third-party", staff_id=1, actor=STAFF)
    bundle = _build(app, session, sar)
    records = json.loads(_zip(bundle)["records.json"])["records"]
    with app.test_request_context(), force_locale("cy"):
        welsh = marker("third-party")
    assert welsh != "[withheld: third-party data]"
    assert welsh in records[0]["text"]


# --- Undo -----------------------------------------------------------------------------------


def test_undo_before_approval_is_audited_and_refused_after(
        app: Flask, session: Session, filed: Callable[..., SarRequest],
        reviewers: dict[str, StaffUser]) -> None:
    reviewer = reviewers["fenshire-police"].id
    sar = filed()
    record = _supply(session, sar, files=(("photo.png", "image/png", _png()),))
    photo = record.files[0]
    # Given a redaction, a withholding and a region, each taken back before release
    red = ops.redact(session, record, NEIGHBOUR, reason="third-party", staff_id=reviewer,
                     actor=STAFF)
    ops.undo_redaction(session, record, red.id, staff_id=reviewer, actor=STAFF)
    assert record.redactions == [] and red.undone_at is not None
    assert NEIGHBOUR not in ops.forbidden_strings(session, sar)
    ops.withhold(session, record, reason="third-party", staff_id=reviewer, actor=STAFF)
    ops.undo_withholding(session, record, staff_id=reviewer, actor=STAFF)
    assert not record.withheld and record.withhold_reason == ""
    attachments.record_open(session, sar, photo, actor=STAFF)
    attachments.record_open(session, sar, photo,
                            actor=Actor("staff", str(reviewer), None))
    region = attachments.add_region(session, sar, record, photo, page=1, x=1, y=1, width=5,
                                    height=5, reason="third-party", staff_id=reviewer,
                                    actor=STAFF)
    attachments.decide(session, sar, record, photo, "redacted", staff_id=reviewer,
                       forbidden=[], actor=STAFF)
    ops.undo_file_redaction(session, record, region.id, staff_id=reviewer, actor=STAFF)
    # Then the file waits for a decision again, and each undo is in the audit log
    assert photo.redactions == [] and photo.review == "unreviewed"
    session.commit()
    actions = set(session.scalars(select(AuditEntry.action)))
    assert {"sar.redaction_undone", "sar.withholding_undone",
            "sar.file_redaction_undone"} <= actions
    # An undone redaction cannot be undone twice
    with pytest.raises(NotFound, match="no such redaction"):
        ops.undo_redaction(session, record, red.id, staff_id=reviewer, actor=STAFF)
    # When the bundle is approved
    attachments.decide(session, sar, record, photo, "as-is", staff_id=reviewer, forbidden=[],
                       actor=STAFF)
    again = ops.redact(session, record, NEIGHBOUR, reason="third-party", staff_id=reviewer,
                       actor=STAFF)
    bundle = _build(app, session, sar)
    open_bundle(session, bundle, 2)
    assert ops.approve(session, bundle, staff_id=2, actor=STAFF).approved
    # Then nothing can be undone or added
    with pytest.raises(Conflict):
        ops.undo_redaction(session, record, again.id, staff_id=reviewer, actor=STAFF)
    with pytest.raises(Conflict):
        ops.redact(session, record, "CB1 2AB", reason="third-party", staff_id=reviewer,
                   actor=STAFF)
    with pytest.raises(Conflict):
        ops.withhold(session, record, reason="third-party", staff_id=reviewer, actor=STAFF)


def test_whoever_undid_a_redaction_may_not_approve(
        app: Flask, session: Session, filed: Callable[..., SarRequest]) -> None:
    sar = filed()
    record = _supply(session, sar)
    red = ops.redact(session, record, NEIGHBOUR, reason="third-party", staff_id=1,
                     actor=STAFF)
    ops.undo_redaction(session, record, red.id, staff_id=2, actor=STAFF)
    bundle = _build(app, session, sar)
    open_bundle(session, bundle, 2)
    with pytest.raises(Conflict, match="redacted"):
        ops.approve(session, bundle, staff_id=2, actor=STAFF)


def test_undo_through_the_page(client: FlaskClient, session: Session,
                               filed: Callable[..., SarRequest],
                               reviewers: dict[str, StaffUser]) -> None:
    sar = filed()
    record = _supply(session, sar)
    red = ops.redact(session, record, NEIGHBOUR, reason="third-party", staff_id=1,
                     actor=STAFF)
    session.commit()
    login(client, reviewers["fenshire-police"])
    token, page = _csrf(client, f"/staff/sar/records/{record.id}")
    assert "Undo this redaction" in page
    r = client.post(f"/staff/sar/records/{record.id}/undo",
                    data={"csrf_token": token, "redaction": str(red.id)})
    assert r.status_code == 302
    r = client.post(f"/staff/sar/records/{record.id}/undo",
                    data={"csrf_token": token, "redaction": str(red.id)})
    assert r.status_code == 400 and "no such redaction" in r.get_data(as_text=True)
    session.rollback()
    assert record.redactions == []


# --- Suggestions ----------------------------------------------------------------------------


def test_suggestions_find_phone_email_postcode_birth_and_a_known_name() -> None:
    found = {(s.kind, s.text) for s in suggest.suggest(
        TEXT, names=["Alex Rivera"], references=["FP-DEMO-0001"])}
    assert {(suggest.Kind.PHONE, "07700 900123"),
            (suggest.Kind.EMAIL, "jd.lives@example.org"),
            (suggest.Kind.POSTCODE, "CB1 2AB"),
            (suggest.Kind.DATE_OF_BIRTH, "12/04/1988"),
            (suggest.Kind.NAME, "Alex Rivera")} <= found
    # A year, a house number and an event's date are not suggested
    plain = suggest.suggest("Seen on 5 June 2024 at number 4, in 2024.")
    assert plain == []
    # Text already redacted is not suggested again
    assert not [s for s in suggest.suggest(TEXT, already=["CB1 2AB"])
                if s.text == "CB1 2AB"]


def test_suggestions_are_shown_never_applied_and_one_click_redacts(
        client: FlaskClient, session: Session, filed: Callable[..., SarRequest],
        reviewers: dict[str, StaffUser]) -> None:
    sar = filed()
    record = _supply(session, sar)
    session.commit()
    login(client, reviewers["fenshire-police"])
    token, page = _csrf(client, f"/staff/sar/records/{record.id}")
    # Alex Rivera is held by the police: a name the police's reviewer may be told of
    for text in ("07700 900123", "jd.lives@example.org", "CB1 2AB", "Alex Rivera"):
        assert f"Redact “{text}”" in page, text
    assert "Name of another person your agency holds records on" in page
    session.rollback()
    assert record.redactions == []  # shown, not applied
    # One click, with the reason picked, redacts it
    r = client.post(f"/staff/sar/records/{record.id}/redact", data={
        "csrf_token": token, "text": "07700 900123", "reason": "third-party"})
    assert r.status_code == 302
    session.rollback()
    assert [x.text for x in record.redactions] == ["07700 900123"]


def test_another_agencys_people_are_never_suggested(
        session: Session, filed: Callable[..., SarRequest]) -> None:
    sar = filed()
    idva = next(t for t in sar.tasks if t.agency.slug == "fenshire-idva")
    police = next(t for t in sar.tasks if t.agency.slug == "fenshire-police")
    police_names, police_refs = suggest.known_people(session, agency_id=police.agency_id,
                                                     subject_id=sar.subject_id)
    idva_names, idva_refs = suggest.known_people(session, agency_id=idva.agency_id,
                                                 subject_id=sar.subject_id)
    assert "Alex Rivera" in police_names and "FP-DEMO-0001" in police_refs
    # The IDVA service holds nobody but Morgan: it is told of no one else, and never of
    # the person the request is about
    assert "Alex Rivera" not in idva_names and idva_refs == []
    assert "Morgan Lee" not in police_names and "FP-DEMO-0004" not in police_refs


# --- The manifest and s45(4) ----------------------------------------------------------------


def test_the_manifest_counts_by_reason_without_the_text(
        app: Flask, session: Session, filed: Callable[..., SarRequest]) -> None:
    sar = filed()
    record = _supply(session, sar)
    ops.redact(session, record, NEIGHBOUR, reason="third-party", staff_id=1, actor=STAFF)
    ops.redact(session, record, "CB1 2AB", reason="third-party", staff_id=1, actor=STAFF)
    ops.redact(session, record, "07700 900123", reason="legal-privilege", staff_id=1,
               actor=STAFF)
    bundle = _build(app, session, sar)
    stored = json.loads(bundle.manifest)
    assert stored["counts"] == {"redactions": {"legal-privilege": 1, "third-party": 2}}
    assert stored["agencies"]["fenshire-police"] == stored["counts"]
    members = _zip(bundle)
    person = json.loads(members["manifest.json"])
    assert person["total"] == 3
    assert {(r["what"], r["reason"], r["count"]) for r in person["withheld"]} == {
        ("redactions", "third-party", 2), ("redactions", "legal-privilege", 1)}
    for blob in (bundle.manifest, members["manifest.json"].decode()):
        assert NEIGHBOUR not in blob and "CB1" not in blob and "07700" not in blob
    text = _pdf_text(bundle)
    assert "What we have not given you, and why" in text
    assert "Passages removed from records" in text
    # The approval still passes: the manifest in the zip is checked like the records
    open_bundle(session, bundle, 2)
    assert ops.approve(session, bundle, staff_id=2, actor=STAFF).approved


def test_s45_4_restrictions_are_never_told_to_the_person(
        app: Flask, client: FlaskClient, session: Session,
        filed: Callable[..., SarRequest], officers: tuple[StaffUser, StaffUser]) -> None:
    # Given a police record (law enforcement) with a passage restricted under s45(4)(a) and a
    # third party's name under s45(4)(e), and a second record withheld whole under s45(4)(b)
    sar = filed()
    record = _supply(session, sar, regime="part3")
    police = next(t for t in sar.tasks if t.agency.slug == "fenshire-police")
    ops.supply_records(session, police, [ops.NewRecord(
        "INT-2", "intelligence", "Operation note", "Surveillance continues.")],
        actor=STAFF)
    secret = ops.records(sar)[-1]
    ops.redact(session, record, "from number 4", reason="s45-4-a", staff_id=1, actor=STAFF)
    ops.redact(session, record, NEIGHBOUR, reason="s45-4-e", staff_id=1, actor=STAFF)
    ops.withhold(session, secret, reason="s45-4-b", staff_id=1, actor=STAFF)
    bundle = _build(app, session, sar)
    # Then the PDF shows the restricted passage neutrally and names no s45(4) ground
    text = _pdf_text(bundle)
    assert "saw it [withheld]." in text and "from number 4" not in text
    assert "Surveillance" not in text and "Operation note" not in text
    assert "investigation" not in text.lower()
    assert "45(4)(a)" not in text and "45(4)(b)" not in text
    # And the third party's name, which tells of no investigation, is named as such
    assert "Damage" in text and "[withheld: third-party data]" in text
    # And the person's manifest counts only the third party's name
    person = json.loads(_zip(bundle)["manifest.json"])
    assert person["total"] == 1 and [r["reason"] for r in person["withheld"]] == [
        "s45-4-e"]
    assert "s45-4-a" not in _zip(bundle)["manifest.json"].decode()
    assert "s45-4-b" not in _zip(bundle)["manifest.json"].decode()
    # While the case file's manifest counts them, shown to the approver
    stored = json.loads(bundle.manifest)
    assert stored["counts"] == {"redactions": {"s45-4-a": 1, "s45-4-e": 1},
                                "records": {"s45-4-b": 1}}
    login(client, officers[1])
    page = client.get(f"/staff/sar/{sar.reference}").get_data(as_text=True)
    assert "What the bundle withholds" in page and "not told to the person" in page
    assert "section 45(4)(a)" in page
