"""The machine API's shared plumbing (keys, problem JSON, bodies) and its holdings routes."""

from __future__ import annotations

import logging

from flask import Blueprint, Response, current_app, jsonify
from sqlalchemy import select

from portal import database
from portal.errors import Invalid
from portal.http import json_body, problem, register_error_handlers
from portal.openapi import Reference, openapi_document
from portal.reference import openapi as holdings_openapi
from portal.reference import operations, schemas
from portal.reference.apikeys import caller, caller_actor, require_scope
from portal.reference.models import Agency, DataCategory, Purpose

log = logging.getLogger("portal.api")

bp = Blueprint("api", __name__, url_prefix="/api/v1")


register_error_handlers(bp)


@bp.get("/openapi.json")
def openapi() -> Response:
    """The OpenAPI 3.1 document for this API, naming the slugs this partnership uses."""
    db = database.session()
    reference = Reference(
        agencies=tuple(db.scalars(select(Agency.slug).order_by(Agency.slug))),
        purposes=tuple(db.scalars(select(Purpose.slug).order_by(Purpose.slug))),
        categories=tuple(db.scalars(select(DataCategory.slug).order_by(DataCategory.slug))),
        languages=tuple(current_app.config["PORTAL"].locales))
    # The areas above the kernel each add their paths (the composition root lists them).
    areas = [(holdings_openapi.PATHS, holdings_openapi.SCHEMAS),
             *current_app.extensions["openapi.areas"]]
    return jsonify(openapi_document(reference, areas))


def _agency_ref(agency_ref: str) -> str:
    if not agency_ref.strip() or len(agency_ref) > 100 or "\x00" in agency_ref:
        raise Invalid("the agency reference must be 1 to 100 characters, not only white "
                      "space, without NUL", field="agency_ref")
    return agency_ref


@bp.put("/holdings/<path:agency_ref>")
@require_scope("holdings:write")
def put_holding(agency_ref: str) -> tuple[Response, int]:
    """Register or update what the calling agency holds about a subject."""
    values = schemas.parse_holding(json_body(), tuple(current_app.config["PORTAL"].locales))
    db = database.session()
    try:
        holding, created = operations.put_holding(
            db, caller().agency_id, _agency_ref(agency_ref), actor=caller_actor(), **values)
    except operations.UnknownSubject as exc:
        # Refused requests roll back; this one's audit entry must stay, so it commits alone,
        # and the answer is the one an unknown id gets (no oracle for who is on the system).
        db.rollback()
        operations.record_refused_holding(db, agency_ref, exc, actor=caller_actor())
        db.commit()
        return problem(exc.status, exc.message, code=exc.code, field=exc.field), exc.status
    return jsonify({
        "agency_ref": holding.agency_ref, "subject_id": str(holding.subject_id),
        "categories": sorted(c.slug for c in holding.categories),
        "since": holding.since.isoformat(),
        "updated_at": holding.updated_at.isoformat().replace("+00:00", "Z"),
    }), 201 if created else 200


@bp.delete("/holdings/<path:agency_ref>")
@require_scope("holdings:write")
def delete_holding(agency_ref: str) -> tuple[str, int]:
    """End what the calling agency holds under this reference."""
    operations.end_holding(database.session(), caller().agency_id, _agency_ref(agency_ref),
                           actor=caller_actor())
    return "", 204
