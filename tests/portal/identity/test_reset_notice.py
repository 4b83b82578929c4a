"""A reset link travels by email, so resetting the password of an account linked to a
person's records is told to the person through the channel chosen at first contact."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from portal.identity import claims
from portal.reference.models import Subject
from tests.consent.selfservice.helpers import body, link_in, linked_account, outbox, post


def _reset(client: FlaskClient, app: Flask, email: str) -> None:
    post(client, "/account/reset", {"email": email})
    path = link_in(outbox(app)[-1])
    new = "a brand new passphrase"
    r = post(client, path, {"password": new, "confirm": new})
    assert r.headers["Location"].endswith("/account/password-changed")


def test_a_reset_is_told_by_email_to_the_address_given_at_first_contact(
        app: Flask, client: FlaskClient, session: Session, demo: Any) -> None:
    # Given a person who chose email at first contact, with another address on record
    account = linked_account(session)
    subject = session.get(Subject, account.subject_id)
    assert subject is not None
    subject.contact_channel, subject.email = "email", "person@example.org"
    session.commit()
    # When the account's password is reset from the emailed link
    _reset(client, app, account.email)
    # Then the person's own address is told, in neutral words
    told = outbox(app)[-1]
    assert told["To"] == "person@example.org"
    assert told["Subject"] == "A message from the Fenshire Community Safety Partnership portal"
    assert "password" not in body(told).lower()


def test_a_reset_is_a_task_for_staff_when_no_email_channel_was_chosen(
        app: Flask, client: FlaskClient, session: Session, demo: Any) -> None:
    account = linked_account(session)
    _reset(client, app, account.email)
    session.rollback()
    assert account.subject_id is not None
    assert [n.reason for n in claims.open_notices(session, account.subject_id)] == [
        claims.PASSWORD_RESET]
    assert [m["To"] for m in outbox(app)] == [account.email]  # the reset link only
