"""Checking the staff forms: WTForms validators and fields, and the error summary's list.

Errors are GOV.UK error-summary items (``{"text": ..., "href": "#field"}``), so a page can
show them in its summary and beside each field. The validators give the same messages as the
older helpers (``text``, ``past_date``, ``any_date``, ``choice``), which stay until every
page uses the validators.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import Field, SelectMultipleField, StringField
from wtforms.validators import StopValidation, ValidationError

from portal import dates

Errors = list[dict[str, Any]]

# Characters that have no business in a person's name and would be markup somewhere else.
_MARKUP = re.compile(r"[<>{}\\]|&#|javascript:", re.IGNORECASE)


def add(errors: Errors, field: str, text: Any) -> None:
    """Add one error for the field with this id."""
    errors.append({"text": str(text), "href": f"#{field}"})


def field_error(errors: Errors, field: str) -> dict[str, str] | None:
    """The inline error for a field, in the shape the GOV.UK macros take."""
    for error in errors:
        if error["href"] == f"#{field}":
            return {"text": error["text"]}
    return None


def text(form: Mapping[str, str], field: str, errors: Errors, *, label: Any,
         required: bool = True, max_length: int = 200, name_like: bool = False) -> str:
    """A trimmed text value, checked for presence, length and (for names) markup."""
    value = (form.get(field) or "").strip()
    if required and not value:
        add(errors, field, _l("Enter %(label)s", label=label))
    elif len(value) > max_length:
        add(errors, field, _l("%(label)s must be %(max)s characters or fewer", label=label,
                              max=max_length))
    elif name_like and _MARKUP.search(value):
        add(errors, field, _l("%(label)s must not contain <, >, { } or \\", label=label))
    return value


def past_date(form: Mapping[str, str], field: str, errors: Errors, *, label: Any,
              required: bool = False, today: dt.date | None = None) -> dt.date | None:
    """A date in the past written as YYYY-MM-DD (what a date field sends)."""
    day = _parse_date(form, field, errors, label=label, required=required)
    if day is None:
        return None
    if day > (today or dates.today()):
        add(errors, field, _l("%(label)s must be today or in the past", label=label))
        return None
    if day.year < 1900:
        add(errors, field, _l("%(label)s must be after 1900", label=label))
        return None
    return day


def _parse_date(form: Mapping[str, str], field: str, errors: Errors, *, label: Any,
                required: bool) -> dt.date | None:
    value = (form.get(field) or "").strip()
    if not value:
        if required:
            add(errors, field, _l("Enter %(label)s", label=label))
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        add(errors, field, _l("%(label)s must be a real date", label=label))
        return None


def choice(form: Mapping[str, str], field: str, errors: Errors, allowed: set[str], *,
           message: Any) -> str:
    """One of the allowed values, or an error with this message."""
    value = form.get(field) or ""
    if value not in allowed:
        add(errors, field, message)
    return value


def any_date(form: Mapping[str, str], field: str, errors: Errors, *, label: Any,
             required: bool = False) -> dt.date | None:
    """A date, past or future, written as YYYY-MM-DD (what a date field sends)."""
    day = _parse_date(form, field, errors, label=label, required=required)
    if day is None:
        return None
    if not 1900 <= day.year <= 2200:
        add(errors, field, _l("%(label)s must be between 1900 and 2200", label=label))
        return None
    return day


# --- WTForms: the same checks as fields and validators --------------------------------------
#
# The checks of each field run like the helpers above: the first that fails gives the field's
# one error, and those after it stay quiet (each skips a field that already has an error).


class Form(FlaskForm):  # type: ignore[misc]
    """A form whose CSRF token CSRFProtect already checks for every POST."""

    class Meta:
        csrf = False


def strip(value: Any) -> Any:
    """A filter: text trimmed, and nothing sent the empty string."""
    if value is None:
        return ""
    return value.strip() if isinstance(value, str) else value


def lower(value: Any) -> Any:
    """A filter: text trimmed and in lower case."""
    value = strip(value)
    return value.lower() if isinstance(value, str) else value


def errors_of(form: FlaskForm) -> Errors:
    """The error summary's list: every field's errors in the fields' order, each linked to its
    field (a page adds the errors an operation gives after these with ``add``)."""
    errors: Errors = []
    for name, messages in form.errors.items():
        for message in messages:
            add(errors, name, message)
    return errors


def small_int(value: str | None) -> int | None:
    """A whole number of up to nine digits (an id from a form), or None."""
    return int(value) if value and value.isdigit() and len(value) < 10 else None


class _Check:
    """A validator that leaves a field with an error alone, and (unless ``empty``) an empty
    one too."""

    empty = False

    def __call__(self, form: FlaskForm, field: Field) -> None:
        if field.errors or (not self.empty and not field.data):
            return
        message = self.problem(field.data)
        if message is not None:
            raise ValidationError(message)

    def problem(self, value: Any) -> Any:
        """The message for a value that fails the check, or None."""
        raise NotImplementedError


class Required:
    """Something must be sent: "Enter <label>", or this message; nothing else is checked
    after it fails."""

    def __init__(self, label: Any = None, *, message: Any = None) -> None:
        self.message = message if message is not None else _l("Enter %(label)s", label=label)
        self.field_flags = {"required": True}

    def __call__(self, form: FlaskForm, field: Field) -> None:
        if not field.data:
            raise StopValidation(self.message)


class MaxLength(_Check):
    """At most ``max`` characters."""

    def __init__(self, label: Any, max: int) -> None:  # noqa: A002 - WTForms' own word
        self.label, self.max = label, max

    def problem(self, value: Any) -> Any:
        if len(value) > self.max:
            return _l("%(label)s must be %(max)s characters or fewer", label=self.label,
                      max=self.max)
        return None


class LengthBetween(_Check):
    """From ``min`` to ``max`` characters, or this message (checked when empty too)."""

    empty = True

    def __init__(self, min: int, max: int, message: Any) -> None:  # noqa: A002
        self.min, self.max, self.message = min, max, message

    def problem(self, value: Any) -> Any:
        return None if self.min <= len(value or "") <= self.max else self.message


class NoMarkup(_Check):
    """No <, >, { }, \\, ``&#`` or ``javascript:``: a name has no use for them, and they would
    be markup somewhere else."""

    def __init__(self, label: Any) -> None:
        self.label = label

    def problem(self, value: Any) -> Any:
        if _MARKUP.search(value):
            return _l("%(label)s must not contain <, >, { } or \\", label=self.label)
        return None


class NoControls(_Check):
    """No control characters (a line break, a tab, a NUL...)."""

    def problem(self, value: Any) -> Any:
        if any(ord(c) < 32 for c in str(value)):
            return _l("Enter text without control characters")
        return None


class Matches(_Check):
    """The whole text matches the pattern, or this message. With ``always`` the check runs
    even when an earlier one failed (so both errors show)."""

    def __init__(self, pattern: re.Pattern[str], message: Any, *, always: bool = False) \
            -> None:
        self.pattern, self.message, self.always = pattern, message, always

    def __call__(self, form: FlaskForm, field: Field) -> None:
        if self.always and field.data and not self.pattern.match(field.data):
            raise ValidationError(self.message)
        super().__call__(form, field)

    def problem(self, value: Any) -> Any:
        return None if self.pattern.match(value) else self.message


class OneOf:
    """The value sent, exactly as sent, is one of these, or this message."""

    def __init__(self, allowed: Iterable[str], message: Any) -> None:
        self.allowed, self.message = frozenset(allowed), message

    def __call__(self, form: FlaskForm, field: Field) -> None:
        if field.errors:
            return
        # The value as sent, before any filter trimmed it (as the older helper checked it).
        raw = getattr(field, "raw_data", None)
        sent = (raw[0] if raw else "") if raw is not None else (field.data or "")
        if sent not in self.allowed:
            raise ValidationError(self.message)


class AllOf(_Check):
    """One or more values sent, each one of these, or this message."""

    empty = True

    def __init__(self, allowed: Iterable[str], message: Any) -> None:
        self.allowed, self.message = frozenset(allowed), message

    def problem(self, value: Any) -> Any:
        if not value or any(v not in self.allowed for v in value):
            return self.message
        return None


class WholeNumber(_Check):
    """A whole number from ``low`` to ``high`` when given, or this message."""

    def __init__(self, low: int, high: int, message: Any) -> None:
        self.low, self.high, self.message = low, high, message

    def problem(self, value: Any) -> Any:
        if not value.isdigit() or not self.low <= int(value) <= self.high:
            return self.message
        return None


class RealDate(_Check):
    """A date written as YYYY-MM-DD (what a date field sends), when given."""

    def __init__(self, label: Any) -> None:
        self.label = label

    def problem(self, value: Any) -> Any:
        return None if _iso_date(value) else _l("%(label)s must be a real date",
                                                 label=self.label)


class PastDate(_Check):
    """A real date today or in the past, and after 1900 (check RealDate first)."""

    def __init__(self, label: Any, today: dt.date | None = None) -> None:
        self.label, self.today = label, today

    def problem(self, value: Any) -> Any:
        day = _iso_date(value)
        if day is None:
            return None
        if day > (self.today or dates.today()):
            return _l("%(label)s must be today or in the past", label=self.label)
        if day.year < 1900:
            return _l("%(label)s must be after 1900", label=self.label)
        return None


class DateBetween(_Check):
    """A real date, past or future, from 1900 to 2200 (check RealDate first)."""

    def __init__(self, label: Any) -> None:
        self.label = label

    def problem(self, value: Any) -> Any:
        day = _iso_date(value)
        if day is None or 1900 <= day.year <= 2200:
            return None
        return _l("%(label)s must be between 1900 and 2200", label=self.label)


def _iso_date(value: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        return None


class TextField(StringField):  # type: ignore[misc]
    """A text box whose value arrives trimmed (and is shown again so after an error)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("filters", [strip])
        super().__init__(*args, **kwargs)


class DateText(TextField):
    """A date box: the text as typed (trimmed), and ``day`` once the checks have passed."""

    @property
    def day(self) -> dt.date | None:
        """The date, or None when the box is empty or the text is no date."""
        return _iso_date(self.data) if self.data and not self.errors else None


class Values(SelectMultipleField):  # type: ignore[misc]
    """Checkboxes of one name: the values sent, as sent (checked by a validator)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("validate_choice", False)
        kwargs.setdefault("choices", [])
        super().__init__(*args, **kwargs)


class YesBox(Field):  # type: ignore[misc]
    """A checkbox sending "yes": True when ticked (any other value is False)."""

    def process_formdata(self, valuelist: list[str]) -> None:
        self.data = bool(valuelist) and valuelist[0] == "yes"
