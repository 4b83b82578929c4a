"""Claim codes travel only in person: the emailed receipt has none, a link is told through
the channel chosen at first contact, and a consent officer can undo a wrong link."""

from __future__ import annotations

import io
import re
import uuid
from email.message import Message
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from pypdf import PdfReader
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.audit import AuditEntry
from portal.errors import Invalid
from portal.identity import claims
from portal.identity.models import Account, ClaimCode, PersonNotice, Role
from portal.reference.models import Subject
from tests.consent.selfservice.helpers import body, outbox
from tests.identity_helpers import login, make_account, make_staff
from tests.staff_helpers import SYSTEM, csrf, person_of

START = "/staff/first-contact/"


def _post(client: FlaskClient, url: str, data: dict[str, str]) -> Any:
    return client.post(url, data={"csrf_token": csrf(client, "/staff/"), **data})


def _journey(client: FlaskClient, session: Session, **person: str) -> tuple[str, str]:
    """A consent officer registers a person and records their choices: (done URL, code)."""
    officer = make_staff(session, "fenshire-police", Role.CONSENT_OFFICER)
    login(client, officer)
    data = {"given_name": "Dana", "family_name": "Kowalska", "date_of_birth": "1985-02-03",
            "language": "en", "email": "dana@example.org", "phone": "07700 900123",
            "safe_contact": "", "agency_ref": f"FP-{uuid.uuid4().hex[:8]}", **person}
    assert _post(client, START, data).status_code == 302
    _post(client, START + "who", {"interpreter": "no"})
    page = client.get(START + "choices").get_data(as_text=True)
    ids = list(dict.fromkeys(re.findall(r'name="notice-(\d+)"', page)))
    _post(client, START + "choices", {f"notice-{i}": "yes" for i in ids})
    done = _post(client, START + "sign", {"typed_name": "Dana Kowalska",
                                          "witness": "yes"}).headers["Location"]
    code = re.search(r'class="app-claim-code">([A-Z0-9-]+)<', client.get(done).get_data(
        as_text=True))
    assert code
    return done, code.group(1)


def _pdf_of(msg: Message) -> bytes:
    for part in msg.walk():
        if part.get_content_type() == "application/pdf":
            data = part.get_payload(decode=True)
            assert isinstance(data, bytes)
            return data
    raise AssertionError("no PDF attached")


def _text(pdf: bytes) -> str:
    return "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def _path_segments(pdf: bytes) -> int:
    """How many path segments the pages draw (a QR code's modules are hundreds of them)."""
    count = 0
    for page in PdfReader(io.BytesIO(pdf)).pages:
        contents = page.get_contents()
        data = contents.get_data() if contents is not None else b""
        count += len(re.findall(rb"\s[mlh]\n", data))
    return count


def _subject(session: Session) -> Subject:
    session.rollback()
    subject = session.scalar(select(Subject).where(Subject.email == "dana@example.org")
                             .order_by(Subject.created_at.desc()).limit(1))
    assert subject is not None
    return subject


def test_the_emailed_receipt_has_no_claim_code_and_says_how_to_get_one(
        app: Flask, client: FlaskClient, session: Session, demo: Any) -> None:
    # Given a first contact whose printed receipt carries the claim code and its QR
    done, code = _journey(client, session)
    printed = client.get(done + "/receipt.pdf").data
    assert code in _text(printed)
    # When the receipt is emailed to the person
    assert _post(client, done + "/email", {"email": "dana@example.org"}).status_code == 302
    [msg] = outbox(app)
    emailed = _pdf_of(msg)
    # Then neither the code (however written) nor its QR is in it
    text = _text(emailed)
    plain = code.replace("-", "")
    assert code not in text and plain not in re.sub(r"[^A-Z0-9]", "", text)
    assert plain.encode() not in emailed and code.encode() not in emailed
    assert _path_segments(emailed) < 100 < _path_segments(printed) - _path_segments(emailed)
    # And it says how to get a code in person instead
    assert "Codes are given only in person" in text
    # And the email itself carries no code either
    assert plain not in re.sub(r"[^A-Z0-9]", "", body(msg))
    # And once the device moves on to the next person, the code is gone from it
    other = person_of(session, "fenshire-police", given="Sam", family="Okafor")
    client.get(f"{START}?subject={other.id}")
    assert code not in client.get(done).get_data(as_text=True)
    assert code not in _text(client.get(done + "/receipt.pdf").data)


def test_linking_is_told_by_email_to_the_address_given_at_first_contact(
        app: Flask, client: FlaskClient, session: Session, demo: Any) -> None:
    # Given a person who chose to be contacted by email at first contact
    _done, code = _journey(client, session, contact_channel="email")
    subject = _subject(session)
    assert subject.contact_channel == "email"
    # When someone signs in with another address and uses the code
    account = make_account(session, "someone-else@example.org")
    login(client, account)
    r = client.post("/my/link", data={"csrf_token": csrf(client, "/my/link"), "code": code})
    assert r.status_code == 302
    # Then the person's own address is told, in neutral words, and the new account is not
    sent = outbox(app)
    assert [m["To"] for m in sent] == ["dana@example.org"]
    assert sent[0]["Subject"] == "A message from the Fenshire Community Safety Partnership portal"
    text = body(sent[0]).lower()
    for word in ("consent", "claim", "code", "linked", "account"):
        assert word not in text
    session.rollback()
    notice = session.scalar(select(PersonNotice).where(PersonNotice.subject_id == subject.id))
    assert notice is not None and notice.emailed and notice.done_at is not None


