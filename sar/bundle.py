"""Building a SAR bundle: the PDF (cover letter, index, a section per agency) and the zip."""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import uuid
import zipfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from flask import render_template
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from consent.models import CheckDecision
from portal import csvfile
from portal.pdf import static_url
from portal.reference.models import Agency, Holding, Purpose, Subject
from sar import attachments
from sar.models import FileReview, Reason, SarBundle, SarFile, SarRecord, SarRequest, SarTask
from sar.operations import safe_contact_parts

REASON_LABELS = {
    # Translators: a reason for not disclosing data in a subject access response
    Reason.THIRD_PARTY: _l("Information about other people (Data Protection Act 2018, "
                           "Schedule 2, Part 3, paragraph 16)"),
    Reason.CRIME_TAXATION: _l("Crime and taxation (Data Protection Act 2018, Schedule 2, "
                              "Part 1, paragraph 2)"),
    Reason.S45_4_A: _l("To avoid obstructing an inquiry or investigation (Data Protection "
                       "Act 2018, section 45(4)(a))"),
    Reason.S45_4_B: _l("To avoid prejudicing the prevention, detection, investigation or "
                       "prosecution of crime (section 45(4)(b))"),
    Reason.S45_4_C: _l("To protect public security (section 45(4)(c))"),
    Reason.S45_4_D: _l("To protect national security (section 45(4)(d))"),
    Reason.S45_4_E: _l("To protect the rights and freedoms of others (section 45(4)(e))"),
    Reason.LEGAL_PRIVILEGE: _l("Legal professional privilege"),
    Reason.OTHER: _l("Another reason"),
}

# The reason in a few words, for the marker left where text was cut out of a record.
SHORT_LABELS = {
    # Translators: in "[withheld: third-party data]", left where text about others was removed
    Reason.THIRD_PARTY: _l("third-party data"),
    # The law-enforcement counterpart of third-party data (it tells of no investigation).
    Reason.S45_4_E: _l("third-party data"),
    # Translators: in "[withheld: crime and taxation]"
    Reason.CRIME_TAXATION: _l("crime and taxation"),
    # Translators: in "[withheld: legal professional privilege]"
    Reason.LEGAL_PRIVILEGE: _l("legal professional privilege"),
    # Translators: in "[withheld: another reason]"
    Reason.OTHER: _l("another reason"),
}

# What was withheld, as the manifest counts it.
KINDS = ("redactions", "records", "file_regions", "files")
KIND_LABELS = {
    "redactions": _l("Passages removed from records"),
    "records": _l("Whole records withheld"),
    "file_regions": _l("Areas or passages removed from files"),
    "files": _l("Whole files withheld"),
}


# The s45(4) restrictions whose mere mention could tell the person that an inquiry, an
# investigation or a prosecution exists, or that security is at stake; s45(4)(e), protecting
# other people, tells nothing of the kind and is named like third-party data.
_CONCEALED = frozenset({Reason.S45_4_A, Reason.S45_4_B, Reason.S45_4_C, Reason.S45_4_D})


def concealed(reason: str) -> bool:
    """Whether the person may not be told of this reason at all: a DPA 2018 s45(4)(a) to (d)
    restriction."""
    return reason in _CONCEALED


def person_label(reason: str) -> str:
    """A reason as the person reads it (in the current locale): "" for a concealed one."""
    if not reason or concealed(reason):
        return ""
    try:
        return str(REASON_LABELS[Reason(reason)])
    except (KeyError, ValueError):
        return ""


def marker(reason: str) -> str:
    """What the person reads where text was cut out: "[withheld: third-party data]", or a
    neutral "[withheld]" for a concealed reason (and for a safe contact, which has none)."""
    if not reason or concealed(reason):
        return str(_("[withheld]"))
    try:
        short = SHORT_LABELS.get(Reason(reason))
    except ValueError:
        short = None
    words = str(short) if short is not None else person_label(reason)
    return str(_("[withheld: %(reason)s]", reason=words) if words else _("[withheld]"))


@dataclass(frozen=True, slots=True)
class Part:
    """A piece of record text, shown or redacted (with the redaction's reason)."""

    text: str
    redacted: bool
    reason: str = ""


@dataclass(frozen=True, slots=True)
class FileView:
    """A file of a record as the bundle lists it: where it is in the zip, or why it is not."""

    path: str  # "" when withheld
    reason: str  # a withheld file's reason, as the person reads it


