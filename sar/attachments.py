"""Files supplied with SAR records: judged by their content, seen by a reviewer, released as
is, with redactions burnt in, or withheld with a reason, and checked for leaks at release.

Nothing leaves that no person has looked at. A file is accepted only as a PDF, a PNG or JPEG
image, or plain UTF-8 text, judged by its bytes; the name it is delivered under takes its
extension from that judgement, never from what the agency declared. What is released is
never the agency's bytes: images are re-encoded from their pixels (no EXIF, no location, no
embedded profile or text chunks), a PDF released as is keeps only its pages (no metadata,
annotations, attachments, scripts or earlier revisions), and a redacted PDF is rasterised
page by page with the regions filled black, so it has no text layer left at all.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import io
import json
import math
import re
import unicodedata
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

import pypdfium2
from PIL import Image, ImageDraw, ImageOps
from pypdf import PdfReader, PdfWriter
from sqlalchemy.orm import Session

from portal import audit
from portal.audit import Actor
from portal.database import utcnow
from portal.errors import Conflict, DomainError, Invalid, NotFound
from portal.identity.models import Role
from sar import access, uploads
from sar.models import (
    REASON_REGIMES,
    FileReview,
    Reason,
    Regime,
    SarFile,
    SarFileRedaction,
    SarRecord,
    SarRequest,
)

P = ParamSpec("P")
T = TypeVar("T")

PDF, PNG, JPEG, TEXT = "application/pdf", "image/png", "image/jpeg", "text/plain"
EXTENSIONS = {PDF: "pdf", PNG: "png", JPEG: "jpg", TEXT: "txt"}
# What an agency may declare for each type it sends; anything else is refused.
DECLARED = {PDF: {PDF}, PNG: {PNG}, JPEG: {JPEG, "image/jpg", "image/pjpeg"}, TEXT: {TEXT}}
MAX_PIXELS = 40_000_000  # per image or rendered page: a decompression bomb is refused
MAX_PAGES = 100
# Reviewers give regions in pixels of the page as shown to them, at this resolution, and the
# page is burnt in at the same one, so what they marked is what is blacked out.
DPI = 120
REDACTED = "[redacted]"
# Windows and DOS programs, ELF and Mach-O binaries, zip-based archives (and Office files),
# gzip, 7-Zip and RAR: named plainly rather than left to the text check.
_PROGRAMS = (b"MZ", b"\x7fELF", b"\xcf\xfa\xed\xfe", b"\xce\xfa\xed\xfe", b"\xca\xfe\xba\xbe",
             b"PK\x03\x04", b"\x1f\x8b", b"7z\xbc\xaf\x27\x1c", b"Rar!")
_HTML = re.compile(rb"<\s*(!doctype|html|head|body|script|svg|iframe|object|embed|meta|\?xml)",
                   re.IGNORECASE)


# --- Judging a file by its content ------------------------------------------------------


def sniff(data: bytes, declared: str, *, field: str = "files") -> str:
    """The file's media type judged by its content, or raise Invalid naming the field.

    Only PDF, PNG, JPEG and plain UTF-8 text are accepted; the declared type must agree."""
    if not data:
        raise Invalid("the file is empty", field=f"{field}.content_base64")
    if data.startswith(b"%PDF-"):
        kind = PDF
        _check_pdf(data, field)
    elif data.startswith(b"\x89PNG\r\n\x1a\n"):
        kind = PNG
        _check_image(data, PNG, field)
    elif data.startswith(b"\xff\xd8\xff"):
        kind = JPEG
        _check_image(data, JPEG, field)
    elif data.startswith(_PROGRAMS) and _binary(data[:64]):
        raise Invalid("a program or an archive is not accepted: send a PDF, an image or text",
                      field=f"{field}.content_base64")
    else:
        kind = TEXT
        _check_text(data, field)
    media = declared.split(";", 1)[0].strip().lower()
    if media not in DECLARED[kind]:
        raise Invalid(f"the file's content is {kind}, not {media or 'the type declared'}: "
                      "declare the type it is", field=f"{field}.media_type")
    return kind


def _check_pdf(data: bytes, field: str) -> None:
    # Parsed defensively (any parser exception refuses the file), then held to the pages a
    # reviewer can be shown.
    uploads.check_pdf(data, field=f"{field}.content_base64")
    if len(PdfReader(io.BytesIO(data)).pages) > MAX_PAGES:
        raise Invalid(f"a PDF must have 1 to {MAX_PAGES} pages", field=f"{field}.content_base64")


def _check_image(data: bytes, media: str, field: str) -> None:
    uploads.check_image(data, media, field=f"{field}.content_base64")


def _binary(head: bytes) -> bool:
    # A note that happens to start "MZ" or "Rar!" is still text; a program's header is not.
    return any((b < 0x20 and b not in b"\t\n\r\f") or b == 0x7F for b in head)


def _check_text(data: bytes, field: str) -> None:
    why = "the file must be a PDF, a PNG or JPEG image, or plain UTF-8 text"
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise Invalid(why, field=f"{field}.content_base64") from exc
    # An executable, an archive or other binary is not text, whatever it is called.
    if any(unicodedata.category(c) == "Cc" and c not in "\t\n\r\f" for c in text):
        raise Invalid(why, field=f"{field}.content_base64")
    if _HTML.search(data[:4096]):
        raise Invalid("HTML is not accepted: send the page as a PDF",
                      field=f"{field}.content_base64")


def safe_filename(name: str) -> str:
    """A file's name with no path, no control or bidi characters, and no extension of its
    own (the delivered name takes its extension from the content)."""
    name = unicodedata.normalize("NFKC", name).replace("\\", "/").rsplit("/", 1)[-1]
    stem = name.rsplit(".", 1)[0] if "." in name.strip(".") else name
    stem = re.sub(r"[^A-Za-z0-9_-]+", "_", stem).strip("_")
    return stem[:80] or "file"


def delivered_name(file: SarFile) -> str:
    """The name the file has in the zip: its id, its sanitised name, the sniffed extension."""
    return f"{file.id}-{safe_filename(file.filename)}.{EXTENSIONS.get(file.mime, 'bin')}"


def zip_path(agency_slug: str, file: SarFile) -> str:
    """Where a released file sits in the zip."""
    return f"files/{agency_slug}/{delivered_name(file)}"


# --- Showing a file to a reviewer ---------------------------------------------------------


def _readable(fn: Callable[P, T]) -> Callable[P, T]:
    """Whatever a parser or renderer raises on a hostile file is a plain refusal, never a
    server error: the file can still be withheld."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return fn(*args, **kwargs)
        except DomainError:
            raise
        except Exception as exc:  # any failure to read the file refuses it
            raise Invalid("the file cannot be read or shown: withhold it",
                          field="decision") from exc

    return wrapper


