"""The OpenAPI 3.1 description of the machine API (served at /api/v1/openapi.json).

Each area describes its own routes (``PATHS``) and generates its ``SCHEMAS`` from the pydantic
models that validate its bodies (``components``). What depends on the partnership or the day
is marked in a model's JSON schema with ``x-reference`` and filled in when the document is
served: ``agencies``, ``purposes``, ``categories`` and ``languages`` become the enum of the
slugs in use, ``past-date`` the pattern of the dates from 1900 up to today.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, NotRequired

from pydantic import ConfigDict, Field, TypeAdapter, ValidationError
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaMode
from pydantic_core import ErrorDetails, core_schema
from typing_extensions import TypedDict

from portal import dates
from portal.errors import Invalid

# Text that must say something: at least one character that is not white space, as Python's
# str.strip() (which the API uses) counts it; ECMA's \S differs, so the class is spelt out.
# Text never holds NUL (PostgreSQL cannot store it; the API refuses it).
TEXT = r"^[^\x00]*$"
NOT_BLANK = (r"^[^\x00]*[^\x00\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028"
             r"\u2029\u202f\u205f\u3000][^\x00]*$")
EARLIEST = dt.date(1900, 1, 1)
REF_TEMPLATE = "#/components/schemas/{model}"
# The marker an area's schema carries for what the served document fills in.
MARK = "x-reference"
# Python's re, as the hand-written checks used: a pattern means the same to the API as it
# did (``$`` also before a final newline).
STRICT = ConfigDict(extra="forbid", strict=True, regex_engine="python-re")


@dataclass(frozen=True, slots=True)
class Reference:
    """The partnership's reference data the document names: every slug a request may use."""

    agencies: tuple[str, ...] = ()
    purposes: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    languages: tuple[str, ...] = ("en", "cy", "pl")
    today: dt.date = field(default_factory=dates.today)


def date_until(today: dt.date) -> str:
    """A pattern for the dates from 1 January 1900 to ``today`` (YYYY-MM-DD)."""
    month, day = "(?:0[1-9]|1[0-2])", "(?:0[1-9]|[12][0-9]|3[01])"
    years = "|".join(str(y) for y in range(EARLIEST.year, today.year))
    parts = [f"(?:{years})-{month}-{day}"] if years else []
    if today.month > 1:
        months = "|".join(f"{m:02d}" for m in range(1, today.month))
        parts.append(f"{today.year}-(?:{months})-{day}")
    days = "|".join(f"{d:02d}" for d in range(1, today.day + 1))
    parts.append(f"{today.year}-{today.month:02d}-(?:{days})")
    return "^(?:" + "|".join(parts) + ")$"


def past_date(description: str) -> dict[str, Any]:
    """The JSON schema of a date from 1900 up to today, never in the future."""
    return {"type": "string", "format": "date", MARK: "past-date",
            "description": f"{description}: a date from {EARLIEST.isoformat()} to today"}


def in_register(register: str) -> dict[str, Any]:
    """Mark a string as one of the partnership's slugs in ``register`` (or its languages)."""
    return {MARK: register}


class Problem(TypedDict):
    """RFC 9457 problem details. Check endpoints add decision=deny."""

    type: str
    title: str
    status: int
    detail: str
    field: NotRequired[Annotated[str, Field(description="The request field at fault")]]
    decision: NotRequired[Literal["deny"]]


class _Generator(GenerateJsonSchema):
    # A property's name says what a generated title would; the document stays terse.
    def field_title_should_be_set(self, schema: Any) -> bool:
        return False

    def default_schema(self, schema: core_schema.WithDefaultSchema) -> dict[str, Any]:
        # What a field left out means is in its description, not in a default to copy.
        return self.generate_inner(schema["schema"])

    def nullable_schema(self, schema: core_schema.NullableSchema) -> dict[str, Any]:
        # One of several shapes, or null: one list, as the document has always said it.
        out = super().nullable_schema(schema)
        choices = out.get("anyOf", [])
        if len(choices) == 2 and choices[1] == {"type": "null"} and set(choices[0]) == {"oneOf"}:
            del out["anyOf"]
            out["oneOf"] = [*choices[0]["oneOf"], {"type": "null"}]
        return out

    def literal_schema(self, schema: core_schema.LiteralSchema) -> dict[str, Any]:
        # An enum, as the document has always spelt one, even of a single value.
        out = super().literal_schema(schema)
        if "const" in out:
            out["enum"] = [out.pop("const")]
        return out


