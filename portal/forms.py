"""Checking forms: the base form, WTForms fields and validators, and the error summary.

Errors are GOV.UK error-summary items (``{"text": ..., "href": "#field"}``), so a page can
show them in its summary and beside each field. A page lists them either in its fields' order
(``errors_of``) or in the order they were found (``Form.summary``, which keeps an error one
field's check puts on another where it was found); an operation's errors join either with
``add``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable, Sequence
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
    """Add one error for the field with this id (the one way an error joins a summary)."""
    errors.append({"text": str(text), "href": f"#{field}"})


# The checks of each field: the first that fails gives the field's one error, and those after
# it stay quiet (each skips a field that already has an error).


class Form(FlaskForm):  # type: ignore[misc]
    """A form whose CSRF token CSRFProtect already checks for every POST, and whose
    ``summary`` lists every error in the order it was found."""

    class Meta:
        csrf = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.summary: Errors = []

    def validate(self, extra_validators: dict[str, list[Any]] | None = None) -> bool:
        """Validate field by field, collecting each new error into the summary."""
        extra = {name: list(found) for name, found in (extra_validators or {}).items()}
        for name in self._fields:
            inline = getattr(self.__class__, f"validate_{name}", None)
            if inline is not None:
                extra.setdefault(name, []).append(inline)
        self.summary = []
        seen = dict.fromkeys(self._fields, 0)
        for name, field in self._fields.items():
            field.validate(self, extra.get(name, ()))
            seen[name] = 0  # validating a field starts its errors afresh
            # A check of one field may put its error on another (the email address a chosen
            # channel needs, say): the summary keeps it where it was found.
            for other, checked in self._fields.items():
                for message in list(checked.errors)[seen[other]:]:
                    add(self.summary, other, message)
                seen[other] = len(checked.errors)
        return not self.summary

    def add_error(self, name: str, message: Any) -> None:
        """One more error, found after validation (a refusal from an operation, say)."""
        field = self._fields.get(name)
        if field is not None:
            field.errors = [*field.errors, message]
        add(self.summary, name, message)

    def shown(self) -> dict[str, str]:
        """Each field's value exactly as it was sent, for a page that shows them again so."""
        return {name: field.raw_data[0] if field.raw_data else ""
                for name, field in self._fields.items()}


def strip(value: Any) -> Any:
    """A filter: text trimmed, and nothing sent the empty string."""
    if value is None:
        return ""
    return value.strip() if isinstance(value, str) else value


def lower(value: Any) -> Any:
    """A filter: text trimmed and in lower case."""
    value = strip(value)
    return value.lower() if isinstance(value, str) else value


def as_sent(value: Any) -> str:
    """A filter: the value untrimmed (a radio's value is compared as sent), nothing as ''."""
    return str(value or "")


def errors_of(form: FlaskForm, *, first_only: bool = False) -> Errors:
    """The error summary's list: every field's errors (or only each one's first) in the fields'
    order, each linked to its field (a page adds an operation's errors after them with
    ``add``)."""
    errors: Errors = []
    for name, messages in form.errors.items():
        for message in messages[:1] if first_only else messages:
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
        value = _typed(field)
        if field.errors or (not self.empty and not value):
            return
        message = self.problem(value)
        if message is not None:
            raise ValidationError(message)

    def problem(self, value: Any) -> Any:
        """The message for a value that fails the check, or None."""
        raise NotImplementedError


def _typed(field: Field) -> Any:
    # A date box's data is its date: its checks read the text typed.
    return field.typed if isinstance(field, DateValue) else field.data


class Required:
    """Something must be sent: "Enter <label>", or this message; nothing else is checked
    after it fails. With ``when``, only when that is true of the form."""

    def __init__(self, label: Any = None, *, message: Any = None,
                 when: Callable[[Any], bool] | None = None) -> None:
        self.message = message if message is not None else _l("Enter %(label)s", label=label)
        self.when = when
        self.field_flags = {"required": True} if when is None else {}

    def __call__(self, form: FlaskForm, field: Field) -> None:
        if not _typed(field) and (self.when is None or self.when(form)):
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


class DateValue(Field):  # type: ignore[misc]
    """A date box whose data is the date itself: None while the box is empty or the text is no
    date, and once a check refuses it (so the page shows the box empty again). ``typed`` is the
    text as typed (trimmed)."""

    typed = ""

    def process_formdata(self, valuelist: Sequence[Any]) -> None:
        """Keep the text and the date it names, if it names one."""
        self.typed = strip(valuelist[0]) if valuelist else ""
        self.data = _iso_date(self.typed) if self.typed else None

    def post_validate(self, form: FlaskForm, validation_stopped: bool) -> None:
        """Drop a refused date."""
        if self.errors:
            self.data = None

    def _value(self) -> str:
        return self.typed


class Choice(StringField):  # type: ignore[misc]
    """A radio group's value exactly as sent ('' when nothing was chosen)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("filters", [as_sent])
        super().__init__(*args, **kwargs)


def checked_text(label: Any, *, required: bool | Callable[[Any], bool] = True,
                 max_length: int = 200, name_like: bool = False) -> TextField:
    """A text box: present (when ``required``, or when that is true of the form), at most
    ``max_length`` characters and, for a name, without markup."""
    checks: list[Any] = [MaxLength(label, max_length), *([NoMarkup(label)] if name_like else [])]
    if callable(required):
        checks.insert(0, Required(label, when=required))
    elif required:
        checks.insert(0, Required(label))
    return TextField(validators=checks)


def chosen(allowed: Iterable[str], message: Any) -> Choice:
    """A radio group whose value, exactly as sent, must be one of ``allowed``."""
    return Choice(validators=[OneOf(allowed, message)])


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