def _image(data: bytes) -> Image.Image:
    with Image.open(io.BytesIO(data)) as raw:
        if raw.width * raw.height > MAX_PIXELS:
            raise Invalid("the image is too large to show", field="file")
        # As a browser shows it: turned the way its EXIF says, so that regions line up.
        img = ImageOps.exif_transpose(raw)
        return img.convert("RGBA" if "A" in img.getbands() or img.mode == "P" else "RGB")


@_readable
def page_count(file: SarFile) -> int:
    """How many pages the reviewer is shown (1 for an image or a text file)."""
    if file.mime != PDF:
        return 1

    doc = pypdfium2.PdfDocument(file.content)
    try:
        return min(len(doc), MAX_PAGES)
    finally:
        doc.close()


@_readable
def page_sizes(file: SarFile) -> list[tuple[int, int]]:
    """Each page's size in the pixels regions are given in (none for a text file)."""
    if file.mime in (PNG, JPEG):
        return [_image(file.content).size]
    if file.mime != PDF:
        return []

    doc = pypdfium2.PdfDocument(file.content)
    try:
        sizes = []
        for index in range(min(len(doc), MAX_PAGES)):
            width, height = doc[index].get_size()
            # As pypdfium2 renders: the page's points at DPI, rounded up to whole pixels.
            sizes.append((math.ceil(width * DPI / 72), math.ceil(height * DPI / 72)))
        return sizes
    finally:
        doc.close()


