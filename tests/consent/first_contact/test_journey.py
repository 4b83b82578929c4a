"""The first-contact journey through the pages, without a browser."""

from __future__ import annotations

import datetime as dt
import io
import json
import re
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from pypdf import PdfReader
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from consent import receipts
from consent.first_contact.models import FirstContactReceipt
from consent.models import ConsentEvent, Notice, NoticeVersion
from portal.identity import claims
from portal.identity.models import ClaimCode, Role
from portal.reference.models import Holding, Subject
from tests.identity_helpers import login, make_account, make_staff
from tests.staff_helpers import SYSTEM, csrf, person_of

START = "/staff/first-contact/"
PERSON = {"given_name": "Dana", "family_name": "Kowalska", "date_of_birth": "1985-02-03",
          "language": "pl", "email": "dana@example.org", "phone": "07700 900123",
          "safe_contact": "Do not phone after 6pm", "agency_ref": "FP-2026-0042"}


def _post(client: FlaskClient, url: str, data: dict[str, str]) -> Any:
    return client.post(url, data={"csrf_token": csrf(client, "/staff/"), **data})


def _officer(client: FlaskClient, session: Session) -> Any:
    officer = make_staff(session, "fenshire-police", Role.CONSENT_OFFICER)
    login(client, officer)
    return officer


def _version_ids(client: FlaskClient) -> list[str]:
    page = client.get(START + "choices").get_data(as_text=True)
    return list(dict.fromkeys(re.findall(r'name="notice-(\d+)"', page)))


def _count(session: Session, model: Any) -> int:
    session.rollback()
    return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_the_whole_journey_records_choices_with_evidence(app: Flask, client: FlaskClient,
                                                         session: Session, demo: Any) -> None:
    officer = _officer(client, session)
    # Step 1: register the person with the agency's reference
    r = _post(client, START, PERSON)
    assert r.status_code == 302 and r.headers["Location"].endswith("/who")
    # Step 2: an adult, an interpreter was used
    r = _post(client, START + "who", {"interpreter": "yes", "interpreter_language": "Polish"})
    assert r.headers["Location"].endswith("/choices")
    # Step 3: each notice in Polish, nothing pre-selected, saying no changes no service
    page = client.get(START + "choices").get_data(as_text=True)
    assert "Przekazanie Twoich danych do Victim Care" in page
    assert "checked" not in page
    assert 'class="app-read-aloud"' in page
    ids = _version_ids(client)
    assert len(ids) == 3  # Victim Care, restorative justice, IDVA (v2)
    choices = {f"notice-{ids[0]}": "yes", f"notice-{ids[1]}": "no", f"notice-{ids[2]}": "yes"}
    r = _post(client, START + "choices", choices)
    assert r.headers["Location"].endswith("/sign")
    # Step 4: typed name, witnessed
    r = _post(client, START + "sign", {"typed_name": "Dana Kowalska", "witness": "yes"})
    assert r.status_code == 302
    done_url = r.headers["Location"]
    done = client.get(done_url).get_data(as_text=True)
    code = re.search(r'class="app-claim-code">([A-Z0-9-]+)<', done)
    assert code
    # The events carry the evidence
    session.rollback()
    subject = session.scalar(select(Subject).where(Subject.family_name == "Kowalska"))
    assert subject is not None and subject.preferred_language == "pl"
    assert subject.safe_contact == "Do not phone after 6pm"
    holding = session.scalar(select(Holding).where(Holding.subject_id == subject.id))
    assert holding is not None and holding.agency_ref == "FP-2026-0042"
    events = list(session.scalars(select(ConsentEvent).where(
        ConsentEvent.subject_id == subject.id).order_by(ConsentEvent.id)))
    assert [e.event_type for e in events] == ["given", "refused", "given"]
    assert {e.method for e in events} == {"first-contact"}
    assert {e.language for e in events} == {"pl"}
    evidence = json.loads(events[0].evidence)
    assert evidence["signature"] == {"kind": "typed", "name": "Dana Kowalska"}
    assert evidence["witness"]["staff_id"] == officer.id
    assert evidence["interpreter"] == {"used": True, "language": "Polish"}
    assert evidence["notice_versions_shown"] == [int(i) for i in ids]
    # Step 5: the PDF receipt in Polish, with each choice and the claim code
    receipt_id = done_url.rsplit("/", 1)[1]
    pdf = client.get(f"{START}receipts/{receipt_id}/receipt.pdf")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.data)).pages)
    assert "Przekazanie Twoich danych do Victim Care" in text
    assert code.group(1) in text
    # The signed Kantara receipt verifies with the published key
    body = client.get(f"{START}receipts/{receipt_id}/receipt.json").get_json()
    assert body["receipt"]["consentReceiptID"] == receipt_id
    assert receipts.verify(body["jws"], receipts.public_jwks(app.config["PORTAL"])) == \
        body["receipt"]
    # The claim code links a public account to the person
    account = make_account(session)
    linked = claims.redeem(session, account, code.group(1), actor=SYSTEM)
    assert linked.subject.id == subject.id


