"""WTForms fields and validators for the staff pages, with the messages of portal.forms.

The messages are the very msgids the home-made helpers used, so nothing new is translated.
Each validator raises ``ValidationError`` (not ``StopValidation``): like the old helpers, a
later check on the same field still runs and may add its own error.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection, Sequence
from typing import Any

from flask_babel import lazy_gettext as _l
from wtforms import Field, StringField
from wtforms.validators import ValidationError

from portal import dates, forms

Required = bool | Callable[[Any], bool]


def stripped(value: Any) -> str:
    """A filter: the value trimmed, and an absent value as an empty string."""
    return str(value or "").strip()


def _required(required: Required, form: Any) -> bool:
    return required(form) if callable(required) else required


class Text:
    """Presence, length and (for names) markup of a trimmed text, one error at most."""

    def __init__(self, label: Any, *, required: Required = True, max_length: int = 200,
                 name_like: bool = False) -> None:
        self.label, self.required = label, required
        self.max_length, self.name_like = max_length, name_like

    def __call__(self, form: Any, field: Field) -> None:
        """Check the field's value."""
        value = field.data or ""
        if _required(self.required, form) and not value:
            raise ValidationError(_l("Enter %(label)s", label=self.label))
        if len(value) > self.max_length:
            raise ValidationError(_l("%(label)s must be %(max)s characters or fewer",
                                     label=self.label, max=self.max_length))
        if self.name_like and value and forms._MARKUP.search(value):
            raise ValidationError(_l("%(label)s must not contain <, >, { } or \\",
                                     label=self.label))


class OneOf:
    """One of the allowed values (an absent value is the empty string)."""

    def __init__(self, allowed: Collection[str], message: Any) -> None:
        self.allowed, self.message = allowed, message

    def __call__(self, form: Any, field: Field) -> None:
        """Check the field's value."""
        if (field.data or "") not in self.allowed:
            raise ValidationError(self.message)


class EmailLike:
    """A non-empty value must at least contain an @."""

    def __init__(self, message: Any) -> None:
        self.message = message

    def __call__(self, form: Any, field: Field) -> None:
        """Check the field's value."""
        if field.data and "@" not in field.data:
            raise ValidationError(self.message)


class IsoDateField(Field):  # type: ignore[misc]
    """A date written as YYYY-MM-DD (what a date input sends): ``data`` is the date, or None
    while it is absent or unusable; ``raw`` is the trimmed text as sent."""

    raw = ""

    def process_formdata(self, valuelist: Sequence[Any]) -> None:
        """Keep the text and the date it names, if it names one."""
        self.raw = stripped(valuelist[0]) if valuelist else ""
        try:
            self.data = dt.date.fromisoformat(self.raw) if self.raw else None
        except ValueError:
            self.data = None

    def _value(self) -> str:
        return self.raw


class RawListField(Field):  # type: ignore[misc]
    """Every value sent under the field's name (a group of checkboxes), as sent."""

    def process_formdata(self, valuelist: Sequence[Any]) -> None:
        """Keep the values in order."""
        self.data = [str(v) for v in valuelist]


class _Date:
    def __init__(self, label: Any, *, required: bool = False) -> None:
        self.label, self.required = label, required

    def __call__(self, form: Any, field: IsoDateField) -> None:
        if not field.raw:
            if self.required:
                raise ValidationError(_l("Enter %(label)s", label=self.label))
            return
        if field.data is None:
            raise ValidationError(_l("%(label)s must be a real date", label=self.label))
        message = self.check(field.data)
        if message is not None:
            field.data = None  # like the old helpers: an unacceptable date is not kept
            raise ValidationError(message)

    def check(self, day: dt.date) -> Any:
        raise NotImplementedError


class PastDate(_Date):
    """A real date, today or earlier, from 1900 on."""

    def check(self, day: dt.date) -> Any:
        """The message for an unacceptable date, or None."""
        if day > dates.today():
            return _l("%(label)s must be today or in the past", label=self.label)
        if day.year < 1900:
            return _l("%(label)s must be after 1900", label=self.label)
        return None



def as_sent(value: Any) -> str:
    """A filter: the value untrimmed (a radio's value is compared as sent), absent as ''."""
    return str(value or "")


def text_field(label: Any, **kwargs: Any) -> StringField:
    """A trimmed text field checked by ``Text(label, **kwargs)``."""
    return StringField(filters=[stripped], validators=[Text(label, **kwargs)])


def choice_field(allowed: Collection[str], message: Any) -> StringField:
    """A radio group's value, one of ``allowed`` or an error with this message."""
    return StringField(filters=[as_sent], validators=[OneOf(set(allowed), message)])