def pages(data: bytes) -> Iterator[Image.Image]:
    """Each page of a PDF as an image at the reviewers' resolution."""

    doc = pypdfium2.PdfDocument(data)
    try:
        for index in range(min(len(doc), MAX_PAGES)):
            page = doc[index]
            width, height = page.get_size()
            if (width * DPI / 72) * (height * DPI / 72) > MAX_PIXELS:
                raise Invalid("a page of the PDF is too large to show", field="file")
            yield page.render(scale=DPI / 72).to_pil().convert("RGB")
            page.close()
    finally:
        doc.close()


@_readable
def page_image(file: SarFile, page: int, *, released: bool = False) -> bytes:
    """One page (or the image) as a PNG re-encoded from its pixels, for the review page."""
    data = file.released if released and file.released is not None else file.content
    if file.mime in (PNG, JPEG):
        if page != 1:
            raise NotFound("no such page")
        return _encode(_image(data), PNG)
    if file.mime == PDF:
        for number, img in enumerate(pages(data), start=1):
            if number == page:
                return _encode(img, PNG)
    raise NotFound("no such page")


@_readable
def text_of(file: SarFile, *, released: bool = False) -> str:
    """The text a reader could extract: a text file's content, or a PDF's text layer
    (including text a viewer does not show, such as white text or text under an image)."""
    data = file.released if released and file.released is not None else file.content
    if file.mime == TEXT:
        return data.decode("utf-8-sig", errors="replace")
    if file.mime == PDF:
        return pdf_text(data)
    return ""


def pdf_text(data: bytes) -> str:
    """Every page's extracted text."""

    return "\n".join(p.extract_text() or "" for p in PdfReader(io.BytesIO(data)).pages)


def _encode(img: Image.Image, mime: str) -> bytes:
    out = io.BytesIO()
    if mime == JPEG:
        img.convert("RGB").save(out, "JPEG", quality=90)
    else:
        # No pnginfo, exif or icc_profile given: none of the original's metadata is written.
        img.save(out, "PNG")
    return out.getvalue()


# --- Review -------------------------------------------------------------------------------


MAX_GROUND = 200
_REGIME_NAMES = {Regime.PART2: "Part 2 (UK GDPR) processing: use an exemption of DPA 2018 "
                               "Schedules 2 to 4",
                 Regime.PART3: "Part 3 (law-enforcement) processing: use a restriction of "
                               "DPA 2018 s45(4)"}


def checked_reason(reason: str, detail: str, *, regime: str,
                   ground: str = "") -> tuple[str, str]:
    """A withholding or redaction reason from the fixed list that fits the record's regime,
    and its legal ground: "another reason" names the provision relied on (and says why)."""
    try:
        value = Reason(reason)
    except ValueError as exc:
        raise Invalid("choose a reason from the list", field="reason") from exc
    if Regime(regime) not in REASON_REGIMES[value]:
        raise Invalid(f"that reason does not fit this record, which is "
                      f"{_REGIME_NAMES[Regime(regime)]}", field="reason")
    if value is not Reason.OTHER:
        return value.value, ""
    ground = ground.strip()
    # A provision is always numbered (a section, a paragraph, an article): a ground without
    # a number is free text, which is not a legal ground.
    if not ground or not any(c.isdigit() for c in ground):
        raise Invalid("name the provision relied on for another reason, like Data Protection "
                      "Act 2018 Schedule 2 Part 1 paragraph 5", field="ground")
    if len(ground) > MAX_GROUND:
        raise Invalid(f"the provision relied on must be {MAX_GROUND} characters or fewer",
                      field="ground")
    if not detail.strip():
        raise Invalid("describe the reason", field="detail")
    return value.value, ground