def test_the_receipt_can_be_emailed(app: Flask, client: FlaskClient, session: Session,
                                    demo: Any) -> None:
    _officer(client, session)
    person = person_of(session, "fenshire-police", "FP-E1")
    client.get(f"{START}?subject={person.id}")
    _post(client, START + "who", {"interpreter": "no"})
    ids = _version_ids(client)
    _post(client, START + "choices", {f"notice-{i}": "no" for i in ids})
    done_url = _post(client, START + "sign", {"typed_name": "Robin Ashdown",
                                              "witness": "yes"}).headers["Location"]
    r = _post(client, done_url + "/email", {"email": "<b>"})
    assert r.status_code == 400
    r = _post(client, done_url + "/email", {"email": "robin@example.org"})
    assert r.status_code == 302
    outbox = list((Path(app.config["PORTAL"].instance_path) / "outbox").glob("*.eml"))
    assert len(outbox) == 1
    message = outbox[0].read_text()
    assert "To: robin@example.org" in message and "application/pdf" in message
    session.rollback()
    from portal.audit import AuditEntry

    sent = session.scalar(select(AuditEntry).where(
        AuditEntry.action == "first_contact.receipt_emailed"))
    assert sent is not None and sent.subject_id == person.id
    assert "robin@example.org" not in sent.details


def test_a_possible_duplicate_is_shown_before_a_new_record(client: FlaskClient,
                                                           session: Session,
                                                           demo: Any) -> None:
    _officer(client, session)
    existing = person_of(session, "fenshire-police", "FP-D1", given="Dana",
                         family="Kowalska", born=dt.date(1985, 2, 3))
    before = _count(session, Subject)
    # When the officer registers someone with the same name and birth date
    r = _post(client, START, PERSON)
    page = r.get_data(as_text=True)
    # Then they are warned and shown the person, and nothing is created yet
    assert r.status_code == 200 and "may already know this person" in page
    assert str(existing.id) in page
    assert _count(session, Subject) == before
    # Choosing the existing person links the new reference to them
    r = _post(client, START, {**PERSON, "existing": str(existing.id)})
    assert r.status_code == 302
    session.rollback()
    refs = set(session.scalars(select(Holding.agency_ref).where(
        Holding.subject_id == existing.id)))
    assert refs == {"FP-D1", "FP-2026-0042"}
    assert _count(session, Subject) == before
    # Or they may say it is somebody new
    r = _post(client, START, {**PERSON, "agency_ref": "FP-NEW", "existing": "new"})
    assert r.status_code == 302
    assert _count(session, Subject) == before + 1


def test_another_agencys_namesake_is_not_revealed(client: FlaskClient, session: Session,
                                                  demo: Any) -> None:
    _officer(client, session)
    other = person_of(session, "fen-housing", "FH-D", given="Dana", family="Kowalska",
                      born=dt.date(1985, 2, 3))
    r = _post(client, START, PERSON)
    assert r.status_code == 302
    assert str(other.id) not in r.get_data(as_text=True)


def test_a_child_needs_a_parent_or_guardian(client: FlaskClient, session: Session,
                                            demo: Any) -> None:
    _officer(client, session)
    child = person_of(session, "fenshire-police", "FP-C1", given="Kit", family="Young",
                      born=dt.date.today().replace(year=dt.date.today().year - 9))
    client.get(f"{START}?subject={child.id}")
    r = _post(client, START + "who", {"interpreter": "no"})
    assert r.status_code == 400
    body = r.get_data(as_text=True)
    assert 'href="#guardian_name"' in body and 'href="#guardian_relationship"' in body
    r = _post(client, START + "who", {"interpreter": "no", "guardian_name": "Lee Young",
                                      "guardian_relationship": "mother"})
    assert r.status_code == 302
    ids = _version_ids(client)
    _post(client, START + "choices", {f"notice-{i}": "yes" for i in ids})
    assert _post(client, START + "sign", {"typed_name": "Lee Young",
                                          "witness": "yes"}).status_code == 302
    session.rollback()
    events = list(session.scalars(select(ConsentEvent).where(
        ConsentEvent.subject_id == child.id)))
    assert {(e.expressed_by, e.guardian_name, e.guardian_relationship) for e in events} == \
        {("guardian", "Lee Young", "mother")}


