"""The holdings API's bodies as pydantic models: what they validate, and what the OpenAPI
document says of them; and the reference data's slugs, as every area's requests name them."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    Discriminator,
    Field,
    PlainValidator,
    Tag,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
)
from pydantic_core import ErrorDetails, PydanticCustomError
from typing_extensions import TypedDict

from portal import dates
from portal.errors import Invalid
from portal.openapi import (
    EARLIEST,
    NOT_BLANK,
    STRICT,
    TEXT,
    first_invalid,
    in_register,
    past_date,
)
from portal.reference import operations

# The one definition of what a slug of the reference data looks like.
SLUG_PATTERN = r"^[a-z0-9][a-z0-9-]{0,63}$"
SLUG = re.compile(SLUG_PATTERN)


def _slug(register: str, description: str) -> Any:
    return Field(pattern=SLUG_PATTERN, description=description,
                 json_schema_extra=in_register(register))


AgencySlug = Annotated[str, _slug("agencies", "An agency's slug")]
PurposeSlug = Annotated[str, _slug("purposes", "A purpose's slug")]
CategorySlug = Annotated[str, _slug("categories", "A data category's slug")]
# A category as a holding names it: any string here, resolved (or refused) by the operation.
CategoryName = Annotated[str, Field(description="A data category's slug", json_schema_extra={
    "pattern": SLUG_PATTERN, **in_register("categories")})]
UUID_SCHEMA = WithJsonSchema({"type": "string", "format": "uuid"})


def _uuid(value: Any) -> uuid.UUID:
    # Whatever uuid.UUID reads from the value's text, as the API always took.
    return uuid.UUID(str(value))


# A subject id as the API reads it: the text of a UUID (braces, urn:uuid: and all).
SubjectId = Annotated[uuid.UUID, PlainValidator(_uuid), UUID_SCHEMA]


def _date(value: Any) -> dt.date:
    if not isinstance(value, str):
        raise PydanticCustomError("date", "not a date")
    try:
        day = dt.date.fromisoformat(value)
    except ValueError as exc:
        raise PydanticCustomError("date", "not a date") from exc
    if day > dates.today():
        raise PydanticCustomError("future", "in the future")
    if day < EARLIEST:
        raise PydanticCustomError("early", "too early")
    return day


def _required(value: str) -> str:
    if not value.strip():
        raise PydanticCustomError("blank", "only white space")
    return value.strip()


def _stripped(value: str) -> str:
    return value.strip()


def _language(value: str, info: ValidationInfo) -> str:
    # The languages this instance serves (the composition root's configuration).
    language = value or "en"
    if language not in (info.context or {}).get("languages", ()):
        raise PydanticCustomError("language", "not a supported language")
    return language


# Each text of an identity: its limit, and whether it must say something.
TEXT_LIMITS = {"given_name": (200, True), "family_name": (200, True), "email": (320, False),
               "phone": (40, False), "postal_address": (1000, False),
               "safe_contact": (2000, False), "preferred_language": (8, False)}
Name = Annotated[str, Field(min_length=1, max_length=200,
                            json_schema_extra={"pattern": NOT_BLANK}), AfterValidator(_required)]
PastDate = Annotated[dt.date, PlainValidator(_date)]


def _text(limit: int) -> Any:
    return Field(max_length=limit, json_schema_extra={"pattern": TEXT})


class NewSubject(BaseModel):
    """Identity to register a new subject with."""

    model_config = STRICT

    given_name: Name
    family_name: Name
    date_of_birth: Annotated[PastDate | None, WithJsonSchema(
        {**past_date("The date of birth, or null"), "type": ["string", "null"]})] = None
    email: Annotated[str, _text(320), AfterValidator(_stripped)] = ""
    phone: Annotated[str, _text(40), AfterValidator(_stripped)] = ""
    postal_address: Annotated[str, _text(1000), AfterValidator(_stripped)] = ""
    safe_contact: Annotated[str, _text(2000), AfterValidator(_stripped)] = ""
    # Left out, it is English, if this instance serves English.
    preferred_language: Annotated[str, Field(max_length=8, validate_default=True,
                                             json_schema_extra=in_register("languages")),
                                  AfterValidator(_stripped), AfterValidator(_language)] = ""


class ExistingSubject(BaseModel):
    """An existing subject, by the portal's id."""

    model_config = STRICT

    subject_id: SubjectId


def _subject_kind(value: Any) -> str | None:
    if not isinstance(value, dict):
        return None
    return "id" if "subject_id" in value else "new"


