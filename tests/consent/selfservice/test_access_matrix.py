"""Account A can reach nothing of account B's; CSRF, replayed cookies, enumeration, throttles."""

from __future__ import annotations

import re
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from consent.models import ConsentEvent
from portal.audit import AuditEntry
from portal.identity.models import Account
from tests.consent.selfservice.helpers import (
    body,
    claim_code,
    csrf,
    link_in,
    linked_account,
    outbox,
    post,
)
from tests.identity_helpers import PASSWORD, login, make_account


def _counts(session: Session) -> tuple[int, int]:
    session.rollback()
    return (session.scalar(select(func.count()).select_from(ConsentEvent)) or 0,
            session.scalar(select(func.count()).select_from(AuditEntry)) or 0)


def test_account_a_gets_404_for_every_personal_url_and_download_of_account_b(
        client: FlaskClient, session: Session, demo: Any) -> None:
    a = linked_account(session, "FP-DEMO-0001")
    b = linked_account(session, "FP-DEMO-0005")  # a child's restorative-justice consent
    b_events = session.scalars(select(ConsentEvent).where(
        ConsentEvent.subject_id == b.subject_id)).all()
    b_notice = b_events[0].notice_id
    assert b_notice not in {e.notice_id for e in session.scalars(select(ConsentEvent).where(
        ConsentEvent.subject_id == a.subject_id))}
    login(client, a)
    before = _counts(session)
    urls = []
    for event in b_events:
        urls += [f"/my/receipts/{event.public_id}.jws", f"/my/receipts/{event.public_id}.pdf"]
    urls += ["/my/receipts/not-a-uuid.pdf", "/my/consents/999999",
             "/my/consents/999999/withdraw", "/my/consents/1/delete"]
    for url in urls:
        assert client.get(url).status_code == 404, url
    # Posting a change for a notice that is not theirs changes nothing either
    token = csrf(client, "/my")
    for url in ["/my/consents/999999/withdraw", "/my/consents/999999/give"]:
        assert client.post(url, data={"csrf_token": token}).status_code == 404, url
    assert _counts(session) == before
    # and B's own pages still show B's data only to B
    html = client.get("/my/consents").get_data(as_text=True)
    assert "restorative" not in html.lower()


def test_an_unlinked_account_sees_no_personal_data(client: FlaskClient, session: Session,
                                                   demo: Any) -> None:
    login(client, make_account(session))
    for url in ["/my/consents", "/my/records", "/my/activity", "/my/download",
                "/my/download/my-data.zip"]:
        r = client.get(url)
        assert r.status_code == 302 and r.headers["Location"].endswith("/my/link"), url


def test_the_anonymous_are_sent_to_sign_in(client: FlaskClient, demo: Any) -> None:
    for url in ["/my", "/my/consents", "/my/download/my-data.zip", "/account/language"]:
        r = client.get(url)
        assert r.status_code == 302 and "/account/sign-in" in r.headers["Location"], url


def test_csrf_is_refused_without_a_token(client: FlaskClient, session: Session,
                                         demo: Any) -> None:
    account = linked_account(session, "FP-DEMO-0001")
    notice_id = session.scalar(select(ConsentEvent.notice_id).where(
        ConsentEvent.subject_id == account.subject_id))
    login(client, account)
    before = _counts(session)
    assert client.post(f"/my/consents/{notice_id}/withdraw").status_code == 400
    assert client.post("/account/sign-out").status_code == 400
    assert client.post("/my/link", data={"code": "ABCD"}).status_code == 400
    assert client.post("/account/sign-in", data={"email": account.email,
                                                 "password": PASSWORD}).status_code == 400
    assert _counts(session) == before


def _body(html: str) -> str:
    html = re.sub(r'name="csrf_token" value="[^"]+"', "", html)
    return re.sub(r'nonce="[^"]+"', "", html)


