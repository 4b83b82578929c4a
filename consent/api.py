"""The consent-check API routes (thin: parse, call the operation, answer)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager

from flask import Blueprint, Response, current_app, jsonify

from consent import schemas
from consent.check.service import Caller, CheckService
from portal.http import json_body, register_error_handlers
from portal.reference.apikeys import Authenticated, caller, require_scope

api = Blueprint("consent_api", __name__, url_prefix="/api/v1/consent")
register_error_handlers(api)


def _service() -> CheckService:
    service: CheckService = current_app.extensions["consent.checks"]
    return service


def _authenticate(key: str) -> Authenticated | None:
    return _service().authenticate(key)


def _caller() -> Caller:
    auth = caller()
    return Caller(agency_id=auth.agency_id, api_client_id=auth.client_id)


@contextmanager
def _key_confirmed() -> Iterator[None]:
    # The key was authenticated from the process's cache; a refusal of the body must not
    # be what a revoked key hears, so confirm the key before letting the error through.
    try:
        yield
    except Exception:
        _service().confirm_key(caller().client_id)
        raise


def _ttl() -> dt.timedelta:
    return dt.timedelta(seconds=current_app.config["PORTAL"].permit_ttl_seconds)


@api.post("/check")
@require_scope("consent:check", authenticate=_authenticate)
def check() -> Response:
    """May the caller share these categories about this person with that agency, now?"""
    with _key_confirmed():
        question = schemas.parse_question(json_body())
    # The decision and its audit entry are committed when this returns, before sending.
    [outcome] = _service().check(_caller(), [question], permit_ttl=_ttl())
    return _after_sending(jsonify(outcome.as_json()))


@api.post("/check/batch")
@require_scope("consent:check", authenticate=_authenticate)
def check_batch() -> Response:
    """Answer up to 1,000 questions in one call, each logged as its own check."""
    with _key_confirmed():
        questions = schemas.parse_batch(json_body())
    outcomes = _service().check(_caller(), questions, permit_ttl=_ttl(), batch=True)
    return _after_sending(jsonify({"results": [o.as_json() for o in outcomes]}))


def _after_sending(response: Response) -> Response:
    # The log checkpoint runs once the answer is on its way, not inside some check's commit.
    service = _service()
    if service.checkpoint_due():
        response.call_on_close(service.checkpoint)
    return response
