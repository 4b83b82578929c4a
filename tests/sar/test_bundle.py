"""Building the bundle in the worker: escaped HTML, redactions, safe contact, release check."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable

import pytest
from flask import Flask
from pypdf import PdfReader
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.audit import AuditEntry
from portal.database import get_database
from portal.pdf import Rendered, RenderFailed
from sar import attachments, worker
from sar import operations as ops
from sar.models import SarBundle, SarRequest
from tests.sar.conftest import STAFF, open_bundle

SECRET = "Jane Doe of 4 Elm Road"


def _png() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (40, 30), "white").save(out, "PNG")
    return out.getvalue()


def _ready(session: Session, sar: SarRequest, *, text: str, photo: str = "withheld") -> None:
    """Supply a record with a photo; a reviewer (officer 1) opens the photo and decides."""
    police = next(t for t in sar.tasks if t.agency.slug == "fenshire-police")
    idva = next(t for t in sar.tasks if t.agency.slug == "fenshire-idva")
    ops.supply_records(session, police, [ops.NewRecord(
        "INC-1", "incident", "Report of 3 March", text,
        files=[("photo.png", "image/png", _png())])], actor=STAFF)
    ops.hold_nothing(session, idva, actor=STAFF)
    record = ops.records(sar)[0]
    attachments.record_open(session, sar, record.files[0], actor=STAFF)
    attachments.decide(session, sar, record, record.files[0], photo, reason="s45-4-e",
                       staff_id=1, forbidden=[], actor=STAFF)


def _build(app: Flask, session: Session, sar: SarRequest) -> SarBundle:
    bundle = ops.request_bundle(session, sar, staff_id=1, actor=STAFF)
    session.commit()
    with app.app_context():
        assert worker.run_once(get_database(app).sessionmaker) == "built"
        assert worker.run_once(get_database(app).sessionmaker) is None
    session.rollback()
    session.refresh(bundle)
    return bundle


def _text(pdf: bytes) -> str:
    raw = " ".join(p.extract_text() or "" for p in PdfReader(io.BytesIO(pdf)).pages)
    return " ".join(raw.split())


def test_bundle_escapes_html_redacts_and_keeps_safe_contact_out(
        app: Flask, session: Session, filed: Callable[..., SarRequest]) -> None:
    # Given a record with HTML, a third party's name and Morgan's safe-contact instruction
    sar = filed()
    _ready(session, sar, text=(
        f"Morgan reported damage. Witness {SECRET} saw it. "
        "<img src='http://127.0.0.1:1/tracker.png'><b>not bold</b> "
        "Note: Do not phone. Text only, to the mobile number held by the IDVA service."))
    ops.redact(session, ops.records(sar)[0], SECRET, reason="s45-4-e", staff_id=1,
               actor=STAFF)
    # When the worker builds the bundle
    bundle = _build(app, session, sar)
    assert bundle.state == "built" and bundle.pdf and bundle.archive
    # with the page count the layout gave, which the PDF read back agrees with
    assert bundle.pages == len(PdfReader(io.BytesIO(bundle.pdf)).pages) >= 2
    text = _text(bundle.pdf)
    # Then HTML shows as text (escaped, never fetched), and nothing forbidden survives
    assert "<b>not bold</b>" in text and "tracker.png" in text
    assert "Jane Doe" not in text and "Text only" not in text
    assert "Morgan reported damage" in text and "[withheld: third-party data]" in text
    assert "Information Commissioner" in text and "Fenshire IDVA Service" in text
    assert "section 45" in text
    # The zip holds JSON and CSV, redacted alike; a withheld file is held back
    with zipfile.ZipFile(io.BytesIO(bundle.archive)) as z:
        names = z.namelist()
        records = json.loads(z.read("records.json"))["records"]
        assert "records.csv" in names
        assert SECRET not in z.read("records.csv").decode()
    assert records[0]["id"] == "INC-1" and SECRET not in records[0]["text"]
    assert not [n for n in names if n.startswith("files/")]
    # And a second officer may approve it: the release check passes
    open_bundle(session, bundle, 2)
    assert ops.approve(session, bundle, staff_id=2, actor=STAFF).approved


def test_release_is_blocked_when_a_redacted_string_survives(
        app: Flask, session: Session, filed: Callable[..., SarRequest]) -> None:
    sar = filed()
    _ready(session, sar, text=f"Witness {SECRET} saw it.")
    bundle = _build(app, session, sar)
    # A redaction added after the build is not in the PDF's redactions: it survives.
    ops.redact(session, ops.records(sar)[0], SECRET, reason="s45-4-e", staff_id=1,
               actor=STAFF)
    open_bundle(session, bundle, 2)
    result = ops.approve(session, bundle, staff_id=2, actor=STAFF)
    assert not result.approved and result.leaked == 1
    assert bundle.approved_at is None and "1 redacted" in bundle.release_blocked
    session.commit()
    entry = session.scalars(select(AuditEntry).where(
        AuditEntry.action == "sar.release_blocked")).one()
    assert SECRET not in entry.details


def test_unredacted_file_goes_into_the_zip(app: Flask, session: Session,
                                           filed: Callable[..., SarRequest]) -> None:
    sar = filed()
    _ready(session, sar, text="Nothing to hide.", photo="as-is")
    bundle = _build(app, session, sar)
    assert bundle.archive is not None
    with zipfile.ZipFile(io.BytesIO(bundle.archive)) as z:
        files = [n for n in z.namelist() if n.startswith("files/")]
        assert len(files) == 1 and z.read(files[0]).startswith(b"\x89PNG")


def test_a_failed_build_is_reported_not_lost(app: Flask, session: Session,
                                             filed: Callable[..., SarRequest],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    sar = filed()
    _ready(session, sar, text="x")
    bundle = ops.request_bundle(session, sar, staff_id=1, actor=STAFF)
    session.commit()

    def boom(*_a: object, **_k: object) -> Rendered:
        raise RenderFailed("rendering took longer than 300 s")

    monkeypatch.setattr(worker, "render_pdf_isolated", boom)
    with app.app_context():
        assert worker.run_once(get_database(app).sessionmaker) == "failed"
    session.rollback()
    session.refresh(bundle)
    assert bundle.state == "failed" and "longer than" in bundle.error
    assert session.scalars(select(AuditEntry).where(
        AuditEntry.action == "sar.bundle_failed")).one().object_id == str(bundle.id)


def test_cover_letter_is_in_the_persons_language(app: Flask, session: Session,
                                                 filed: Callable[..., SarRequest]) -> None:
    sar = filed(language="cy")
    _ready(session, sar, text="Dim byd.")
    bundle = _build(app, session, sar)
    assert bundle.pdf is not None
    text = _text(bundle.pdf)
    assert "Eich hawliau" in text and "Swyddfa'r Comisiynydd Gwybodaeth" in text


def test_renderer_budget_is_on_top_of_what_the_parent_has_mapped() -> None:
    # The child's RLIMIT_AS starts from the forking process's address space, so a small
    # budget still renders, and a runaway render is stopped.
    from portal.pdf import RenderFailed, render_pdf_isolated

    assert render_pdf_isolated("<p>small</p>", memory_mb=200).data.startswith(b"%PDF")
    huge = "<p>" + "x " * 2_000_000 + "</p>" * 1
    with pytest.raises(RenderFailed):
        render_pdf_isolated(huge * 20, memory_mb=50, timeout=60)


@pytest.mark.parametrize("name", ["Łucja 王芳 محمد", "Siân Ŵyn ap Dafydd"])
def test_names_in_any_script_are_printed_with_the_projects_fonts(
        app: Flask, session: Session, filed: Callable[..., SarRequest], name: str) -> None:
    # Given a request from someone named in Polish, Chinese and Arabic, or in Welsh
    sar = filed()
    sar.requester_name = sar.subject_name = name
    session.commit()
    _ready(session, sar, text="Nothing of note.")
    # When the bundle is built
    bundle = _build(app, session, sar)
    assert bundle.pdf is not None
    # Then every word of the name is in the letter, drawn with the project's own fonts only
    text = _text(bundle.pdf)
    for word in name.split():
        assert word in text
    reader = PdfReader(io.BytesIO(bundle.pdf))
    fonts = {str(f.get_object()["/BaseFont"]).split("+", 1)[-1]
             for page in reader.pages for f in page["/Resources"]["/Font"].values()}
    assert fonts and all(f.startswith("Portal-Sans") for f in fonts), fonts