class HoldingRequest(BaseModel):
    """What the calling agency holds about a subject under its own reference."""

    model_config = STRICT

    subject: Annotated[
        Annotated[Annotated[ExistingSubject, Tag("id")] | Annotated[NewSubject, Tag("new")],
                  Discriminator(_subject_kind)] | None,
        Field(description="Required for a new reference: an existing subject's id, or "
                          "identity to register a new subject; left out (or null) to update "
                          "the holding under the reference (404 if there is none)"),
    ] = None
    categories: Annotated[list[CategoryName], Field(min_length=1)]
    since: Annotated[PastDate, WithJsonSchema(past_date("Held since"))]


class Holding(TypedDict):
    """A holding as the API answers it."""

    agency_ref: str
    subject_id: uuid.UUID
    categories: list[str]
    since: dt.date
    updated_at: dt.datetime


_HOLDING = TypeAdapter(HoldingRequest)
# The order the checks are made in: the first failing one is the answer.
_IDENTITY_ORDER = ("preferred_language", "given_name", "family_name", "date_of_birth",
                   "email", "phone", "postal_address", "safe_contact")
_DATE_DETAIL = {"date": "{} must be a date (YYYY-MM-DD)", "future": "{} cannot be in the future",
                "early": "{} cannot be before " + EARLIEST.isoformat()}


def date_detail(error: ErrorDetails, field: str) -> str:
    """What the API says of a date that is not one, is in the future or is before 1900."""
    return _DATE_DETAIL.get(error["type"], _DATE_DETAIL["date"]).format(field)


def _holding_rank(error: ErrorDetails) -> tuple[Any, ...]:
    loc, kind = error["loc"], error["type"]
    if not loc:
        return (0,)
    if kind == "extra_forbidden" and len(loc) == 1:
        return (1, loc[0])
    top = {"categories": 2, "since": 3}.get(str(loc[0]))
    if top is not None:
        return (top,)
    # The subject: its shape, then an id's, then identity's extra fields and each field.
    if len(loc) == 1:
        return (4, 0)
    if loc[1] == "id":
        return (4, 1, 0 if kind == "extra_forbidden" else 1)
    if kind == "extra_forbidden":
        return (4, 1, 0, loc[2])
    return (4, 1, 1, _IDENTITY_ORDER.index(str(loc[2])))


def _holding_invalid(error: ErrorDetails) -> Invalid:
    loc, kind = error["loc"], error["type"]
    if not loc:
        return Invalid("body must be a JSON object", field=None)
    key = str(loc[0])
    if kind == "extra_forbidden" and len(loc) == 1:
        return Invalid(f"{key} is not a known field", field=key)
    if key == "categories":
        return Invalid("categories must be a non-empty list of category slugs",
                       field="categories")
    if key == "since":
        return Invalid(date_detail(error, "since"), field="since")
    if len(loc) == 1:
        return Invalid("subject must be an object", field="subject")
    if loc[1] == "id":
        if kind == "extra_forbidden":
            return Invalid("subject.subject_id cannot be combined with identity fields",
                           field="subject")
        return Invalid("subject.subject_id must be a UUID", field="subject.subject_id")
    name = str(loc[2])
    field = f"subject.{name}"
    if kind == "extra_forbidden":
        return Invalid(f"{field} is not a known field", field=field)
    if name == "date_of_birth":
        return Invalid(date_detail(error, field), field=field)
    if kind == "language":
        return Invalid("subject.preferred_language is not a supported language", field=field)
    limit, required = TEXT_LIMITS[name]
    return Invalid(f"{field} must be {'a non-empty' if required else 'a'} string of at most "
                   f"{limit} characters", field=field)


def parse_holding(body: Any, languages: tuple[str, ...]) -> dict[str, Any]:
    """Validate a holding's body into the keyword arguments of ``operations.put_holding``."""
    try:
        holding = _HOLDING.validate_python(body, context={"languages": languages})
    except ValidationError as exc:
        raise first_invalid(exc, _holding_rank, _holding_invalid) from None
    out: dict[str, Any] = {"categories": holding.categories, "since": holding.since}
    subject = holding.subject
    if isinstance(subject, ExistingSubject):
        out["subject_id"] = subject.subject_id
    elif isinstance(subject, NewSubject):
        out["new_subject"] = operations.NewSubject(
            given_name=subject.given_name, family_name=subject.family_name,
            date_of_birth=subject.date_of_birth, email=subject.email, phone=subject.phone,
            postal_address=subject.postal_address, safe_contact=subject.safe_contact,
            preferred_language=subject.preferred_language)
    return out
