"""The command line: keys, demo data."""

from __future__ import annotations

import dataclasses
import re
import uuid
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.identity.models import Account, ClaimCode
from portal.reference.models import Agency, ApiClient, Holding
from tests.conftest import bearer
from tests.consent.selfservice.helpers import post, subject_of
from tests.identity_helpers import login, make_account


def _demo_key(output: str) -> str:
    """The key demo-data printed under its label."""
    match = re.search(r"Demo API key for fenshire-police[^\n]*\n\s+(cpk_\S+)", output)
    assert match, output
    return match.group(1)


def _claim_code(output: str) -> str | None:
    """The claim code demo-data printed for FP-DEMO-0001, if any."""
    match = re.search(r"Claim code for FP-DEMO-0001[^\n]*\n\s+(\w{4}-\w{4}-\w{4})\n", output)
    return match.group(1) if match else None


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
    old_key, new_key = _demo_key(first.output), _demo_key(second.output)
    live = session.scalars(select(ApiClient).where(ApiClient.revoked_at.is_(None))).all()
    assert len(live) == 1
    body = {"subject": {"agency_ref": "FP-DEMO-0001"}, "recipient": "victim-care",
            "purpose": "victim-support-referral",
            "categories": ["contact-details", "incident-report"]}
    assert client.post("/api/v1/consent/check", headers=bearer(old_key),
                       json=body).status_code == 401
    assert client.post("/api/v1/consent/check", headers=bearer(new_key),
                       json=body).get_json()["decision"] == "permit"


def test_demo_data_ends_with_the_url_the_key_and_a_check_to_try(app: Flask) -> None:
    output = app.test_cli_runner().invoke(args=["demo-data"]).output
    key = _demo_key(output)
    block = output[output.index("The demo portal:"):]
    assert "http://127.0.0.1:5000" in block.splitlines()[0]
    assert f"Authorization: Bearer {key}" in block and "FP-DEMO-0001" in block
    assert output.rstrip().splitlines()[-1] == "=" * 78


def test_demo_data_prints_a_claim_code_that_links_an_account(app: Flask, client: FlaskClient,
                                                             session: Session) -> None:
    # Given a newcomer who ran the demo twice and registered an account
    runner = app.test_cli_runner()
    stale = _claim_code(runner.invoke(args=["demo-data"]).output)
    output = runner.invoke(args=["demo-data"]).output
    code = _claim_code(output)
    assert code is not None and stale is not None and code != stale, output
    assert "/account/register" in output and "/my/link" in output and "outbox" in output
    account = make_account(session)
    login(client, account)
    # When they enter the code of the first run, it no longer works
    r = post(client, "/my/link", {"code": stale})
    assert r.status_code == 200 and "not valid" in r.get_data(as_text=True)
    # When they enter the code the last run printed
    r = post(client, "/my/link", {"code": code})
    # Then their account is linked to the demo person's records
    assert r.status_code == 302 and r.headers["Location"].endswith("/my/link/done")
    session.expire_all()
    assert session.get(Account, account.id).subject_id == subject_of(session, "FP-DEMO-0001")
    # and the next run says so instead of printing a code that could no longer link anyone
    again = runner.invoke(args=["demo-data"]).output
    assert _claim_code(again) is None and "already linked" in again


def test_demo_data_prints_no_claim_code_in_production(app: Flask, session: Session) -> None:
    app.config["PORTAL"] = dataclasses.replace(app.config["PORTAL"], env="production")
    result = app.test_cli_runner().invoke(args=["demo-data"])
    assert result.exit_code == 0, result.output
    assert _claim_code(result.output) is None and "Claim code" not in result.output
    assert session.scalars(select(ClaimCode.id)).all() == []


def test_holdings_link_is_a_partnership_admins_reviewed_decision(
        app: Flask, session: Session, demo: Any) -> None:
    from portal.audit import AuditEntry
    from portal.identity.models import Role
    from tests.identity_helpers import make_staff

    # Given Morgan, held by the police, and a housing provider with no link to Morgan
    sid = next(s for r, s, _ in demo.subjects if r == "FP-DEMO-0004")
    admin = make_staff(session, "fenshire-police", Role.PARTNERSHIP_ADMIN)
    officer = make_staff(session, "fenshire-police", Role.CONSENT_OFFICER)
    runner = app.test_cli_runner()
    base = ["holdings", "link", "--agency", "fen-housing", "--ref", "FH-M1", "--subject", sid,
            "--category", "housing-tenancy", "--since", "2026-02-01"]
    # When someone who is not a partnership admin, or nobody, is named as the reviewer
    for by in (officer.email, "nobody@example.org"):
        result = runner.invoke(args=[*base, "--by", by])
        # Then nothing is linked
        assert result.exit_code != 0, result.output
    session.rollback()
    assert session.scalar(select(Holding).where(Holding.agency_ref == "FH-M1")) is None
    # When a partnership admin is named, the housing provider holds Morgan, audited under them
    result = runner.invoke(args=[*base, "--by", admin.email.upper()])
    assert result.exit_code == 0, result.output
    session.rollback()
    holding = session.scalar(select(Holding).where(Holding.agency_ref == "FH-M1"))
    assert holding is not None and str(holding.subject_id) == sid
    entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "holding.create",
                                                    AuditEntry.object_id == str(holding.id)))
    assert entry is not None and entry.actor_id == str(admin.id)
    assert '"reviewed":true' in entry.details
    # And an unknown subject is refused
    result = runner.invoke(args=[*base[:7], str(uuid.uuid4()), *base[8:], "--by", admin.email])
    assert result.exit_code != 0 and "no such subject" in result.output
