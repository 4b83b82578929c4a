"""The OpenAPI 3.1 description of the machine API (served at /api/v1/openapi.json)."""

from __future__ import annotations

from typing import Any

SLUG = {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]{0,63}$"}
REASONS = ["no_consent", "refused", "withdrawn", "expired", "reconsent_required",
           "no_agreement", "category_not_in_agreement", "agency_inactive"]
BASES = ["consent", "public-task", "legal-obligation", "vital-interests", "law-enforcement",
         "legitimate-interests"]


def _problem_response(description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/problem+json": {
                "schema": {"$ref": "#/components/schemas/Problem"}}}}


def _errors(*codes: int) -> dict[str, Any]:
    text = {400: "Malformed JSON", 401: "Missing, unknown, expired or revoked key",
            403: "The key lacks the scope", 404: "Not found", 409: "Conflict",
            413: "Body over 1 MiB", 415: "Body is not application/json",
            422: "A field is invalid or names an unknown slug (see `field`)",
            503: "The service could not answer: for checks, a deny"}
    return {str(c): _problem_response(text[c]) for c in codes}


_SCHEMAS: dict[str, Any] = {
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
                                           "maxLength": 100}}},
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
            "recipient": {**SLUG, "description": "The receiving agency's slug"},
            "purpose": {**SLUG, "description": "The purpose's slug"},
            "categories": {"type": "array", "items": SLUG, "minItems": 1, "maxItems": 50},
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
            "given_name": {"type": "string", "minLength": 1, "maxLength": 200},
            "family_name": {"type": "string", "minLength": 1, "maxLength": 200},
            "date_of_birth": {"type": "string", "format": "date"},
            "email": {"type": "string", "maxLength": 320},
            "phone": {"type": "string", "maxLength": 40},
            "postal_address": {"type": "string", "maxLength": 1000},
            "safe_contact": {"type": "string", "maxLength": 2000},
            "preferred_language": {"type": "string", "enum": ["en", "cy", "pl"]},
        },
    },
    "HoldingRequest": {
        "type": "object", "required": ["categories", "since"], "additionalProperties": False,
        "properties": {
            "subject": {"description": "Required for a new reference: an existing subject's "
                                       "id, or identity to register a new subject",
                        "oneOf": [
                            {"type": "object", "required": ["subject_id"],
                             "additionalProperties": False,
                             "properties": {"subject_id": {"type": "string",
                                                           "format": "uuid"}}},
                            {"$ref": "#/components/schemas/NewSubject"}]},
            "categories": {"type": "array", "items": SLUG, "minItems": 1},
            "since": {"type": "string", "format": "date"},
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
                        "schema": {"type": "string", "minLength": 1, "maxLength": 100},
                        "description": "The calling agency's own reference"}],
        "put": {
            "operationId": "putHolding",
            "summary": "Register or update what the calling agency holds about a subject",
            "security": [{"apiKey": ["holdings:write"]}],
            "requestBody": {"required": True, "content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/HoldingRequest"}}}},
            "responses": {
                "200": {"description": "Updated", "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/Holding"}}}},
                "201": {"description": "Created", "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/Holding"}}}},
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


def openapi_document() -> dict[str, Any]:
    """The whole OpenAPI 3.1 document (each area adds its own paths and schemas)."""
    from sar import openapi as sar_openapi

    paths = {**_PATHS, **sar_openapi.PATHS}
    schemas = {**_SCHEMAS, **sar_openapi.SCHEMAS}
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
