"""The consent-check API routes (thin: parse, call the operation, answer)."""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, Response, current_app, jsonify

from consent import operations, schemas
from portal import database
from portal.api import caller, json_body, register_error_handlers, require_scope

api = Blueprint("consent_api", __name__, url_prefix="/api/v1/consent")
register_error_handlers(api)


def _caller() -> operations.Caller:
    auth = caller()
    return operations.Caller(agency_id=auth.agency_id, api_client_id=auth.client_id)


def _ttl() -> dt.timedelta:
    return dt.timedelta(seconds=current_app.config["PORTAL"].permit_ttl_seconds)


@api.post("/check")
@require_scope("consent:check")
def check() -> Response:
    """May the caller share these categories about this person with that agency, now?"""
    question = schemas.parse_question(json_body())
    [outcome] = operations.check(database.session(), _caller(), [question], permit_ttl=_ttl())
    # The decision and its audit entry are committed by the request's end, before sending.
    return jsonify(outcome.as_json())


@api.post("/check/batch")
@require_scope("consent:check")
def check_batch() -> Response:
    """Answer up to 1,000 questions in one call, each logged as its own check."""
    questions = schemas.parse_batch(json_body())
    outcomes = operations.check(database.session(), _caller(), questions, permit_ttl=_ttl(),
                                batch=True)
    return jsonify({"results": [o.as_json() for o in outcomes]})
