"""Who may see whom: a staff member sees a person only through their own agency, and every
view of a person's page is logged in the shape the public portal shows to that person."""

from __future__ import annotations

import json
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.audit import AuditEntry
from portal.identity.models import Role
from portal.reference.models import Holding
from tests.identity_helpers import login, make_staff
from tests.staff_helpers import person_of


def _views(session: Session) -> list[AuditEntry]:
    session.rollback()
    return list(session.scalars(select(AuditEntry).where(AuditEntry.action == "subject.view")))


def test_a_view_of_a_persons_page_is_logged(client: FlaskClient, session: Session,
                                            demo: Any) -> None:
    officer = make_staff(session, "fenshire-police", Role.SAR_OFFICER, Role.CONSENT_OFFICER)
    person = person_of(session, "fenshire-police", "FP-1")
    login(client, officer)
    r = client.get(f"/staff/subjects/{person.id}")
    assert r.status_code == 200
    assert "Robin Ashdown" in r.get_data(as_text=True)
    assert r.headers["Cache-Control"] == "no-store"
    [entry] = _views(session)
    assert entry.subject_id == person.id
    assert entry.actor_type == "staff" and entry.actor_id == str(officer.id)
    assert json.loads(entry.details) == {"agency": "fenshire-police",
                                         "role": "consent-officer"}


def test_another_agencys_person_is_not_found_and_nothing_is_logged(
        client: FlaskClient, session: Session, demo: Any) -> None:
    # Given a person known only to the housing association
    person = person_of(session, "fen-housing", "FH-1")
    officer = make_staff(session, "fenshire-police", Role.CONSENT_OFFICER)
    login(client, officer)
    # When a police officer opens their page or searches for them
    r = client.get(f"/staff/subjects/{person.id}")
    # Then the page does not exist for them, and no view is recorded
    assert r.status_code == 404
    assert "Robin" not in client.get("/staff/subjects?q=ashdown").get_data(as_text=True)
    assert "Robin" not in client.get("/staff/subjects?q=FH-1").get_data(as_text=True)
    assert _views(session) == []
    # Nor can they start a first contact with them
    assert client.get(f"/staff/first-contact/?subject={person.id}").status_code == 404


def test_an_ended_holding_no_longer_gives_sight(client: FlaskClient, session: Session,
                                                demo: Any) -> None:
    from portal.reference import operations
    from tests.staff_helpers import SYSTEM

    person = person_of(session, "fen-housing", "FH-2")
    police = operations.agency_by_slug(session, "fenshire-police")
    operations.put_holding(session, police.id, "FP-9", categories=[],
                           since=person.created_at.date(), actor=SYSTEM, subject_id=person.id,
                           reviewed=True)
    session.commit()
    officer = make_staff(session, "fenshire-police", Role.SAR_OFFICER)
    login(client, officer)
    assert client.get(f"/staff/subjects/{person.id}").status_code == 200
    operations.end_holding(session, police.id, "FP-9", actor=SYSTEM)
    session.commit()
    assert client.get(f"/staff/subjects/{person.id}").status_code == 404
    assert [json.loads(e.details)["role"] for e in _views(session)] == ["sar-officer"]


def test_search_finds_by_name_and_by_reference(client: FlaskClient, session: Session,
                                               demo: Any) -> None:
    officer = make_staff(session, "fenshire-police", Role.CONSENT_OFFICER)
    login(client, officer)
    assert "Alex Rivera" in client.get("/staff/subjects?q=rivera").get_data(as_text=True)
    assert "Alex Rivera" in client.get("/staff/subjects?q=fp-demo-0001").get_data(as_text=True)
    assert client.get("/staff/subjects?q=" + "x" * 101).status_code == 400
    # Searching is not viewing: no entry until a page is opened
    assert _views(session) == []


def test_an_unknown_person_is_not_found(client: FlaskClient, session: Session,
                                        demo: Any) -> None:
    import uuid

    login(client, make_staff(session, "fenshire-police", Role.CONSENT_OFFICER))
    assert client.get(f"/staff/subjects/{uuid.uuid4()}").status_code == 404