@dataclass(frozen=True, slots=True)
class RecordView:
    """A record as the bundle shows it."""

    external_id: str
    kind: str
    title: str
    occurred_on: Any
    parts: list[Part]
    files: tuple[FileView, ...] = ()


def _released(file: SarFile) -> bool:
    return (file.review in (FileReview.AS_IS, FileReview.REDACTED)
            and file.released is not None)


def file_views(agency_slug: str, record: SarRecord) -> tuple[FileView, ...]:
    """Each file of a record: released (its place in the zip) or withheld (with its reason;
    a file nobody reviewed is never released). A withheld file's name is not given."""
    return tuple(
        FileView(attachments.zip_path(agency_slug, f), "") if _released(f)
        else FileView("", person_label(f.withhold_reason))
        for f in record.files)


Span = str | tuple[str, str]  # the text, or the text and its reason


def split_redacted(text: str, spans: Sequence[Span]) -> list[Part]:
    """Cut every occurrence of every span (case-insensitive) out of the text, each cut with
    its span's reason (overlapping cuts of different reasons merge into one with none)."""
    intervals: list[tuple[int, int, str]] = []
    for span in spans:
        needle, reason = (span, "") if isinstance(span, str) else span
        if not needle.strip():
            continue
        for m in re.finditer(re.escape(needle), text, flags=re.IGNORECASE):
            intervals.append((m.start(), m.end(), reason))
    intervals.sort()
    merged: list[tuple[int, int, str]] = []
    for start, end, reason in intervals:
        if merged and start <= merged[-1][1]:
            first, last, was = merged[-1]
            merged[-1] = (first, max(end, last), was if was == reason else "")
        else:
            merged.append((start, end, reason))
    parts: list[Part] = []
    pos = 0
    for start, end, reason in merged:
        if start > pos:
            parts.append(Part(text[pos:start], False))
        parts.append(Part("", True, reason))
        pos = end
    if pos < len(text):
        parts.append(Part(text[pos:], False))
    return parts


def _load_records(session: Session, sar: SarRequest) -> None:
    """Load every task's agency, records, redactions and files in one statement per level,
    not one per record (a bundle holds hundreds)."""
    records = selectinload(SarTask.records)
    session.scalars(select(SarTask).where(SarTask.request_id == sar.id).options(
        selectinload(SarTask.agency), records.selectinload(SarRecord.redactions),
        records.selectinload(SarRecord.files).selectinload(SarFile.redactions))).all()


def _safe_parts(session: Session, sar: SarRequest) -> list[str]:
    subject = session.get(Subject, sar.subject_id) if sar.subject_id else None
    return safe_contact_parts(subject.safe_contact) if subject else []


def _shown(record: SarRecord, extra: Sequence[str], agency_slug: str = "") -> RecordView:
    # No bidi override or zero-width character reaches the bundle: removed before the
    # redactions are cut, so that a hidden character cannot split a redacted span either.
    clean = attachments.strip_controls
    spans: list[Span] = [(clean(r.text), r.reason) for r in record.redactions]
    return RecordView(clean(record.external_id), clean(record.kind), clean(record.title),
                      record.occurred_on, split_redacted(clean(record.text), [*spans, *extra]),
                      file_views(agency_slug, record))


def _answered(sar: SarRequest) -> list[SarTask]:
    """The agencies' parts the response speaks of: a part under neither confirm nor deny is
    not mentioned at all."""
    return [t for t in sar.tasks if not t.ncnd]


@dataclass(frozen=True, slots=True)
class Disclosure:
    """Data about the person one agency was permitted to share with another, as recorded."""

    discloser: str
    recipient: str
    purpose: str
    basis: str
    times: int
    first: dt.date
    last: dt.date


@dataclass(frozen=True, slots=True)
class Controller:
    """An agency answering as a controller: who it is, its DPO and how long it keeps data."""

    name: str
    legal_name: str
    address: str
    dpo: str
    retention: str


BASIS_LABELS = {
    # Translators: the lawful basis on which an agency shared a person's data
    "consent": _l("on your consent"),
    "public-task": _l("as a public task the law gives the agency"),
    "legal-obligation": _l("because the law requires it"),
    "vital-interests": _l("to protect someone's life"),
    "legitimate-interests": _l("on the agency's legitimate interests"),
    "law-enforcement": _l("for law enforcement (Data Protection Act 2018, Part 3)"),
}


