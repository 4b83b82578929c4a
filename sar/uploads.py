"""Judge an uploaded file by its content, parsing it defensively.

A file from the public (an ID document) or from an agency is untrusted bytes. It is accepted
only as a PDF, PNG or JPEG that its parser reads from end to end; anything the parser cannot
read is refused with a plain reason (a ``portal.errors.Invalid`` naming the form field), never
a server error. pypdf and Pillow raise far more than their own error classes on a mangled
file (``OverflowError`` for a huge ``startxref``, ``NotImplementedError`` for an unknown
encryption, ``RecursionError``, ``struct.error``, ``zlib.error``...), so every exception
raised while parsing counts as "cannot be read".
"""

from __future__ import annotations

import io
import warnings

from PIL import Image
from pypdf import PdfReader

from portal.errors import Invalid

PDF = "application/pdf"
PNG = "image/png"
JPEG = "image/jpeg"
MAX_BYTES = 10 * 1024 * 1024
MAX_PAGES = 500
MAX_PIXELS = 40_000_000
_MAGIC = ((b"%PDF-", PDF), (b"\x89PNG\r\n\x1a\n", PNG), (b"\xff\xd8\xff", JPEG))


def kind_of(data: bytes) -> str | None:
    """The media type the first bytes claim (PDF, PNG or JPEG), or None."""
    return next((media for magic, media in _MAGIC if data.startswith(magic)), None)


def check_pdf(data: bytes, *, field: str) -> None:
    """Refuse (Invalid) a PDF that pypdf cannot read, that is encrypted, or that has no pages
    or too many."""

    try:
        reader = PdfReader(io.BytesIO(data))
        encrypted = reader.is_encrypted
        pages = 0 if encrypted else len(reader.pages)
        if not encrypted:
            for page in reader.pages:
                _ = page.mediabox  # a page that is not a page dictionary fails here
    except Exception as exc:  # whatever the parser raises, the file is unreadable
        raise Invalid("the file is not a readable PDF", field=field) from exc
    if encrypted:
        raise Invalid("the PDF is protected by a password: upload it without one", field=field)
    if not 1 <= pages <= MAX_PAGES:
        raise Invalid(f"a PDF must have 1 to {MAX_PAGES} pages", field=field)


def check_image(data: bytes, media: str, *, field: str) -> None:
    """Refuse (Invalid) an image Pillow cannot decode whole, whose content is not the format
    its first bytes claim, or that is too large to show."""

    fmt = {PNG: "PNG", JPEG: "JPEG"}[media]
    wrong = Invalid(f"the file is not a readable {fmt} image", field=field)
    try:
        with warnings.catch_warnings():
            # A decompression-bomb warning is a refusal here, not a log line.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=[fmt]) as img:
                if img.format != fmt:
                    raise wrong
                if img.width * img.height > MAX_PIXELS:
                    raise Invalid("the image is too large (over 40 million pixels)",
                                  field=field)
                img.load()  # a truncated or corrupt image fails here, not when staff open it
    except Invalid:
        raise
    except Exception as exc:  # whatever the decoder raises, the file is unreadable
        raise wrong from exc


def sniff_document(data: bytes, *, field: str = "document", max_bytes: int = MAX_BYTES) -> str:
    """The media type of a PDF, PNG or JPEG judged by its content and parsed whole; raise
    Invalid naming the field for anything else."""
    if len(data) > max_bytes:
        raise Invalid(f"each file must be {max_bytes // (1024 * 1024)} MB or smaller",
                      field=field)
    if not data:
        raise Invalid("the file is empty", field=field)
    media = kind_of(data)
    if media is None:
        raise Invalid("the file must be a photo (JPEG or PNG) or a PDF", field=field)
    if media == PDF:
        check_pdf(data, field=field)
    else:
        check_image(data, media, field=field)
    return media
