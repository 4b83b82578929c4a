"""The command line: keys, demo data."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.models import Agency, ApiClient, Holding
from tests.conftest import bearer


def test_api_keys_create_prints_the_key_alone_last(app: Flask, client: FlaskClient,
                                                   demo: Any) -> None:
    runner = app.test_cli_runner()
    result = runner.invoke(args=["api-keys", "create", "--agency", "fenshire-police",
                                 "--scope", "consent:check", "--scope", "holdings:write"])
    assert result.exit_code == 0, result.output
    key = result.output.strip().splitlines()[-1]
    assert key.startswith("cpk_") and " " not in key
    r = client.post("/api/v1/consent/check", headers=bearer(key), json={
        "subject": {"agency_ref": "FP-DEMO-0001"}, "recipient": "victim-care",
        "purpose": "victim-support-referral", "categories": ["contact-details"]})
    assert r.get_json()["decision"] == "permit"
    key_id = result.output.split("created key ")[1].split()[0]
    assert runner.invoke(args=["api-keys", "revoke", key_id]).exit_code == 0
    assert client.post("/api/v1/consent/check", headers=bearer(key), json={}).status_code == 401


def test_api_keys_create_refuses_bad_input(app: Flask, demo: Any) -> None:
    runner = app.test_cli_runner()
    bad_scope = runner.invoke(args=["api-keys", "create", "--agency", "fenshire-police",
                                    "--scope", "everything"])
    assert bad_scope.exit_code != 0 and "scopes must be" in bad_scope.output
    bad_agency = runner.invoke(args=["api-keys", "create", "--agency", "nobody",
                                     "--scope", "consent:check"])
    assert bad_agency.exit_code != 0 and "no agency" in bad_agency.output


def test_demo_data_is_idempotent_and_prints_a_working_key(app: Flask, client: FlaskClient,
                                                          session: Session) -> None:
    runner = app.test_cli_runner()
    first = runner.invoke(args=["demo-data"])
    second = runner.invoke(args=["demo-data"])
    assert first.exit_code == 0 and second.exit_code == 0, second.output
    assert "0 records created" in second.output and "FP-DEMO-0001" in second.output
    counts = (len(session.scalars(select(Agency.id)).all()),
              len(session.scalars(select(Holding.id)).all()))
    assert counts == (10, 6)
    old_key = first.output.strip().splitlines()[-1]
    new_key = second.output.strip().splitlines()[-1]
    live = session.scalars(select(ApiClient).where(ApiClient.revoked_at.is_(None))).all()
    assert len(live) == 1
    body = {"subject": {"agency_ref": "FP-DEMO-0001"}, "recipient": "victim-care",
            "purpose": "victim-support-referral",
            "categories": ["contact-details", "incident-report"]}
    assert client.post("/api/v1/consent/check", headers=bearer(old_key),
                       json=body).status_code == 401
    assert client.post("/api/v1/consent/check", headers=bearer(new_key),
                       json=body).get_json()["decision"] == "permit"