def _disclosures(session: Session, subject_id: uuid.UUID, hidden: set[int]
                 ) -> tuple[list[Disclosure], int, int]:
    """Every sharing the consent check permitted about the person (grouped by who shared,
    with whom, why and on what basis), and how many checks were answered yes and no. A check
    involving an agency under neither confirm nor deny is left out."""
    names = dict(session.execute(select(Agency.id, Agency.name)).all())
    purposes = dict(session.execute(select(Purpose.id, Purpose.name)).all())
    groups: dict[tuple[int, int, int, str], list[dt.date]] = {}
    permitted = refused = 0
    rows = session.execute(select(CheckDecision.agency_id, CheckDecision.recipient_agency_id,
                                  CheckDecision.purpose_id, CheckDecision.decision,
                                  CheckDecision.basis, CheckDecision.evaluated_at)
                           .where(CheckDecision.subject_id == subject_id)
                           .order_by(CheckDecision.evaluated_at))
    for discloser, recipient, purpose, decision, basis, at in rows:
        if discloser in hidden or recipient in hidden:
            continue
        if decision != "permit":
            refused += 1
            continue
        permitted += 1
        groups.setdefault((discloser, recipient, purpose, basis or ""), []).append(at.date())
    out = [Disclosure(names.get(d, "?"), names.get(r, "?"), purposes.get(p, "?"),
                      str(BASIS_LABELS.get(b, b)), len(days), days[0], days[-1])
           for (d, r, p, b), days in groups.items()]
    out.sort(key=lambda x: (x.recipient, x.purpose, x.discloser))
    return out, permitted, refused


def _controller(agency: Agency) -> Controller:
    return Controller(agency.name, agency.controller_name or agency.name,
                      agency.controller_address, agency.dpo_contact or agency.sar_contact,
                      agency.retention_statement)


def _count(into: dict[str, Counter[str]], kind: str, reason: str) -> None:
    into.setdefault(kind, Counter())[reason or "unspecified"] += 1


def manifest(session: Session, sar: SarRequest) -> dict[str, Any]:
    """What was withheld from the bundle, counted by kind and reason (and by agency), never
    the text: the case file's manifest, which counts s45(4) restrictions too."""
    _load_records(session, sar)
    total: dict[str, Counter[str]] = {}
    agencies: dict[str, dict[str, Counter[str]]] = {}
    for task in _answered(sar):
        mine = agencies.setdefault(task.agency.slug, {})
        for rec in task.records:
            found: list[tuple[str, str]] = []
            if rec.ncnd:
                continue  # neither confirmed nor denied: not counted, even in the case file
            if rec.withheld:
                # Its redactions and files go with it: one withholding, not many.
                found.append(("records", rec.withhold_reason))
            else:
                found += [("redactions", r.reason) for r in rec.redactions]
                for f in rec.files:
                    if f.review == FileReview.WITHHELD:
                        found.append(("files", f.withhold_reason))
                    elif f.review == FileReview.REDACTED:
                        found += [("file_regions", r.reason) for r in f.redactions]
            for kind, reason in found:
                _count(total, kind, reason)
                _count(mine, kind, reason)

    def plain(counts: dict[str, Counter[str]]) -> dict[str, dict[str, int]]:
        return {k: dict(sorted(counts[k].items())) for k in KINDS if counts.get(k)}

    return {"reference": sar.reference, "ncnd": sar.neither_confirm_nor_deny,
            "counts": plain(total),
            "agencies": {slug: plain(c) for slug, c in sorted(agencies.items()) if c}}


def person_manifest(internal: dict[str, Any]) -> dict[str, Any]:
    """The manifest the person is given (in the current locale): counts by kind and reason,
    with no s45(4) restriction counted or named, and nothing at all under neither confirm
    nor deny."""
    rows = []
    if not internal.get("ncnd"):
        for kind in KINDS:
            for reason, count in internal.get("counts", {}).get(kind, {}).items():
                if concealed(reason):
                    continue
                rows.append({"what": kind, "what_label": str(KIND_LABELS[kind]),
                             "reason": reason,
                             "reason_label": person_label(reason) or _("Another reason"),
                             "count": count})
    return {"reference": internal.get("reference", ""), "withheld": rows,
            "total": sum(r["count"] for r in rows)}


def stored_manifest(bundle: SarBundle) -> dict[str, Any] | None:
    """A built bundle's case-file manifest (None for a bundle built before manifests)."""
    return json.loads(bundle.manifest) if bundle.manifest else None


