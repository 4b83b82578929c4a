"""The check API's JSON as pydantic models (what the API takes and answers, and what the
OpenAPI document says of it), parsed into plain values."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Annotated, Any, NotRequired

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    RootModel,
    Tag,
    TypeAdapter,
    ValidationError,
)
from pydantic_core import ErrorDetails
from typing_extensions import TypedDict

from consent.engine import Reason
from portal.errors import Invalid
from portal.openapi import NOT_BLANK, STRICT, first_invalid
from portal.reference.models import LawfulBasis
from portal.reference.schemas import AgencySlug, CategorySlug, PurposeSlug, SubjectId

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


class ByReference(BaseModel):
    """The caller's own reference for the person."""

    model_config = STRICT

    agency_ref: Annotated[str, Field(min_length=1, max_length=100, pattern=NOT_BLANK)]


class ById(BaseModel):
    """The portal's id for the person."""

    model_config = STRICT

    subject_id: SubjectId


def _subject_kind(value: Any) -> str | None:
    # Exactly one of the two names; anything else is neither.
    if isinstance(value, dict) and len(value) == 1:
        if "agency_ref" in value:
            return "agency_ref"
        if "subject_id" in value:
            return "subject_id"
    return None


class Subject(RootModel[Annotated[Annotated[ByReference, Tag("agency_ref")]
                                  | Annotated[ById, Tag("subject_id")],
                                  Discriminator(_subject_kind)]]):
    """The caller's own reference for the person, or the portal's id."""

    model_config = ConfigDict(title="SubjectRef", strict=True)


class CheckRequest(BaseModel):
    """One check: may the caller share these categories about this person, now?"""

    model_config = STRICT

    subject: Subject
    recipient: Annotated[AgencySlug, Field(description="The receiving agency's slug")]
    purpose: PurposeSlug
    categories: Annotated[list[CategorySlug], Field(min_length=1, max_length=MAX_CATEGORIES)]


class BatchRequest(BaseModel):
    """Up to 1,000 checks in one call."""

    model_config = STRICT

    questions: Annotated[list[CheckRequest], Field(min_length=1, max_length=MAX_BATCH)]


class CategoryDecision(TypedDict):
    """The decision for one category."""

    decision: Annotated[str, Field(json_schema_extra={"enum": ["permit", "deny"]})]
    basis: NotRequired[LawfulBasis]
    reason: NotRequired[Reason]
    consent_id: NotRequired[uuid.UUID]
    notice_version: NotRequired[int]
    statutory_gateway: NotRequired[str]


class CheckResponse(TypedDict):
    """The decision, already logged."""

    decision: Annotated[str, Field(description="permit only if every category is permitted",
                                   json_schema_extra={"enum": ["permit", "deny"]})]
    decision_id: Annotated[uuid.UUID, Field(description="The logged record of this check")]
    basis: Annotated[LawfulBasis | None, Field(
        description="The lawful basis every category was permitted on; null when denied or "
                    "when bases differ")]
    categories: dict[str, CategoryDecision]
    reason: Annotated[Reason | None, Field(description="The first deny reason, for logs")]
    evaluated_at: dt.datetime
    valid_until: Annotated[dt.datetime, Field(
        description="Never rely on a permit past this time")]


class BatchResponse(TypedDict):
    """One answer per question, in order."""

    results: list[CheckResponse]


_QUESTION = TypeAdapter(CheckRequest)
_BATCH = TypeAdapter(BatchRequest)
_QUESTION_KEYS = ("subject", "recipient", "purpose", "categories")
# After the keys, the fields are checked in this order.
_FIELD_ORDER = {"categories": 0, "subject": 2, "recipient": 3, "purpose": 4}


def _question_rank(loc: tuple[int | str, ...], kind: str) -> tuple[Any, ...]:
    if not loc:
        return (0,)
    key = str(loc[0])
    if kind == "missing" and len(loc) == 1:
        return (1, _QUESTION_KEYS.index(key))
    if kind == "extra_forbidden" and len(loc) == 1:
        return (2, key)
    order = _FIELD_ORDER[key]
    if key == "categories" and len(loc) > 1:  # an item, after the list itself
        return (3, order + 1, loc[1])
    return (3, order)


def _question_invalid(loc: tuple[int | str, ...], error: ErrorDetails, prefix: str
                      ) -> Invalid:
    if not loc:
        return Invalid(f"{prefix or 'body'} must be a JSON object", field=prefix or None)
    key, kind = str(loc[0]), error["type"]
    if kind == "missing" and len(loc) == 1:
        return Invalid(f"{prefix}{key} is required", field=prefix + key)
    if kind == "extra_forbidden" and len(loc) == 1:
        return Invalid(f"{prefix}{key} is not a known field", field=prefix + key)
    if key == "categories" and len(loc) == 1:
        return Invalid(f"{prefix}categories must be a list of 1 to {MAX_CATEGORIES} slugs",
                       field=prefix + "categories")
    if key == "subject":
        field = prefix + "subject"
        if len(loc) == 1:
            if isinstance(error["input"], dict):
                return Invalid(f"{field} must have exactly one of agency_ref or subject_id",
                               field=field)
            return Invalid(f"{field} must be an object with agency_ref or subject_id",
                           field=field)
        if loc[1] == "agency_ref":
            return Invalid(f"{field}.agency_ref must be a non-empty string of at most 100 "
                           "characters", field=f"{field}.agency_ref")
        return Invalid(f"{field}.subject_id must be a UUID", field=f"{field}.subject_id")
    field = prefix + (f"categories[{loc[1]}]" if key == "categories" else key)
    return Invalid(f"{field} must be a slug (lower-case letters, digits and hyphens)",
                   field=field)


def _question(body: CheckRequest) -> Question:
    subject = body.subject.root
    return Question(
        subject=(SubjectRef(agency_ref=subject.agency_ref) if isinstance(subject, ByReference)
                 else SubjectRef(subject_id=subject.subject_id)),
        recipient=body.recipient, purpose=body.purpose,
        categories=tuple(dict.fromkeys(body.categories)))


def parse_question(body: Any) -> Question:
    """Validate one check question's shape (slugs are resolved later)."""
    try:
        return _question(_QUESTION.validate_python(body))
    except ValidationError as exc:
        raise first_invalid(
            exc, lambda e: _question_rank(e["loc"], e["type"]),
            lambda e: _question_invalid(e["loc"], e, "")) from None


def _batch_rank(error: ErrorDetails) -> tuple[Any, ...]:
    loc, kind = error["loc"], error["type"]
    if len(loc) < 2:
        # The body's own shape, then the list's.
        return (1,) if loc == ("questions",) and kind != "missing" else (0,)
    return (2, loc[1], _question_rank(loc[2:], kind))


def _batch_invalid(error: ErrorDetails) -> Invalid:
    loc = error["loc"]
    if len(loc) < 2:
        if _batch_rank(error) == (1,):
            return Invalid(f"questions must be a list of 1 to {MAX_BATCH} questions",
                           field="questions")
        return Invalid("body must be an object with one field, questions", field="questions")
    return _question_invalid(loc[2:], error, f"questions[{loc[1]}].")


def parse_batch(body: Any) -> list[Question]:
    """Validate a batch: ``{"questions": [...]}`` with 1 to 1,000 questions."""
    try:
        batch = _BATCH.validate_python(body)
    except ValidationError as exc:
        raise first_invalid(exc, _batch_rank, _batch_invalid) from None
    return [_question(q) for q in batch.questions]
