"""Files supplied with SAR records: judged by content, seen by a reviewer, redacted (burnt
in) or withheld with a reason, and covered by the release check."""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
import re
import zipfile
from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image
from pypdf import PdfReader
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.audit import Actor, AuditEntry
from portal.database import get_database
from portal.errors import Conflict, Invalid
from portal.identity.models import Role, StaffUser
from sar import attachments, worker
from sar import operations as ops
from sar.models import SarBundle, SarFile, SarRecord, SarRequest, SarView
from tests.conftest import bearer
from tests.identity_helpers import login, make_account, make_staff
from tests.sar.conftest import STAFF, open_bundle

INFORMANT = "John Smith"
HIDDEN = "12 Hidden Lane"
STATEMENT = (f"Statement. The informant, {INFORMANT}, now living at {HIDDEN}, saw Morgan's "
             "car damaged on 3 March.").encode()


def _png(size: tuple[int, int] = (120, 80), colour: str = "white") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, "PNG")
    return out.getvalue()


def _jpeg_with_exif() -> bytes:
    exif = Image.Exif()
    exif[0x010E] = f"Taken at {HIDDEN}"  # ImageDescription
    exif[0x013B] = INFORMANT  # Artist
    out = io.BytesIO()
    Image.new("RGB", (120, 80), "white").save(out, "JPEG", exif=exif.tobytes(), quality=95)
    return out.getvalue()


def _text_pdf(text: str) -> bytes:
    from weasyprint import HTML

    return bytes(HTML(string=f"<p style='font-size:20pt'>{text}</p>").write_pdf())


def _supply(session: Session, sar: SarRequest, *files: tuple[str, str, bytes],
            text: str = "Nothing to hide.") -> list[SarFile]:
    police = next(t for t in sar.tasks if t.agency.slug == "fenshire-police")
    idva = next(t for t in sar.tasks if t.agency.slug == "fenshire-idva")
    ops.supply_records(session, police, [ops.NewRecord("INC-1", "incident", "Report", text,
                                                       files=files)], actor=STAFF)
    if idva.status == "open":
        ops.hold_nothing(session, idva, actor=STAFF)
    return list(ops.records(sar)[-1].files)


@pytest.fixture
def reviewer(reviewers: dict[str, StaffUser]) -> int:
    """The police's SAR officer, who reviews the police's files."""
    return reviewers["fenshire-police"].id


def _open(session: Session, sar: SarRequest, file: SarFile, staff_id: int) -> None:
    attachments.record_open(session, sar, file, actor=Actor("staff", str(staff_id), None))


def _record(file: SarFile, sar: SarRequest) -> SarRecord:
    return next(r for r in ops.records(sar) if r.id == file.record_id)


def _decide(session: Session, sar: SarRequest, file: SarFile, decision: str,
            staff_id: int, **kw: str) -> SarFile:
    return attachments.decide(session, sar, _record(file, sar), file, decision,
                              staff_id=staff_id, forbidden=ops.forbidden_strings(session, sar),
                              actor=STAFF, **kw)


def _approve(session: Session, bundle: SarBundle) -> ops.Approval:
    """The second coordinator opens the bundle and approves it."""
    open_bundle(session, bundle, 2)
    return ops.approve(session, bundle, staff_id=2, actor=STAFF)


def _build(app: Flask, session: Session, sar: SarRequest) -> SarBundle:
    bundle = ops.request_bundle(session, sar, staff_id=1, actor=STAFF)
    session.commit()
    with app.app_context():
        assert worker.run_once(get_database(app).sessionmaker) == "built"
    session.rollback()
    session.refresh(bundle)
    return bundle


def _zip(bundle: SarBundle) -> dict[str, bytes]:
    assert bundle.archive is not None
    with zipfile.ZipFile(io.BytesIO(bundle.archive)) as z:
        return {n: z.read(n) for n in z.namelist()}


# --- Judged by content, at supply -----------------------------------------------------------


