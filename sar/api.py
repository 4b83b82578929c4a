"""The SAR part of the machine API: an agency's tasks and the records it supplies."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import uuid
from typing import Any

from flask import Blueprint, Response, jsonify, request

from portal import database
from portal.errors import Invalid, NotFound
from portal.http import json_body, register_error_handlers
from portal.reference.apikeys import caller, caller_actor, require_scope
from sar import operations as ops
from sar.models import SarTask

bp = Blueprint("sar_api", __name__, url_prefix="/api/v1/sar")
register_error_handlers(bp)

MAX_BODY = 50 * 1024 * 1024  # records with their files, base64-encoded
MAX_RECORDS = 5000
RECORD_FIELDS = {"id", "kind", "title", "text", "date", "files"}
FILE_FIELDS = {"filename", "media_type", "content_base64"}


def _task_json(task: SarTask) -> dict[str, Any]:
    sar = task.request
    return {
        "id": str(task.id), "status": task.status, "due_on": task.due_on.isoformat(),
        "request_reference": sar.reference,
        "subject_id": str(sar.subject_id) if sar.subject_id else None,
        "agency_refs": sorted(h for h in _refs(task)),
        "scope": {"everything": sar.scope_everything,
                  "from": sar.scope_from.isoformat() if sar.scope_from else None,
                  "to": sar.scope_to.isoformat() if sar.scope_to else None,
                  "description": sar.scope_text},
        "records_supplied": len(task.records),
    }


def _refs(task: SarTask) -> list[str]:
    from sqlalchemy import select

    from portal.reference.models import Holding

    return list(database.session().scalars(select(Holding.agency_ref).where(
        Holding.subject_id == task.request.subject_id, Holding.agency_id == task.agency_id)))


def _task_id(task_id: str) -> uuid.UUID:
    try:
        return uuid.UUID(task_id)
    except ValueError as exc:
        raise NotFound("no such task") from exc


def _str(rec: dict[str, Any], key: str, i: int, limit: int, *, required: bool) -> str:
    value = rec.get(key, "")
    if not isinstance(value, str) or len(value) > limit or (required and not value.strip()):
        raise Invalid(f"records[{i}].{key} must be {'a non-empty' if required else 'a'} "
                      f"string of at most {limit} characters", field=f"records[{i}].{key}")
    return value


def parse_records(body: Any) -> list[ops.NewRecord]:
    """Validate the JSON records (and base64 files) an agency sends."""
    if not isinstance(body, dict) or set(body) - {"records"}:
        raise Invalid("body must be an object with a 'records' list", field="records")
    items = body.get("records")
    if not isinstance(items, list) or not items or len(items) > MAX_RECORDS:
        raise Invalid(f"records must be a list of 1 to {MAX_RECORDS} records", field="records")
    out = []
    for i, rec in enumerate(items):
        if not isinstance(rec, dict):
            raise Invalid(f"records[{i}] must be an object", field=f"records[{i}]")
        extra = sorted(set(rec) - RECORD_FIELDS)
        if extra:
            raise Invalid(f"records[{i}].{extra[0]} is not a known field",
                          field=f"records[{i}].{extra[0]}")
        day = None
        if rec.get("date") is not None:
            try:
                day = dt.date.fromisoformat(str(rec["date"]))
            except ValueError as exc:
                raise Invalid(f"records[{i}].date must be a date (YYYY-MM-DD)",
                              field=f"records[{i}].date") from exc
        files = []
        raw_files = rec.get("files", [])
        if not isinstance(raw_files, list):
            raise Invalid(f"records[{i}].files must be a list", field=f"records[{i}].files")
        for j, f in enumerate(raw_files):
            where = f"records[{i}].files[{j}]"
            if not isinstance(f, dict) or set(f) != FILE_FIELDS or not all(
                    isinstance(v, str) for v in f.values()):
                raise Invalid(f"{where} must have filename, media_type and content_base64",
                              field=where)
            try:
                content = base64.b64decode(f["content_base64"], validate=True)
            except (binascii.Error, ValueError) as exc:
                raise Invalid(f"{where}.content_base64 is not base64",
                              field=f"{where}.content_base64") from exc
            if len(content) > ops.MAX_RECORD_FILE_BYTES:
                raise Invalid(f"{where} is over 10 MB", field=where)
            files.append((f["filename"][:200], f["media_type"][:100], content))
        out.append(ops.NewRecord(
            external_id=_str(rec, "id", i, 100, required=True),
            kind=_str(rec, "kind", i, 64, required=True),
            title=_str(rec, "title", i, 300, required=True),
            text=_str(rec, "text", i, 200_000, required=False),
            occurred_on=day, files=tuple(files)))
    return out


@bp.get("/tasks")
@require_scope("sar:supply")
def list_tasks() -> Response:
    """The calling agency's SAR tasks (open ones unless ?all=1)."""
    unknown = sorted(set(request.args) - {"all"})
    if unknown:
        # A misspelt filter silently ignored would answer a different question.
        raise Invalid(f"{unknown[0][:40]} is not a known query parameter", field=unknown[0][:40])
    everything = request.args.get("all")
    if everything not in (None, "1"):
        raise Invalid("all must be 1, or left out", field="all")
    tasks = ops.tasks_for_agency(database.session(), caller().agency_id,
                                 open_only=everything is None)
    return jsonify({"tasks": [_task_json(t) for t in tasks]})


@bp.get("/tasks/<task_id>")
@require_scope("sar:supply")
def get_task(task_id: str) -> Response:
    """One of the calling agency's tasks."""
    task = ops.task_for_agency(database.session(), _task_id(task_id), caller().agency_id)
    return jsonify(_task_json(task))


@bp.post("/tasks/<task_id>/records")
@require_scope("sar:supply")
def supply(task_id: str) -> tuple[Response, int]:
    """Supply the agency's records for one task."""
    request.max_content_length = MAX_BODY
    task = ops.task_for_agency(database.session(), _task_id(task_id), caller().agency_id)
    records = parse_records(json_body())
    task = ops.supply_records(database.session(), task, records, actor=caller_actor())
    return jsonify(_task_json(task)), 201


@bp.post("/tasks/<task_id>/nothing-held")
@require_scope("sar:supply")
def nothing_held(task_id: str) -> Response:
    """Answer that the agency holds nothing on the person."""
    task = ops.task_for_agency(database.session(), _task_id(task_id), caller().agency_id)
    task = ops.hold_nothing(database.session(), task, actor=caller_actor())
    return jsonify(_task_json(task))