def get_file(session: Session, file_id: int) -> tuple[SarFile, SarRecord]:
    """A file and its record."""
    file = session.get(SarFile, file_id)
    record = session.get(SarRecord, file.record_id) if file is not None else None
    if file is None or record is None:
        raise NotFound("no such file")
    return file, record


def has_opened(session: Session, file: SarFile, staff_id: int) -> bool:
    """Whether this staff member has opened the file."""
    return access.has_opened(session, staff_id, "file", str(file.id))


def record_open(session: Session, sar: SarRequest, file: SarFile, *, actor: Actor) -> None:
    """Log that a staff member opened a file: a view of the person's data, which the person
    sees, and which a reviewer needs before deciding on the file."""
    from sar import operations as ops

    ops.audit_view(session, sar, actor=actor, what="file", role=Role.SAR_OFFICER.value,
                   object_id=str(file.id))


def _editable(sar: SarRequest, record: SarRecord) -> None:
    from sar.operations import OPEN_STATUSES

    if sar.status not in OPEN_STATUSES:
        raise Conflict("the request is closed")
    if record.superseded_at is not None:
        raise Conflict("this is an earlier version of the record: review the current one")
    if record.withheld:
        raise Conflict("the whole record is withheld, with its files")


def reset_review(file: SarFile) -> None:
    """Any change to a file's redactions undoes the decision on it: the reviewer decides
    again on what will leave."""
    file.review = FileReview.UNREVIEWED
    file.released = None
    file.reviewed_by_id = None
    file.reviewed_at = None


def add_region(session: Session, sar: SarRequest, record: SarRecord, file: SarFile, *,
               page: int, x: int, y: int, width: int, height: int, reason: str,
               detail: str = "", ground: str = "", staff_id: int,
               actor: Actor) -> SarFileRedaction:
    """Black out a rectangle (pixels of the page as shown) of an image or a PDF page."""
    _editable(sar, record)
    if file.mime not in (PNG, JPEG, PDF):
        raise Invalid("redact a text file by its text", field="x")
    if not has_opened(session, file, staff_id):
        raise Conflict("open the file before redacting it")
    if not 1 <= page <= page_count(file):
        raise Invalid("there is no such page", field="page")
    if x < 0 or y < 0 or width < 1 or height < 1:
        raise Invalid("give a region inside the page: x and y from 0, width and height "
                      "from 1", field="x")
    why, ground = checked_reason(reason, detail, regime=record.regime, ground=ground)
    red = SarFileRedaction(file_id=file.id, page=page, x=x, y=y, width=width, height=height,
                           reason=why, detail=detail.strip(), ground=ground,
                           staff_id=staff_id)
    session.add(red)
    reset_review(file)
    session.flush()
    session.refresh(file)
    audit.record(session, "sar.file_redacted", actor, subject_id=sar.subject_id,
                 object_type="sar_file", object_id=str(file.id),
                 details={"reason": red.reason, "page": page})
    return red


def add_text(session: Session, sar: SarRequest, record: SarRecord, file: SarFile, text: str,
             *, reason: str, detail: str = "", ground: str = "", staff_id: int,
             actor: Actor) -> SarFileRedaction:
    """Redact every occurrence of a span of a text file, for a listed reason."""
    _editable(sar, record)
    if file.mime != TEXT:
        raise Invalid("only a text file is redacted by its text: black out a region",
                      field="text")
    if not has_opened(session, file, staff_id):
        raise Conflict("open the file before redacting it")
    if not text.strip():
        raise Invalid("enter the text to redact", field="text")
    # The same match as the one that burns it out (any case), so a redaction always applies.
    if not re.search(re.escape(text), text_of(file), flags=re.IGNORECASE):
        raise Invalid("that text does not appear in the file", field="text")
    why, ground = checked_reason(reason, detail, regime=record.regime, ground=ground)
    red = SarFileRedaction(file_id=file.id, text=text, reason=why, detail=detail.strip(),
                           ground=ground, staff_id=staff_id)
    session.add(red)
    reset_review(file)
    session.flush()
    session.refresh(file)
    audit.record(session, "sar.file_redacted", actor, subject_id=sar.subject_id,
                 object_type="sar_file", object_id=str(file.id),
                 details={"reason": red.reason, "length": len(text)})
    return red