def test_an_executable_declared_as_a_pdf_is_refused_at_supply(
        client: FlaskClient, session: Session, api_key: Callable[..., str],
        filed: Callable[..., SarRequest], reviewer: int) -> None:
    sar = filed()
    police = api_key("fenshire-police", "sar:supply")
    task = next(t.id for t in sar.tasks if t.agency.slug == "fenshire-police")
    url = f"/api/v1/sar/tasks/{task}/records"

    def send(filename: str, media: str, content: bytes) -> tuple[int, dict[str, str]]:
        body = {"records": [{"id": "INC-1", "kind": "incident", "title": "t", "files": [
            {"filename": filename, "media_type": media,
             "content_base64": base64.b64encode(content).decode()}]}]}
        r = client.post(url, json=body, headers=bearer(police))
        return r.status_code, r.get_json()

    # An MZ executable declared application/pdf is refused, naming the field
    status, problem = send("a.exe", "application/pdf", b"MZ\x90\x00\x03\x00program")
    assert status == 422 and problem["field"] == "records[0].files[0].content_base64"
    assert "program" in problem["detail"]
    # HTML declared as plain text, and a PNG declared as a PDF, are refused too
    status, problem = send("note.txt", "text/plain", b"<html><script>x()</script></html>")
    assert status == 422 and "HTML" in problem["detail"]
    status, problem = send("scan.pdf", "application/pdf", _png())
    assert status == 422 and problem["field"] == "records[0].files[0].media_type"
    # A PNG header on something that is not a PNG is not a PNG
    status, problem = send("p.png", "image/png", b"\x89PNG\r\n\x1a\n<script>")
    assert status == 422
    session.rollback()
    assert session.scalars(select(SarFile)).all() == []
    # A real PDF named like a program is kept, under a name with no path and a .pdf extension
    status, _ = send("..\\..\\a.exe", "application/pdf", _text_pdf("hello"))
    assert status == 201
    session.rollback()
    stored = session.scalars(select(SarFile)).one()
    assert stored.mime == "application/pdf" and stored.review == "unreviewed"
    assert attachments.delivered_name(stored) == f"{stored.id}-a.pdf"


def test_sniff_refuses_what_is_not_pdf_png_jpeg_or_text() -> None:
    with pytest.raises(Invalid):
        attachments.sniff(b"\x7fELF\x02\x01\x01\x00", "text/plain")
    with pytest.raises(Invalid):
        attachments.sniff(b"PK\x03\x04zipped", "text/plain")
    with pytest.raises(Invalid, match="password"):
        from pypdf import PdfWriter

        writer = PdfWriter()
        writer.add_blank_page(width=100, height=100)
        writer.encrypt("secret")
        out = io.BytesIO()
        writer.write(out)
        attachments.sniff(out.getvalue(), "application/pdf")
    assert attachments.sniff(_jpeg_with_exif(), "image/jpg") == "image/jpeg"
    assert attachments.sniff("Ünïcödé notes\n".encode(), "text/plain; charset=utf-8") == \
        "text/plain"
    assert attachments.safe_filename("../../\u202eexe.pdf") == "exe"
    # A note that happens to start like a program's header is still a note
    assert attachments.sniff(b"MZ Smith called at 10am.", "text/plain") == "text/plain"


# --- Seen by a reviewer, redacted, released ---------------------------------------------


