"""Suggestions of personal data a reviewer may want to redact from a record's text.

Each suggestion is only that: the reviewer sees it and may redact it with one click and a
reason; nothing is ever redacted by a suggestion alone. Detection uses libraries where a
well-kept one exists (Google's libphonenumber port for telephone numbers, email-validator for
addresses, datefinder for dates); UK postcodes follow the pattern the postcode's published
format (BS 7666) gives. Names and references come from what the portal knows, and only from
what the reviewer's own agency holds: another agency's people are never named to it.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import datefinder
import phonenumbers
from email_validator import EmailNotValidError, validate_email
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.reference.models import Holding, Subject

MAX_SUGGESTIONS = 50
MIN_PHONE_DIGITS = 9  # the shortest UK national number (0800 numbers), without the 0


class Kind(enum.StrEnum):
    """What a suggestion may be."""

    PHONE = "phone"
    EMAIL = "email"
    POSTCODE = "postcode"
    DATE_OF_BIRTH = "date-of-birth"
    NAME = "name"
    REFERENCE = "reference"


KIND_LABELS = {
    Kind.PHONE: _l("Telephone number"),
    Kind.EMAIL: _l("Email address"),
    Kind.POSTCODE: _l("Postcode (part of an address)"),
    Kind.DATE_OF_BIRTH: _l("Date of birth"),
    # Translators: a suggestion to redact: the name of someone else the agency holds records on
    Kind.NAME: _l("Name of another person your agency holds records on"),
    # Translators: a suggestion to redact: the agency's reference for someone else
    Kind.REFERENCE: _l("Your agency's reference for another person"),
}


@dataclass(frozen=True, slots=True)
class Suggestion:
    """A span of the record's text that may be personal data, and what it looks like."""

    start: int
    end: int
    text: str
    kind: Kind


# BS 7666: outward code (area, district) and inward code (sector, unit), the space optional.
_POSTCODE = re.compile(
    r"\b(?:GIR ?0AA|[A-PR-UWYZ](?:[0-9][0-9A-HJKPSTUW]?|[A-HK-Y][0-9][0-9ABEHMNPRVWXY]?)"
    r" ?[0-9][ABD-HJLNP-UW-Z]{2})\b", re.IGNORECASE)
# Words an address of any kind is made of: candidates only, each judged by email-validator.
_EMAILISH = re.compile(r"[^\s<>()\[\],;:\"']+@[^\s<>()\[\],;:\"']+")
# What, said just before a date, makes it a date of birth rather than of an event.
_BIRTH_CUE = re.compile(r"(?:\bborn\b|\bd\.?\s?o\.?\s?b\.?|date of birth|\bbirthday\b)"
                        r"[\s:,(]*(?:on\s+)?$", re.IGNORECASE)


def phones(text: str) -> Iterator[Suggestion]:
    """Telephone numbers, read as UK numbers unless written with a country code. Possible
    numbers, not only allocated ones (a number in a record may be old, or Ofcom's drama
    range), but of a full number's length: a year or a house number is not one."""
    for m in phonenumbers.PhoneNumberMatcher(text, "GB",
                                             leniency=phonenumbers.Leniency.POSSIBLE):
        if len(phonenumbers.national_significant_number(m.number)) < MIN_PHONE_DIGITS:
            continue
        yield Suggestion(m.start, m.end, m.raw_string, Kind.PHONE)


def emails(text: str) -> Iterator[Suggestion]:
    """Email addresses that email-validator accepts (syntax only: nothing is looked up)."""
    for m in _EMAILISH.finditer(text):
        candidate = m.group().rstrip(".")
        try:
            validate_email(candidate, check_deliverability=False)
        except EmailNotValidError:
            continue
        yield Suggestion(m.start(), m.start() + len(candidate), candidate, Kind.EMAIL)


def postcodes(text: str) -> Iterator[Suggestion]:
    """UK postcodes."""
    for m in _POSTCODE.finditer(text):
        yield Suggestion(m.start(), m.end(), m.group(), Kind.POSTCODE)


def dates_of_birth(text: str) -> Iterator[Suggestion]:
    """Full dates (day, month and year, read day first) said to be someone's birth."""
    for _value, source, (start, end) in datefinder.find_dates(
            text, source=True, index=True, strict=True, first="day"):
        if _BIRTH_CUE.search(text[max(0, start - 30):start]):
            yield Suggestion(start, end, source, Kind.DATE_OF_BIRTH)


def _words(text: str, needle: str, kind: Kind) -> Iterator[Suggestion]:
    pattern = r"(?<!\w)" + r"\s+".join(re.escape(w) for w in needle.split()) + r"(?!\w)"
    for m in re.finditer(pattern, text, flags=re.IGNORECASE):
        yield Suggestion(m.start(), m.end(), m.group(), kind)


def known_people(session: Session, *, agency_id: int, subject_id: object) -> tuple[
        list[str], list[str]]:
    """The names of the other people this agency holds records on, and its references for
    them (never another agency's)."""
    rows = session.execute(
        select(Subject.given_name, Subject.family_name, Holding.agency_ref)
        .join(Holding, Holding.subject_id == Subject.id)
        .where(Holding.agency_id == agency_id, Subject.id != subject_id)).all()
    names = {f"{given} {family}".strip() for given, family, _ref in rows}
    refs = {ref for _g, _f, ref in rows if ref}
    return sorted(n for n in names if len(n) >= 4), sorted(r for r in refs if len(r) >= 3)


def suggest(text: str, *, names: Iterable[str] = (), references: Iterable[str] = (),
            already: Sequence[str] = ()) -> list[Suggestion]:
    """Every suggestion in the text, in reading order, without overlaps, and none for text
    already redacted."""
    found: list[Suggestion] = [*phones(text), *emails(text), *postcodes(text),
                               *dates_of_birth(text)]
    for name in names:
        found += _words(text, name, Kind.NAME)
    for ref in references:
        found += _words(text, ref, Kind.REFERENCE)
    done = [a.casefold() for a in already if a.strip()]
    out: list[Suggestion] = []
    # Longer spans first where two start together, so a name beats a part of it.
    for s in sorted(found, key=lambda s: (s.start, -(s.end - s.start))):
        if out and s.start < out[-1].end:
            continue
        if any(s.text.casefold() in d for d in done):
            continue
        out.append(s)
    return out[:MAX_SUGGESTIONS]