def decide(session: Session, sar: SarRequest, record: SarRecord, file: SarFile,
           decision: str, *, reason: str = "", detail: str = "", ground: str = "",
           staff_id: int, forbidden: Sequence[str], actor: Actor) -> SarFile:
    """Release as is, release with the redactions burnt in, or withhold with a reason; only
    by someone who opened the file, and never with a redacted or safe-contact string left."""
    _editable(sar, record)
    if not has_opened(session, file, staff_id):
        raise Conflict("open the file and look at it before deciding")
    try:
        value = FileReview(decision)
    except ValueError as exc:
        raise Invalid("choose what to do with the file", field="decision") from exc
    if value is FileReview.UNREVIEWED:
        raise Invalid("choose what to do with the file", field="decision")
    if value is FileReview.WITHHELD:
        why, ground = checked_reason(reason, detail, regime=record.regime, ground=ground)
    file.withhold_reason, file.withhold_detail, file.withhold_ground = "", "", ""
    if value is FileReview.WITHHELD:
        file.withhold_reason, file.withhold_ground = why, ground
        file.withhold_detail = detail.strip()
        file.released = None
    else:
        if value is FileReview.AS_IS and file.redactions:
            raise Invalid("the file has redactions: release it redacted", field="decision")
        if value is FileReview.REDACTED and not file.redactions:
            raise Invalid("add a redaction first, or release it as it is", field="decision")
        released = burn(file)
        found = leaks_in(released_text(file.mime, released), forbidden)
        if found:
            raise Conflict(f"{len(found)} redacted or safe-contact string(s) are still in the "
                           "file: redact them or withhold the file")
        file.released = released
    file.review = value.value
    file.reviewed_by_id = staff_id
    file.reviewed_at = utcnow()
    session.flush()
    audit.record(session, "sar.file_reviewed", actor, subject_id=sar.subject_id,
                 object_type="sar_file", object_id=str(file.id),
                 details={"decision": value.value, "reason": file.withhold_reason})
    return file


@_readable
def burn(file: SarFile) -> bytes:
    """What is released: re-encoded from the content, with every redaction burnt in."""

    boxes = [r for r in file.redactions if r.width and r.height]
    if file.mime == TEXT:
        text = file.content.decode("utf-8-sig")
        for span in (r.text for r in file.redactions if r.text.strip()):
            text = re.sub(re.escape(span), REDACTED, text, flags=re.IGNORECASE)
        return text.encode()
    if file.mime in (PNG, JPEG):
        img = _image(file.content)
        draw = ImageDraw.Draw(img)
        for r in boxes:
            draw.rectangle((r.x, r.y, r.x + r.width - 1, r.y + r.height - 1), fill="black")
        return _encode(img, file.mime)
    if file.mime == PDF:
        if not boxes:
            return _pages_only(file.content)
        images = []
        for number, img in enumerate(pages(file.content), start=1):
            draw = ImageDraw.Draw(img)
            for r in (b for b in boxes if b.page == number):
                draw.rectangle((r.x, r.y, r.x + r.width - 1, r.y + r.height - 1), fill="black")
            images.append(img)
        out = io.BytesIO()
        # Pixels only: the original's text, fonts and structure are gone with its redactions.
        images[0].save(out, "PDF", save_all=True, append_images=images[1:], resolution=DPI)
        return out.getvalue()
    raise Invalid("the file's type cannot be released: withhold it", field="decision")


def _pages_only(data: bytes) -> bytes:
    writer = PdfWriter()
    for page in PdfReader(io.BytesIO(data)).pages:
        writer.add_page(page)
    writer.remove_annotations(subtypes=None)  # comments, links, attached files, widgets
    for page in writer.pages:
        for key in ("/AA", "/Annots"):
            if key in page:
                del page[key]
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def released_text(mime: str, data: bytes) -> str:
    """The text a reader could extract from a released file ("" for an image)."""
    if mime == TEXT:
        return data.decode("utf-8-sig", errors="replace")
    if mime == PDF:
        return pdf_text(data)
    return ""