def test_a_file_naming_an_informant_is_released_only_reviewed_and_redacted(
        app: Flask, session: Session, filed: Callable[..., SarRequest],
        reviewer: int) -> None:
    # Given an agency's text file naming an informant and their hidden address
    sar = filed()
    (file,) = _supply(session, sar, ("statement.txt", "text/plain", STATEMENT))
    # Then no bundle is built while it is unreviewed
    with pytest.raises(Conflict, match="not been reviewed"):
        ops.request_bundle(session, sar, staff_id=1, actor=STAFF)
    # And nobody may decide on it without opening it first
    with pytest.raises(Conflict, match="open the file"):
        _decide(session, sar, file, "as-is", reviewer)
    # When the reviewer opens it and redacts the name and the address
    _open(session, sar, file, reviewer)
    for span in (INFORMANT, HIDDEN):
        attachments.add_text(session, sar, _record(file, sar), file, span,
                             reason="s45-4-e", staff_id=reviewer, actor=STAFF)
    with pytest.raises(Invalid, match="redactions"):
        _decide(session, sar, file, "as-is", reviewer)
    _decide(session, sar, file, "redacted", reviewer)
    bundle = _build(app, session, sar)
    # Then the zip holds the file, named from its content, without either string
    members = _zip(bundle)
    path = f"files/fenshire-police/{file.id}-statement.txt"
    assert members[path].decode().startswith("Statement. The informant, [redacted], now")
    for name, data in members.items():
        assert INFORMANT.encode() not in data and HIDDEN.encode() not in data, name
    listed = json.loads(members["records.json"])["records"][0]["files"]
    assert listed == [{"file": path}]
    assert bundle.pdf is not None and INFORMANT not in attachments.pdf_text(bundle.pdf)
    # And the release check passes
    assert _approve(session, bundle).approved


def test_an_image_region_is_burnt_in_and_its_metadata_gone(
        app: Flask, session: Session, filed: Callable[..., SarRequest],
        reviewer: int) -> None:
    # Given a photo of a contact note whose EXIF names the informant and the address
    sar = filed()
    original = _jpeg_with_exif()
    assert HIDDEN.encode() in original
    (file,) = _supply(session, sar, ("note.jpg", "image/jpeg", original))
    _open(session, sar, file, reviewer)
    # When the reviewer blacks out a region and releases it redacted
    attachments.add_region(session, sar, _record(file, sar), file, page=1, x=10, y=20,
                           width=40, height=30, reason="s45-4-e", staff_id=reviewer,
                           actor=STAFF)
    _decide(session, sar, file, "redacted", reviewer)
    bundle = _build(app, session, sar)
    released = _zip(bundle)[f"files/fenshire-police/{file.id}-note.jpg"]
    # Then the region's pixels are black, the rest untouched, and no EXIF is left
    img = Image.open(io.BytesIO(released)).convert("RGB")
    assert img.size == (120, 80)
    for x, y in ((12, 22), (30, 35), (47, 47)):
        assert max(img.getpixel((x, y))) < 40, (x, y)  # type: ignore[arg-type]
    for x, y in ((5, 5), (70, 40), (100, 70)):
        assert min(img.getpixel((x, y))) > 215, (x, y)  # type: ignore[arg-type]
    assert not Image.open(io.BytesIO(released)).getexif()
    assert HIDDEN.encode() not in released and INFORMANT.encode() not in released
    # And images pass the release check only because a reviewer decided on them
    assert _approve(session, bundle).approved


def test_an_image_released_as_is_is_reencoded_without_its_exif(
        session: Session, filed: Callable[..., SarRequest],
        reviewer: int) -> None:
    sar = filed()
    (file,) = _supply(session, sar, ("note.jpg", "image/jpeg", _jpeg_with_exif()))
    _open(session, sar, file, reviewer)
    _decide(session, sar, file, "as-is", reviewer)
    assert file.released is not None and HIDDEN.encode() not in file.released
    assert not Image.open(io.BytesIO(file.released)).getexif()


