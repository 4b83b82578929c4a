"""The SAR API's bodies as pydantic models: the records an agency supplies (what the API
validates, and what the OpenAPI document says of them) and the tasks it answers with."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import uuid
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    TypeAdapter,
    ValidationError,
    WithJsonSchema,
)
from pydantic_core import ErrorDetails, PydanticCustomError
from typing_extensions import TypedDict

from portal.errors import Invalid
from portal.openapi import NOT_BLANK, STRICT, TEXT, first_invalid
from sar import operations as ops

MAX_RECORDS = 5000
# Standard base64 (RFC 4648 section 4), padded, as the API decodes it.
BASE64 = r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$"
# Each kind of file the API takes: the media types that declare it, and the format naming
# what its content must be (the bytes of a readable file of that kind, base64-encoded).
FILE_KINDS = (
    (["application/pdf"], "pdf"),
    (["image/png"], "png"),
    (["image/jpeg", "image/jpg", "image/pjpeg"], "jpeg"),
    (["text/plain", "text/plain; charset=utf-8"], "text"),
)
KIND_NAMES = {"pdf": "PDF", "png": "PNG", "jpeg": "JPEG", "text": "UTF-8 text"}


def _content(value: Any) -> bytes:
    if not isinstance(value, str):
        raise PydanticCustomError("string_type", "not a string")
    try:
        content = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise PydanticCustomError("base64", "not base64") from exc
    if len(content) > ops.MAX_RECORD_FILE_BYTES:
        raise PydanticCustomError("too_large", "over 10 MB")
    return content


def _each_kind(schema: dict[str, Any]) -> None:
    # The API judges a file by its content, so the document names each kind it takes.
    properties = schema["properties"]
    kinds = [{**schema, "properties": {
        **properties, "media_type": {**properties["media_type"], "enum": media},
        "content_base64": {
            **properties["content_base64"], "format": f"{kind}-base64",
            "description": f"A readable {KIND_NAMES[kind]} file's bytes in padded base64, at "
                           "most 10 MB once decoded"}}} for media, kind in FILE_KINDS]
    for each in kinds:
        each.pop("description", None)
        each.pop("title", None)
    schema.clear()
    schema.update({
        "description": "Judged by its content: a PDF (not encrypted, at most 100 pages), a "
                       "PNG or JPEG image, or plain UTF-8 text, each at most 10 MB. Anything "
                       "else (a program, HTML, an archive), or content that is not the "
                       "declared media_type, is refused with 422 naming the field. Nothing is "
                       "released until a reviewer has seen it.",
        "oneOf": kinds})


class SarFile(BaseModel):
    """An original file of a record."""

    model_config = ConfigDict(**STRICT, json_schema_extra=_each_kind)

    filename: Annotated[str, Field(
        description="Shown to reviewers; the delivered name has no path and takes its "
                    "extension from the content", json_schema_extra={"pattern": TEXT})]
    media_type: str
    content_base64: Annotated[bytes, PlainValidator(_content), WithJsonSchema(
        {"type": "string", "contentEncoding": "base64", "pattern": BASE64, "minLength": 4})]


def _not_blank(value: str) -> str:
    if not value.strip():
        raise PydanticCustomError("blank", "only white space")
    return value


def _date(value: Any) -> dt.date:
    # Whatever date.fromisoformat reads from the value's text, as the API always took.
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError as exc:
        raise PydanticCustomError("date", "not a date") from exc


RECORD_ID = (
    "The agency's own id for the record, unique within the task; required. Sending the same "
    "id again with the same content (kind, title, text, date, regime and files) changes "
    "nothing and is answered `unchanged`. With changed content the record is replaced by a "
    "new version (`replaced`): earlier versions are kept for the agency's reviewers, never "
    "released. A replacement is refused with 409 `/api/v1/problems/record-under-review` "
    "once a reviewer has redacted or withheld the record or decided on or redacted one of "
    "its files, and with 409 `/api/v1/problems/bundle-approved` once a bundle of the request "
    "is approved. One id twice in a body is 422. Records not sent are left as they are.")
REGIME = (
    "The part of the Data Protection Act 2018 the record was processed under, which decides "
    "the exemptions a reviewer may rely on: `part2` (UK GDPR: Schedules 2 to 4) or `part3` "
    "(law-enforcement processing by a competent authority: s45(4)). Left out or null, the "
    "agency's: `part3` for a competent authority, `part2` otherwise. Only a competent "
    "authority may send `part3` (otherwise 422).")
# Each text of a record: its limit, and whether it must say something.
TEXT_LIMITS = {"id": (100, True), "kind": (64, True), "title": (300, True),
               "text": (200_000, False)}


class SarRecord(BaseModel):
    """One of the agency's records."""

    model_config = STRICT

    id: Annotated[str, Field(min_length=1, max_length=100, description=RECORD_ID,
                             json_schema_extra={"pattern": NOT_BLANK}),
                  AfterValidator(_not_blank)]
    kind: Annotated[str, Field(min_length=1, max_length=64,
                               json_schema_extra={"pattern": NOT_BLANK}),
                    AfterValidator(_not_blank)]
    title: Annotated[str, Field(min_length=1, max_length=300,
                                json_schema_extra={"pattern": NOT_BLANK}),
                     AfterValidator(_not_blank)]
    text: Annotated[str, Field(max_length=200_000, description="Plain text; any HTML is "
                               "shown as text, never run", json_schema_extra={"pattern": TEXT})
                    ] = ""
    date: Annotated[Annotated[dt.date, PlainValidator(_date)] | None, WithJsonSchema(
        {"type": ["string", "null"], "format": "date"})] = None
    files: list[SarFile] = []
    regime: Annotated[Literal["part2", "part3"] | None, Field(description=REGIME)] = None