def files_of(sar: SarRequest) -> list[tuple[str, SarRecord, SarFile]]:
    """Every file of the request's records that are not withheld whole or under neither
    confirm nor deny, with its agency."""
    # A record or an agency's part under neither confirm nor deny releases nothing either.
    return [(t.agency.slug, rec, f) for t in sar.tasks if not t.ncnd for rec in t.records
            if not rec.withheld and not rec.ncnd for f in rec.files]


def unreviewed(sar: SarRequest) -> list[SarFile]:
    """The files no reviewer has decided on yet (a withheld record's files never leave)."""
    return [f for _slug, _rec, f in files_of(sar) if f.review == FileReview.UNREVIEWED]


def forbidden_in_files(sar: SarRequest) -> list[str]:
    """The spans redacted from text files: they must not appear anywhere in the bundle."""
    return [r.text for _s, _r, f in files_of(sar) for r in f.redactions if r.text.strip()]


# --- The release check --------------------------------------------------------------------

# Characters that draw nothing but may split a word: format characters (bidi controls,
# zero-width spaces and joiners, the byte-order mark, soft hyphens: category Cf) and these.
_INVISIBLE = {"\u180e", "\u034f", "\u115f", "\u1160", "\u3164", "\uffa0"}
# Between words, any run of spaces, punctuation or symbols counts as one separator, so that
# "07700-900 123", "07700 900 123" and "07700.900.123" fold alike.
_SEPARATORS = re.compile(r"[\W_]+")
# A folded needle shorter than this would match everywhere once spaces are squeezed out.
_MIN_NEEDLE = 4


def strip_controls(text: str) -> str:
    """Text without bidi controls or zero-width and other invisible characters: what goes
    into a bundle, so that no override reorders what the person reads."""
    return "".join(c for c in text
                   if unicodedata.category(c) != "Cf" and c not in _INVISIBLE)


def normalise(text: str) -> str:
    """Text folded for the leak check: NFKC, no bidi or zero-width characters, case folded,
    and every run of spaces and punctuation between words one space, so that a lookalike, a
    hidden character or other separators do not hide a string."""
    text = strip_controls(unicodedata.normalize("NFKC", text))
    # NFKC again: casefolding may produce characters that compose differently.
    text = unicodedata.normalize("NFKC", text.casefold())
    return " ".join(_SEPARATORS.sub(" ", text).split())


def leaks_in(text: str, forbidden: Iterable[str]) -> list[str]:
    """The forbidden strings that appear in the text, after normalising both."""
    folded = normalise(text)
    squeezed = folded.replace(" ", "")
    found = []
    for s in forbidden:
        needle = normalise(s)
        if len(needle.replace(" ", "")) < _MIN_NEEDLE:
            continue
        # Text extraction may split or join words across lines, and a postcode or a phone
        # number may be written with or without spaces: compare without spaces too.
        if needle in folded or needle.replace(" ", "") in squeezed:
            found.append(s)
    return found


# A phone number: digits with any of the usual separators, seven digits or more in all.
_PHONE = re.compile(r"\+?\(?\d[\d\s().\-/]{5,}\d")
# A UK postcode, with or without its space.
_POSTCODE = re.compile(r"\b[A-Z]{1,2}\d[A-Z\d]?\s*\d[A-Z]{2}\b", re.IGNORECASE)


def _phone_forms(number: str) -> list[str]:
    digits = re.sub(r"\D", "", number)
    if len(digits) < 7:
        return []
    forms = [digits]
    # The same UK number written nationally or internationally.
    if digits.startswith("44") and len(digits) > 10:
        forms.append("0" + digits[2:])
    elif digits.startswith("0") and not digits.startswith("00"):
        forms.append("44" + digits[1:])
    return forms


