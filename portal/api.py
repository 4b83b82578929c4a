"""The machine API's shared plumbing (keys, problem JSON, bodies) and its holdings routes."""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import uuid
from collections.abc import Callable
from typing import Any, TypeVar, cast

from flask import Blueprint, Response, current_app, g, jsonify, request
from werkzeug.exceptions import HTTPException

from portal import database, operations
from portal.audit import Actor
from portal.errors import DomainError, Invalid
from portal.openapi import EARLIEST, Reference, openapi_document
from portal.security import access

log = logging.getLogger("portal.api")

bp = Blueprint("api", __name__, url_prefix="/api/v1")

# Every problem answered by these endpoints also says "deny", so a careless client that reads
# only "decision" still fails closed.
CHECK_ENDPOINTS = frozenset({"consent_api.check", "consent_api.check_batch"})
PROBLEM_TITLES = {
    400: "Malformed request", 401: "Unauthorised", 403: "Forbidden", 404: "Not found",
    405: "Method not allowed", 409: "Conflict", 413: "Request too large",
    415: "Unsupported media type", 422: "Unprocessable content", 429: "Too many requests",
    500: "Server error", 503: "Service unavailable",
}

F = TypeVar("F", bound=Callable[..., Any])


def problem(status: int, detail: str, *, code: str | None = None, field: str | None = None,
            headers: dict[str, str] | None = None) -> Response:
    """An RFC 9457 problem response; check endpoints add ``"decision": "deny"``."""
    body: dict[str, Any] = {
        "type": f"/api/v1/problems/{code or status}",
        "title": PROBLEM_TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
    }
    if field:
        body["field"] = field
    if request.endpoint in CHECK_ENDPOINTS:
        body["decision"] = "deny"
    response = current_app.response_class(json.dumps(body), status=status,
                                          mimetype="application/problem+json")
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def caller() -> operations.Authenticated:
    """The authenticated key of this request (set by ``require_scope``)."""
    auth: operations.Authenticated = g.api_key
    return auth


def caller_actor() -> Actor:
    """The audit actor for the calling key."""
    auth = caller()
    return Actor("api_client", str(auth.client_id), auth.agency_id)


def require_scope(scope: str, *, authenticate: Callable[[str], operations.Authenticated | None]
                  | None = None) -> Callable[[F], F]:
    """Authenticate the Bearer key and require a scope (401 or 403 otherwise).

    ``authenticate`` replaces the database lookup (the check path uses its cache).
    """

    def decorator(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            header = request.headers.get("Authorization", "")
            scheme, _, key = header.partition(" ")
            challenge = {"WWW-Authenticate": 'Bearer realm="consent-portal"'}
            if scheme.lower() != "bearer" or not key.strip():
                return problem(401, "send an API key as 'Authorization: Bearer <key>'",
                               code="missing-key", headers=challenge)
            auth = authenticate(key.strip()) if authenticate is not None else \
                operations.authenticate_key(database.session(), key.strip())
            if auth is None:
                return problem(401, "the API key is unknown, expired or revoked",
                               code="bad-key", headers=challenge)
            if scope not in auth.scopes:
                return problem(403, f"this key lacks the {scope} scope", code="missing-scope")
            g.api_key = auth
            return view(*args, **kwargs)

        return access(f"api:{scope}")(cast(F, wrapper))

    return decorator


def json_body() -> Any:
    """The request's JSON body; raises HTTP errors for the wrong type, size or syntax."""
    if request.mimetype != "application/json":
        raise _Http(415, "send the body as application/json")
    raw = request.get_data(cache=False)  # over MAX_CONTENT_LENGTH raises 413
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise _Http(400, f"the body is not valid JSON: {exc}") from exc
    if b"\\u0000" in raw:  # JSON can only carry a NUL escaped
        _refuse_nul(body, "")
    return body


def _refuse_nul(value: Any, where: str) -> None:
    # PostgreSQL cannot store NUL in text: refused here as bad input, never a 503 later.
    if isinstance(value, str):
        if "\x00" in value:
            raise Invalid(f"{where or 'the body'} contains a NUL character",
                          field=where or None)
    elif isinstance(value, dict):
        for key, item in value.items():
            _refuse_nul(key, where)
            _refuse_nul(item, f"{where}.{key}" if where else str(key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _refuse_nul(item, f"{where}[{i}]")


def http_problem(exc: HTTPException) -> Response:
    """A Werkzeug HTTP error as a problem response, keeping the headers the status requires
    (``Allow`` on a 405, ``Retry-After``, ``WWW-Authenticate``)."""
    headers = {key: value for key, value in exc.get_headers()
               if key.lower() != "content-type"}
    return problem(exc.code or 500, exc.description or "", code=str(exc.code), headers=headers)


class _Http(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def register_error_handlers(blueprint: Blueprint) -> None:
    """Make every error in an API blueprint a problem response; unknown errors fail closed."""

    @blueprint.errorhandler(_Http)
    def _http(exc: _Http) -> Response:
        return problem(exc.status, exc.detail)

    @blueprint.errorhandler(DomainError)
    def _domain(exc: DomainError) -> Response:
        return problem(exc.status, exc.message, code=exc.code, field=exc.field)

    @blueprint.errorhandler(HTTPException)
    def _werkzeug(exc: HTTPException) -> Response:
        return http_problem(exc)

    @blueprint.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        # A database outage, a timeout, a bug: never a permit.
        log.exception("api request failed", extra={"endpoint": request.endpoint})
        return problem(503, "the service could not answer; treat this as a deny",
                       code="unavailable", headers={"Retry-After": "1"})


register_error_handlers(bp)


@bp.get("/openapi.json")
def openapi() -> Response:
    """The OpenAPI 3.1 document for this API, naming the slugs this partnership uses."""
    from sqlalchemy import select

    from portal.models import Agency, DataCategory, Purpose

    db = database.session()
    reference = Reference(
        agencies=tuple(db.scalars(select(Agency.slug).order_by(Agency.slug))),
        purposes=tuple(db.scalars(select(Purpose.slug).order_by(Purpose.slug))),
        categories=tuple(db.scalars(select(DataCategory.slug).order_by(DataCategory.slug))),
        languages=tuple(current_app.config["PORTAL"].locales))
    return jsonify(openapi_document(reference))


def _date(value: Any, field: str) -> dt.date:
    if not isinstance(value, str):
        raise Invalid(f"{field} must be a date (YYYY-MM-DD)", field=field)
    try:
        day = dt.date.fromisoformat(value)
    except ValueError as exc:
        raise Invalid(f"{field} must be a date (YYYY-MM-DD)", field=field) from exc
    if day > dt.date.today():
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