def test_unknown_account_and_wrong_password_get_the_same_answer(
        client: FlaskClient, session: Session, demo: Any) -> None:
    account = make_account(session, "known@example.org")
    wrong = post(client, "/account/sign-in", {"email": account.email, "password": "nope" * 4})
    unknown = post(client, "/account/sign-in", {"email": "nobody@example.org",
                                                "password": "nope" * 4})
    assert wrong.status_code == unknown.status_code == 200
    assert "Enter a correct email address and password" in wrong.get_data(as_text=True)
    assert _body(wrong.get_data(as_text=True)).replace(account.email, "X") == \
        _body(unknown.get_data(as_text=True)).replace("nobody@example.org", "X")


def test_registering_a_known_address_reveals_nothing_and_tells_its_owner(
        app: Flask, client: FlaskClient, session: Session, demo: Any) -> None:
    make_account(session, "owner@example.org")
    r = post(client, "/account/register", {"email": "Owner@Example.org", "password": PASSWORD,
                                           "confirm": PASSWORD})
    new = post(client, "/account/register", {"email": "fresh@example.org",
                                              "password": PASSWORD, "confirm": PASSWORD})
    assert r.status_code == new.status_code == 302
    assert r.headers["Location"] == new.headers["Location"]
    # Each subject line is neutral; the body's first line says what it is
    neutral = "A message from the Fenshire Community Safety Partnership portal"
    assert [m["Subject"] for m in outbox(app)] == [neutral, neutral]
    assert [body(m).splitlines()[0] for m in outbox(app)] == [
        "Someone tried to create an account with your email address",
        "Confirm your email address"]
    session.rollback()
    assert session.scalar(select(func.count()).select_from(Account)) == 2


def test_reset_answers_the_same_for_unknown_addresses(app: Flask, client: FlaskClient,
                                                      session: Session, demo: Any) -> None:
    make_account(session, "owner@example.org")
    known = post(client, "/account/reset", {"email": "owner@example.org"})
    unknown = post(client, "/account/reset", {"email": "nobody@example.org"})
    assert known.headers["Location"] == unknown.headers["Location"]
    assert [m["To"] for m in outbox(app)] == ["owner@example.org"]


def test_sign_in_is_throttled_per_account_and_address_without_locking_the_owner_out(
        client: FlaskClient, session: Session, demo: Any) -> None:
    account = make_account(session, "target@example.org")
    token = csrf(client, "/account/sign-in")
    codes = [client.post("/account/sign-in", data={"csrf_token": token, "email": account.email,
                                                    "password": "wrong-password-1"}).status_code
             for _ in range(6)]
    assert codes[:5] == [200] * 5 and codes[5] == 429
    # Another account from the same address is not blocked
    other = client.post("/account/sign-in", data={"csrf_token": token,
                                                   "email": "other@example.org",
                                                   "password": "wrong-password-1"})
    assert other.status_code == 200
    # and the owner, from their own address, still gets in
    owner = client.application.test_client()
    token = csrf(owner, "/account/sign-in")
    r = owner.post("/account/sign-in", data={"csrf_token": token, "email": account.email,
                                              "password": PASSWORD},
                   environ_base={"REMOTE_ADDR": "10.9.8.7"})
    assert r.status_code == 302 and r.headers["Location"].endswith("/my")


def test_claim_codes_are_throttled_and_single_use(client: FlaskClient, session: Session,
                                                  demo: Any) -> None:
    account = make_account(session)
    login(client, account)
    code = claim_code(session, "FP-DEMO-0003")
    token = csrf(client, "/my/link")
    statuses = [client.post("/my/link", data={"csrf_token": token,
                                              "code": f"WRONG-CODE-{i}"}).status_code
                for i in range(5)]
    assert statuses == [200] * 5
    assert client.post("/my/link", data={"csrf_token": token, "code": code}).status_code == 429
    session.rollback()
    assert session.get(Account, account.id).subject_id is None  # type: ignore[union-attr]
    # Another account cannot use the code once it is used
    other = client.application.test_client()
    first = make_account(session)
    login(other, first)
    assert post(other, "/my/link", {"code": code}).status_code == 302
    third = client.application.test_client()
    login(third, make_account(session))
    again = post(third, "/my/link", {"code": code})
    assert again.status_code == 200
    assert "not valid, has been used or has expired" in again.get_data(as_text=True)