def test_every_notice_needs_its_own_answer(client: FlaskClient, session: Session,
                                           demo: Any) -> None:
    _officer(client, session)
    person = person_of(session, "fenshire-police", "FP-N1")
    client.get(f"{START}?subject={person.id}")
    _post(client, START + "who", {"interpreter": "no"})
    ids = _version_ids(client)
    r = _post(client, START + "choices", {f"notice-{ids[0]}": "yes"})
    assert r.status_code == 400
    body = r.get_data(as_text=True)
    assert f'href="#notice-{ids[1]}"' in body and f'href="#notice-{ids[2]}"' in body
    # The answer given is kept, the others stay unanswered
    assert body.count("checked") == 1
    # Signing with the choices incomplete goes back to the choices and records nothing
    r = _post(client, START + "sign", {"typed_name": "x", "witness": "yes"})
    assert r.status_code == 302 and r.headers["Location"].endswith("/choices")
    session.rollback()
    assert not list(session.scalars(select(ConsentEvent).where(
        ConsentEvent.subject_id == person.id)))


def test_signing_needs_a_signature_and_a_witness(client: FlaskClient, session: Session,
                                                 demo: Any) -> None:
    _officer(client, session)
    person = person_of(session, "fenshire-police", "FP-S1")
    client.get(f"{START}?subject={person.id}")
    _post(client, START + "who", {"interpreter": "no"})
    ids = _version_ids(client)
    _post(client, START + "choices", {f"notice-{i}": "yes" for i in ids})
    r = _post(client, START + "sign", {"typed_name": "", "witness": ""})
    body = r.get_data(as_text=True)
    assert r.status_code == 400
    assert 'href="#typed_name"' in body and 'href="#witness"' in body
    r = _post(client, START + "sign", {"typed_name": "<script>x</script>", "witness": "yes"})
    assert r.status_code == 400
    r = _post(client, START + "sign", {"signature_image": "data:text/html,<b>",
                                       "witness": "yes"})
    assert r.status_code == 400
    session.rollback()
    assert not list(session.scalars(select(ConsentEvent).where(
        ConsentEvent.subject_id == person.id)))
    assert _count(session, FirstContactReceipt) == 0
    assert _count(session, ClaimCode) == 0
    # A drawn signature is stored as the image
    png = "data:image/png;base64,iVBORw0KGgo="
    r = _post(client, START + "sign", {"signature_image": png, "witness": "yes"})
    assert r.status_code == 302
    session.rollback()
    event = session.scalar(select(ConsentEvent).where(ConsentEvent.subject_id == person.id))
    assert event is not None
    assert json.loads(event.evidence)["signature"]["image"] == png


def test_bad_registration_input_saves_nothing(client: FlaskClient, session: Session,
                                              demo: Any) -> None:
    _officer(client, session)
    before = (_count(session, Subject), _count(session, Holding))
    future = (dt.date.today() + dt.timedelta(days=1)).isoformat()
    cases = [
        ({"given_name": ""}, "given_name"),
        ({"family_name": "x" * 201}, "family_name"),
        ({"given_name": "<img src=x onerror=alert(1)>"}, "given_name"),
        ({"date_of_birth": future}, "date_of_birth"),
        ({"date_of_birth": "2001-02-30"}, "date_of_birth"),
        ({"language": "xx"}, "language"),
        ({"email": "not-an-email"}, "email"),
        ({"agency_ref": ""}, "agency_ref"),
        ({"safe_contact": "x" * 1001}, "safe_contact"),
    ]
    for change, field in cases:
        r = _post(client, START, {**PERSON, **change})
        assert r.status_code == 400, change
        assert f'href="#{field}"' in r.get_data(as_text=True), change
    assert (_count(session, Subject), _count(session, Holding)) == before


def test_a_reference_already_used_for_someone_else_is_refused(client: FlaskClient,
                                                             session: Session,
                                                             demo: Any) -> None:
    _officer(client, session)
    before = _count(session, Subject)
    r = _post(client, START, {**PERSON, "agency_ref": "FP-DEMO-0001"})
    assert r.status_code == 400
    assert "already used for someone else" in r.get_data(as_text=True)
    assert _count(session, Subject) == before


