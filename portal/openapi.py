"""The OpenAPI 3.1 description of the machine API (served at /api/v1/openapi.json)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from portal import dates

SLUG = {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]{0,63}$"}
# Text that must say something: at least one character that is not white space, as Python's
# str.strip() (which the API uses) counts it; ECMA's \S differs, so the class is spelt out.
# Text never holds NUL (PostgreSQL cannot store it; the API refuses it).
TEXT = r"^[^\x00]*$"
NOT_BLANK = (r"^[^\x00]*[^\x00\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028"
             r"\u2029\u202f\u205f\u3000][^\x00]*$")
EARLIEST = dt.date(1900, 1, 1)
REASONS = ["no_consent", "refused", "withdrawn", "expired", "reconsent_required",
           "no_agreement", "category_not_in_agreement", "agency_inactive"]
BASES = ["consent", "public-task", "legal-obligation", "vital-interests", "law-enforcement",
         "legitimate-interests"]


@dataclass(frozen=True, slots=True)
class Reference:
    """The partnership's reference data the document names: every slug a request may use."""

    agencies: tuple[str, ...] = ()
    purposes: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    languages: tuple[str, ...] = ("en", "cy", "pl")
    today: dt.date = field(default_factory=dates.today)


def _slug(known: tuple[str, ...], description: str) -> dict[str, Any]:
    # The slugs in use are the only ones a request may name; an empty register has none yet.
    return {**SLUG, "description": description, **({"enum": list(known)} if known else {})}


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


def past_date(today: dt.date, description: str) -> dict[str, Any]:
    """A date from 1900 up to today, never in the future."""
    return {"type": "string", "format": "date", "pattern": date_until(today),
            "description": f"{description}: a date from {EARLIEST.isoformat()} to today"}


def _problem_response(description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/problem+json": {
                "schema": {"$ref": "#/components/schemas/Problem"}}}}


def _errors(*codes: int) -> dict[str, Any]:
    text = {400: "Malformed JSON", 401: "Missing, unknown, expired or revoked key",
            403: "The key lacks the scope", 404: "Not found", 409: "Conflict",
            405: "The method is not allowed (the Allow header lists those that are)",
            413: "Body over 1 MiB", 415: "Body is not application/json",
            422: "A field is invalid or names an unknown slug (see `field`)",
            503: "The service could not answer: for checks, a deny"}
    return {str(c): _problem_response(text[c]) for c in codes}


