"""An uploaded ID document that cannot be parsed is refused with a clear error, never a 500:
known crashers of pypdf, and hypothesis over mangled PDFs, PNGs and JPEGs (both engines)."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pypdf import PdfWriter
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.app import create_app
from portal.database import get_database
from portal.errors import Invalid
from sar import uploads
from sar.models import SarDocument, SarRequest
from tests.conftest import make_config
from tests.sar.conftest import JPEG, PNG, image_bytes


def _pdf(pages: int = 1, *, password: str | None = None) -> bytes:
    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=100, height=100)
    if password is not None:
        writer.encrypt(password)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


PDF = _pdf()
HUGE_STARTXREF = re.sub(rb"startxref\s+\d+", b"startxref\n" + b"9" * 30, PDF)
UNKNOWN_ENCRYPTION = PDF.replace(
    b"trailer\n<<", b"trailer\n<< /Encrypt << /Filter /Standard /V 99 /R 99 /O <00> /U <00> "
                    b"/P -1 >>", 1)
CRASHERS = {
    "a huge startxref": HUGE_STARTXREF,
    "an encryption version pypdf does not know": UNKNOWN_ENCRYPTION,
    "a password-protected PDF": _pdf(password="secret"),
    "a PDF with no pages": _pdf(0),
    "a PDF header and nothing else": b"%PDF-1.7\n",
    "a PDF whose page tree loops": PDF.replace(b"/Kids [ 4 0 R ]", b"/Kids [ 2 0 R ]"),
    "a PNG signature and noise": b"\x89PNG\r\n\x1a\n" + b"\x00" * 64,
    "a truncated PNG": PNG[: len(PNG) // 2],
    "a JPEG's first bytes and noise": b"\xff\xd8\xff\xe0" + b"0" * 10,
    "a truncated JPEG": JPEG[: len(JPEG) // 2],
    "a PNG header claiming a vast image": PNG[:16] + (60000).to_bytes(4, "big") * 2 + PNG[24:],
}


@pytest.mark.parametrize("name", list(CRASHERS))
def test_an_unreadable_document_is_refused_not_a_crash(name: str) -> None:
    with pytest.raises(Invalid) as refused:
        uploads.sniff_document(CRASHERS[name], field="document")
    assert refused.value.field == "document"


def test_readable_documents_are_accepted_by_their_content() -> None:
    assert uploads.sniff_document(PDF) == uploads.PDF
    assert uploads.sniff_document(PNG) == uploads.PNG
    assert uploads.sniff_document(JPEG) == uploads.JPEG
    assert uploads.sniff_document(image_bytes("JPEG", (640, 480))) == uploads.JPEG


def test_a_password_protected_pdf_is_refused_in_plain_words() -> None:
    with pytest.raises(Invalid, match="password"):
        uploads.sniff_document(_pdf(password="secret"))


# --- mangled files -------------------------------------------------------------------------

# Tokens that have crashed PDF and image parsers: huge and negative numbers, unknown filters
# and encryption, deep nesting, references to objects that are not there.
_POISON = [b"9" * 40, b"-1", b"/Encrypt << /V 99 >>", b"/Filter /FlateDecode",
           b"/Length 99999999999", b"<<" * 200, b"[" * 200, b"99999999 0 R", b"/Count 0",
           b"startxref\n-5\n", b"xref\n0 99999999\n", b"\x00" * 16, b"\xff" * 16, b"%%EOF"]


@st.composite
def mangled(draw: st.DrawFn) -> bytes:
    """A real PDF, PNG or JPEG with a few bytes flipped, cut, dropped or poisoned."""
    data = bytearray(draw(st.sampled_from([PDF, PNG, JPEG, _pdf(2)])))
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        how = draw(st.sampled_from(["flip", "cut", "drop", "poison", "number", "startxref",
                                    "encrypt"]))
        if how == "flip" and data:
            data[at] ^= draw(st.integers(1, 255))
        elif how == "cut":
            del data[max(at, 8):]
        elif how == "drop":
            del data[at:at + draw(st.integers(1, 64))]
        elif how == "startxref":
            offset = str(draw(st.integers(-(2 ** 80), 2 ** 80))).encode()
            data[:] = re.sub(rb"startxref\s+-?\d+", b"startxref\n" + offset, bytes(data))
        elif how == "encrypt":
            version = str(draw(st.integers(-5, 2 ** 40))).encode()
            data[:] = bytes(data).replace(b"trailer\n<<", b"trailer\n<< /Encrypt << /Filter "
                                          b"/Standard /V " + version + b" /R " + version + b" >>",
                                          1)
        elif how == "poison":
            data[at:at] = draw(st.sampled_from(_POISON))
        else:
            digits = [m.span() for m in re.finditer(rb"\d+", bytes(data))]
            if digits:
                start, end = draw(st.sampled_from(digits))
                data[start:end] = str(draw(st.integers(-(2 ** 70), 2 ** 70))).encode()
    return bytes(data)


@settings(max_examples=200, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(data=mangled())
def test_any_mangled_file_is_accepted_or_refused_never_a_crash(data: bytes) -> None:
    try:
        media = uploads.sniff_document(data, field="document")
    except Invalid as refused:
        assert refused.field == "document"
    else:
        assert media in (uploads.PDF, uploads.PNG, uploads.JPEG)


# --- through the public form ---------------------------------------------------------------

@pytest.fixture
def open_app(db_url: str, tmp_path: Path, demo: Any) -> Iterator[Flask]:
    """The app without rate limits, so that many uploads can be tried."""
    application = create_app(make_config(db_url, tmp_path / "instance", rate_limits=False))
    yield application
    get_database(application).engine.dispose()


def _csrf(client: FlaskClient, url: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', client.get(url).get_data(as_text=True))
    assert match, url
    return match.group(1)


def _file(client: FlaskClient, document: bytes) -> Any:
    return client.post("/sar/request", content_type="multipart/form-data", data={
        "csrf_token": _csrf(client, "/sar/request"), "requester_name": "Morgan Lee",
        "requester_email": "morgan.lee@example.org", "on_behalf": "no", "scope": "everything",
        "delivery": "download", "identity_method": "document",
        "identity_document": (io.BytesIO(document), "passport.pdf")})


def _refused_clearly(r: Any) -> None:
    assert r.status_code == 400
    page = r.get_data(as_text=True)
    assert "govuk-error-summary" in page and "must be a photo (JPEG or PNG) or a PDF" in page


def test_the_form_refuses_the_crashers_with_an_error_and_keeps_nothing(
        open_app: Flask, session: Session) -> None:
    # Given the public SAR form
    client = open_app.test_client()
    # When each known crasher is uploaded as the identity document
    for name, data in CRASHERS.items():
        # Then the person sees a GOV.UK error, not a server error
        r = _file(client, data)
        assert r.status_code == 400, name
        _refused_clearly(r)
    # And nothing was filed or kept
    session.rollback()
    assert session.scalar(select(func.count()).select_from(SarRequest)) == 0
    assert session.scalar(select(func.count()).select_from(SarDocument)) == 0


def test_a_crasher_sent_after_filing_is_refused_too(open_app: Flask, session: Session) -> None:
    # Given a request filed with a readable passport photo
    client = open_app.test_client()
    filed = _file(client, PNG)
    assert filed.status_code == 302
    track = filed.headers["Location"]
    # When a mangled PDF is sent afterwards as more proof
    for data in (HUGE_STARTXREF, UNKNOWN_ENCRYPTION):
        r = client.post(f"{track.split('?')[0]}/document", content_type="multipart/form-data",
                        data={"csrf_token": _csrf(client, track), "kind": "identity",
                              "document": (io.BytesIO(data), "more.pdf")})
        # Then it is refused on the status page, and only the first document is kept
        _refused_clearly(r)
    session.rollback()
    assert session.scalar(select(func.count()).select_from(SarDocument)) == 1


@settings(max_examples=25, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
@given(data=mangled())
def _through_the_form(client: FlaskClient, data: bytes) -> None:
    r = _file(client, data)
    assert r.status_code in (302, 400), r.status_code
    if r.status_code == 400:
        _refused_clearly(r)


def test_mangled_uploads_through_the_form_never_answer_500(open_app: Flask) -> None:
    _through_the_form(open_app.test_client())