def test_a_choice_received_by_phone_is_recorded(client: FlaskClient, session: Session,
                                                demo: Any) -> None:
    _officer(client, session)
    subject = session.scalar(select(Holding.subject_id).where(
        Holding.agency_ref == "FP-DEMO-0001"))
    version = session.scalar(select(NoticeVersion.id).where(NoticeVersion.version == 1)
                             .order_by(NoticeVersion.id))
    url = f"{START}remote/{subject}"
    # Bad input first: nothing chosen, a date in the future
    future = (dt.date.today() + dt.timedelta(days=2)).isoformat()
    r = _post(client, url, {"notice": str(version), "received_on": future})
    body = r.get_data(as_text=True)
    assert r.status_code == 400
    for field in ("choice", "method", "received_on"):
        assert f'href="#{field}"' in body
    r = _post(client, url, {"notice": str(version), "choice": "withdraw", "method": "phone",
                            "received_on": dt.date.today().isoformat(),
                            "note": "Rang the front desk"})
    assert r.status_code == 302
    session.rollback()
    event = session.scalar(select(ConsentEvent).where(ConsentEvent.subject_id == subject)
                           .order_by(ConsentEvent.id.desc()))
    assert event is not None and event.event_type == "withdrawn" and event.method == "phone"
    assert json.loads(event.evidence)["note"] == "Rang the front desk"
    # Withdrawing twice makes no sense and says so
    r = _post(client, url, {"notice": str(version), "choice": "withdraw", "method": "paper",
                            "received_on": dt.date.today().isoformat()})
    assert r.status_code == 400
    assert "There is no consent to withdraw" in r.get_data(as_text=True)


def test_a_receipt_is_only_for_its_own_agency(client: FlaskClient, session: Session,
                                              demo: Any, app: Flask) -> None:
    _officer(client, session)
    person = person_of(session, "fenshire-police", "FP-R1")
    client.get(f"{START}?subject={person.id}")
    _post(client, START + "who", {"interpreter": "no"})
    ids = _version_ids(client)
    _post(client, START + "choices", {f"notice-{i}": "no" for i in ids})
    done_url = _post(client, START + "sign", {"typed_name": "Robin Ashdown",
                                              "witness": "yes"}).headers["Location"]
    session.rollback()
    other = app.test_client()
    login(other, make_staff(session, "fen-housing", Role.CONSENT_OFFICER))
    assert other.get(done_url).status_code == 404
    assert other.get(done_url + "/receipt.pdf").status_code == 404
    assert other.get(done_url + "/receipt.json").status_code == 404


def test_only_an_agency_party_to_the_sharing_records_a_withdrawal_by_phone(
        client: FlaskClient, session: Session, demo: Any) -> None:
    from portal.reference import operations

    # Given Alex's consent to the Victim Care referral (police to Victim Care), and a housing
    # provider linked to Alex after review
    holding = session.scalar(select(Holding).where(Holding.agency_ref == "FP-DEMO-0001"))
    assert holding is not None
    housing = operations.agency_by_slug(session, "fen-housing")
    operations.put_holding(session, housing.id, "FH-S1", categories=[],
                           since=dt.date(2026, 3, 1), actor=SYSTEM,
                           subject_id=holding.subject_id, reviewed=True)
    session.commit()
    version = session.scalar(select(NoticeVersion.id).join(Notice).where(
        Notice.slug == "victim-support-referral", NoticeVersion.version == 1))
    withdraw = {"notice": str(version), "choice": "withdraw", "method": "phone",
                "received_on": dt.date.today().isoformat()}
    url = f"{START}remote/{holding.subject_id}"
    # When the housing provider's officer records a withdrawal of that consent
    login(client, make_staff(session, "fen-housing", Role.CONSENT_OFFICER))
    r = _post(client, url, withdraw)
    # Then it is refused and nothing is recorded: housing is no party to that sharing
    assert r.status_code == 400 and 'href="#notice"' in r.get_data(as_text=True)
    session.rollback()
    latest = session.scalar(select(ConsentEvent).where(
        ConsentEvent.subject_id == holding.subject_id).order_by(ConsentEvent.id.desc()))
    assert latest is not None and latest.event_type == "given"
    # And Victim Care, the recipient (linked after review), may record it
    care = operations.agency_by_slug(session, "victim-care")
    operations.put_holding(session, care.id, "VC-S1", categories=[], since=dt.date(2026, 3, 1),
                           actor=SYSTEM, subject_id=holding.subject_id, reviewed=True)
    session.commit()
    login(client, make_staff(session, "victim-care", Role.CONSENT_OFFICER))
    assert _post(client, url, withdraw).status_code == 302
