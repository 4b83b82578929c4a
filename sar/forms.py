"""The SAR pages' forms (CSRF is checked for every form by CSRFProtect, as elsewhere).

A form parses what was sent into typed values. The request forms (the public's and staff's)
check every answer first and show every error at once in the error summary; nothing is cut
short (a value too long is refused with its limit) and control characters are refused. What
else is allowed is decided by the operations, whose errors the pages show beside the field;
a form's own validators check what a page cannot otherwise read (a person to choose, whole
numbers of pixels, the new-link page's two answers), with the operations' wording.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Sequence
from typing import Any

from email_validator import EmailNotValidError, validate_email
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from werkzeug.datastructures import FileStorage
from wtforms import Field, SelectMultipleField, StringField
from wtforms.validators import UUID, ValidationError

from portal import forms as kernel
from portal.errors import DomainError, Invalid
from portal.forms import Form, TextField, add
from portal.identity.forms import _Form
from sar import operations as ops
from sar import reporting
from sar.api import parse_records
from sar.models import AddressKind, PauseReason

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

    def check_all(self, *, account: bool, staff: bool) -> bool:
        """Check every answer, collecting every error (in the page's order) into
        ``summary``; True when there is none."""
        self.summary = []
        on_behalf = self.on_behalf.data == "yes"
        post = sent(self.delivery) == "post"
        _line(self, "requester_name", _l("Enter your full name"), LABELS["requester_name"],
              200, required=True, name_like=True)
        if not account:
            _email(self, required=not staff or not post)
        _line(self, "subject_name", _l("Enter the full name of the person the records are "
                                       "about"), LABELS["subject_name"], 400,
              required=on_behalf, name_like=True)
        _line(self, "relationship", _l("Say how you are acting for this person"),
              LABELS["relationship"], 200, required=on_behalf)
        if self.scope.data == "chosen" and not self.agencies.data:
            kernel.add(self.summary, "scope", _l("Choose at least one agency, or choose "
                                                 "everything every agency holds"))
        dates = {}
        for prefix in ("scope_from", "scope_to"):
            try:
                dates[prefix] = self._date(prefix)
            except DomainError:
                kernel.add(self.summary, prefix, _l("Enter a real date"))
        if (dates.get("scope_from") and dates.get("scope_to")
                and dates["scope_from"] > dates["scope_to"]):  # type: ignore[operator]
            kernel.add(self.summary, "scope_from",
                       _l("The start date must be before the end date"))
        _text_block(self, "scope_text", LABELS["scope_text"], 5000)
        if sent(self.delivery) not in ("download", "post"):
            kernel.add(self.summary, "delivery",
                       _l("Choose how you want to receive the records"))
        _text_block(self, "postal_address", LABELS["postal_address"], 1000,
                    required=_l("Enter the postal address") if post else None)
        return not self.summary

    def errors_shown(self) -> dict[str, str]:
        """Each field's first error, for the message beside it."""
        out: dict[str, str] = {}
        for item in self.summary:
            out.setdefault(str(item["href"]).lstrip("#"), str(item["text"]))
        return out

    def new_request(self, *, channel: str, language: str) -> ops.NewRequest:
        """The request the form describes (after ``check_all``; nothing is cut short);
        raises DomainError for a date it cannot read."""
        docs = []
        for kind, upload in (("identity", self.identity_document.data),
                             ("authority", self.authority_document.data)):
            if isinstance(upload, FileStorage) and upload.filename:
                docs.append((kind, upload.read(ops.MAX_DOCUMENT_BYTES + 1)))
        everything = self.scope.data != "chosen"
        on_behalf = self.on_behalf.data == "yes"
        subject = self.subject_name if on_behalf else self.requester_name
        return ops.NewRequest(
            requester_name=str(self.requester_name.data),
            requester_email=str(self.requester_email.data).strip(),
            subject_name=str(subject.data),
            on_behalf=on_behalf,
            relationship_to_subject=str(self.relationship.data),
            scope_everything=everything,
            scope_agencies=tuple(self.agencies.data or ()) if not everything else (),
            scope_from=self._date("scope_from"), scope_to=self._date("scope_to"),
            scope_text=str(self.scope_text.data),
            delivery=sent(self.delivery),
            postal_address=str(self.postal_address.data),
            language=language, channel=channel,
            identity_method=str(self.identity_method.data),
            documents=tuple(docs))


# The names of a request form's answers, in its error messages.
LABELS: dict[str, Any] = {
    "requester_name": _l("Your full name"),
    "requester_email": _l("Your email address"),
    "subject_name": _l("The name of the person the records are about"),
    "relationship": _l("How you act for this person"),
    "scope_text": _l("What helps us find the records"),
    "postal_address": _l("The postal address"),
}


def _controls(value: str, *, lines: bool) -> bool:
    allowed = {"\n", "\r", "\t"} if lines else set()
    return any((ord(c) < 32 or ord(c) == 127) and c not in allowed for c in value)


def _line(form: RequestForm, name: str, missing: Any, label: Any, limit: int, *,
          required: bool, name_like: bool = False) -> None:
    value = str(form[name].data or "").strip()
    if not value:
        if required:
            kernel.add(form.summary, name, missing)
    elif len(value) > limit:
        kernel.add(form.summary, name, _l("%(label)s must be %(max)s characters or fewer",
                                          label=label, max=f"{limit:,}"))
    elif _controls(value, lines=False):
        kernel.add(form.summary, name, _l("%(label)s must not contain control characters",
                                          label=label))
    elif name_like and kernel.NoMarkup(label).problem(value):
        kernel.add(form.summary, name, kernel.NoMarkup(label).problem(value))


def _text_block(form: RequestForm, name: str, label: Any, limit: int, *,
                required: Any = None) -> None:
    value = str(form[name].data or "")
    if not value.strip():
        if required is not None:
            kernel.add(form.summary, name, required)
    elif len(value) > limit:
        kernel.add(form.summary, name, _l("%(label)s must be %(max)s characters or fewer",
                                          label=label, max=f"{limit:,}"))
    elif _controls(value, lines=True):
        kernel.add(form.summary, name, _l("%(label)s must not contain control characters",
                                          label=label))


def valid_email(value: str) -> bool:
    """An address a mail server would take (its syntax only: nothing is looked up)."""
    if len(value) > 320 or any(c in value for c in "<>\"\\") or _controls(value, lines=False):
        return False
    try:
        validate_email(value, check_deliverability=False)
    except EmailNotValidError:
        return False
    return True


def _email(form: RequestForm, *, required: bool) -> None:
    value = str(form.requester_email.data or "").strip()
    if not value:
        if required:
            kernel.add(form.summary, "requester_email", EMAIL_ERROR)
    elif len(value) > 320:
        kernel.add(form.summary, "requester_email",
                   _l("%(label)s must be %(max)s characters or fewer",
                      label=LABELS["requester_email"], max=320))
    elif not valid_email(value):
        kernel.add(form.summary, "requester_email", EMAIL_ERROR)


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


PAUSE_LABELS: dict[str, Any] = {
    PauseReason.IDENTITY: _l("Waiting for proof of identity or authority"),
    PauseReason.CLARIFICATION: _l("Waiting for clarification"),
    PauseReason.FEE: _l("Waiting for a fee"),
}
ADDRESS_LABELS: dict[str, Any] = {
    AddressKind.REQUEST: _l("The postal address given with the request"),
    AddressKind.SAFE: _l("The person's safe-contact address"),
    AddressKind.AGENCY: _l("An address an agency holds for the person"),
    AddressKind.HAND: _l("Handed to the person"),
}
EVENT_LABELS: dict[str, Any] = {
    "filed": _l("Request received"),
    "started": _l("Clock started"),
    "paused": _l("Clock stopped: what we need"),
    "extended": _l("Extension and its reasons"),
    "refused": _l("Refusal and the right to complain"),
    "ready": _l("Records ready to download"),
    "message": _l("Message"),
}


class PauseForm(_Form):
    """Why the clock stops, and the question for the requester."""

    pause_reason = _text()
    question = _text()


class LetterForm(_Form):
    """A letter carrying a notice, recorded as posted."""

    posted_on = _text()
    address = _text()

    def posted_date(self) -> dt.date | None:
        """The date typed (YYYY-MM-DD, what a date box sends), or None."""
        try:
            return dt.date.fromisoformat(str(self.posted_on.data).strip())
        except ValueError:
            return None


class SearchForm(_Form):
    """The search an agency made (Art 15(1A))."""

    agency = _text()
    systems = _text()
    terms = _text()
    searched_on = _text()
    proportionality = _text()

    def new_search(self, agency_id: int | None = None) -> ops.NewSearch:
        """The search described (the agency is the task's, for a reviewer)."""
        for name, limit in (("systems", 2000), ("terms", 2000), ("proportionality", 5000)):
            value = str(self[name].data or "")
            if len(value) > limit:
                raise Invalid(f"must be {limit:,} characters or fewer", field=name)
            if _controls(value, lines=True):
                raise Invalid("must not contain control characters", field=name)
        try:
            day: dt.date | None = dt.date.fromisoformat(str(self.searched_on.data).strip())
        except ValueError:
            day = None
        if agency_id is None:
            agency_id = kernel.small_int(str(self.agency.data)) or 0
        return ops.NewSearch(agency_id=agency_id, systems=str(self.systems.data),
                             terms=str(self.terms.data), searched_on=day,
                             proportionality=str(self.proportionality.data))


class MessageForm(_Form):
    """A message to the requester."""

    body = _text()


class ExtendForm(_Form):
    """An extension of the time limit."""

    months = _text()
    reason = _text()

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
    ground = _text()  # the provision relied on, for "another reason"

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
    ground = _text()  # the provision relied on, for "another reason"

    def number(self, name: str) -> int:
        """One of the whole numbers (after ``check``)."""
        return int(str(self[name].data).strip())


class FileTextForm(_Form):
    """A span of a text file to redact, with its reason."""

    text = _text()
    reason = _text()
    detail = _text()
    ground = _text()  # the provision relied on, for "another reason"


class FileDecisionForm(_Form):
    """Release a file as it is, redacted, or withhold it with a reason."""

    decision = _text()
    reason = _text()
    detail = _text()
    ground = _text()  # the provision relied on, for "another reason"


class NcndForm(_Form):
    """Neither confirm nor deny an agency's part or a record, with its legal reason."""

    reason = _text()
    detail = _text()
    ground = _text()  # the provision relied on, for "another reason"


# --- Reports ------------------------------------------------------------------------------


class ReportPeriodForm(Form):
    """The months of receipt a report covers (a GET form): from one month and year to
    another, both included; every error is listed at once."""

    from_month = TextField(name="from-month")
    from_year = TextField(name="from-year")
    to_month = TextField(name="to-month")
    to_year = TextField(name="to-year")

    def period(self, today: dt.date) -> reporting.Period | None:
        """The period asked for (the last twelve months when nothing was sent), or None
        with every problem in ``summary``."""
        self.summary = []
        sent = [f.data for f in (self.from_month, self.from_year, self.to_month, self.to_year)]
        if not any(sent):
            return reporting.last_twelve_months(today)
        first = self._month(
            self.from_month, self.from_year, "from",
            _l("Enter the month the period starts as a number from 1 to 12"),
            _l("Enter the year the period starts as four digits, like 2026"))
        last = self._month(
            self.to_month, self.to_year, "to",
            _l("Enter the month the period ends as a number from 1 to 12"),
            _l("Enter the year the period ends as four digits, like 2026"))
        if first is None or last is None:
            return None
        if last < first:
            add(self.summary, "to-month",
                _l("The end of the period must be the same as or after its start"))
            return None
        if reporting.months_between(first, last) > reporting.MAX_MONTHS:
            add(self.summary, "to-month",
                _l("A report covers at most %(count)d months", count=reporting.MAX_MONTHS))
            return None
        return reporting.Period(first, last)

    def _month(self, month: Field, year: Field, prefix: str, bad_month: Any,
               bad_year: Any) -> dt.date | None:
        number, value = str(month.data or ""), str(year.data or "")
        good_month = number.isdigit() and 1 <= int(number) <= 12
        good_year = value.isdigit() and len(value) == 4 and 2000 <= int(value) <= 2200
        if not good_month:
            add(self.summary, f"{prefix}-month", bad_month)
        if not good_year:
            add(self.summary, f"{prefix}-year", bad_year)
        return dt.date(int(value), int(number), 1) if good_month and good_year else None