def context(session: Session, sar: SarRequest) -> dict[str, Any]:
    """Everything the cover letter and sections need, already redacted: what is true for
    this person, and nothing about a part or record under neither confirm nor deny."""
    _load_records(session, sar)
    safe = _safe_parts(session, sar)
    sections = []
    answered = _answered(sar)
    for task in answered:
        kept = [rec for rec in task.records if not rec.ncnd]  # not shown, not counted
        shown = [_shown(rec, safe, task.agency.slug) for rec in kept if not rec.withheld]
        # An s45(4) restriction is never counted for the person, so a part wholly under one
        # reads as a part that holds nothing.
        held_back = sum(1 for rec in kept if rec.withheld and not concealed(rec.withhold_reason))
        sections.append({"agency": task.agency.name, "records": shown,
                         "held_back": held_back})
    hidden = {t.agency_id for t in sar.tasks if t.ncnd}
    shown_agencies = {t.agency_id for t in answered}
    categories: set[str] = set()
    disclosures: list[Disclosure] = []
    permitted = refused = 0
    if sar.subject_id is not None:
        for holding in session.scalars(select(Holding).where(
                Holding.subject_id == sar.subject_id,
                Holding.agency_id.in_(shown_agencies or {-1}))):
            categories.update(c.name for c in holding.categories)
        disclosures, permitted, refused = _disclosures(session, sar.subject_id, hidden)
    # A neither-confirm-nor-deny decision hides even that something was withheld.
    return {
        "sar": sar, "sections": sections,
        "manifest": person_manifest(manifest(session, sar)), "marker": marker,
        "subject": attachments.strip_controls(sar.subject_name),
        "requester": attachments.strip_controls(sar.requester_name),
        "on_behalf": sar.on_behalf,
        "disclosures": disclosures, "checks_permitted": permitted, "checks_refused": refused,
        "purposes": sorted({d.purpose for d in disclosures}),
        "recipients": sorted({d.recipient for d in disclosures}),
        "controllers": [_controller(t.agency) for t in answered],
        "categories": sorted(categories), "stylesheet": static_url("pdf/pdf.css"),
    }


def html(session: Session, sar: SarRequest) -> str:
    """The bundle's HTML in the person's language (needs an app context)."""
    with force_locale(sar.language):
        return render_template("pdf/sar/bundle.html", **context(session, sar))


def archive(session: Session, sar: SarRequest) -> bytes:
    """The same records as JSON and CSV, with each file as a reviewer released it (redactions
    burnt in); a withheld file is listed as withheld, with its reason, and is not in the zip."""
    _load_records(session, sar)
    safe = _safe_parts(session, sar)
    rows: list[dict[str, Any]] = []
    files: list[tuple[str, bytes]] = []
    with force_locale(sar.language):
        for task in _answered(sar):
            for rec in task.records:
                if rec.withheld or rec.ncnd:
                    continue
                view = _shown(rec, safe, task.agency.slug)
                text = "".join(marker(p.reason) if p.redacted else p.text
                               for p in view.parts)
                rows.append({"agency": task.agency.slug, "id": view.external_id,
                             "kind": view.kind, "title": view.title,
                             "date": rec.occurred_on.isoformat() if rec.occurred_on else "",
                             "text": text,
                             # A withheld file: listed with its reason, never with a path.
                             "files": [{"file": v.path} if v.path
                                       else {"withheld": True, "reason": v.reason}
                                       for v in view.files]})
                files += [(attachments.zip_path(task.agency.slug, f), f.released)
                          for f in rec.files if _released(f) and f.released is not None]
        withheld = person_manifest(manifest(session, sar))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("manifest.json", json.dumps(withheld, ensure_ascii=False, indent=2))
        z.writestr("records.json", json.dumps({"reference": sar.reference, "records": rows},
                                              ensure_ascii=False, indent=2))
        z.writestr("records.csv", csvfile.text(
            ["agency", "id", "kind", "title", "date", "text", "files"],
            ({**row, "files": " ".join(f["file"] if "file" in f else _withheld_cell(f)
                                       for f in row["files"])}
             for row in rows)))
        for name, data in files:
            z.writestr(name, data)
    return out.getvalue()



def _withheld_cell(listed: dict[str, Any]) -> str:
    reason = str(listed.get("reason", ""))
    return f"(withheld: {reason})" if reason else "(withheld)"
