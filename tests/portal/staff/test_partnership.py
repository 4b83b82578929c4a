"""Partnership admins add agencies, data categories and purposes; bad input saves nothing."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.identity.models import Role
from portal.models import Agency, AuditEntry, DataCategory, Purpose
from tests.identity_helpers import login, make_staff
from tests.staff_helpers import csrf

GOOD = {
    "agencies": {"slug": "fen-fire", "name": "Fenshire Fire and Rescue", "kind": "other",
                 "sar_contact": "dpo@fenfire.example"},
    "categories": {"slug": "biometrics", "name": "Biometric data", "special_category": "yes"},
    "purposes": {"slug": "fire-safety", "name": "Home fire safety visits"},
}
MODELS = {"agencies": Agency, "categories": DataCategory, "purposes": Purpose}


def _count(session: Session, kind: str) -> int:
    session.rollback()
    return int(session.scalar(select(func.count()).select_from(MODELS[kind])) or 0)


@pytest.mark.parametrize("kind", list(GOOD))
def test_add_and_refuse_bad_input(client: FlaskClient, session: Session, demo: Any,
                                  kind: str) -> None:
    login(client, make_staff(session, "fenshire-police", Role.PARTNERSHIP_ADMIN))
    url = f"/staff/partnership/{kind}"
    before = _count(session, kind)
    existing = {"agencies": "fen-housing", "categories": "health",
                "purposes": "safeguarding"}[kind]
    bad = [
        ({"slug": ""}, "slug"),
        ({"slug": "Not A Slug"}, "slug"),
        ({"slug": "x" * 65}, "slug"),
        ({"slug": existing}, "slug"),
        ({"name": ""}, "name"),
        ({"name": "<b>bold</b>"}, "name"),
        ({"name": "x" * 201}, "name"),
    ]
    if kind == "agencies":
        bad.append(({"kind": "spaceship"}, "kind"))
    for change, field in bad:
        r = client.post(url, data={"csrf_token": csrf(client, url), **GOOD[kind], **change})
        assert r.status_code == 400, change
        assert f'href="#{field}"' in r.get_data(as_text=True), change
    assert _count(session, kind) == before
    r = client.post(url, data={"csrf_token": csrf(client, url), **GOOD[kind]})
    assert r.status_code == 302
    assert _count(session, kind) == before + 1
    assert session.scalar(select(AuditEntry.action).where(
        AuditEntry.action == f"{kind}.create")) == f"{kind}.create"
    if kind == "categories":
        row = session.scalar(select(DataCategory).where(DataCategory.slug == "biometrics"))
        assert row is not None and row.special_category and not row.criminal_offence
