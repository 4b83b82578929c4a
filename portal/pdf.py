"""PDF rendering with WeasyPrint that can fetch nothing but the app's own static files.

Invariant 7: content (names, free text, supplied records) never reaches the network or the
file system through rendering. The fetcher below serves only files under ``static/pdf`` and
``static/build`` by a private URL prefix and refuses every other URL, whatever its scheme.
"""

from __future__ import annotations

import gc
import logging
import multiprocessing
import resource
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, NamedTuple

from weasyprint import HTML
from weasyprint.urls import URLFetcher, URLFetcherResponse

log = logging.getLogger("portal.pdf")

STATIC_ROOT = Path(__file__).resolve().parent.parent / "static"
# A name no resolver will ever answer for: our fetcher handles it without any I/O but a read.
STATIC_PREFIX = "https://portal-static.invalid/"
ALLOWED_DIRS = ("pdf", "build")
MIME = {".css": "text/css", ".png": "image/png", ".svg": "image/svg+xml",
        ".jpg": "image/jpeg", ".woff2": "font/woff2", ".woff": "font/woff",
        ".ttf": "font/ttf"}


# The fonts every PDF names (static/pdf/pdf.css), built by ``make setup`` from the project's
# own packages: without them WeasyPrint would quietly use whatever the machine has.
FONTS_CSS = STATIC_ROOT / "build" / "fonts" / "fonts.css"


class FontsMissing(RuntimeError):
    """The project's PDF fonts have not been built."""


class RefusedFetch(ValueError):
    """A URL the renderer may not fetch."""


class StaticOnlyFetcher(URLFetcher):  # type: ignore[misc]
    """Serves the app's own static assets; refuses every other URL."""

    def __init__(self) -> None:
        super().__init__(timeout=1, allowed_protocols=["https"], allow_redirects=False)
        self.refused: list[str] = []

    def fetch(self, url: str, headers: Any = None) -> URLFetcherResponse:
        """Answer from the static folder, or refuse."""
        if not url.startswith(STATIC_PREFIX):
            self.refused.append(url[:200])
            raise RefusedFetch(f"refused to fetch {url[:80]!r}")
        relative = url[len(STATIC_PREFIX):].split("?", 1)[0].split("#", 1)[0]
        path = (STATIC_ROOT / relative).resolve()
        allowed = any(path.is_relative_to(STATIC_ROOT / d) for d in ALLOWED_DIRS)
        if not allowed or path.suffix not in MIME or not path.is_file():
            self.refused.append(url[:200])
            raise RefusedFetch(f"no such static asset {relative!r}")
        return URLFetcherResponse(url, path.read_bytes(), {"Content-Type": MIME[path.suffix]})


def static_url(relative: str) -> str:
    """The URL a PDF template uses for one of the app's static files."""
    return STATIC_PREFIX + relative.lstrip("/")


class Rendered(NamedTuple):
    """A rendered PDF and how many pages it has."""

    data: bytes
    pages: int


def render_pdf(html: str, *, pdf_variant: str | None = None) -> bytes:
    """Render HTML to PDF bytes in this process, fetching only our static assets and
    embedding no file."""
    return _render(html, pdf_variant).data


def _render(html: str, pdf_variant: str | None) -> Rendered:
    if not FONTS_CSS.is_file():
        raise FontsMissing(f"{FONTS_CSS} is missing: run make setup (scripts/build_fonts.py)")
    fetcher = StaticOnlyFetcher()
    document = HTML(string=html, base_url=STATIC_PREFIX, url_fetcher=fetcher).render(
        pdf_variant=pdf_variant)
    # <link rel="attachment"> and <a rel="attachment"> would embed what they name (even one
    # of our own files) in the PDF: a PDF we make carries its pages and nothing else.
    document.metadata.attachments = []
    for page in document.pages:
        page.links = [link for link in page.links if link[0] != "attachment"]
    pdf: bytes = document.write_pdf(pdf_variant=pdf_variant, uncompressed_pdf=False)
    if fetcher.refused:
        log.warning("pdf rendering refused fetches", extra={"refused": fetcher.refused[:10]})
    # The layout's own count: reading it back from the PDF (pypdf) parses every object, about
    # a tenth of a 100-page bundle's rendering time.
    return Rendered(pdf, len(document.pages))


def _mapped_bytes() -> int:
    """This process's mapped address space (what a forked child starts with)."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[0])
    return pages * resource.getpagesize()


def _child(conn: Connection, html: str, pdf_variant: str | None, memory_mb: int) -> None:
    # What the parent had (the app, its sessions) is never garbage here: keep the collector
    # from walking it on every collection that rendering's many objects set off.
    gc.freeze()
    # RLIMIT_AS counts the whole address space, inherited mappings included: the budget is
    # what rendering may add on top of what the parent had already mapped.
    limit = _mapped_bytes() + memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    try:
        conn.send(("ok", _render(html, pdf_variant)))
    except BaseException as exc:  # noqa: BLE001 - reported to the parent
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        conn.close()


class RenderFailed(RuntimeError):
    """Rendering ran out of time or memory, or failed."""


def render_pdf_isolated(html: str, *, pdf_variant: str | None = None, timeout: float = 120,
                        memory_mb: int = 1024) -> Rendered:
    """Render in a child process bounded in time and in the memory it may add
    (``memory_mb``); raise RenderFailed otherwise."""
    ctx = multiprocessing.get_context("fork")
    parent, child = ctx.Pipe(duplex=False)
    process = ctx.Process(target=_child, args=(child, html, pdf_variant, memory_mb),
                          daemon=True)
    process.start()
    child.close()
    try:
        if not parent.poll(timeout):
            raise RenderFailed(f"rendering took longer than {timeout} s")
        status, payload = parent.recv()
    except EOFError as exc:
        raise RenderFailed("the renderer died (out of memory?)") from exc
    finally:
        if process.is_alive():
            process.kill()
        process.join(5)
        parent.close()
    if status != "ok":
        raise RenderFailed(str(payload))
    rendered: Rendered = payload
    return rendered
