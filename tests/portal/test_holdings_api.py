"""PUT and DELETE /api/v1/holdings/{agency_ref}."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.audit import AuditEntry
from portal.reference.models import Holding, Subject
from tests.conftest import bearer

URL = "/api/v1/holdings/"


@pytest.fixture
def key(api_key: Callable[..., str]) -> str:
    return api_key("fenshire-police", "holdings:write")


def new_holding(**subject: Any) -> dict[str, Any]:
    return {"subject": {"given_name": "Jo", "family_name": "Bloggs", **subject},
            "categories": ["identity", "incident-report"], "since": "2026-03-01"}


def test_register_update_and_end(client: FlaskClient, key: str, session: Session) -> None:
    # Given a new reference with identity, a holding and a subject are created
    r = client.put(URL + "FP-2026-1", json=new_holding(date_of_birth="1990-02-03",
                                                       safe_contact="Text only"),
                   headers=bearer(key))
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    subject = session.get(Subject, uuid.UUID(body["subject_id"]))
    assert subject is not None and subject.safe_contact == "Text only"
    # When the same reference is sent again, it is updated, not duplicated
    r = client.put(URL + "FP-2026-1", json={"categories": ["case-notes"],
                                            "since": "2026-04-01"}, headers=bearer(key))
    assert r.status_code == 200 and r.get_json()["categories"] == ["case-notes"]
    assert r.get_json()["subject_id"] == body["subject_id"]
    # And DELETE ends it; a second DELETE is 404
    assert client.delete(URL + "FP-2026-1", headers=bearer(key)).status_code == 204
    assert client.delete(URL + "FP-2026-1", headers=bearer(key)).status_code == 404
    session.rollback()
    holding = session.scalar(select(Holding).where(Holding.agency_ref == "FP-2026-1"))
    assert holding is not None and holding.ended_at is not None
    actions = session.scalars(select(AuditEntry.action).where(
        AuditEntry.subject_id == subject.id)).all()
    assert actions == ["subject.register", "holding.create", "holding.update", "holding.end"]


def test_link_existing_subject_and_conflict(client: FlaskClient, key: str, demo: Any) -> None:
    sid = next(s for r, s, _ in demo.subjects if r == "FP-DEMO-0001")
    r = client.put(URL + "FP-OTHER", json={**new_holding(), "subject": {"subject_id": sid}},
                   headers=bearer(key))
    assert r.status_code == 201 and r.get_json()["subject_id"] == sid
    other = next(s for r, s, _ in demo.subjects if r == "FP-DEMO-0002")
    r = client.put(URL + "FP-OTHER", json={**new_holding(), "subject": {"subject_id": other}},
                   headers=bearer(key))
    assert r.status_code == 409


@pytest.mark.parametrize(("body", "field"), [
    (new_holding() | {"categories": ["nope"]}, "categories[0]"),
    (new_holding() | {"categories": []}, "categories"),
    (new_holding() | {"since": "yesterday"}, "since"),
    (new_holding() | {"since": "2999-01-01"}, "since"),
    (new_holding(given_name=""), "subject.given_name"),
    (new_holding(given_name="x" * 201), "subject.given_name"),
    (new_holding() | {"since": "1899-12-31"}, "since"),
    (new_holding(date_of_birth="2999-01-01"), "subject.date_of_birth"),
    (new_holding(preferred_language="fr"), "subject.preferred_language"),
    (new_holding(favourite_colour="red"), "subject.favourite_colour"),
    (new_holding() | {"agency": "victim-care"}, "agency"),
])
def test_bad_input_is_422_and_saves_nothing(client: FlaskClient, key: str, session: Session,
                                            body: dict[str, Any], field: str) -> None:
    before = session.scalars(select(Subject.id)).all()
    r = client.put(URL + "FP-BAD", json=body, headers=bearer(key))
    assert r.status_code == 422 and r.get_json()["field"] == field
    session.rollback()
    assert session.scalars(select(Subject.id)).all() == before


@pytest.mark.parametrize(("body", "field"), [
    ({"categories": ["identity"], "since": "2026-01-01"}, "subject"),
    ({"categories": ["identity"], "since": "2026-01-01", "subject": None}, "subject"),
    (new_holding() | {"subject": {"subject_id": str(uuid.uuid4())}}, "subject.subject_id"),
])
def test_naming_nothing_is_404_and_saves_nothing(client: FlaskClient, key: str,
                                                 session: Session, body: dict[str, Any],
                                                 field: str) -> None:
    # An update of a reference that holds nothing, or an id that names nobody, is not found
    # (a schema-valid request the document says may be answered 404, not a 422 it hides).
    before = session.scalars(select(Subject.id)).all()
    r = client.put(URL + "FP-NOTHING", json=body, headers=bearer(key))
    assert r.status_code == 404 and r.get_json()["field"] == field
    assert r.mimetype == "application/problem+json"
    session.rollback()
    assert session.scalars(select(Subject.id)).all() == before


def test_scope_and_agency_isolation(client: FlaskClient, api_key: Callable[..., str],
                                    key: str) -> None:
    check_only = api_key("fenshire-police", "consent:check")
    assert client.put(URL + "X", json=new_holding(), headers=bearer(check_only)).status_code \
        == 403
    assert client.put(URL + "X", json=new_holding(), headers=bearer(key)).status_code == 201
    # Another agency's key works on its own references only
    council = api_key("fenshire-city-council", "holdings:write")
    assert client.delete(URL + "X", headers=bearer(council)).status_code == 404
    assert client.put(URL + "X", json=new_holding(), headers=bearer(council)).status_code == 201


def test_html_in_names_is_stored_verbatim_not_interpreted(client: FlaskClient, key: str,
                                                          session: Session) -> None:
    name = "<script>alert(1)</script> Łukasz 王"
    r = client.put(URL + "FP-X", json=new_holding(given_name=name), headers=bearer(key))
    subject = session.get(Subject, uuid.UUID(r.get_json()["subject_id"]))
    assert subject is not None and subject.given_name == name


def test_ending_an_overlong_reference_is_a_documented_422(client: FlaskClient, key: str) -> None:
    # Found by tests/portal/test_api_fuzz.py: the answer was right but the document did not
    # list 422 for DELETE, so a client written from it could not expect it.
    r = client.delete(URL + "x" * 101, headers=bearer(key))
    assert r.status_code == 422 and r.mimetype == "application/problem+json"
    doc = client.get("/api/v1/openapi.json").get_json()
    assert "422" in doc["paths"]["/api/v1/holdings/{agency_ref}"]["delete"]["responses"]


def test_an_id_of_someone_the_agency_has_no_link_to_creates_nothing_and_reveals_nothing(
        client: FlaskClient, api_key: Callable[..., str], session: Session, demo: Any) -> None:
    from tests.identity_helpers import login, make_staff

    # Given Morgan, held by Fenshire Police, with safe-contact instructions
    sid = next(s for r, s, _ in demo.subjects if r == "FP-DEMO-0004")
    council = api_key("fenshire-city-council", "holdings:write")
    officer = make_staff(session, "fenshire-city-council", "consent-officer")
    before = session.scalar(select(func.count()).select_from(Holding))
    # When the council's system names Morgan's id, and then an id that names nobody
    attach = client.put(URL + "FCC-1", json={**new_holding(), "subject": {"subject_id": sid}},
                        headers=bearer(council))
    unknown = client.put(URL + "FCC-2", json={**new_holding(),
                                              "subject": {"subject_id": str(uuid.uuid4())}},
                         headers=bearer(council))
    # Then both get the same answer: nothing says Morgan is on the system
    assert attach.status_code == unknown.status_code == 404
    assert attach.mimetype == unknown.mimetype == "application/problem+json"
    assert attach.get_json() == unknown.get_json()
    assert attach.get_json()["field"] == "subject.subject_id"
    # And no holding was made
    session.rollback()
    assert session.scalar(select(func.count()).select_from(Holding)) == before
    # And the council's consent officer still cannot open Morgan's page or safe contact
    login(client, officer)
    page = client.get(f"/staff/subjects/{sid}")
    assert page.status_code == 404
    assert "Text only" not in page.get_data(as_text=True)
    # And the attempt is in the audit log, against Morgan, for the DPO to see
    refused = session.scalars(select(AuditEntry).where(
        AuditEntry.action == "holding.refused").order_by(AuditEntry.id)).all()
    assert [(e.subject_id, e.agency_id) for e in refused] == [
        (uuid.UUID(sid), refused[0].agency_id), (None, refused[0].agency_id)]
    assert '"reason":"not-linked"' in refused[0].details
    assert '"reason":"unknown"' in refused[1].details


def test_an_agency_linked_by_registering_the_person_may_add_a_reference(
        client: FlaskClient, key: str, session: Session) -> None:
    # Given a person the police registered through the API, whose holding then ended
    r = client.put(URL + "FP-R-1", json=new_holding(), headers=bearer(key))
    sid = r.get_json()["subject_id"]
    assert client.delete(URL + "FP-R-1", headers=bearer(key)).status_code == 204
    # When the police add another reference by id, it is accepted: they registered them
    r = client.put(URL + "FP-R-2", json={**new_holding(), "subject": {"subject_id": sid}},
                   headers=bearer(key))
    assert r.status_code == 201 and r.get_json()["subject_id"] == sid
