"""The SAR pages' forms (CSRF is checked for every form by CSRFProtect, as elsewhere).

A form parses what was sent into typed values. What is allowed is decided by the operations,
whose errors the pages show one at a time, exactly as before; a form's own validators check
only what a page cannot otherwise read (a person to choose, whole numbers of pixels, the
new-link page's two answers, which are shown together), with the operations' wording.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Sequence
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from werkzeug.datastructures import FileStorage
from wtforms import Field, SelectMultipleField, StringField
from wtforms.validators import UUID, ValidationError

from portal.errors import DomainError, Invalid
from portal.identity.forms import _Form
from sar import operations as ops
from sar.api import parse_records

EMAIL_ERROR = _l("Enter an email address in the correct format, like name@example.com")


class YesField(StringField):  # type: ignore[misc]
    """A checkbox or button whose value is "yes": true only when that was sent."""

    data: Any

    def process_formdata(self, valuelist: Sequence[Any]) -> None:
        """True when the first value sent is "yes"."""
        self.data = bool(valuelist) and valuelist[0] == "yes"

    def process_data(self, value: Any) -> None:
        """Unticked unless told otherwise."""
        self.data = bool(value)


def _text(**kwargs: Any) -> StringField:
    # A missing field reads as empty, as ``request.form.get(name, "")`` did.
    return StringField(default="", **kwargs)


def sent(field: Field) -> str:
    """The value sent for a field, or "" when none was (its default is for display only)."""
    return str(field.data) if field.raw_data else ""


def check(form: FlaskForm) -> None:
    """Raise the form's first error (in the order of its fields) as an operation would, so a
    page shows it as it shows theirs."""
    if not form.validate():
        name, messages = next(iter(form.errors.items()))
        raise Invalid(str(messages[0]), field=name)


def errors_by_field(form: FlaskForm) -> tuple[dict[str, str], list[dict[str, str]]]:
    """Every field's first error, by field and as the GOV.UK error summary's list."""
    errors = {name: str(messages[0]) for name, messages in form.errors.items() if messages}
    return errors, [{"text": text, "href": f"#{name}"} for name, text in errors.items()]


# --- Filing a request (the public's form, and staff's for a spoken or written one) ------------


def _date_part(prefix: str, part: str) -> StringField:
    return _text(name=f"{prefix}-{part}")


class RequestForm(_Form):
    """A subject access request, as the public file it."""

    requester_name = _text()
    requester_email = _text()
    email_wording = _text()
    on_behalf = StringField(default="no")
    subject_name = _text()
    relationship = _text()
    identity_document = FileField()
    authority_document = FileField()
    scope = StringField(default="everything")
    agencies = SelectMultipleField(default=list, choices=[], validate_choice=False)
    scope_from_day = _date_part("scope_from", "day")
    scope_from_month = _date_part("scope_from", "month")
    scope_from_year = _date_part("scope_from", "year")
    scope_to_day = _date_part("scope_to", "day")
    scope_to_month = _date_part("scope_to", "month")
    scope_to_year = _date_part("scope_to", "year")
    scope_text = _text()
    # Shown chosen until another is, but a request sent without one has none.
    delivery = StringField(default="download")
    postal_address = _text()
    identity_method = StringField(default="document")

    def _date(self, prefix: str) -> dt.date | None:
        parts = [str(self[f"{prefix}_{p}"].data).strip() for p in ("day", "month", "year")]
        if not any(parts):
            return None
        try:
            return dt.date(int(parts[2]), int(parts[1]), int(parts[0]))
        except ValueError as exc:
            raise DomainError("bad date", field=prefix) from exc

    def new_request(self, *, channel: str, language: str) -> ops.NewRequest:
        """The request the form describes; raises DomainError for a date it cannot read."""
        docs = []
        for kind, upload in (("identity", self.identity_document.data),
                             ("authority", self.authority_document.data)):
            if isinstance(upload, FileStorage) and upload.filename:
                docs.append((kind, upload.read(ops.MAX_DOCUMENT_BYTES + 1)))
        everything = self.scope.data != "chosen"
        on_behalf = self.on_behalf.data == "yes"
        subject = self.subject_name if on_behalf else self.requester_name
        return ops.NewRequest(
            requester_name=str(self.requester_name.data)[:200],
            requester_email=str(self.requester_email.data)[:320],
            subject_name=str(subject.data)[:400],
            on_behalf=on_behalf,
            relationship_to_subject=str(self.relationship.data)[:200],
            scope_everything=everything,
            scope_agencies=tuple(self.agencies.data or ()) if not everything else (),
            scope_from=self._date("scope_from"), scope_to=self._date("scope_to"),
            scope_text=str(self.scope_text.data)[:5000],
            delivery=sent(self.delivery),
            postal_address=str(self.postal_address.data)[:1000],
            language=language, channel=channel,
            identity_method=str(self.identity_method.data),
            documents=tuple(docs))


class StaffRequestForm(RequestForm):
    """A request received by phone, in person or in writing, entered by a coordinator."""

    channel = StringField(default="verbal")
    language = StringField(default="en")

    def staff_request(self, locales: Sequence[str]) -> ops.NewRequest:
        """The request the form describes, in one of the portal's languages."""
        language = str(self.language.data)
        if language not in locales:
            raise Invalid("unknown language", field="language")
        channel = "written" if self.channel.data == "written" else "verbal"
        return self.new_request(channel=channel, language=language)


# --- The requester's own pages ------------------------------------------------------------


class ReplyForm(_Form):
    """A message from the requester."""

    body = _text()


