"""HTTP plumbing: the access rules every route declares, and problem+json answers (RFC 9457)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Blueprint, Response, current_app, request
from werkzeug.exceptions import HTTPException

from portal.errors import DomainError, Invalid

log = logging.getLogger("portal.api")


F = TypeVar("F", bound=Callable[..., Any])


# The only endpoints anyone may reach without an identity.
PUBLIC_ENDPOINTS = frozenset({"static", "public.index", "public.healthz", "api.openapi",
                              "ui.change_language", "public.exit_page",
                              "public.jwks"})


ACCESS_ATTR = "_portal_access"


PUBLIC = "public"


def access(rule: str) -> Callable[[F], F]:
    """Declare who may call a view (``"public"``, ``"api:<scope>"``, ``"staff:<roles>"``,
    ``"account"``). The decorator that enforces a rule sets it; ``public`` enforces nothing."""

    def mark(view: F) -> F:
        setattr(view, ACCESS_ATTR, rule)
        return view

    return mark


def public(view: F) -> F:
    """Mark a view as open to anyone (information pages, sign-in, registration)."""
    return access(PUBLIC)(view)


def is_public(endpoint: str, view: Callable[..., Any] | None) -> bool:
    """True if anyone may reach this endpoint without an identity."""
    return endpoint in PUBLIC_ENDPOINTS or access_rule(view) == PUBLIC


def access_rule(view: Callable[..., Any] | None) -> str | None:
    """The access rule a view declared, if any."""
    return getattr(view, ACCESS_ATTR, None)


# Every problem answered by these endpoints also says "deny", so a careless client that reads
# only "decision" still fails closed.
CHECK_ENDPOINTS = frozenset({"consent_api.check", "consent_api.check_batch"})


PROBLEM_TITLES = {
    400: "Malformed request", 401: "Unauthorised", 403: "Forbidden", 404: "Not found",
    405: "Method not allowed", 409: "Conflict", 413: "Request too large",
    415: "Unsupported media type", 422: "Unprocessable content", 429: "Too many requests",
    500: "Server error", 503: "Service unavailable",
}


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


def no_store(response: Response) -> Response:
    """Personal and account pages are never kept by a browser or a proxy."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response
