"""Following a request: an account's request only while signed in to it; an anonymous
request's link expires and can be sent again, with no oracle; emails say nothing of what
they are about unless the person chose so, and nothing is sent when they chose no email."""

from __future__ import annotations

import datetime as dt
import email
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from itsdangerous.timed import TimestampSigner
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.identity.models import StaffUser
from sar import notify
from sar import operations as ops
from sar.models import SarMessage, SarRequest
from sar.views_public import track_token
from tests.identity_helpers import login, make_account
from tests.sar.conftest import STAFF

NEUTRAL = "A message from the Fenshire Community Safety Partnership portal"
# Words an email must not carry by default: whoever reads the mailbox learns nothing more.
TELLING = ("subject access", "request", "records", "consent", "withdraw", "domestic", "idva",
           "refus", "identity", "sar-")


def _outbox(app: Flask) -> list[email.message.Message]:
    folder = Path(app.config["PORTAL"].instance_path) / "outbox"
    files = sorted(folder.glob("*.eml"), key=lambda p: p.stat().st_mtime_ns) \
        if folder.exists() else []
    return [email.message_from_bytes(p.read_bytes()) for p in files]


def _text(msg: email.message.Message) -> str:
    part = msg.get_payload(0) if msg.is_multipart() else msg
    data = part.get_payload(decode=True)  # type: ignore[union-attr]
    assert isinstance(data, bytes)
    return data.decode()


def _csrf(client: FlaskClient, url: str = "/sar/new-link") -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', client.get(url).get_data(
        as_text=True))
    assert match
    return match.group(1)


def _with_message(session: Session, sar: SarRequest, body: str) -> None:
    ops.post_message(session, sar, body, from_requester=False, staff_id=1,
                     today=dt.date(2026, 11, 4), actor=STAFF)
    session.commit()


def _count_messages(session: Session) -> int:
    session.rollback()
    return int(session.scalar(select(func.count()).select_from(SarMessage)) or 0)


def test_an_accounts_request_is_followed_only_while_signed_in_to_it(
        app: Flask, client: FlaskClient, session: Session,
        filed: Callable[..., SarRequest]) -> None:
    # Given a request filed while signed in, with a message from the SAR team
    owner = make_account(session, "morgan.lee@example.org")
    sar = filed(account_id=owner.id)
    _with_message(session, sar, "Please tell us the dates you lived at Elm Road.")
    with app.test_request_context():
        url = f"/sar/track/{track_token(sar)}"
    before = _count_messages(session)
    # When its link is opened in a browser with no cookies
    r = client.get(url)
    # Then nothing of the request is shown: the visitor is sent to sign in
    assert r.status_code == 302 and "/account/sign-in" in r.headers["Location"]
    page = r.get_data(as_text=True)
    assert sar.reference not in page and "Elm Road" not in page
    # And nobody can reply or send a document as the person through the link
    token = _csrf(client, "/sar/request")
    r = client.post(url + "/message", data={"csrf_token": token, "body": "It was me"})
    assert r.status_code == 302 and "/account/sign-in" in r.headers["Location"]
    r = client.post(url + "/document", data={"csrf_token": token, "kind": "identity"})
    assert r.status_code == 302 and "/account/sign-in" in r.headers["Location"]
    assert _count_messages(session) == before
    # When another account is signed in, the request does not exist for it
    login(client, make_account(session, "someone@example.org"))
    assert client.get(url).status_code == 404
    assert client.post(url + "/message", data={"csrf_token": _csrf(client, "/sar/request"),
                                               "body": "It was me"}).status_code == 404
    assert _count_messages(session) == before
    # When the account that filed it is signed in, it is all there
    login(client, owner)
    page = client.get(url).get_data(as_text=True)
    assert sar.reference in page and "Elm Road" in page
    r = client.post(url + "/message", data={"csrf_token": _csrf(client, url),
                                            "body": "From 2019 to 2022."})
    assert r.status_code == 302
    assert _count_messages(session) == before + 1