def test_a_pdf_redacted_by_rasterising_has_no_text_left(
        app: Flask, session: Session, filed: Callable[..., SarRequest],
        reviewer: int) -> None:
    # Given a PDF whose text names the informant
    sar = filed()
    original = _text_pdf(f"Informant {INFORMANT} of {HIDDEN}")
    assert INFORMANT in attachments.pdf_text(original)
    (file,) = _supply(session, sar, ("report.pdf", "application/pdf", original))
    _open(session, sar, file, reviewer)
    assert attachments.page_count(file) == 1
    # The page the reviewer is shown has the size in pixels the page tells them
    (size,) = attachments.page_sizes(file)
    assert Image.open(io.BytesIO(attachments.page_image(file, 1))).size == size
    # When the reviewer blacks out the top of page 1 and releases it redacted
    attachments.add_region(session, sar, _record(file, sar), file, page=1, x=0, y=0,
                           width=2000, height=300, reason="s45-4-e", staff_id=reviewer,
                           actor=STAFF)
    _decide(session, sar, file, "redacted", reviewer)
    bundle = _build(app, session, sar)
    released = _zip(bundle)[f"files/fenshire-police/{file.id}-report.pdf"]
    # Then the released PDF has no text at all, and its redacted region is black pixels
    reader = PdfReader(io.BytesIO(released))
    assert len(reader.pages) == 1
    assert all(not (p.extract_text() or "").strip() for p in reader.pages)
    assert INFORMANT.encode() not in released
    page = Image.open(io.BytesIO(attachments.page_image(file, 1, released=True)))
    assert max(page.convert("RGB").getpixel((100, 100))) < 40  # type: ignore[arg-type]
    assert _approve(session, bundle).approved


def test_a_pdf_released_as_is_keeps_only_its_pages_and_is_text_checked(
        session: Session, filed: Callable[..., SarRequest],
        reviewer: int) -> None:
    # Given a PDF whose text repeats a span redacted from its record
    sar = filed()
    (file,) = _supply(session, sar, ("report.pdf", "application/pdf",
                                     _text_pdf(f"Seen by {INFORMANT}.")),
                      text=f"Witness {INFORMANT} saw it.")
    ops.redact(session, _record(file, sar), INFORMANT, reason="s45-4-e", staff_id=reviewer,
               actor=STAFF)
    _open(session, sar, file, reviewer)
    # Then it cannot be released as it is: the redacted name would go out in it
    with pytest.raises(Conflict, match="still in the file"):
        _decide(session, sar, file, "as-is", reviewer)
    assert file.review == "unreviewed"
    # And withholding it needs a listed reason
    with pytest.raises(Invalid, match="reason"):
        _decide(session, sar, file, "withheld", reviewer, reason="because")
    _decide(session, sar, file, "withheld", reviewer, reason="s45-4-e")
    assert file.review == "withheld" and file.released is None


def test_a_withheld_file_is_listed_with_its_reason_and_not_in_the_zip(
        app: Flask, session: Session, filed: Callable[..., SarRequest],
        reviewer: int) -> None:
    sar = filed()
    kept, held = _supply(session, sar, ("ok.png", "image/png", _png()),
                         ("informant.txt", "text/plain", STATEMENT))
    for f in (kept, held):
        _open(session, sar, f, reviewer)
    _decide(session, sar, kept, "as-is", reviewer)
    _decide(session, sar, held, "withheld", reviewer, reason="s45-4-e")
    bundle = _build(app, session, sar)
    members = _zip(bundle)
    files = sorted(n for n in members if n.startswith("files/"))
    assert files == [f"files/fenshire-police/{kept.id}-ok.png"]
    listed = json.loads(members["records.json"])["records"][0]["files"]
    assert listed[0] == {"file": files[0]}
    assert listed[1]["withheld"] is True and "section 45(4)(e)" in listed[1]["reason"]
    assert "informant" not in json.dumps(listed)  # a withheld file's name is not given
    # Every path the records name is in the zip
    assert all(f["file"] in members for f in listed if "file" in f)
    assert "(withheld: To protect the rights" in members["records.csv"].decode()
    assert bundle.pdf is not None
    pdf = " ".join(attachments.pdf_text(bundle.pdf).split())
    assert f"File in the zip: {files[0]}" in pdf
    assert "A file we have not given you: To protect the rights and freedoms of others" in pdf


# --- The release check --------------------------------------------------------------------


