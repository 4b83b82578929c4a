"""The check API's part of the OpenAPI document (merged by portal.openapi)."""

from __future__ import annotations

from typing import Any

from consent.schemas import BatchRequest, BatchResponse, CheckRequest, CheckResponse
from portal.openapi import components, errors

PATHS: dict[str, Any] = {
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
                      **errors(400, 401, 403, 413, 415, 422, 503)},
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
                      **errors(400, 401, 403, 413, 415, 422, 503)},
    }},
}

SCHEMAS = components(CheckRequest, BatchRequest, CheckResponse, BatchResponse,
                     inline=("ByReference", "ById"))