def components(*types: Any, inline: Collection[str] = ()) -> dict[str, Any]:
    """The component schemas of these models (and of every model they use), each named by
    its title; those named in ``inline`` are written where they are used instead."""
    adapters: list[tuple[int, JsonSchemaMode, TypeAdapter[Any]]] = [
        (i, "validation", TypeAdapter(t)) for i, t in enumerate(types)]
    _, top = TypeAdapter.json_schemas(adapters, ref_template=REF_TEMPLATE,
                                      schema_generator=_Generator)
    defs: dict[str, Any] = top.get("$defs", {})
    names = {key: schema.get("title", key) for key, schema in defs.items()}
    named = {names[key]: schema for key, schema in defs.items()}
    refs = {REF_TEMPLATE.format(model=key): names[key] for key in defs}

    def resolve(value: Any) -> Any:
        if isinstance(value, dict):
            target = refs.get(value.get("$ref", ""))
            if target is not None and target in inline:
                return resolve(named[target])
            if target is not None:
                return {**value, "$ref": REF_TEMPLATE.format(model=target)}
            return {key: resolve(item) for key, item in value.items()}
        if isinstance(value, list):
            return [resolve(item) for item in value]
        return value

    return {name: resolve(schema) for name, schema in named.items() if name not in inline}


def first_invalid(exc: ValidationError, rank: Callable[[ErrorDetails], Any],
                  invalid: Callable[[ErrorDetails], Invalid]) -> Invalid:
    """The error a body is refused with: of all pydantic found, the one the API's checks
    meet first (``rank``), said as the API says it (``invalid``)."""
    return invalid(min(exc.errors(include_url=False, include_context=False), key=rank))


def _filled(value: Any, ref: Reference) -> Any:
    """A copy of ``value`` with every ``x-reference`` mark replaced by what it stands for."""
    if isinstance(value, list):
        return [_filled(item, ref) for item in value]
    if not isinstance(value, dict):
        return value
    out = {key: _filled(item, ref) for key, item in value.items() if key != MARK}
    mark = value.get(MARK)
    if mark == "past-date":
        out["pattern"] = date_until(ref.today)
    elif mark is not None:
        # The slugs in use are the only ones a request may name; an empty register has none.
        known: tuple[str, ...] = getattr(ref, mark)
        if known:
            out["enum"] = list(known)
    return out


def problem_response(description: str) -> dict[str, Any]:
    """An answer that is a problem document."""
    return {"description": description,
            "content": {"application/problem+json": {
                "schema": {"$ref": "#/components/schemas/Problem"}}}}


_ERROR_TEXT = {400: "Malformed JSON", 401: "Missing, unknown, expired or revoked key",
               403: "The key lacks the scope", 404: "Not found", 409: "Conflict",
               405: "The method is not allowed (the Allow header lists those that are)",
               413: "Body over 1 MiB", 415: "Body is not application/json",
               422: "A field is invalid or names an unknown slug (see `field`)",
               503: "The service could not answer: for checks, a deny"}


def errors(*codes: int) -> dict[str, Any]:
    """The problem answers with these status codes, as every route describes them."""
    return {str(c): problem_response(_ERROR_TEXT[c]) for c in codes}


_PATHS: dict[str, Any] = {
    "/api/v1/openapi.json": {"get": {
        "operationId": "openapi", "summary": "This document", "security": [],
        "responses": {"200": {"description": "OpenAPI 3.1",
                              "content": {"application/json": {"schema": {
                                  "type": "object"}}}}},
    }},
}
_SCHEMAS = components(Problem)


def openapi_document(reference: Reference | None = None,
                     areas: Sequence[tuple[Mapping[str, Any], Mapping[str, Any]]] = ()
                     ) -> dict[str, Any]:
    """The whole OpenAPI 3.1 document, naming the reference data's slugs when given; each
    area above the kernel adds its own (paths, schemas)."""
    paths: dict[str, Any] = {}
    schemas = dict(_SCHEMAS)
    for area_paths, area_schemas in areas:
        paths.update(area_paths)
        schemas.update(area_schemas)
    paths.update(_PATHS)
    document: dict[str, Any] = _filled({
        "openapi": "3.1.0",
        "info": {"title": "Consent and subject-rights portal API", "version": "1.0.0",
                 "description": "Consent checks, holdings and SAR supply for partnership "
                                "sharing systems. Keys are sent as Bearer tokens."},
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer",
                                           "description": "A scoped partnership API key"}},
        },
        "security": [{"apiKey": []}],
    }, reference or Reference())
    return document
