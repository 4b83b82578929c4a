"""Parsing and checking the staff forms: each returns clean values and a list of errors.

Errors are GOV.UK error-summary items (``{"text": ..., "href": "#field"}``), so a page can
show them in its summary and beside each field.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Any

from flask_babel import lazy_gettext as _l

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