def test_release_is_refused_while_a_file_is_unreviewed(
        app: Flask, session: Session, filed: Callable[..., SarRequest],
        reviewer: int) -> None:
    # Given a bundle built when every file was reviewed
    sar = filed()
    (file,) = _supply(session, sar, ("ok.png", "image/png", _png()))
    _open(session, sar, file, reviewer)
    _decide(session, sar, file, "as-is", reviewer)
    bundle = _build(app, session, sar)
    # When the agency then supplies another record with a file nobody has looked at
    police = next(t for t in sar.tasks if t.agency.slug == "fenshire-police")
    ops.supply_records(session, police, [ops.NewRecord(
        "INC-2", "note", "Contact note", "", files=[("n.png", "image/png", _png())])],
        actor=STAFF)
    # Then the second officer cannot approve the release
    with pytest.raises(Conflict, match="not been reviewed"):
        _approve(session, bundle)
    assert bundle.approved_at is None


def test_a_file_changed_after_the_build_blocks_release_audited(
        app: Flask, session: Session, filed: Callable[..., SarRequest],
        reviewer: int) -> None:
    # Given a file released as is and built into the zip, then withheld on second thoughts
    sar = filed()
    (file,) = _supply(session, sar, ("statement.txt", "text/plain", STATEMENT))
    _open(session, sar, file, reviewer)
    _decide(session, sar, file, "as-is", reviewer)
    bundle = _build(app, session, sar)
    _decide(session, sar, file, "withheld", reviewer, reason="s45-4-e")
    # Then the zip no longer matches what the reviewer decides may leave: release refused
    result = _approve(session, bundle)
    assert not result.approved and result.files == 1
    assert bundle.approved_at is None and "not as a reviewer released" in bundle.release_blocked
    session.commit()
    entry = session.scalars(select(AuditEntry).where(
        AuditEntry.action == "sar.release_blocked")).one()
    assert INFORMANT not in entry.details


def test_a_string_redacted_after_the_build_is_found_in_a_released_file(
        app: Flask, session: Session, filed: Callable[..., SarRequest],
        reviewer: int) -> None:
    # Given a text file released as is and built
    sar = filed()
    (file,) = _supply(session, sar, ("statement.txt", "text/plain", STATEMENT),
                      text=f"Informant {INFORMANT} called.")
    _open(session, sar, file, reviewer)
    _decide(session, sar, file, "as-is", reviewer)
    bundle = _build(app, session, sar)
    # When the name is redacted from the record afterwards
    ops.redact(session, _record(file, sar), INFORMANT, reason="s45-4-e", staff_id=reviewer,
               actor=STAFF)
    # Then the release check finds it in the zip's file (the PDF alone would pass)
    result = _approve(session, bundle)
    assert not result.approved and result.leaked == 1


def test_the_leak_check_sees_through_hidden_and_lookalike_characters() -> None:
    hidden = [
        "John\u200b Smith",  # zero-width space
        "Jo\u202ehn Smith",  # right-to-left override
        "\uff2a\uff4f\uff48\uff4e SMITH",  # fullwidth letters, another case
        "john\n\tsmith",
        "J\u00adohn Smith",  # soft hyphen
    ]
    for text in hidden:
        assert attachments.leaks_in(f"... {text} ...", [INFORMANT]) == [INFORMANT], text
    assert attachments.leaks_in("Jon Smyth", [INFORMANT]) == []


# --- The staff pages ------------------------------------------------------------------------


