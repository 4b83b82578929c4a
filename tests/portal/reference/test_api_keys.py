"""An agency admin's API keys: shown once, scoped, expiring, revoked at once, own agency only."""

from __future__ import annotations

import re
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.audit import AuditEntry
from portal.identity.models import Role
from portal.reference.models import ApiClient
from tests.conftest import bearer
from tests.identity_helpers import login, make_staff
from tests.staff_helpers import csrf

URL = "/staff/admin/api-keys"
CHECK = {"subject": {"agency_ref": "FP-DEMO-0001"}, "recipient": "victim-care",
         "purpose": "victim-support-referral", "categories": ["contact-details"]}


def _create(client: FlaskClient, **data: Any) -> Any:
    return client.post(URL, data={"csrf_token": csrf(client, URL), **data})


def _count(session: Session) -> int:
    session.rollback()
    return int(session.scalar(select(func.count()).select_from(ApiClient)) or 0)


def test_create_use_and_revoke_a_key(client: FlaskClient, session: Session, demo: Any) -> None:
    login(client, make_staff(session, "fenshire-police", Role.AGENCY_ADMIN))
    # When the admin creates a key for the consent check, expiring in 90 days
    r = _create(client, name="Athena", scopes="consent:check", expires_days="90")
    page = r.get_data(as_text=True)
    key = re.search(r'class="app-new-key">(cpk_[^<]+)<', page)
    assert r.status_code == 200 and key
    # Then it works, and its last use shows
    api = client.application.test_client()
    assert api.post("/api/v1/consent/check", json=CHECK,
                    headers=bearer(key.group(1))).get_json()["decision"] == "permit"
    listing = client.get(URL).get_data(as_text=True)
    assert key.group(1) not in listing  # shown once only
    assert "Athena" in listing
    session.rollback()
    row = session.scalar(select(ApiClient).where(ApiClient.name == "Athena"))
    assert row is not None and row.last_used_at is not None and row.expires_at is not None
    # When they revoke it, the next request is refused
    r = client.post(f"{URL}/{row.id}/revoke", data={"csrf_token": csrf(client, URL)})
    assert r.status_code == 302
    assert api.post("/api/v1/consent/check", json=CHECK,
                    headers=bearer(key.group(1))).status_code == 401
    session.rollback()
    actions = set(session.scalars(select(AuditEntry.action)))
    assert {"api_key.create", "api_key.revoke"} <= actions


def test_bad_input_creates_no_key(client: FlaskClient, session: Session, demo: Any) -> None:
    login(client, make_staff(session, "fenshire-police", Role.AGENCY_ADMIN))
    before = _count(session)
    cases = [
        ({"name": "", "scopes": "consent:check"}, "name"),
        ({"name": "x" * 201, "scopes": "consent:check"}, "name"),
        ({"name": "<script>", "scopes": "consent:check"}, "name"),
        ({"name": "ok"}, "scopes"),
        ({"name": "ok", "scopes": "admin:everything"}, "scopes"),
        ({"name": "ok", "scopes": "consent:check", "expires_days": "0"}, "expires_days"),
        ({"name": "ok", "scopes": "consent:check", "expires_days": "-5"}, "expires_days"),
        ({"name": "ok", "scopes": "consent:check", "expires_days": "9999"}, "expires_days"),
    ]
    for data, field in cases:
        r = _create(client, **data)
        assert r.status_code == 400, data
        assert f'href="#{field}"' in r.get_data(as_text=True), data
    assert _count(session) == before


def test_an_admin_cannot_revoke_another_agencys_key(app: Flask, client: FlaskClient,
                                                    session: Session, api_key: Any) -> None:
    key = api_key("victim-care", "consent:check")
    session.rollback()
    other = session.scalar(select(ApiClient).order_by(ApiClient.id.desc()))
    assert other is not None
    login(client, make_staff(session, "fenshire-police", Role.AGENCY_ADMIN))
    assert "victim-care" not in client.get(URL).get_data(as_text=True)
    r = client.post(f"{URL}/{other.id}/revoke", data={"csrf_token": csrf(client, URL)})
    assert r.status_code == 404
    session.rollback()
    assert session.get(ApiClient, other.id).revoked_at is None  # type: ignore[union-attr]
    assert key