def test_linking_is_a_task_for_staff_when_the_person_chose_the_phone(
        app: Flask, client: FlaskClient, session: Session, demo: Any) -> None:
    # Given a person who chose to be contacted by phone
    _done, code = _journey(client, session, contact_channel="phone")
    subject = _subject(session)
    # When an account uses the code
    account = make_account(session)
    claims.redeem(session, account, code, actor=SYSTEM)
    session.commit()
    # Then no email goes anywhere, and the person's page asks staff to phone them
    assert outbox(app) == []
    [notice] = claims.open_notices(session, subject.id)
    assert notice.channel == "phone" and notice.reason == claims.LINKED
    officer = make_staff(session, "fenshire-police", Role.CONSENT_OFFICER)
    login(client, officer)
    page = client.get(f"/staff/subjects/{subject.id}").get_data(as_text=True)
    assert "Tell the person that an online account was linked" in page
    assert "They chose to be contacted by phone." in page
    assert account.email in page
    # And once staff have phoned, it is recorded done
    r = _post(client, f"{START}notices/{subject.id}/{notice.id}/done", {})
    assert r.status_code == 302
    session.rollback()
    assert claims.open_notices(session, subject.id) == []


def test_a_consent_officer_unlinks_a_wrong_account_and_gives_a_new_code(
        app: Flask, client: FlaskClient, session: Session, demo: Any) -> None:
    # Given a person whose code was used by someone else's account, signed in now
    person = person_of(session, "fenshire-police")
    _claim, code = claims.issue(session, person.id, actor=SYSTEM)
    _unused, spare = claims.issue(session, person.id, actor=SYSTEM)
    intruder = make_account(session)
    claims.redeem(session, intruder, code, actor=SYSTEM)
    session.commit()
    intruder_epoch = intruder.session_epoch
    theirs = FlaskClient(app)
    login(theirs, intruder)
    assert theirs.get("/my/consents").status_code == 200
    # When another agency's consent officer tries to unlink it, nothing happens
    stranger = make_staff(session, "fenshire-city-council", Role.CONSENT_OFFICER)
    login(client, stranger)
    url = f"{START}links/{person.id}/{intruder.id}/revoke"
    assert _post(client, url, {}).status_code == 404
    # And a SAR officer of the holding agency cannot either
    login(client, make_staff(session, "fenshire-police", Role.SAR_OFFICER))
    assert _post(client, url, {}).status_code in (403, 404)
    # When a consent officer of the holding agency unlinks it
    login(client, make_staff(session, "fenshire-police", Role.CONSENT_OFFICER))
    r = _post(client, url, {})
    assert r.status_code == 302 and "unlinked=1" in r.headers["Location"], r.headers
    # Then the account has lost the records and its session has ended
    session.rollback()
    assert session.execute(select(Account.subject_id, Account.session_epoch).where(
        Account.id == intruder.id)).one() == (None, intruder_epoch + 1)
    assert theirs.get("/my/consents").status_code == 302
    entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "account.unlink"))
    assert entry is not None and entry.subject_id == person.id
    # And the person is to be told of both (no channel was recorded: tasks for staff)
    assert [n.reason for n in claims.open_notices(session, person.id)] == [claims.LINKED,
                                                                          claims.UNLINKED]
    # When the officer gives a new code to the person in front of them
    assert _post(client, f"{START}codes/{person.id}", {}).headers["Location"].endswith(
        "code_error=1#new-code")
    r = _post(client, f"{START}codes/{person.id}", {"identity_checked": "yes"})
    new = re.search(r'class="app-claim-code">([A-Z0-9-]+)<', r.get_data(as_text=True))
    assert r.status_code == 200 and new
    # Then the old unused code no longer works, and the new one does
    session.rollback()
    other = make_account(session)
    with pytest.raises(Invalid):
        claims.redeem(session, other, spare, actor=SYSTEM)
    assert claims.redeem(session, other, new.group(1), actor=SYSTEM).subject.id == person.id
    session.commit()
    # And the person, signed in, sees every link and the unlink
    login(theirs, other)
    home = theirs.get("/my").get_data(as_text=True)
    assert home.count("an online account was linked to your records") == 2
    assert "a consent officer unlinked an online account from your records" in home
    revoked = session.scalars(select(ClaimCode).where(ClaimCode.subject_id == person.id,
                                                      ClaimCode.revoked)).all()
    assert len(revoked) == 1


def test_a_consent_officer_records_how_a_known_person_wants_to_be_contacted(
        client: FlaskClient, session: Session, demo: Any) -> None:
    # Given a person known before the question was asked (no channel recorded, no email)
    person = person_of(session, "fenshire-police")
    assert (person.contact_channel, person.email_wording) == ("", "neutral")
    login(client, make_staff(session, "fenshire-police", Role.CONSENT_OFFICER))
    url = f"{START}contact/{person.id}"
    # Email cannot be their channel while no address is recorded
    r = _post(client, url, {"contact_channel": "email", "email_wording": "neutral"})
    assert r.headers["Location"].endswith("contact_error=1#contact")
    # When they say: by post, and no emails at all
    r = _post(client, url, {"contact_channel": "post", "email_wording": "none"})
    assert r.status_code == 302 and "recorded=1" in r.headers["Location"]
    session.rollback()
    assert session.execute(select(Subject.contact_channel, Subject.email_wording).where(
        Subject.id == person.id)).one() == ("post", "none")
    entry = session.scalar(select(AuditEntry).where(
        AuditEntry.action == "subject.contact_preferences"))
    assert entry is not None and entry.subject_id == person.id
    # And another agency's officer cannot change them
    login(client, make_staff(session, "fenshire-city-council", Role.CONSENT_OFFICER))
    r = _post(client, url, {"contact_channel": "phone", "email_wording": "detailed"})
    assert r.status_code == 404