class DocumentForm(_Form):
    """Proof of identity (or of authority) sent after filing."""

    document = FileField()
    kind = _text()

    def content(self) -> bytes:
        """The file's bytes (one more than allowed is enough to refuse a larger one)."""
        upload = self.document.data
        return upload.read(ops.MAX_DOCUMENT_BYTES + 1) if isinstance(upload, FileStorage) \
            else b""

    def document_kind(self) -> str:
        """Evidence of authority, or else proof of identity."""
        return "authority" if self.kind.data == "authority" else "identity"


def _reference(value: Any) -> str:
    return str(value or "").strip().upper()[:20]


def _address(value: Any) -> str:
    return str(value or "").strip().lower()[:320]


def _reference_given(_form: FlaskForm, field: Field) -> None:
    if not _reference(field.data):
        raise ValidationError(_l("Enter the reference of your request"))


def _address_like(_form: FlaskForm, field: Field) -> None:
    if "@" not in _address(field.data):
        raise ValidationError(EMAIL_ERROR)


class NewLinkForm(_Form):
    """A request's reference and the address it was filed with (both errors shown at once);
    what was typed is shown back as typed."""

    reference = _text(validators=[_reference_given])
    email = _text(validators=[_address_like])

    def normal_reference(self) -> str:
        """The reference as the portal writes it."""
        return _reference(self.reference.data)

    def normal_address(self) -> str:
        """The address, compared without case."""
        return _address(self.email.data)


# --- Coordinators' actions on a request ---------------------------------------------------


class VerifyForm(_Form):
    """Identity checked: the person the records are about, how, and why."""

    subject_id = _text(validators=[UUID(message="choose the person")])
    method = _text()
    note = _text()
    adult_at_risk = YesField()

    def subject(self) -> uuid.UUID:
        """The chosen person (after ``check``)."""
        return uuid.UUID(str(self.subject_id.data))


class PauseForm(_Form):
    """A question for the requester."""

    question = _text()


class MessageForm(_Form):
    """A message to the requester."""

    body = _text()


class ExtendForm(_Form):
    """An extension of the time limit."""

    months = _text()
    reason = _text()
    notice = YesField()

    def month_count(self) -> int:
        """The months asked for (0, refused by the clock, when none or no number was sent)."""
        value = str(self.months.data).strip()
        return int(value) if value.isdigit() else 0


class ReasonForm(_Form):
    """A decision given with its reason (refusal; neither confirm nor deny)."""

    reason = _text()


class AssignForm(_Form):
    """The coordinator to give the request to (none: nobody)."""

    staff_id = _text()

    def staff(self) -> int | None:
        """The chosen coordinator's id, or None."""
        value = str(self.staff_id.data)
        return int(value) if value.isdigit() else None


class SafeguardingForm(_Form):
    """Whether the records may go to this requester, and why."""

    decision = _text()
    safeguarding_reason = _text()


# --- Reviewers' work on their agency's records --------------------------------------------


def _offset(value: Any) -> int | None:
    text = str(value or "").strip()
    return int(text) if text.isdigit() else None


class RedactForm(_Form):
    """A span of a record's text to redact (typed exactly, or selected: its start and end
    offsets, which the review page's script fills in), or the whole record to withhold."""

    whole = YesField()
    text = _text()
    start = _text()
    end = _text()
    reason = _text()
    detail = _text()

    def offsets(self) -> tuple[int | None, int | None]:
        """The selection's offsets into the record's text (None, None: the text is typed)."""
        start, end = _offset(self.start.data), _offset(self.end.data)
        return (start, end) if start is not None and end is not None else (None, None)


class UndoForm(_Form):
    """What to take back before release: a redaction of the record's text, a region (or a
    span) of one of its files, or the record's withholding."""

    redaction = _text()
    region = _text()
    withholding = YesField()

    def redaction_id(self) -> int | None:
        """The record redaction to undo, if that is what was sent."""
        return _offset(self.redaction.data)

    def region_id(self) -> int | None:
        """The file redaction to undo, if that is what was sent."""
        return _offset(self.region.data)


class RecordsForm(_Form):
    """An agency's records as a JSON file (the API's format), or "we hold nothing"."""

    nothing = YesField()
    records = FileField()

    def new_records(self) -> list[ops.NewRecord]:
        """The records in the file; raises Invalid when it is not the API's JSON."""
        upload = self.records.data
        try:
            body = json.loads(upload.read() if isinstance(upload, FileStorage) else b"")
        except ValueError as exc:
            raise Invalid("the file is not JSON in the API's format", field="records") from exc
        return parse_records(body)


def _whole_number(_form: FlaskForm, field: Field) -> None:
    if not str(field.data).strip().isdigit():
        raise ValidationError("enter whole numbers of pixels")


def _pixels(default: str = "") -> StringField:
    return StringField(default=default, validators=[_whole_number])


class RegionForm(_Form):
    """A rectangle to black out (the page only for a PDF), with its reason."""

    page = _pixels("1")
    x = _pixels()
    y = _pixels()
    width = _pixels()
    height = _pixels()
    reason = _text()
    detail = _text()

    def number(self, name: str) -> int:
        """One of the whole numbers (after ``check``)."""
        return int(str(self[name].data).strip())


class FileTextForm(_Form):
    """A span of a text file to redact, with its reason."""

    text = _text()
    reason = _text()
    detail = _text()


class FileDecisionForm(_Form):
    """Release a file as it is, redacted, or withhold it with a reason."""

    decision = _text()
    reason = _text()
    detail = _text()
