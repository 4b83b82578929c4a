"""Schemathesis hooks for the API run: what the document's file formats contain.

The document says a supplied file's ``content_base64`` is a readable PDF, PNG, JPEG or UTF-8
text file (formats ``pdf-base64``, ``png-base64``, ``jpeg-base64``, ``text-base64``), which
JSON Schema cannot spell out; these strategies give schemathesis such files to send.
"""

from __future__ import annotations

import base64
import io

import schemathesis
from hypothesis import strategies as st


def _pdf(pages: int) -> bytes:
    from pypdf import PdfWriter

    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=200, height=100)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _image(fmt: str, size: tuple[int, int]) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", size, (20, 120, 200)).save(out, fmt)
    return out.getvalue()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


# Text a reviewer can read: no control characters (but tab and line breaks), no HTML.
_TEXT = st.text(st.characters(blacklist_categories=("Cc", "Cs"), blacklist_characters="<"),
                min_size=1, max_size=300).map(lambda t: t.encode("utf-8"))
_LINES = st.lists(_TEXT, min_size=1, max_size=4).map(b"\n".join)

schemathesis.openapi.format("pdf-base64", st.sampled_from([_pdf(n) for n in (1, 2, 3)])
                            .map(_b64))
schemathesis.openapi.format("png-base64", st.sampled_from(
    [_image("PNG", s) for s in ((1, 1), (8, 8), (64, 16))]).map(_b64))
schemathesis.openapi.format("jpeg-base64", st.sampled_from(
    [_image("JPEG", s) for s in ((1, 1), (8, 8), (64, 16))]).map(_b64))
schemathesis.openapi.format("text-base64", _LINES.map(_b64))
