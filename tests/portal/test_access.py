"""Deny by default: walk every route and prove the anonymous and the wrong scope are refused."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from portal.http import PUBLIC_ENDPOINTS, access_rule, is_public
from tests.conftest import bearer


def _routes(app: Flask) -> list[tuple[str, str, str]]:
    out = []
    for rule in app.url_map.iter_rules():
        url = rule.rule.replace("<path:agency_ref>", "FP-DEMO-0001")
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            out.append((rule.endpoint, method, url))
    return out


def test_every_route_is_public_by_name_or_declares_access(app: Flask) -> None:
    for endpoint, _method, _url in _routes(app):
        if endpoint in PUBLIC_ENDPOINTS:
            continue
        assert access_rule(app.view_functions[endpoint]), f"{endpoint} declares no access rule"


def test_anonymous_is_refused_everywhere_but_the_allow_list(app: Flask, client: FlaskClient,
                                                            demo: Any) -> None:
    for endpoint, method, url in _routes(app):
        if is_public(endpoint, app.view_functions[endpoint]):
            continue
        r = client.open(url, method=method, json={})
        if r.status_code == 302:
            # Pages send the anonymous to a sign-in page, never onwards to the content.
            assert "sign-in" in r.headers["Location"] or r.headers["Location"] == "/", \
                (endpoint, r.headers["Location"])
            continue
        assert r.status_code in {400, 401, 403, 404}, (endpoint, method, r.status_code)


def test_wrong_scope_is_refused_on_every_api_route(app: Flask, client: FlaskClient,
                                                   api_key: Callable[..., str]) -> None:
    keys = {scope: api_key("fenshire-police", scope)
            for scope in ("consent:check", "holdings:write", "sar:supply")}
    for endpoint, method, url in _routes(app):
        rule = access_rule(app.view_functions[endpoint]) or ""
        if not rule.startswith("api:"):
            continue
        needed = rule.removeprefix("api:")
        for scope, key in keys.items():
            if scope == needed:
                continue
            r = client.open(url, method=method, json={}, headers=bearer(key))
            assert r.status_code == 403, (endpoint, method, scope, r.status_code)


def test_a_route_without_an_access_rule_is_refused(app: Flask) -> None:
    # Given a route someone forgot to protect
    app.add_url_rule("/forgotten", "forgotten", lambda: "secret")
    # Then the deny-by-default guard refuses it
    assert app.test_client().get("/forgotten").status_code == 404


def test_public_endpoints_answer(client: FlaskClient) -> None:
    assert client.get("/").status_code == 200
    assert client.get("/healthz").get_json() == {"status": "ok"}
    assert client.get("/api/v1/openapi.json").status_code == 200
