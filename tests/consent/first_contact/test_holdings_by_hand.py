"""A consent officer adds or ends a holding by hand, for their own agency only."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.audit import AuditEntry
from portal.identity.models import Role
from portal.reference.models import Holding
from tests.identity_helpers import login, make_staff
from tests.staff_helpers import csrf, person_of


def _holdings(session: Session, subject_id: Any) -> set[tuple[str, bool]]:
    session.rollback()
    return {(h.agency_ref, h.ended_at is None) for h in session.scalars(
        select(Holding).where(Holding.subject_id == subject_id))}


def test_add_and_end_a_holding(client: FlaskClient, session: Session, demo: Any) -> None:
    person = person_of(session, "fenshire-police", "FP-H1")
    login(client, make_staff(session, "fenshire-police", Role.CONSENT_OFFICER))
    url = f"/staff/first-contact/holdings/{person.id}"
    token = csrf(client, f"/staff/subjects/{person.id}")
    future = (dt.date.today() + dt.timedelta(days=3)).isoformat()
    # Bad input first: nothing is saved
    for data, field in [({"agency_ref": "", "since": "2026-01-01"}, "agency_ref"),
                        ({"agency_ref": "FP-H2", "since": future}, "since"),
                        ({"agency_ref": "FP-H2", "since": ""}, "since"),
                        ({"agency_ref": "<i>x</i>", "since": "2026-01-01"}, "agency_ref"),
                        ({"agency_ref": "FP-H2", "since": "2026-01-01",
                          "categories": "no-such-category"}, "categories"),
                        ({"agency_ref": "FP-DEMO-0001", "since": "2026-01-01"}, "agency_ref")]:
        r = client.post(url, data={"csrf_token": token, **data})
        assert r.status_code == 400, data
        assert f'href="#{field}"' in r.get_data(as_text=True), data
    assert _holdings(session, person.id) == {("FP-H1", True)}
    r = client.post(url, data={"csrf_token": token, "agency_ref": "FP-H2",
                               "since": "2026-01-01", "categories": ["identity", "case-notes"]})
    assert r.status_code == 302
    assert _holdings(session, person.id) == {("FP-H1", True), ("FP-H2", True)}
    holding = session.scalar(select(Holding).where(Holding.agency_ref == "FP-H2"))
    assert holding is not None
    assert {c.slug for c in holding.categories} == {"identity", "case-notes"}
    r = client.post(f"{url}/{holding.id}/end", data={"csrf_token": token})
    assert r.status_code == 302
    assert _holdings(session, person.id) == {("FP-H1", True), ("FP-H2", False)}
    actions = set(session.scalars(select(AuditEntry.action).where(
        AuditEntry.subject_id == person.id)))
    assert {"holding.create", "holding.end"} <= actions


def test_another_agencys_holding_cannot_be_ended(app: Flask, client: FlaskClient,
                                                 session: Session, demo: Any) -> None:
    person = person_of(session, "fen-housing", "FH-H1")
    from portal.reference import operations
    from tests.staff_helpers import SYSTEM

    police = operations.agency_by_slug(session, "fenshire-police")
    operations.put_holding(session, police.id, "FP-H9", categories=[],
                           since=dt.date(2026, 1, 1), actor=SYSTEM, subject_id=person.id,
                           reviewed=True)
    session.commit()
    housing = session.scalar(select(Holding).where(Holding.agency_ref == "FH-H1"))
    assert housing is not None
    login(client, make_staff(session, "fenshire-police", Role.CONSENT_OFFICER))
    token = csrf(client, f"/staff/subjects/{person.id}")
    r = client.post(f"/staff/first-contact/holdings/{person.id}/{housing.id}/end",
                    data={"csrf_token": token})
    assert r.status_code == 404
    assert ("FH-H1", True) in _holdings(session, person.id)
