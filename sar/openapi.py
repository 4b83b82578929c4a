"""The SAR API's part of the OpenAPI document (merged by portal.openapi)."""

from __future__ import annotations

from typing import Any

from portal.openapi import NOT_BLANK, TEXT


def _problem(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/problem+json": {
        "schema": {"$ref": "#/components/schemas/Problem"}}}}


_ERRORS = {"401": _problem("Missing, unknown, expired or revoked key"),
           "403": _problem("The key lacks the sar:supply scope"),
           "503": _problem("The service could not answer; try again later")}
_TASK_ID = {"name": "task_id", "in": "path", "required": True,
            "schema": {"type": "string", "format": "uuid"},
            "description": "A task of the calling agency (another agency's is not found)"}
# Standard base64 (RFC 4648 section 4), padded, as the API decodes it.
BASE64 = r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$"


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


# Each kind of file the API takes: the media types that declare it, and the format naming
# what its content must be (the bytes of a readable file of that kind, base64-encoded).
FILE_KINDS = (
    (["application/pdf"], "pdf"),
    (["image/png"], "png"),
    (["image/jpeg", "image/jpg", "image/pjpeg"], "jpeg"),
    (["text/plain", "text/plain; charset=utf-8"], "text"),
)
KIND_NAMES = {"pdf": "PDF", "png": "PNG", "jpeg": "JPEG", "text": "UTF-8 text"}


def _file(media_types: list[str], content: str) -> dict[str, Any]:
    return {
        "type": "object", "required": ["filename", "media_type", "content_base64"],
        "additionalProperties": False,
        "properties": {
            "filename": {"type": "string", "pattern": TEXT,
                         "description": "Shown to reviewers; the delivered name has no path "
                                        "and takes its extension from the content"},
            "media_type": {"type": "string", "enum": media_types},
            "content_base64": {
                "type": "string", "contentEncoding": "base64", "pattern": BASE64,
                "format": f"{content}-base64", "minLength": 4,
                "description": f"A readable {KIND_NAMES[content]} file's bytes in padded "
                               "base64, at most 10 MB once decoded"}}}


def _task_response(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/SarTask"}}}, "links": _ONE_TASK_LINKS}


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
            "422": _problem("A query parameter is unknown or invalid (see `field`)"),
            **_ERRORS},
    }},
    "/api/v1/sar/tasks/{task_id}": {"get": {
        "operationId": "getSarTask",
        "summary": "One of the calling agency's SAR tasks",
        "security": _SECURITY, "parameters": [_TASK_ID],
        "responses": {"200": _task_response("The task"),
                      "404": _problem("No such task for this agency"), **_ERRORS},
    }},
    "/api/v1/sar/tasks/{task_id}/records": {"post": {
        "operationId": "supplySarRecords",
        "summary": "Supply the agency's records for a task",
        "description": "JSON records, with original files base64-encoded; up to 50 MB.",
        "security": _SECURITY, "parameters": [_TASK_ID],
        "requestBody": {"required": True, "content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/SarRecords"}}}},
        "responses": {"201": _task_response("Supplied"),
                      "400": _problem("Malformed JSON"),
                      "404": _problem("No such task for this agency"),
                      "409": _problem("The task or request is closed"),
                      "413": _problem("Body over 50 MB"),
                      "415": _problem("Body is not application/json"),
                      "422": _problem("A record is invalid (see `field`)"), **_ERRORS},
    }},
    "/api/v1/sar/tasks/{task_id}/nothing-held": {"post": {
        "operationId": "answerNothingHeld",
        "summary": "Answer that the agency holds nothing on the person",
        "description": "Takes no body; any body sent is ignored.",
        "security": _SECURITY, "parameters": [_TASK_ID],
        "responses": {"200": _task_response("Answered"),
                      "404": _problem("No such task for this agency"),
                      "409": _problem("Records were already supplied, or the request is "
                                      "closed"), **_ERRORS},
    }},
}

SCHEMAS: dict[str, Any] = {
    "SarTask": {
        "type": "object",
        "required": ["id", "status", "due_on", "request_reference", "subject_id",
                     "agency_refs", "scope", "records_supplied"],
        "properties": {
            "id": {"type": "string", "format": "uuid"},
            "status": {"type": "string", "enum": ["open", "supplied", "nothing"]},
            "due_on": {"type": "string", "format": "date",
                       "description": "The internal due date"},
            "request_reference": {"type": "string"},
            "subject_id": {"type": ["string", "null"], "format": "uuid"},
            "agency_refs": {"type": "array", "items": {"type": "string"},
                            "description": "The agency's own references for the person"},
            "scope": {"type": "object", "properties": {
                "everything": {"type": "boolean"},
                "from": {"type": ["string", "null"], "format": "date"},
                "to": {"type": ["string", "null"], "format": "date"},
                "description": {"type": "string"}}},
            "records_supplied": {"type": "integer"},
        },
    },
    "SarRecords": {
        "type": "object", "required": ["records"], "additionalProperties": False,
        "properties": {"records": {"type": "array", "minItems": 1, "maxItems": 5000,
                                   "items": {"$ref": "#/components/schemas/SarRecord"}}},
    },
    "SarRecord": {
        "type": "object", "required": ["id", "kind", "title"], "additionalProperties": False,
        "properties": {
            "id": {"type": "string", "minLength": 1, "maxLength": 100, "pattern": NOT_BLANK,
                   "description": "The agency's id for the record"},
            "kind": {"type": "string", "minLength": 1, "maxLength": 64, "pattern": NOT_BLANK},
            "title": {"type": "string", "minLength": 1, "maxLength": 300,
                      "pattern": NOT_BLANK},
            "text": {"type": "string", "maxLength": 200000, "pattern": TEXT,
                     "description": "Plain text; any HTML is shown as text, never run"},
            "date": {"type": ["string", "null"], "format": "date"},
            "files": {"type": "array", "items": {
                "description": "Judged by its content: a PDF (not encrypted, at most 100 "
                               "pages), a PNG or JPEG image, or plain UTF-8 text, each at most "
                               "10 MB. Anything else (a program, HTML, an archive), or content "
                               "that is not the declared media_type, is refused with 422 naming "
                               "the field. Nothing is released until a reviewer has seen it.",
                "oneOf": [_file(media, content) for media, content in FILE_KINDS]}},
        },
    },
}
