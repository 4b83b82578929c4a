"""The SAR API's part of the OpenAPI document (merged by portal.openapi)."""

from __future__ import annotations

from typing import Any

from portal.openapi import components, problem_response
from sar.schemas import SarRecords, SarSupplied, SarTask

_ERRORS = {"401": problem_response("Missing, unknown, expired or revoked key"),
           "403": problem_response("The key lacks the sar:supply scope"),
           "503": problem_response("The service could not answer; try again later")}
_TASK_ID = {"name": "task_id", "in": "path", "required": True,
            "schema": {"type": "string", "format": "uuid"},
            "description": "A task of the calling agency (another agency's is not found)"}


def _task_links(task_id: str) -> dict[str, Any]:
    """From a task in an answer to every route of that task."""
    return {
        "GetTask": {"operationId": "getSarTask", "parameters": {"task_id": task_id},
                    "description": "The task itself"},
        "SupplyRecords": {"operationId": "supplySarRecords",
                          "parameters": {"task_id": task_id},
                          "description": "Supply the agency's records for the task"},
        "NothingHeld": {"operationId": "answerNothingHeld",
                        "parameters": {"task_id": task_id},
                        "description": "Answer that the agency holds nothing"},
    }


_ONE_TASK_LINKS = _task_links("$response.body#/id")
_SECURITY: list[dict[str, list[str]]] = [{"apiKey": []}]


def _task_response(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/SarTask"}}}, "links": _ONE_TASK_LINKS}


def _supplied_response(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/SarSupplied"}}}, "links": _ONE_TASK_LINKS}


PATHS: dict[str, Any] = {
    "/api/v1/sar/tasks": {"get": {
        "operationId": "listSarTasks",
        "summary": "The calling agency's SAR tasks",
        "description": "Open tasks by default; `?all=1` includes answered ones. An agency "
                       "sees only its own tasks.",
        "security": _SECURITY,
        "parameters": [{"name": "all", "in": "query", "required": False,
                        "schema": {"type": "string", "enum": ["1"]}}],
        "responses": {"200": {"description": "The tasks", "content": {"application/json": {
            "schema": {"type": "object", "required": ["tasks"], "properties": {
                "tasks": {"type": "array",
                          "items": {"$ref": "#/components/schemas/SarTask"}}}}}},
            "links": _task_links("$response.body#/tasks/0/id")},
            "422": problem_response("A query parameter is unknown or invalid (see `field`)"),
            **_ERRORS},
    }},
    "/api/v1/sar/tasks/{task_id}": {"get": {
        "operationId": "getSarTask",
        "summary": "One of the calling agency's SAR tasks",
        "security": _SECURITY, "parameters": [_TASK_ID],
        "responses": {"200": _task_response("The task"),
                      "404": problem_response("No such task for this agency"), **_ERRORS},
    }},
    "/api/v1/sar/tasks/{task_id}/records": {"post": {
        "operationId": "supplySarRecords",
        "summary": "Supply the agency's records for a task",
        "description": (
            "JSON records, with original files base64-encoded; up to 50 MB. Idempotent by "
            "the agency's own record `id` (unique within the task): the same id with the "
            "same content changes nothing (`unchanged`, and 200 when nothing in the body "
            "changed anything); with changed content the record is replaced by a new "
            "version (`replaced`), the earlier kept for reviewers and never released. A "
            "replacement is refused (409, nothing stored) once a reviewer has redacted or "
            "withheld the record or redacted or decided on one of its files "
            "(`/api/v1/problems/record-under-review`, `field` naming the record), or once a "
            "bundle of the request is approved (`/api/v1/problems/bundle-approved`). A "
            "built bundle not yet approved is set aside by a replacement and must be built "
            "again. All or nothing: one refusal stores none of the body."),
        "security": _SECURITY, "parameters": [_TASK_ID],
        "requestBody": {"required": True, "content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/SarRecords"}}}},
        "responses": {"200": _supplied_response("Nothing changed: every record sent was "
                                                "already held with the same content"),
                      "201": _supplied_response("Supplied: at least one record was created "
                                                "or replaced"),
                      "400": problem_response("Malformed JSON"),
                      "404": problem_response("No such task for this agency"),
                      "409": problem_response(
                          "The task or request is closed; a changed record is under review "
                          "(`record-under-review`); a bundle is approved "
                          "(`bundle-approved`)"),
                      "413": problem_response("Body over 50 MB"),
                      "415": problem_response("Body is not application/json"),
                      "422": problem_response("A record is invalid, an id is repeated in the "
                                              "body, or `part3` comes from an agency that is "
                                              "not a competent authority (see `field`)"),
                      **_ERRORS},
    }},
    "/api/v1/sar/tasks/{task_id}/nothing-held": {"post": {
        "operationId": "answerNothingHeld",
        "summary": "Answer that the agency holds nothing on the person",
        "description": "Takes no body; any body sent is ignored.",
        "security": _SECURITY, "parameters": [_TASK_ID],
        "responses": {"200": _task_response("Answered"),
                      "404": problem_response("No such task for this agency"),
                      "409": problem_response("Records were already supplied, or the request is "
                                      "closed"), **_ERRORS},
    }},
}

SCHEMAS = components(SarTask, SarSupplied, SarRecords,
                     inline=("SarFile", "Scope", "SarRecordOutcome"))
