"""Invariant 7: content never reaches the network or the file system through PDF rendering.

A local listener records every connection; hostile HTML names it (and /etc/passwd) in every
way WeasyPrint fetches things, through every render path the app uses. Nothing may connect,
nothing of /etc/passwd may appear, and no file may be embedded in the PDF.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from pypdf import PdfReader
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal import pdf as pdf_module
from portal.pdf import RenderFailed, render_pdf, render_pdf_isolated, static_url

PASSWD = Path("/etc/passwd")


class Listener:
    """A TCP server on 127.0.0.1 that records each connection and answers like HTTP."""

    def __init__(self, redirect_to: int | None = None) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.redirect_to = redirect_to
        self.connections: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _addr = self.sock.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(1)
                try:
                    request = conn.recv(4096).decode("latin-1")
                except OSError:
                    request = ""
                self.connections.append(request.split("\r\n", 1)[0] or "(no request)")
                if self.redirect_to:
                    conn.sendall(f"HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:"
                                 f"{self.redirect_to}/landed\r\nContent-Length: 0\r\n"
                                 "Connection: close\r\n\r\n".encode())
                else:
                    body = b"body { color: red }"
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/css\r\n"
                                 b"Content-Length: %d\r\nConnection: close\r\n\r\n%s"
                                 % (len(body), body))

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


@pytest.fixture
def listeners() -> Iterator[tuple[Listener, Listener]]:
    """A listener, and a second one the first redirects to."""
    target = Listener()
    redirector = Listener(redirect_to=target.port)
    yield redirector, target
    redirector.close()
    target.close()


def hostile_html(port: int) -> str:
    """Every way we know for HTML to make WeasyPrint fetch or embed something."""
    here = f"http://127.0.0.1:{port}"
    return f"""<!doctype html><html lang="en"><head><title>hostile</title>
<base href="file:///etc/">
<link rel="stylesheet" href="{here}/link.css">
<link rel="stylesheet" href="file:///etc/passwd">
<link rel="attachment" href="file:///etc/passwd" title="passwd">
<link rel="attachment" href="{here}/attachment.txt">
<link rel="attachment" href="{static_url('pdf/pdf.css')}" title="even our own files">
<style>
@import url("{here}/import.css");
@import "file:///etc/passwd";
@font-face {{ font-family: "Stolen"; src: url("{here}/font.woff2"); }}
@font-face {{ font-family: "Local"; src: url("file:///etc/passwd"); }}
body {{ font-family: "Stolen", "Local", sans-serif;
        background-image: url("file:///etc/passwd"); }}
p.r {{ background-image: url("{here}/redirect.png"); }}
li::before {{ content: url("{here}/before.png"); }}
</style></head><body>
<p class="r">Hello from a hostile record.</p>
<img src="file:///etc/passwd" alt="a"><img src="{here}/img.png" alt="b">
<img src="{here}/redirect" alt="c"><img src="passwd" alt="d">
<img srcset="{here}/srcset.png 1x" alt="e">
<object data="file:///etc/passwd"></object><object data="{here}/object"></object>
<embed src="{here}/embed"><iframe src="{here}/iframe"></iframe>
<svg width="20" height="20" xmlns="http://www.w3.org/2000/svg"
     xmlns:xlink="http://www.w3.org/1999/xlink">
  <image href="{here}/svg.png" width="10" height="10"/>
  <image xlink:href="file:///etc/passwd" width="10" height="10"/>
  <use href="{here}/sprite.svg#x"/>