def test_password_reset_ends_every_other_session_and_the_link_works_once(
        app: Flask, client: FlaskClient, session: Session, demo: Any) -> None:
    account = linked_account(session)
    elsewhere = app.test_client()
    login(elsewhere, account)
    assert elsewhere.get("/my/consents").status_code == 200
    post(client, "/account/reset", {"email": account.email})
    path = link_in(outbox(app)[-1])
    new = "a brand new passphrase"
    r = post(client, path, {"password": new, "confirm": new})
    assert r.headers["Location"].endswith("/account/password-changed")
    # The other session is gone, and the link does not work again
    assert elsewhere.get("/my/consents").status_code == 302
    assert client.get(path).status_code == 400
    r = post(client, "/account/sign-in", {"email": account.email, "password": new})
    assert r.status_code == 302 and r.headers["Location"].endswith("/my")


def test_verification_links_are_signed_and_expire(app: Flask, client: FlaskClient,
                                                  session: Session, demo: Any) -> None:
    import time

    from itsdangerous import URLSafeTimedSerializer

    from portal.identity import account_views as accounts

    account = make_account(session, verified=False)
    with app.test_request_context():
        token = accounts.verification_token(account)
    forged = URLSafeTimedSerializer("not-the-key", salt=accounts.VERIFY_SALT).dumps(
        {"a": str(account.id), "e": account.email})
    other_purpose = URLSafeTimedSerializer(app.config["SECRET_KEY"],
                                           salt=accounts.RESET_SALT).dumps(
        {"a": str(account.id), "e": account.email})
    assert client.get(f"/account/verify/{forged}").status_code == 400
    assert client.get(f"/account/verify/{other_purpose}").status_code == 400
    original = accounts.VERIFY_MAX_AGE
    accounts.VERIFY_MAX_AGE = -1
    try:
        time.sleep(1)
        assert client.get(f"/account/verify/{token}").status_code == 400
    finally:
        accounts.VERIFY_MAX_AGE = original
    session.rollback()
    assert session.scalar(select(Account.email_verified_at).where(
        Account.id == account.id)) is None
    assert client.get(f"/account/verify/{token}").status_code == 200


def test_exit_this_page_ends_every_session_of_the_account(client: FlaskClient,
                                                         session: Session, demo: Any) -> None:
    account = linked_account(session)
    copy = client.application.test_client()
    login(client, account)
    login(copy, account)  # the same person in another tab or a synced browser
    r = client.get("/exit")
    assert r.status_code == 302 and r.headers["Location"].startswith("https://www.bbc.co.uk/")
    assert "cookies" in r.headers["Clear-Site-Data"]
    r = copy.get("/my/consents")
    assert r.status_code == 302 and "/account/sign-in" in r.headers["Location"]
    session.rollback()
    actions = session.scalars(select(AuditEntry.action).order_by(AuditEntry.id.desc())).all()
    assert actions[0] == "account.exit"


def test_registering_again_before_confirming_sends_a_fresh_link(
        app: Flask, client: FlaskClient, session: Session, demo: Any) -> None:
    make_account(session, "pending@example.org", verified=False)
    r = post(client, "/account/register", {"email": "pending@example.org",
                                           "password": PASSWORD, "confirm": PASSWORD})
    assert r.headers["Location"].endswith("/account/check-your-email")
    assert [body(m).splitlines()[0] for m in outbox(app)] == ["Confirm your email address"]
    assert client.get(link_in(outbox(app)[0])).status_code == 200
