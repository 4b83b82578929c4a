"""Parsing and validating the check API's JSON into plain values."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

from portal.errors import Invalid

SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
MAX_BATCH = 1000
MAX_CATEGORIES = 50


@dataclass(frozen=True, slots=True)
class SubjectRef:
    """How the caller names the person: its own reference, or the portal's subject id."""

    agency_ref: str | None = None
    subject_id: uuid.UUID | None = None


@dataclass(frozen=True, slots=True)
class Question:
    """May the caller share these categories about this person with that agency for this?"""

    subject: SubjectRef
    recipient: str
    purpose: str
    categories: tuple[str, ...]


def _is_slug(value: Any) -> bool:
    return isinstance(value, str) and SLUG.match(value) is not None


def _slug(value: Any, field: str) -> str:
    if not _is_slug(value):
        raise Invalid(f"{field} must be a slug (lower-case letters, digits and hyphens)",
                      field=field)
    return str(value)


_QUESTION_KEYS = ("subject", "recipient", "purpose", "categories")
_FIELDS = frozenset(_QUESTION_KEYS)


def parse_subject(value: Any, field: str) -> SubjectRef:
    """Parse ``{"agency_ref": ...}`` or ``{"subject_id": ...}``."""
    if not isinstance(value, dict):
        raise Invalid(f"{field} must be an object with agency_ref or subject_id", field=field)
    if len(value) == 1 and "agency_ref" in value:
        ref = value["agency_ref"]
        if not isinstance(ref, str) or not ref.strip() or len(ref) > 100:
            raise Invalid(f"{field}.agency_ref must be a non-empty string of at most 100 "
                          "characters", field=f"{field}.agency_ref")
        return SubjectRef(agency_ref=ref)
    if len(value) == 1 and "subject_id" in value:
        try:
            return SubjectRef(subject_id=uuid.UUID(str(value["subject_id"])))
        except ValueError as exc:
            raise Invalid(f"{field}.subject_id must be a UUID",
                          field=f"{field}.subject_id") from exc
    raise Invalid(f"{field} must have exactly one of agency_ref or subject_id", field=field)


def parse_question(body: Any, prefix: str = "") -> Question:
    """Validate one check question's shape (slugs are resolved later)."""
    if not isinstance(body, dict):
        raise Invalid(f"{prefix or 'body'} must be a JSON object", field=prefix or None)
    # A batch parses a thousand of these: field names for errors are only built for errors.
    if body.keys() != _FIELDS:
        for key in _QUESTION_KEYS:
            if key not in body:
                raise Invalid(f"{prefix}{key} is required", field=prefix + key)
        extra = sorted(set(body) - _FIELDS)
        raise Invalid(f"{prefix}{extra[0]} is not a known field", field=prefix + extra[0])
    cats = body["categories"]
    if not isinstance(cats, list) or not cats or len(cats) > MAX_CATEGORIES:
        raise Invalid(f"{prefix}categories must be a list of 1 to {MAX_CATEGORIES} slugs",
                      field=prefix + "categories")
    for i, c in enumerate(cats):
        if not _is_slug(c):
            _slug(c, f"{prefix}categories[{i}]")
    recipient, purpose = body["recipient"], body["purpose"]
    return Question(
        subject=parse_subject(body["subject"], prefix + "subject"),
        recipient=recipient if _is_slug(recipient) else _slug(recipient, prefix + "recipient"),
        purpose=purpose if _is_slug(purpose) else _slug(purpose, prefix + "purpose"),
        categories=tuple(dict.fromkeys(cats)),
    )


def parse_batch(body: Any) -> list[Question]:
    """Validate a batch: ``{"questions": [...]}`` with 1 to 1,000 questions."""
    if not isinstance(body, dict) or set(body) != {"questions"}:
        raise Invalid("body must be an object with one field, questions", field="questions")
    questions = body["questions"]
    if not isinstance(questions, list) or not 1 <= len(questions) <= MAX_BATCH:
        raise Invalid(f"questions must be a list of 1 to {MAX_BATCH} questions",
                      field="questions")
    return [parse_question(q, f"questions[{i}].") for i, q in enumerate(questions)]