def test_a_reviewer_opens_redacts_and_decides_in_the_pages(
        client: FlaskClient, session: Session, reviewers: dict[str, StaffUser],
        filed: Callable[..., SarRequest]) -> None:
    sar = filed()
    (file,) = _supply(session, sar, ("photo.png", "image/png", _png()))
    session.commit()
    officer = reviewers["fenshire-police"]
    login(client, officer)
    # An image may not be fetched before the page that logs the opening was seen
    assert client.get(f"/staff/sar/files/{file.id}/page/1.png").status_code == 404
    r = client.get(f"/staff/sar/files/{file.id}")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert f"/staff/sar/files/{file.id}/page/1.png" in html
    img = client.get(f"/staff/sar/files/{file.id}/page/1.png")
    assert img.status_code == 200 and img.mimetype == "image/png"
    assert img.headers["Cache-Control"] == "no-store"
    session.rollback()
    view = session.scalars(select(SarView).where(SarView.what == "file")).one()
    assert (view.staff_id, view.object_id) == (officer.id, str(file.id))
    assert session.scalars(select(AuditEntry).where(
        AuditEntry.action == "sar.viewed")).all()[-1].subject_id == sar.subject_id
    token = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert token
    base = {"csrf_token": token.group(1), "reason": "s45-4-e", "detail": ""}
    r = client.post(f"/staff/sar/files/{file.id}/region",
                    data={**base, "x": "1", "y": "1", "width": "-5", "height": "3"})
    assert r.status_code == 400 and "There is a problem" in r.get_data(as_text=True)
    r = client.post(f"/staff/sar/files/{file.id}/region",
                    data={**base, "x": "1", "y": "1", "width": "5", "height": "3"})
    assert r.status_code == 302
    r = client.post(f"/staff/sar/files/{file.id}/decision", data={**base, "decision": "redacted"})
    assert r.status_code == 302
    session.rollback()
    stored = session.get(SarFile, file.id)
    assert stored is not None and stored.review == "redacted" and stored.released
    page = client.get(f"/staff/sar/files/{file.id}").get_data(as_text=True)
    assert "What will be released" in page and "released=1" in page


def test_another_agencys_officer_cannot_open_a_file(
        client: FlaskClient, session: Session, filed: Callable[..., SarRequest],
        reviewer: int) -> None:
    sar = filed()
    (file,) = _supply(session, sar, ("photo.png", "image/png", _png()))
    outsider = make_staff(session, "fenshire-idva", Role.SAR_OFFICER)
    session.commit()
    login(client, outsider)
    assert client.get(f"/staff/sar/files/{file.id}").status_code == 404
    assert client.get(f"/staff/sar/files/{file.id}/page/1.png").status_code == 404
    session.rollback()
    assert session.scalars(select(SarView).where(SarView.what == "file")).all() == []


def test_purging_a_closed_case_deletes_the_files_and_their_released_copies(
        app: Flask, session: Session, filed: Callable[..., SarRequest], reviewer: int) -> None:
    # Given a bundle with a released file, delivered to the requester
    sar = filed()
    (file,) = _supply(session, sar, ("statement.txt", "text/plain", STATEMENT))
    _open(session, sar, file, reviewer)
    _decide(session, sar, file, "as-is", reviewer)
    bundle = _build(app, session, sar)
    assert _approve(session, bundle).approved
    account = make_account(session, "morgan.lee@example.org")
    ops.use_link(session, bundle, account, actor=STAFF)
    ops.download(session, bundle, account, "zip", actor=STAFF)
    assert bundle.delivered_at is not None
    # When the grace period after the case closed has passed and the raw supplies are purged
    assert ops.purge(session, raw_grace_days=14, case_retention_days=400, actor=STAFF,
                     now=bundle.delivered_at + dt.timedelta(days=31)).files == 1
    # Then neither the agency's file nor the copy released from it is kept
    session.commit()
    stored = session.get(SarFile, file.id)
    assert stored is not None and stored.content == b"" and stored.released is None


def test_whoever_released_a_file_as_it_is_may_not_approve_the_bundle(
        app: Flask, session: Session, filed: Callable[..., SarRequest]) -> None:
    # Given the second coordinator, also a reviewer, released a file as it is
    sar = filed()
    (file,) = _supply(session, sar, ("ok.png", "image/png", _png()))
    _open(session, sar, file, 2)
    _decide(session, sar, file, "as-is", 2)
    bundle = _build(app, session, sar)
    # Then they are not the second pair of eyes on it
    open_bundle(session, bundle, 2)
    with pytest.raises(Conflict, match="reviewed"):
        ops.approve(session, bundle, staff_id=2, actor=STAFF)
