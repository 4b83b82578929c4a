"""The whole public journey through the Flask test client: register to withdrawal."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from consent.models import ConsentEvent
from consent.receipts import verify
from portal.identity.models import Account
from tests.conftest import bearer
from tests.consent.selfservice.helpers import claim_code, link_in, outbox, post, subject_of
from tests.identity_helpers import PASSWORD

EMAIL = "Sam.Person@Example.org"
CHECK = {"subject": {"agency_ref": "FP-DEMO-0001"}, "recipient": "victim-care",
         "purpose": "victim-support-referral", "categories": ["contact-details"]}


def test_register_verify_link_withdraw_then_the_check_denies(
        app: Flask, client: FlaskClient, session: Session, demo: Any,
        api_key: Callable[..., str]) -> None:
    key = api_key("fenshire-police", "consent:check")
    assert client.post("/api/v1/consent/check", json=CHECK,
                       headers=bearer(key)).get_json()["decision"] == "permit"
    # Given a person registers
    r = post(client, "/account/register", {"email": EMAIL, "password": PASSWORD,
                                            "confirm": PASSWORD})
    assert r.status_code == 302 and r.headers["Location"].endswith("/account/check-your-email")
    # and cannot sign in before confirming the address
    r = post(client, "/account/sign-in", {"email": EMAIL, "password": PASSWORD})
    assert r.headers["Location"].endswith("/account/check-your-email")
    # When they follow the emailed link
    messages = outbox(app)
    assert messages and messages[0]["To"] == EMAIL.lower()
    r = client.get(link_in(messages[0]))
    assert r.status_code == 200 and "Exit this page" in r.get_data(as_text=True)
    # and sign in, and link their records with the code from their receipt
    r = post(client, "/account/sign-in", {"email": EMAIL, "password": PASSWORD})
    assert r.status_code == 302 and r.headers["Location"].endswith("/my")
    code = claim_code(session, "FP-DEMO-0001")
    r = post(client, "/my/link", {"code": code.lower()})
    assert r.status_code == 302, r.get_data(as_text=True)
    # Then they see their consent as given
    page = client.get("/my/consents")
    assert page.headers["Cache-Control"] == "no-store"
    assert "Yes, you agreed" in page.get_data(as_text=True)
    notice_id = session.scalar(select(ConsentEvent.notice_id).where(
        ConsentEvent.subject_id == subject_of(session, "FP-DEMO-0001")))
    # When they withdraw it (check your answer, then confirm)
    check_page = client.get(f"/my/consents/{notice_id}/withdraw")
    assert "Check your answer" in check_page.get_data(as_text=True)
    r = post(client, f"/my/consents/{notice_id}/withdraw")
    assert r.status_code == 302 and r.headers["Location"].endswith("/withdraw/done")
    # Then the very next check denies
    answer = client.post("/api/v1/consent/check", json=CHECK, headers=bearer(key)).get_json()
    assert answer["decision"] == "deny" and answer["reason"] == "withdrawn"
    session.rollback()
    latest = session.scalars(select(ConsentEvent).order_by(ConsentEvent.id.desc())).first()
    assert latest is not None and latest.event_type == "withdrawn"
    assert latest.method == "web" and latest.recorded_by.startswith("account:")


def test_giving_again_takes_the_same_steps(client: FlaskClient, session: Session,
                                           demo: Any) -> None:
    from tests.consent.selfservice.helpers import linked_account
    from tests.identity_helpers import login

    account = linked_account(session, "FP-DEMO-0002")  # withdrew by phone
    login(client, account)
    notice_id = session.scalar(select(ConsentEvent.notice_id)
                               .where(ConsentEvent.subject_id == account.subject_id))
    html = client.get(f"/my/consents/{notice_id}").get_data(as_text=True)
    assert "Withdrawn" in html and "By phone" in html and "Test Officer" not in html
    assert "Check your answer" in client.get(f"/my/consents/{notice_id}/give") \
        .get_data(as_text=True)
    r = post(client, f"/my/consents/{notice_id}/give")
    assert r.headers["Location"].endswith("/give/done")
    session.rollback()
    events = session.scalars(select(ConsentEvent).where(
        ConsentEvent.subject_id == account.subject_id).order_by(ConsentEvent.id)).all()
    assert [e.event_type for e in events] == ["given", "withdrawn", "given"]


def test_download_zip_and_receipts(app: Flask, client: FlaskClient, session: Session,
                                   demo: Any) -> None:
    from tests.consent.selfservice.helpers import linked_account
    from tests.identity_helpers import login

    account = linked_account(session, "FP-DEMO-0001")
    login(client, account)
    r = client.get("/my/download/my-data.zip")
    assert r.status_code == 200 and r.mimetype == "application/zip"
    assert r.headers["Cache-Control"] == "no-store"
    archive = zipfile.ZipFile(io.BytesIO(r.data))
    names = set(archive.namelist())
    for table in ("holdings", "consent_events", "checks", "staff_views", "statutory_sharing"):
        assert {f"{table}.json", f"{table}.csv"} <= names
    events = json.loads(archive.read("consent_events.json"))
    assert events[0]["event"] == "given"
    assert json.loads(archive.read("profile.json"))["id"] == str(account.subject_id)
    event = session.scalar(select(ConsentEvent).where(
        ConsentEvent.subject_id == account.subject_id))
    assert event is not None
    jws = client.get(f"/my/receipts/{event.public_id}.jws")
    assert jws.status_code == 200
    receipt = verify(jws.get_data(as_text=True), client.get("/.well-known/jwks.json").get_json())
    for field in ("version", "jurisdiction", "consentTimestamp", "collectionMethod",
                  "consentReceiptID", "piiPrincipalId", "piiControllers", "policyUrl",
                  "services", "sensitive", "spiCat"):
        assert field in receipt
    purpose = receipt["services"][0]["purposes"][0]
    for field in ("consentType", "purposeCategory", "piiCategory", "termination",
                  "thirdPartyDisclosure", "thirdPartyName"):
        assert field in purpose
    pdf = client.get(f"/my/receipts/{event.public_id}.pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")


def test_sign_out_ends_every_session_and_a_replayed_cookie_is_refused(
        client: FlaskClient, session: Session, demo: Any) -> None:
    from tests.consent.selfservice.helpers import linked_account

    account = linked_account(session)
    epoch = account.session_epoch
    post(client, "/account/sign-in", {"email": account.email, "password": PASSWORD})
    assert client.get("/my/consents").status_code == 200
    cookie = client.get_cookie("portal_session")
    assert cookie is not None
    old = cookie.value
    r = post(client, "/account/sign-out", form_url="/my")
    assert r.headers["Location"].endswith("/account/signed-out")
    # When the old cookie is replayed
    client.set_cookie("portal_session", old)
    r = client.get("/my/consents")
    # Then it is refused
    assert r.status_code == 302 and "sign-in" in r.headers["Location"]
    session.rollback()
    assert session.scalar(select(Account.session_epoch)
                          .where(Account.id == account.id)) == epoch + 1