</svg>
<a rel="attachment" href="file:///etc/passwd">passwd</a>
<a rel="attachment" href="{here}/a-attachment" download="x.txt">x</a>
<a rel="attachment" href="{static_url('pdf/pdf.css')}">css</a>
<ul><li>item</li></ul>
</body></html>"""


def assert_nothing_leaked(pdf: bytes, listeners: tuple[Listener, Listener]) -> None:
    """No connection was made, no /etc/passwd text, no embedded file of any kind."""
    time.sleep(0.3)  # a connection in flight would have been accepted by now
    for listener in listeners:
        assert listener.connections == [], listener.connections
    reader = PdfReader(io.BytesIO(pdf))
    text = "".join(page.extract_text() or "" for page in reader.pages)
    for line in PASSWD.read_text().splitlines()[:3]:
        assert line not in text
        assert line.encode() not in pdf
    assert "root:" not in text
    names = reader.trailer["/Root"].get("/Names")
    assert names is None or "/EmbeddedFiles" not in names.get_object(), "embedded files"
    assert not reader.attachments, reader.attachments
    for page in reader.pages:
        for annotation in page.get("/Annots") or []:
            assert annotation.get_object().get("/Subtype") != "/FileAttachment"


def test_the_listener_sees_what_an_unguarded_renderer_does(
        listeners: tuple[Listener, Listener]) -> None:
    # The control: WeasyPrint's own fetcher connects, follows the redirect and attaches
    # /etc/passwd, so the assertions below would catch a guard that stopped working.
    from weasyprint import HTML

    redirector, target = listeners
    pdf = HTML(string=hostile_html(redirector.port)).write_pdf()
    time.sleep(0.3)
    assert redirector.connections and target.connections
    assert "passwd" in PdfReader(io.BytesIO(pdf)).attachments
    with pytest.raises(AssertionError):
        assert_nothing_leaked(pdf, listeners)


def test_render_pdf_fetches_nothing_and_embeds_nothing(
        listeners: tuple[Listener, Listener]) -> None:
    # Given hostile HTML naming a local listener (which redirects) and /etc/passwd
    redirector, _target = listeners
    # When it is rendered in this process, as receipts are
    pdf = render_pdf(hostile_html(redirector.port), pdf_variant="pdf/ua-1")
    # Then nothing was fetched, read or embedded
    assert_nothing_leaked(pdf, listeners)


def test_render_pdf_isolated_fetches_nothing_and_embeds_nothing(
        listeners: tuple[Listener, Listener]) -> None:
    # The path SAR bundles take: a forked child with its own limits.
    redirector, _target = listeners
    pdf, _pages = render_pdf_isolated(hostile_html(redirector.port), pdf_variant="pdf/ua-1",
                                      timeout=120)
    assert_nothing_leaked(pdf, listeners)


def test_the_fetcher_serves_only_our_static_files() -> None:
    fetcher = pdf_module.StaticOnlyFetcher()
    assert fetcher.fetch(static_url("pdf/pdf.css")).content_type == "text/css"
    for url in ("file:///etc/passwd", "http://127.0.0.1:9/x.css", "data:text/css,p{}",
                static_url("../../../../etc/passwd"), static_url("pdf/../../portal/app.py"),
                static_url("%2e%2e/%2e%2e/etc/passwd"), static_url("pdf/missing.css"),
                "https://portal-static.invalid@127.0.0.1:9/pdf/pdf.css",
                "https://portal-static.invalid.evil.example/pdf/pdf.css",
                "HTTPS://PORTAL-STATIC.INVALID/../etc/passwd", "ftp://127.0.0.1/x"):
        with pytest.raises(pdf_module.RefusedFetch):
            fetcher.fetch(url)


def test_receipt_with_hostile_names_fetches_nothing(
        app: Flask, session: Session, demo: Any, listeners: tuple[Listener, Listener]) -> None:
    # Given a person whose name and notice carry markup naming the listener
    from consent import receipts
    from consent.models import ConsentEvent
    from portal.reference.models import Holding, Subject

    redirector, _ = listeners
    sid = session.scalar(select(Holding.subject_id).where(Holding.agency_ref == "FP-DEMO-0001"))
    subject = session.get(Subject, sid)
    assert subject is not None
    subject.given_name = f'<img src="http://127.0.0.1:{redirector.port}/name.png">'
    subject.family_name = '<link rel="attachment" href="file:///etc/passwd">'
    session.flush()
    events = list(session.scalars(select(ConsentEvent).where(ConsentEvent.subject_id == sid)))
    # When the receipt a person keeps is rendered, by the function the app calls
    with app.test_request_context():
        choices = receipts.load_choices(session, events, subject.preferred_language)
        pdf = receipts.pdf(subject, choices, receipt_id=str(uuid.uuid4()),
                           config=app.config["PORTAL"])
    session.rollback()
    # Then the markup is text, and nothing was fetched or embedded
    assert_nothing_leaked(pdf, listeners)
    assert f"127.0.0.1:{redirector.port}/name.png" in "".join(
        p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages).replace("\n", "")


def test_sar_bundle_with_hostile_records_fetches_nothing(
        app: Flask, session: Session, demo: Any, listeners: tuple[Listener, Listener]) -> None:
    # Given a SAR whose supplied records carry hostile markup
    from portal.audit import Actor
    from portal.database import get_database
    from portal.identity.models import Role
    from portal.reference.models import Holding
    from sar import bundle
    from sar import operations as ops
    from sar.worker import build
    from tests.identity_helpers import make_staff
    from tests.sar.conftest import PNG

    redirector, _ = listeners
    actor = Actor("staff", "pdf-test", None)
    officer = make_staff(session, "fenshire-police", Role.SAR_OFFICER)
    second = make_staff(session, "fenshire-police", Role.SAR_OFFICER)
    holding = session.scalar(select(Holding).where(Holding.agency_ref == "FP-DEMO-0004"))
    assert holding is not None
    sar = ops.file_request(session, ops.NewRequest(
        requester_name="Morgan Lee", requester_email="m@example.org", subject_name="Morgan Lee",
        documents=[("identity", PNG)]),
        actor=actor, today=dt.date(2026, 11, 2))
    ops.verify_identity(session, sar, subject_id=holding.subject_id, staff_id=officer.id,
                        method="in-person", note="seen in person with a passport",
                        today=dt.date(2026, 11, 3), actor=actor)
    for other in sar.tasks[1:]:
        ops.hold_nothing(session, other, actor=actor)
    ops.supply_records(session, sar.tasks[0], [ops.NewRecord(
        external_id="X-1", kind="note", title=f'<link rel="stylesheet" href="http://127.0.0.1:'
                                              f'{redirector.port}/t.css">',
        text=hostile_html(redirector.port), occurred_on=dt.date(2026, 1, 1), files=())],
        actor=actor)
    job = ops.request_bundle(session, sar, staff_id=second.id, actor=actor)
    session.commit()
    # When the worker builds the bundle (render_pdf_isolated, as in production)
    with app.app_context():
        assert "<link" not in bundle.html(session, sar).split("<body", 1)[1].replace(
            "&lt;link", "")
        state = build(get_database(app).sessionmaker, job.id)
    # Then it was built, and nothing was fetched or embedded
    assert state == "built"
    session.rollback()
    session.refresh(job)
    assert job.pdf is not None
    assert_nothing_leaked(job.pdf, listeners)


def _rss_kb() -> int:
    with open(f"/proc/{os.getpid()}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


def test_a_hostile_document_is_stopped_within_its_time_budget() -> None:
    # Given a document that would take minutes to lay out (a huge table, deeply nested)
    rows = "".join(f"<tr><td>{i}</td><td>{'word ' * 40}</td></tr>" for i in range(40_000))
    nested = "<div>" * 3000 + "deep" + "</div>" * 3000
    html = f"<html><body>{nested}<table>{rows}</table></body></html>"
    before = _rss_kb()
    started = time.monotonic()
    # When it is rendered with a two-second budget
    with pytest.raises(RenderFailed, match="longer than 2"):
        render_pdf_isolated(html, timeout=2)
    # Then it is stopped on time, in the child, and this process did not grow
    assert time.monotonic() - started < 10
    assert _rss_kb() - before < 50_000


def test_a_hostile_document_is_stopped_at_its_memory_budget() -> None:
    # Given a document whose layout needs far more memory than the budget
    html = "<html><body>" + ("<p>" + "memory " * 2000 + "</p>") * 3000 + "</body></html>"
    before = _rss_kb()
    # When it is rendered with a 64 MB budget
    with pytest.raises(RenderFailed, match=r"MemoryError|died"):
        render_pdf_isolated(html, timeout=120, memory_mb=64)
    # Then the child failed, not this process
    assert _rss_kb() - before < 50_000


def test_the_pdf_fonts_are_the_projects_own_and_required(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # The stylesheet names only the families built from the project's packages, which the
    # fetcher serves; without them nothing renders (rather than falling back to the machine's).
    css = (pdf_module.STATIC_ROOT / "pdf" / "pdf.css").read_text()
    assert '@import url("../build/fonts/fonts.css")' in css
    built = pdf_module.FONTS_CSS.read_text()
    assert built.count("@font-face") == 5 and "Portal Sans SC" in built
    fetcher = pdf_module.StaticOnlyFetcher()
    font = fetcher.fetch(static_url("build/fonts/noto-sans-400.ttf"))
    assert font.headers["Content-Type"] == "font/ttf"
    monkeypatch.setattr(pdf_module, "FONTS_CSS", tmp_path / "absent.css")
    with pytest.raises(pdf_module.FontsMissing):
        render_pdf("<p>x</p>")