def _schemas(ref: Reference) -> dict[str, Any]:
    """The request and answer schemas, naming the slugs and dates a request may use."""
    agency, purpose = (_slug(ref.agencies, "An agency's slug"),
                       _slug(ref.purposes, "A purpose's slug"))
    category = _slug(ref.categories, "A data category's slug")
    return {
        "Problem": {
            "type": "object",
            "description": "RFC 9457 problem details. Check endpoints add decision=deny.",
            "required": ["type", "title", "status", "detail"],
            "properties": {
                "type": {"type": "string"}, "title": {"type": "string"},
                "status": {"type": "integer"}, "detail": {"type": "string"},
                "field": {"type": "string", "description": "The request field at fault"},
                "decision": {"type": "string", "enum": ["deny"]},
            },
        },
        "SubjectRef": {
            "description": "The caller's own reference for the person, or the portal's id.",
            "oneOf": [
                {"type": "object", "required": ["agency_ref"], "additionalProperties": False,
                 "properties": {"agency_ref": {"type": "string", "minLength": 1,
                                               "maxLength": 100, "pattern": NOT_BLANK}}},
                {"type": "object", "required": ["subject_id"], "additionalProperties": False,
                 "properties": {"subject_id": {"type": "string", "format": "uuid"}}},
            ],
        },
        "CheckRequest": {
            "type": "object",
            "required": ["subject", "recipient", "purpose", "categories"],
            "additionalProperties": False,
            "properties": {
                "subject": {"$ref": "#/components/schemas/SubjectRef"},
                "recipient": {**agency, "description": "The receiving agency's slug"},
                "purpose": purpose,
                "categories": {"type": "array", "items": category, "minItems": 1,
                               "maxItems": 50},
            },
        },
        "CategoryDecision": {
            "type": "object",
            "required": ["decision"],
            "properties": {
                "decision": {"type": "string", "enum": ["permit", "deny"]},
                "basis": {"type": "string", "enum": BASES},
                "reason": {"type": "string", "enum": REASONS},
                "consent_id": {"type": "string", "format": "uuid"},
                "notice_version": {"type": "integer"},
                "statutory_gateway": {"type": "string"},
            },
        },
        "CheckResponse": {
            "type": "object",
            "required": ["decision", "decision_id", "basis", "categories", "reason",
                         "evaluated_at", "valid_until"],
            "properties": {
                "decision": {"type": "string", "enum": ["permit", "deny"],
                             "description": "permit only if every category is permitted"},
                "decision_id": {"type": "string", "format": "uuid",
                                "description": "The logged record of this check"},
                "basis": {"description": "The lawful basis every category was permitted on; "
                                         "null when denied or when bases differ",
                          "oneOf": [{"type": "string", "enum": BASES}, {"type": "null"}]},
                "categories": {"type": "object", "additionalProperties": {
                    "$ref": "#/components/schemas/CategoryDecision"}},
                "reason": {"description": "The first deny reason, for logs",
                           "oneOf": [{"type": "string", "enum": REASONS}, {"type": "null"}]},
                "evaluated_at": {"type": "string", "format": "date-time"},
                "valid_until": {"type": "string", "format": "date-time",
                                "description": "Never rely on a permit past this time"},
            },
        },
        "BatchRequest": {
            "type": "object", "required": ["questions"], "additionalProperties": False,
            "properties": {"questions": {"type": "array", "minItems": 1, "maxItems": 1000,
                                         "items": {"$ref": "#/components/schemas/CheckRequest"}}},
        },
        "BatchResponse": {
            "type": "object", "required": ["results"],
            "properties": {"results": {"type": "array",
                                       "items": {"$ref": "#/components/schemas/CheckResponse"}}},
        },
        "NewSubject": {
            "type": "object", "required": ["given_name", "family_name"],
            "additionalProperties": False,
            "properties": {
                "given_name": {"type": "string", "minLength": 1, "maxLength": 200,
                               "pattern": NOT_BLANK},
                "family_name": {"type": "string", "minLength": 1, "maxLength": 200,
                                "pattern": NOT_BLANK},
                "date_of_birth": {**past_date(ref.today, "The date of birth, or null"),
                              "type": ["string", "null"]},
                "email": {"type": "string", "maxLength": 320, "pattern": TEXT},
                "phone": {"type": "string", "maxLength": 40, "pattern": TEXT},
                "postal_address": {"type": "string", "maxLength": 1000, "pattern": TEXT},
                "safe_contact": {"type": "string", "maxLength": 2000, "pattern": TEXT},
                "preferred_language": {"type": "string", "enum": list(ref.languages)},
            },
        },
        "HoldingRequest": {
            "type": "object", "required": ["categories", "since"], "additionalProperties": False,
            "properties": {
                "subject": {"description": "Required for a new reference: an existing subject's "
                                           "id, or identity to register a new subject; left "
                                           "out (or null) to update the holding under the "
                                           "reference (404 if there is none)",
                            "oneOf": [
                                {"type": "object", "required": ["subject_id"],
                                 "additionalProperties": False,
                                 "properties": {"subject_id": {"type": "string",
                                                               "format": "uuid"}}},
                                {"$ref": "#/components/schemas/NewSubject"},
                                {"type": "null"}]},
                "categories": {"type": "array", "items": category, "minItems": 1},
                "since": past_date(ref.today, "Held since"),
            },
        },
        "Holding": {
            "type": "object",
            "required": ["agency_ref", "subject_id", "categories", "since", "updated_at"],
            "properties": {
                "agency_ref": {"type": "string"},
                "subject_id": {"type": "string", "format": "uuid"},
                "categories": {"type": "array", "items": {"type": "string"}},
                "since": {"type": "string", "format": "date"},
                "updated_at": {"type": "string", "format": "date-time"},
            },
        },
    }