def test_a_wildcard_search_matches_itself_not_everyone(client: FlaskClient, session: Session,
                                                       demo: Any) -> None:
    # Given an officer whose agency knows several people
    login(client, make_staff(session, "fenshire-police", Role.CONSENT_OFFICER))
    assert "Alex Rivera" in client.get("/staff/subjects?q=rivera").get_data(as_text=True)
    # When they search for LIKE's wildcards inside words long enough to search by
    for query in ("r%25a", "riv_ra", "%25ri%25", "ri%5C%25", "__ri__", "%25%25rivera%25"):
        r = client.get(f"/staff/subjects?q={query}")
        # Then the wildcards are literal: nobody is listed
        assert r.status_code == 200, query
        assert "Alex Rivera" not in r.get_data(as_text=True), query
        assert "Nobody your agency knows matches" in r.get_data(as_text=True), query
    # And wildcards alone are not a search at all
    for query in ("%25", "%25%25", "__", "%25%25%25%25 %25%25"):
        r = client.get(f"/staff/subjects?q={query}")
        assert r.status_code == 400 and "Alex Rivera" not in r.get_data(as_text=True), query


def test_a_search_needs_enough_of_a_name_or_a_reference(client: FlaskClient, session: Session,
                                                        demo: Any) -> None:
    # Given an officer whose agency knows Alex Rivera
    login(client, make_staff(session, "fenshire-police", Role.CONSENT_OFFICER))
    # When the search has fewer than two letters or digits in any word
    for query in ("%25", "r", "_", "a b c", "-.-", "r%25"):
        r = client.get(f"/staff/subjects?q={query}")
        # Then it is refused with a GOV.UK error, and nobody is listed
        assert r.status_code == 400, query
        page = r.get_data(as_text=True)
        assert "Enter at least 2 letters or digits" in page and "govuk-error-summary" in page
        assert "Alex Rivera" not in page, query
    # A short word beside a real one is ignored, and the real one still finds the person
    assert "Alex Rivera" in client.get("/staff/subjects?q=a+rivera").get_data(as_text=True)
    assert "Alex Rivera" in client.get("/staff/subjects?q=ri").get_data(as_text=True)


def test_another_agency_sees_neither_the_safe_contact_nor_what_it_did_not_supply(
        client: FlaskClient, session: Session, demo: Any) -> None:
    import datetime as dt

    from portal.reference import operations
    from tests.staff_helpers import SYSTEM

    # Given Morgan, registered by the police with safe-contact instructions and a consent to
    # the IDVA referral, and linked (after review) to the IDVA service and a housing provider
    safe = "Do not phone. Text only"
    morgan = session.scalar(select(Holding).where(Holding.agency_ref == "FP-DEMO-0004"))
    assert morgan is not None
    for slug, ref in (("fenshire-idva", "IDVA-9"), ("fen-housing", "FH-9")):
        operations.put_holding(session, operations.agency_by_slug(session, slug).id, ref,
                               categories=[], since=dt.date(2026, 3, 1), actor=SYSTEM,
                               subject_id=morgan.subject_id, reviewed=True)
    session.commit()
    url = f"/staff/subjects/{morgan.subject_id}"

    def page(agency: str) -> str:
        login(client, make_staff(session, agency, Role.CONSENT_OFFICER))
        r = client.get(url)
        assert r.status_code == 200
        return r.get_data(as_text=True)

    # When the police open the page, they see the instructions they recorded
    police = page("fenshire-police")
    assert safe in police and "FP-DEMO-0004" in police and "IDVA-9" not in police
    # Then the IDVA service sees its own reference and the choice about sharing with it,
    # but not the safe contact the police recorded, nor the others' references
    idva = page("fenshire-idva")
    assert safe not in idva and "Safe contact:" not in idva
    assert "IDVA-9" in idva and "FP-DEMO-0004" not in idva and "FH-9" not in idva
    assert "independent domestic violence adviser" in idva
    # And the housing provider sees nothing of the IDVA referral or of the others
    housing = page("fen-housing")
    assert safe not in housing and "FH-9" in housing
    assert "IDVA-9" not in housing and "FP-DEMO-0004" not in housing
    assert "independent domestic violence adviser" not in housing
    assert "Fenshire IDVA Service" not in housing