def safe_contact_parts(safe_contact: str) -> list[str]:
    """Every form of a safe-contact detail that must never leave the portal: each line as
    written; each part of a line between commas or semicolons that has a digit or several
    words (an address line, a street, a postcode); every phone number as its digits alone
    (national and +44 forms; the leak check ignores separators); each postcode without its
    space."""
    parts: list[str] = []
    for line in (raw.strip() for raw in safe_contact.splitlines()):
        if len(line) < _MIN_NEEDLE:
            continue
        parts.append(line)
        for piece in (p.strip(" .") for p in re.split(r"[,;]", line)):
            if (len(piece) >= _MIN_NEEDLE and piece != line
                    and (any(c.isdigit() for c in piece) or len(piece.split()) >= 2)):
                parts.append(piece)
        for match in _PHONE.finditer(line):
            parts += _phone_forms(match.group())
        parts += [re.sub(r"\s", "", m.group()) for m in _POSTCODE.finditer(line)]
    return list(dict.fromkeys(parts))


@dataclass(frozen=True, slots=True)
class ArchiveCheck:
    """What the release check found in the zip."""

    leaked: list[str]
    problems: list[str]


def _json_strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield str(k)
            yield from _json_strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _json_strings(v)


def _image_text(data: bytes) -> str:
    """Whatever text an image carries beside its pixels (PNG text chunks, EXIF, comments):
    none should survive re-encoding, and the check proves it."""
    with Image.open(io.BytesIO(data)) as img:
        values = [str(v) for v in img.info.values() if isinstance(v, str | bytes)]
        values += [str(v) for v in img.getexif().values()]
    return "\n".join(values)


def _member_text(mime: str, data: bytes) -> str:
    if mime in (PNG, JPEG):
        return _image_text(data)
    return released_text(mime, data)


def _named_paths(records: Any) -> list[str]:
    """Every file path the records index points to."""
    rows = records.get("records", []) if isinstance(records, dict) else []
    return [f["file"] for row in rows if isinstance(row, dict)
            for f in row.get("files", []) if isinstance(f, dict) and "file" in f]


def check_archive(archive: bytes, expected: Mapping[str, SarFile],
                  forbidden: Sequence[str]) -> ArchiveCheck:
    """Check every member of the zip: its names and records are text-checked, each file must
    be one a reviewer released, byte for byte, its text (a PDF's or text file's, an image's
    metadata) is checked, and every path the index names must be in the zip."""
    texts: list[str] = []
    problems: list[str] = []
    try:
        z = zipfile.ZipFile(io.BytesIO(archive))
    except zipfile.BadZipFile:
        return ArchiveCheck([], ["the zip cannot be read"])
    with z:
        members = set(z.namelist())
        for name in z.namelist():
            data = z.read(name)
            texts.append(name)
            if name in ("records.json", "manifest.json"):
                payload = json.loads(data)
                texts.extend(_json_strings(payload))
                if name == "records.json":
                    # The index must not point to a file the zip does not hold.
                    problems.extend(f"the index names {path}, which is not in the zip"
                                    for path in _named_paths(payload) if path not in members)
            elif name == "records.csv":
                texts.extend(c for row in csv.reader(io.StringIO(data.decode())) for c in row)
            elif name in expected:
                file = expected[name]
                if (file.review not in (FileReview.AS_IS, FileReview.REDACTED)
                        or file.released is None
                        or _digest(file.released) != _digest(data)):
                    problems.append(f"{name} is not the file a reviewer released")
                    continue
                try:
                    texts.append(_member_text(file.mime, data))
                except Exception:  # noqa: BLE001 - a file that cannot be read is not released
                    problems.append(f"{name} cannot be read")
            else:
                problems.append(f"{name} is not a file of the request")
    leaked: dict[str, None] = {}
    for text in texts:
        leaked.update(dict.fromkeys(leaks_in(text, forbidden)))
    return ArchiveCheck(list(leaked), problems)


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def expected_members(sar: SarRequest) -> dict[str, SarFile]:
    """The files a reviewer released, by their place in the zip."""
    return {zip_path(slug, f): f for slug, _rec, f in files_of(sar)
            if f.review in (FileReview.AS_IS, FileReview.REDACTED)}
