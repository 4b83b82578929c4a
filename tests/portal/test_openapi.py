"""The OpenAPI 3.1 document is valid and describes every API route."""

from __future__ import annotations

import re

from flask import Flask
from flask.testing import FlaskClient
from openapi_spec_validator import validate


def test_document_is_valid_openapi_3_1(client: FlaskClient) -> None:
    doc = client.get("/api/v1/openapi.json").get_json()
    assert doc["openapi"].startswith("3.1")
    validate(doc)


def test_every_api_route_and_method_is_documented(app: Flask, client: FlaskClient) -> None:
    doc = client.get("/api/v1/openapi.json").get_json()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/"):
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        assert path in doc["paths"], path
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}:
            assert method.lower() in doc["paths"][path], (path, method)


def test_a_405_names_the_allowed_methods(client: FlaskClient) -> None:
    # A method an address does not take is answered 405 with Allow (RFC 9110), on the API as
    # a problem document and on pages alike.
    for method, url, allowed in (("GET", "/api/v1/consent/check", {"POST"}),
                                 ("DELETE", "/api/v1/sar/tasks", {"GET"}),
                                 ("PATCH", "/api/v1/holdings/FP-1", {"PUT", "DELETE"}),
                                 ("POST", "/api/v1/openapi.json", {"GET"}),
                                 ("PUT", "/sar/request", {"GET", "POST"})):
        r = client.open(url, method=method)
        assert r.status_code == 405, url
        methods = {m.strip() for m in r.headers.get("Allow", "").split(",")}
        assert allowed <= methods, (url, r.headers.get("Allow"))
        if url.startswith("/api/"):
            assert r.mimetype == "application/problem+json"


def test_the_document_states_the_slugs_and_the_non_blank_references(
        client: FlaskClient, demo: object) -> None:
    doc = client.get("/api/v1/openapi.json").get_json()
    validate(doc)
    schemas = doc["components"]["schemas"]
    check = schemas["CheckRequest"]["properties"]
    # Only the slugs this partnership uses are valid, so an unknown one is not schema-valid
    assert "fenshire-police" in check["recipient"]["enum"]
    assert "victim-support-referral" in check["purpose"]["enum"]
    assert "contact-details" in check["categories"]["items"]["enum"]
    holding = schemas["HoldingRequest"]["properties"]
    assert holding["categories"]["items"]["enum"] == check["categories"]["items"]["enum"]
    # A reference or a name of white space only is not schema-valid either
    blank = re.compile(schemas["SubjectRef"]["oneOf"][0]["properties"]["agency_ref"]["pattern"])
    for text in (" ", "\t\n", "\u00a0\u2003", "\x1c\x1f"):
        assert not blank.search(text), repr(text)
        assert not text.strip()
    assert blank.search(" FP-1 ")
    ref = doc["paths"]["/api/v1/holdings/{agency_ref}"]["parameters"][0]["schema"]
    assert ref["pattern"] == blank.pattern
    # Nor is a date in the future, or before 1900
    since = re.compile(holding["since"]["pattern"])
    assert since.match("2000-02-29") and since.match("1900-01-01")
    assert not since.match("2999-01-01") and not since.match("1899-12-31")


def test_the_document_states_every_answer_and_links_the_task_routes(client: FlaskClient) -> None:
    doc = client.get("/api/v1/openapi.json").get_json()
    paths = doc["paths"]
    for path, item in paths.items():
        for method, operation in item.items():
            if method == "parameters" or path.endswith("openapi.json"):
                continue
            answers = set(operation["responses"])
            # Every protected route says how it refuses a key, and that it may be unavailable
            assert {"401", "403", "503"} <= answers, (method, path)
            if "requestBody" in operation:
                assert {"400", "413", "415", "422"} <= answers, (method, path)
            if "{" in path:
                assert "404" in answers, (method, path)
    tasks = paths["/api/v1/sar/tasks"]["get"]["responses"]["200"]["links"]
    assert {link["operationId"] for link in tasks.values()} == {
        "getSarTask", "supplySarRecords", "answerNothingHeld"}
    one = paths["/api/v1/sar/tasks/{task_id}"]["get"]["responses"]["200"]["links"]
    assert {link["parameters"]["task_id"] for link in one.values()} == {"$response.body#/id"}
