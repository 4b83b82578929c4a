"""The machine API's shared plumbing (keys, problem JSON, bodies) and its holdings routes."""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from typing import Any

from flask import Blueprint, Response, current_app, jsonify

from portal import database, dates
from portal.errors import Invalid
from portal.http import json_body, problem, register_error_handlers
from portal.openapi import EARLIEST, Reference, openapi_document
from portal.reference import operations
from portal.reference.apikeys import caller, caller_actor, require_scope

log = logging.getLogger("portal.api")

bp = Blueprint("api", __name__, url_prefix="/api/v1")


register_error_handlers(bp)


@bp.get("/openapi.json")
def openapi() -> Response:
    """The OpenAPI 3.1 document for this API, naming the slugs this partnership uses."""
    from sqlalchemy import select

    from portal.reference.models import Agency, DataCategory, Purpose

    db = database.session()
    reference = Reference(
        agencies=tuple(db.scalars(select(Agency.slug).order_by(Agency.slug))),
        purposes=tuple(db.scalars(select(Purpose.slug).order_by(Purpose.slug))),
        categories=tuple(db.scalars(select(DataCategory.slug).order_by(DataCategory.slug))),
        languages=tuple(current_app.config["PORTAL"].locales))
    # The areas above the kernel each add their paths (the composition root lists them).
    return jsonify(openapi_document(reference, current_app.extensions["openapi.areas"]))


def _date(value: Any, field: str) -> dt.date:
    if not isinstance(value, str):
        raise Invalid(f"{field} must be a date (YYYY-MM-DD)", field=field)
    try:
        day = dt.date.fromisoformat(value)
    except ValueError as exc:
        raise Invalid(f"{field} must be a date (YYYY-MM-DD)", field=field) from exc
    if day > dates.today():
        raise Invalid(f"{field} cannot be in the future", field=field)
    if day < EARLIEST:
        raise Invalid(f"{field} cannot be before {EARLIEST.isoformat()}", field=field)
    return day


def _text(body: dict[str, Any], key: str, limit: int, *, required: bool = False) -> str:
    value = body.get(key, "")
    if not isinstance(value, str) or len(value) > limit or (required and not value.strip()):
        raise Invalid(f"subject.{key} must be {'a non-empty' if required else 'a'} string of "
                      f"at most {limit} characters", field=f"subject.{key}")
    return value.strip()


def _parse_holding(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise Invalid("body must be a JSON object", field=None)
    extra = sorted(set(body) - {"subject", "categories", "since"})
    if extra:
        raise Invalid(f"{extra[0]} is not a known field", field=extra[0])
    cats = body.get("categories")
    if not isinstance(cats, list) or not cats or not all(isinstance(c, str) for c in cats):
        raise Invalid("categories must be a non-empty list of category slugs",
                      field="categories")
    out: dict[str, Any] = {"categories": cats, "since": _date(body.get("since"), "since")}
    subject = body.get("subject")
    if subject is None:
        return out
    if not isinstance(subject, dict):
        raise Invalid("subject must be an object", field="subject")
    if "subject_id" in subject:
        if len(subject) != 1:
            raise Invalid("subject.subject_id cannot be combined with identity fields",
                          field="subject")
        try:
            out["subject_id"] = uuid.UUID(str(subject["subject_id"]))
        except ValueError as exc:
            raise Invalid("subject.subject_id must be a UUID", field="subject.subject_id") \
                from exc
        return out
    allowed = {"given_name", "family_name", "date_of_birth", "email", "phone",
               "postal_address", "safe_contact", "preferred_language"}
    extra = sorted(set(subject) - allowed)
    if extra:
        raise Invalid(f"subject.{extra[0]} is not a known field", field=f"subject.{extra[0]}")
    dob = subject.get("date_of_birth")
    language = _text(subject, "preferred_language", 8) or "en"
    if language not in current_app.config["PORTAL"].locales:
        raise Invalid("subject.preferred_language is not a supported language",
                      field="subject.preferred_language")
    out["new_subject"] = operations.NewSubject(
        given_name=_text(subject, "given_name", 200, required=True),
        family_name=_text(subject, "family_name", 200, required=True),
        date_of_birth=_date(dob, "subject.date_of_birth") if dob is not None else None,
        email=_text(subject, "email", 320), phone=_text(subject, "phone", 40),
        postal_address=_text(subject, "postal_address", 1000),
        safe_contact=_text(subject, "safe_contact", 2000), preferred_language=language)
    return out


def _agency_ref(agency_ref: str) -> str:
    if not agency_ref.strip() or len(agency_ref) > 100 or "\x00" in agency_ref:
        raise Invalid("the agency reference must be 1 to 100 characters, not only white "
                      "space, without NUL", field="agency_ref")
    return agency_ref


@bp.put("/holdings/<path:agency_ref>")
@require_scope("holdings:write")
def put_holding(agency_ref: str) -> tuple[Response, int]:
    """Register or update what the calling agency holds about a subject."""
    values = _parse_holding(json_body())
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