# From a holding just written to the routes that use its reference.
_HOLDING_LINKS: dict[str, Any] = {
    "EndHolding": {"operationId": "endHolding",
                   "parameters": {"agency_ref": "$request.path.agency_ref"},
                   "description": "End the holding just written"},
}

_PATHS: dict[str, Any] = {
    "/api/v1/consent/check": {"post": {
        "operationId": "checkConsent",
        "summary": "May I share these categories about this person with that agency, now?",
        "description": "Fails closed: any error answers 503 with decision=deny. The calling "
                       "agency is the key's agency. An unknown subject, or one not linked to "
                       "the caller, gets the same answer as a subject without consent.",
        "security": [{"apiKey": ["consent:check"]}],
        "requestBody": {"required": True, "content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/CheckRequest"}}}},
        "responses": {"200": {"description": "The decision, already logged",
                              "content": {"application/json": {"schema": {
                                  "$ref": "#/components/schemas/CheckResponse"}}}},
                      **_errors(400, 401, 403, 413, 415, 422, 503)},
    }},
    "/api/v1/consent/check/batch": {"post": {
        "operationId": "checkConsentBatch",
        "summary": "Up to 1,000 checks in one call, each logged as its own decision",
        "security": [{"apiKey": ["consent:check"]}],
        "requestBody": {"required": True, "content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/BatchRequest"}}}},
        "responses": {"200": {"description": "One answer per question, in order",
                              "content": {"application/json": {"schema": {
                                  "$ref": "#/components/schemas/BatchResponse"}}}},
                      **_errors(400, 401, 403, 413, 415, 422, 503)},
    }},
    "/api/v1/holdings/{agency_ref}": {
        "parameters": [{"name": "agency_ref", "in": "path", "required": True,
                        "schema": {"type": "string", "minLength": 1, "maxLength": 100,
                                   "pattern": NOT_BLANK},
                        "description": "The calling agency's own reference (not only white "
                                       "space)"}],
        "put": {
            "operationId": "putHolding",
            "summary": "Register or update what the calling agency holds about a subject",
            "security": [{"apiKey": ["holdings:write"]}],
            "requestBody": {"required": True, "content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/HoldingRequest"}}}},
            "responses": {
                "200": {"description": "Updated", "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/Holding"}}},
                        "links": _HOLDING_LINKS},
                "201": {"description": "Created", "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/Holding"}}},
                        "links": _HOLDING_LINKS},
                "404": _problem_response("subject.subject_id names nobody this agency is "
                                         "linked to (unknown and another agency's alike), "
                                         "or there is no holding to update"),
                **_errors(400, 401, 403, 409, 413, 415, 422, 503)},
        },
        "delete": {
            "operationId": "endHolding",
            "summary": "Record that the calling agency no longer holds these records",
            "security": [{"apiKey": ["holdings:write"]}],
            "responses": {"204": {"description": "Ended"},
                          **_errors(401, 403, 404, 422, 503)},
        },
    },
    "/api/v1/openapi.json": {"get": {
        "operationId": "openapi", "summary": "This document", "security": [],
        "responses": {"200": {"description": "OpenAPI 3.1",
                              "content": {"application/json": {"schema": {
                                  "type": "object"}}}}},
    }},
}


def openapi_document(reference: Reference | None = None,
                     areas: Sequence[tuple[Mapping[str, Any], Mapping[str, Any]]] = ()
                     ) -> dict[str, Any]:
    """The whole OpenAPI 3.1 document, naming the reference data's slugs when given; each
    area above the kernel adds its own (paths, schemas)."""
    paths = dict(_PATHS)
    schemas = _schemas(reference or Reference())
    for area_paths, area_schemas in areas:
        paths.update(area_paths)
        schemas.update(area_schemas)
    return {
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
    }