def test_a_recipient_the_person_allowed_sees_the_safe_contact_until_they_withdraw(
        client: FlaskClient, session: Session, demo: Any) -> None:
    import datetime as dt

    from consent import agreements, notices
    from consent import operations as consent_ops
    from portal.database import utcnow
    from portal.reference import operations
    from portal.reference.models import DataCategory, Purpose
    from tests.staff_helpers import SYSTEM

    # Given Morgan (safe contact recorded by the police), linked after review to the IDVA
    # service, and a consent agreement for the police to pass on a safe-contact method
    morgan = session.scalar(select(Holding).where(Holding.agency_ref == "FP-DEMO-0004"))
    assert morgan is not None
    police = operations.agency_by_slug(session, "fenshire-police")
    idva = operations.agency_by_slug(session, "fenshire-idva")
    operations.put_holding(session, idva.id, "IDVA-9", categories=[], since=dt.date(2026, 3, 1),
                           actor=SYSTEM, subject_id=morgan.subject_id, reviewed=True)
    category = session.scalar(select(DataCategory).where(DataCategory.slug == "safe-contact"))
    purpose = session.scalar(select(Purpose).where(Purpose.slug == "domestic-abuse-risk"))
    assert category is not None and purpose is not None
    made = agreements.create_agreement(session, "FEN-ISA-120", agreements.AgreementValues(
        title="Safe contact to the IDVA service", from_agency_id=police.id,
        to_agency_id=idva.id, purpose_id=purpose.id, lawful_basis="consent",
        valid_from=utcnow() - dt.timedelta(days=1), category_ids=(category.id,)), actor=SYSTEM)
    draft = notices.create_notice(session, "idva-safe-contact", actor=SYSTEM)
    notices.save_text(session, draft.id, "en", title="Passing on how to reach you safely",
                      body="The police would tell the IDVA service how to contact you safely.",
                      if_you_say_no="Nothing else changes.", status="approved",
                      languages=("en",), actor=SYSTEM)
    version = notices.publish(session, draft.notice_id, requires_reconsent=False,
                              agreement_ids=[made.id], languages=("en",), actor=SYSTEM)
    session.commit()
    login(client, make_staff(session, "fenshire-idva", Role.CONSENT_OFFICER))
    url = f"/staff/subjects/{morgan.subject_id}"
    safe = "Do not phone. Text only"
    # When Morgan has not said yes, the IDVA service does not see it
    assert safe not in client.get(url).get_data(as_text=True)
    # When Morgan says yes, it does
    consent_ops.give(session, morgan.subject_id, version.id, actor=SYSTEM, method="web")
    session.commit()
    assert safe in client.get(url).get_data(as_text=True)
    # And once Morgan withdraws, it no longer does
    consent_ops.withdraw(session, morgan.subject_id, version.notice_id, actor=SYSTEM,
                         method="web")
    session.commit()
    assert safe not in client.get(url).get_data(as_text=True)


def test_a_search_or_a_form_with_nul_is_refused_not_a_server_error(
        client: FlaskClient, session: Session, demo: Any) -> None:
    # PostgreSQL cannot compare or store NUL in text: the search is bad input, not a 500
    login(client, make_staff(session, "fenshire-police", Role.CONSENT_OFFICER))
    assert client.get("/staff/subjects?q=ri%00vera").status_code == 400
    assert client.get("/staff/subjects/%00").status_code in (400, 404)
    # And so is a public form carrying one (its CSRF token is good: the NUL is what is refused)
    from tests.staff_helpers import csrf

    public = client.application.test_client()
    token = csrf(public, "/sar/request")
    r = public.post("/sar/request", data={"csrf_token": token, "requester_name": "Mo\x00",
                                          "requester_email": "mo@example.org"})
    assert r.status_code == 400 and "Mo\x00" not in r.get_data(as_text=True)
