"""Deny by default on the machine API: every /api/ route, every scope, own agency and another's.

Walks ``app.url_map`` for the routes under /api/ and proves that the anonymous (and an
unknown or revoked key) get 401 problem JSON, that a key without the route's scope gets 403,
that the right scope of the resource's own agency gets through, and that a key of another
agency touching the first one's holdings or SAR tasks is "not found" and changes nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.http import access_rule, is_public
from portal.reference import apikeys
from portal.reference.models import ApiClient, Holding
from sar.models import SarRecord, SarRequest, SarTask
from tests.conftest import STAFF, bearer
from tests.sar.conftest import filed, morgan, officers  # noqa: F401 - fixtures

SCOPES = ("consent:check", "holdings:write", "sar:supply")
# The scope each API endpoint needs (None: public).
EXPECTED: dict[str, str | None] = {
    "api.openapi": None,
    "api.put_holding": "holdings:write",
    "api.delete_holding": "holdings:write",
    "consent_api.check": "consent:check",
    "consent_api.check_batch": "consent:check",
    "sar_api.list_tasks": "sar:supply",
    "sar_api.get_task": "sar:supply",
    "sar_api.supply": "sar:supply",
    "sar_api.nothing_held": "sar:supply",
}
QUESTION = {"subject": {"agency_ref": "FP-DEMO-0001"}, "recipient": "victim-care",
            "purpose": "victim-support-referral", "categories": ["contact-details"]}
NEW_HOLDING = {"subject": {"given_name": "Jo", "family_name": "Bloggs"},
               "categories": ["identity"], "since": "2026-03-01"}
# A body each endpoint accepts from the right caller.
BODIES: dict[str, Any] = {
    "api.put_holding": NEW_HOLDING,
    "consent_api.check": QUESTION,
    "consent_api.check_batch": {"questions": [QUESTION]},
    "sar_api.supply": {"records": [{"id": "1", "kind": "note", "title": "A note"}]},
}


def _routes(app: Flask, ref: str = "FP-DEMO-0001",
            task: str | None = None) -> list[tuple[str, str, str]]:
    out = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/"):
            continue
        url = rule.rule.replace("<path:agency_ref>", ref).replace(
            "<task_id>", task or str(uuid.uuid4()))
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            out.append((rule.endpoint, method, url))
    return out


def _is_problem(r: Any, status: int) -> bool:
    body = r.get_json(silent=True) or {}
    return r.status_code == status and r.mimetype == "application/problem+json" \
        and body.get("status") == status


def test_every_api_route_is_in_the_matrix(app: Flask) -> None:
    endpoints = {e for e, _m, _u in _routes(app)}
    assert endpoints == set(EXPECTED)
    for endpoint, scope in EXPECTED.items():
        view = app.view_functions[endpoint]
        assert is_public(endpoint, view) == (scope is None), endpoint
        if scope is not None:
            assert access_rule(view) == f"api:{scope}", endpoint


def test_the_anonymous_and_dead_keys_get_401_problem_json(
        app: Flask, client: FlaskClient, session: Session, api_key: Callable[..., str]) -> None:
    # Given a key that was revoked, one that never existed and malformed headers
    revoked = api_key("fenshire-police", *SCOPES)
    client_row = session.scalar(select(ApiClient).where(
        ApiClient.key_prefix == revoked[:12]))
    assert client_row is not None
    apikeys.revoke_api_key(session, client_row.id, actor=STAFF)
    session.commit()
    headers: list[dict[str, str]] = [
        {}, {"Authorization": "Basic dXNlcjpwYXNz"}, {"Authorization": "Bearer "},
        bearer("cpk_" + "x" * 43), bearer(revoked)]
    for endpoint, method, url in _routes(app):
        if EXPECTED[endpoint] is None:
            assert client.open(url, method=method).status_code == 200
            continue
        for header in headers:
            r = client.open(url, method=method, json=BODIES.get(endpoint, {}), headers=header)
            # Then each is refused as unauthorised, in problem JSON, with a Bearer challenge
            assert _is_problem(r, 401), (endpoint, method, header, r.status_code)
            assert r.headers["WWW-Authenticate"].startswith("Bearer"), endpoint


def test_a_key_without_the_scope_gets_403(app: Flask, client: FlaskClient,
                                          api_key: Callable[..., str]) -> None:
    keys = {scope: api_key("fenshire-police", scope) for scope in SCOPES}
    for endpoint, method, url in _routes(app):
        needed = EXPECTED[endpoint]
        if needed is None:
            continue
        for scope, key in keys.items():
            if scope == needed:
                continue
            r = client.open(url, method=method, json=BODIES.get(endpoint, {}),
                            headers=bearer(key))
            assert _is_problem(r, 403), (endpoint, method, scope, r.status_code)


def _task_of(sar: SarRequest, slug: str) -> str:
    return str(next(t.id for t in sar.tasks if t.agency.slug == slug))


@pytest.fixture
def world(session: Session, api_key: Callable[..., str],
          filed: Callable[..., SarRequest]) -> dict[str, Any]:  # noqa: F811 - fixture
    """Morgan's SAR with a task for the police and one for the IDVA service; a key with
    every scope for the police, the IDVA service and the council."""
    sar = filed()
    return {"sar": sar, "police_task": _task_of(sar, "fenshire-police"),
            "idva_task": _task_of(sar, "fenshire-idva"),
            **{slug: api_key(slug, *SCOPES)
               for slug in ("fenshire-police", "fenshire-idva", "fenshire-city-council")}}


def test_the_right_scope_of_the_owning_agency_gets_through(
        app: Flask, client: FlaskClient, world: dict[str, Any]) -> None:
    police = bearer(world["fenshire-police"])
    expected = {"api.put_holding": {200, 201}, "api.delete_holding": {204},
                "consent_api.check": {200}, "consent_api.check_batch": {200},
                "sar_api.list_tasks": {200}, "sar_api.get_task": {200},
                "sar_api.supply": {200, 201}, "sar_api.nothing_held": {200}}
    # PUT registers FP-MATRIX before DELETE ends it; the IDVA service answers "nothing held"
    # on its own task (the police supply records on theirs)
    routes = sorted(_routes(app, "FP-MATRIX", world["police_task"]),
                    key=lambda r: r[1] == "DELETE")
    for endpoint, method, url in routes:
        if EXPECTED[endpoint] is None:
            continue
        headers = police
        if endpoint == "sar_api.nothing_held":
            url = url.replace(world["police_task"], world["idva_task"])
            headers = bearer(world["fenshire-idva"])
        r = client.open(url, method=method, json=BODIES.get(endpoint), headers=headers)
        assert r.status_code in expected[endpoint], (endpoint, method, r.status_code,
                                                     r.get_data(as_text=True)[:300])


def test_another_agency_finds_nothing_of_the_first_and_changes_nothing(
        app: Flask, client: FlaskClient, session: Session, world: dict[str, Any],
        demo: Any) -> None:
    police_task = world["police_task"]
    morgan_id = next(s for r, s, _ in demo.subjects if r == "FP-DEMO-0004")

    def snapshot() -> tuple[Any, ...]:
        session.rollback()
        holding = session.scalar(select(Holding).where(Holding.agency_ref == "FP-DEMO-0004"))
        assert holding is not None
        task = session.get(SarTask, uuid.UUID(police_task))
        assert task is not None
        return (holding.agency_id, holding.subject_id, holding.ended_at,
                sorted(c.slug for c in holding.categories), task.status,
                session.scalar(select(func.count()).select_from(SarRecord)),
                session.scalar(select(func.count()).select_from(Holding).where(
                    Holding.subject_id == holding.subject_id)))

    before = snapshot()
    for other in ("fenshire-idva", "fenshire-city-council"):
        key = bearer(world[other])
        # The police's reference is not the other agency's to end
        r = client.delete("/api/v1/holdings/FP-DEMO-0004", headers=key)
        assert _is_problem(r, 404), other
        # Naming the police's person by id attaches nobody (the IDVA service already holds
        # Morgan, so it is linked; the council is not)
        if other == "fenshire-city-council":
            r = client.put("/api/v1/holdings/FCC-MORGAN", headers=key,
                           json={**NEW_HOLDING, "subject": {"subject_id": morgan_id}})
            assert _is_problem(r, 404) and r.get_json()["field"] == "subject.subject_id"
        # The police's SAR task is not found by any route, and its list does not show it
        for endpoint, method, url in _routes(app, task=police_task):
            if not endpoint.startswith("sar_api.") or endpoint == "sar_api.list_tasks":
                continue
            r = client.open(url, method=method, json=BODIES.get(endpoint), headers=key)
            assert _is_problem(r, 404), (other, endpoint, r.status_code)
        listed = client.get("/api/v1/sar/tasks?all=1", headers=key).get_json()["tasks"]
        assert police_task not in {t["id"] for t in listed}
        # And a check about the police's reference is the answer for nobody
        r = client.post("/api/v1/consent/check", headers=key, json={
            **QUESTION, "subject": {"agency_ref": "FP-DEMO-0001"}})
        assert r.status_code == 200 and r.get_json()["reason"] in {"no_consent",
                                                                   "no_agreement"}
    # Then nothing of the police's changed
    assert snapshot() == before