def test_an_anonymous_requests_link_expires(app: Flask, client: FlaskClient, session: Session,
                                            filed: Callable[..., SarRequest],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    sar = filed()
    with app.test_request_context():
        fresh = track_token(sar)
        # A link signed 31 days ago (links live 30 days)
        monkeypatch.setattr(TimestampSigner, "get_timestamp",
                            lambda self: int(time.time()) - 31 * 86400)
        old = track_token(sar)
        monkeypatch.undo()
    assert client.get(f"/sar/track/{fresh}").status_code == 200
    r = client.get(f"/sar/track/{old}")
    assert r.status_code == 410
    page = r.get_data(as_text=True)
    assert sar.reference not in page and "/sar/new-link" in page
    token = _csrf(client, "/sar/request")
    assert client.post(f"/sar/track/{old}/message",
                       data={"csrf_token": token, "body": "hello"}).status_code == 410


def test_a_new_link_is_sent_only_to_the_requests_address_and_the_page_says_the_same(
        app: Flask, client: FlaskClient, session: Session,
        filed: Callable[..., SarRequest]) -> None:
    sar = filed()
    owner = make_account(session, "kit@example.org")
    mine = filed(account_id=owner.id, email="kit@example.org")
    answers = []
    for reference, address in ((sar.reference, "Morgan.Lee@example.org"),
                               (sar.reference, "someone.else@example.org"),
                               ("SAR-NONE-NONE", "morgan.lee@example.org"),
                               (mine.reference, "kit@example.org")):
        r = client.post("/sar/new-link", data={"csrf_token": _csrf(client),
                                               "reference": reference.lower(),
                                               "email": address})
        assert r.status_code == 200
        main = re.search(r"<main.*</main>", r.get_data(as_text=True), re.S)
        assert main
        answers.append(re.sub(r'nonce="[^"]+"', "", main.group(0)))
    # The page answers the same whether or not a request exists
    assert len(set(answers)) == 1
    # Only the request's own address got a working link
    sent = _outbox(app)
    assert [m["To"] for m in sent] == ["morgan.lee@example.org", "kit@example.org"]
    link = re.search(r"https?://[^/\s]+(/sar/track/\S+)", _text(sent[0]))
    assert link and client.get(link.group(1)).status_code == 200
    # The account's request gets a pointer to sign in, never a link that works without it
    assert "/sar/track/" not in _text(sent[1]) and "/sar/mine" in _text(sent[1])
    for msg in sent:
        assert msg["Subject"] == NEUTRAL


def test_every_email_to_a_requester_is_neutral_by_default(
        app: Flask, session: Session, filed: Callable[..., SarRequest]) -> None:
    sar = filed()
    owner = make_account(session, "kit@example.org")
    signed_in = filed(account_id=owner.id, email="kit@example.org")
    config = app.config["PORTAL"]
    question = "Which address did you live at when the police visited?"
    events: dict[str, dict[str, Any]] = {
        "filed": {}, "started": {"due": dt.date(2026, 12, 3)}, "paused": {"question": question},
        "extended": {"due": dt.date(2027, 2, 3)}, "refused": {},
        "ready": {"days": 14}, "message": {}, "link": {}}
    with app.test_request_context():
        for one in (sar, signed_in):
            for event, extra in events.items():
                msg = notify.to_requester(one, event, config, link="https://x.example/l/abc",
                                          **extra)
                assert msg is not None
                assert msg["Subject"] == NEUTRAL
                text = msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
                lowered = text.lower()
                for word in TELLING:
                    assert word not in lowered, (event, word, text)
                assert question not in text and one.reference not in text
                if one.account_id is not None and event != "ready":
                    assert "/sar/mine" in text and "/l/abc" not in text
    # Detailed wording, when chosen, may say what it is about, but never quotes a question
    sar.email_wording = "detailed"
    with app.test_request_context():
        msg = notify.to_requester(sar, "paused", config, link="https://x.example/l/abc",
                                  question=question)
        assert msg is not None and sar.reference in msg["Subject"]
        assert question not in msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]


def test_no_email_at_all_when_the_requester_chose_none(
        app: Flask, client: FlaskClient, session: Session, demo: Any,
        officers: tuple[StaffUser, StaffUser]) -> None:
    # Given a person who files on the web and chooses no email
    from tests.sar.test_views import _file

    r = _file(client, email_wording="none")
    assert r.status_code == 302
    session.rollback()
    sar = session.scalars(select(SarRequest)).one()
    assert sar.email_wording == "none"
    # Then filing sent nothing, and neither does a message from staff or a new link
    staff = app.test_client()
    login(staff, officers[0])
    page = staff.get(f"/staff/sar/{sar.reference}").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token
    r = staff.post(f"/staff/sar/{sar.reference}/message",
                   data={"csrf_token": token.group(1), "body": "We have your request."})
    assert r.status_code == 302
    client.post("/sar/new-link", data={"csrf_token": _csrf(client),
                                       "reference": sar.reference,
                                       "email": "morgan.lee@example.org"})
    assert _outbox(app) == []
    # And the default, when the question is not answered, is neutral wording
    r = _file(app.test_client())
    session.rollback()
    newest = session.scalars(select(SarRequest).order_by(SarRequest.created_at.desc())).first()
    assert newest is not None and newest.email_wording == "neutral"
    [msg] = _outbox(app)
    assert msg["Subject"] == NEUTRAL
