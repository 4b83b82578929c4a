"""The SAR part of the machine API: an agency's tasks and the records it supplies."""

from __future__ import annotations

import uuid
from typing import Any

from flask import Blueprint, Response, jsonify, request
from sqlalchemy import select

from portal import database
from portal.errors import Invalid, NotFound
from portal.http import json_body, register_error_handlers
from portal.reference.apikeys import caller, caller_actor, require_scope
from portal.reference.models import Holding
from sar import operations as ops
from sar.models import SarTask
from sar.schemas import parse_records as parse_records  # the staff's upload uses it too

bp = Blueprint("sar_api", __name__, url_prefix="/api/v1/sar")
register_error_handlers(bp)

MAX_BODY = 50 * 1024 * 1024  # records with their files, base64-encoded


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
    return list(database.session().scalars(select(Holding.agency_ref).where(
        Holding.subject_id == task.request.subject_id, Holding.agency_id == task.agency_id)))


def _task_id(task_id: str) -> uuid.UUID:
    try:
        return uuid.UUID(task_id)
    except ValueError as exc:
        raise NotFound("no such task") from exc


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
    """Supply the agency's records for one task (idempotent by the agency's record id)."""
    request.max_content_length = MAX_BODY
    task = ops.task_for_agency(database.session(), _task_id(task_id), caller().agency_id)
    records = parse_records(json_body())
    done = ops.supply(database.session(), task, records, actor=caller_actor())
    body = {**_task_json(done.task), "results": [
        {"id": o.external_id, "outcome": o.outcome, "version": o.version}
        for o in done.outcomes]}
    # 201 when a record was created or replaced; a repeat that changed nothing is 200.
    return jsonify(body), 201 if done.changed else 200


@bp.post("/tasks/<task_id>/nothing-held")
@require_scope("sar:supply")
def nothing_held(task_id: str) -> Response:
    """Answer that the agency holds nothing on the person."""
    task = ops.task_for_agency(database.session(), _task_id(task_id), caller().agency_id)
    task = ops.hold_nothing(database.session(), task, actor=caller_actor())
    return jsonify(_task_json(task))