class SarRecords(BaseModel):
    """The records an agency supplies for a task."""

    model_config = STRICT

    records: Annotated[list[SarRecord], Field(min_length=1, max_length=MAX_RECORDS)]


Scope = TypedDict("Scope", {"everything": bool, "from": dt.date | None, "to": dt.date | None,
                            "description": str}, total=False)


class SarTask(TypedDict):
    """A SAR task as the API answers it."""

    id: uuid.UUID
    status: Literal["open", "supplied", "nothing"]
    due_on: Annotated[dt.date, Field(description="The internal due date")]
    request_reference: str
    subject_id: uuid.UUID | None
    agency_refs: Annotated[list[str], Field(
        description="The agency's own references for the person")]
    scope: Scope
    records_supplied: Annotated[int, Field(
        description="How many records the task holds (current versions only)")]


class SarRecordOutcome(TypedDict):
    """What supplying did with one record sent."""

    id: Annotated[str, Field(description="The agency's id for the record")]
    outcome: Annotated[Literal["created", "replaced", "unchanged"], Field(
        description="`created`: a new record; `replaced`: a new version of a changed record; "
                    "`unchanged`: the same content again, nothing written")]
    version: Annotated[int, Field(ge=1, description="The record's current version")]


class SarSupplied(SarTask):
    """A task after records were supplied, with what became of each record sent."""

    results: Annotated[list[SarRecordOutcome], Field(
        description="One per record sent, in the order sent")]


_RECORDS = TypeAdapter(SarRecords)
_RECORD_ORDER = {"date": 2, "files": 3, "id": 5, "kind": 6, "title": 7, "text": 8,
                 "regime": 9}
_FILE_ORDER = {"base64": 1, "too_large": 2}


def _rank(error: ErrorDetails) -> tuple[Any, ...]:
    loc, kind = error["loc"], error["type"]
    if len(loc) < 2:
        # The body's own shape, then the list's.
        return (1,) if loc == ("records",) else (0,)
    i, rest = loc[1], loc[2:]
    if not rest:
        return (2, i, 0)
    if kind == "extra_forbidden" and len(rest) == 1:
        return (2, i, 1, rest[0])
    if rest[0] == "files" and len(rest) > 1:
        return (2, i, 4, rest[1], _FILE_ORDER.get(kind, 0))
    return (2, i, _RECORD_ORDER[str(rest[0])])


def _invalid(error: ErrorDetails) -> Invalid:
    loc, kind = error["loc"], error["type"]
    if len(loc) < 2:
        if loc == ("records",):
            return Invalid(f"records must be a list of 1 to {MAX_RECORDS} records",
                           field="records")
        return Invalid("body must be an object with a 'records' list", field="records")
    record, rest = f"records[{loc[1]}]", loc[2:]
    if not rest:
        return Invalid(f"{record} must be an object", field=record)
    field = f"{record}.{rest[0]}"
    if kind == "extra_forbidden" and len(rest) == 1:
        return Invalid(f"{field} is not a known field", field=field)
    if rest[0] == "date":
        return Invalid(f"{field} must be a date (YYYY-MM-DD)", field=field)
    if rest[0] == "regime":
        return Invalid(f"{field} must be part2, part3 or null", field=field)
    if rest[0] == "files":
        if len(rest) == 1:
            return Invalid(f"{field} must be a list", field=field)
        where = f"{field}[{rest[1]}]"
        if kind == "base64":
            return Invalid(f"{where}.content_base64 is not base64",
                           field=f"{where}.content_base64")
        if kind == "too_large":
            return Invalid(f"{where} is over 10 MB", field=where)
        return Invalid(f"{where} must have filename, media_type and content_base64",
                       field=where)
    limit, required = TEXT_LIMITS[str(rest[0])]
    return Invalid(f"{field} must be {'a non-empty' if required else 'a'} string of at most "
                   f"{limit} characters", field=field)


def parse_records(body: Any) -> list[ops.NewRecord]:
    """Validate the JSON records (and base64 files) an agency sends."""
    try:
        records = _RECORDS.validate_python(body).records
    except ValidationError as exc:
        raise first_invalid(exc, _rank, _invalid) from None
    return [ops.NewRecord(
        external_id=r.id, kind=r.kind, title=r.title, text=r.text, occurred_on=r.date,
        files=tuple((f.filename[:200], f.media_type[:100], f.content_base64)
                    for f in r.files), regime=r.regime) for r in records]
