"""The holdings API's part of the OpenAPI document (merged by portal.openapi)."""

from __future__ import annotations

from typing import Any

from portal.openapi import NOT_BLANK, components, errors, problem_response
from portal.reference.schemas import Holding, HoldingRequest

# From a holding just written to the routes that use its reference.
_HOLDING_LINKS: dict[str, Any] = {
    "EndHolding": {"operationId": "endHolding",
                   "parameters": {"agency_ref": "$request.path.agency_ref"},
                   "description": "End the holding just written"},
}

PATHS: dict[str, Any] = {
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
                "404": problem_response("subject.subject_id names nobody this agency is "
                                        "linked to (unknown and another agency's alike), "
                                        "or there is no holding to update"),
                **errors(400, 401, 403, 409, 413, 415, 422, 503)},
        },
        "delete": {
            "operationId": "endHolding",
            "summary": "Record that the calling agency no longer holds these records",
            "security": [{"apiKey": ["holdings:write"]}],
            "responses": {"204": {"description": "Ended"},
                          **errors(401, 403, 404, 422, 503)},
        },
    },
}

SCHEMAS = components(HoldingRequest, Holding, inline=("ExistingSubject",))
