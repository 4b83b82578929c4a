"""The account's choice of what emails may say: neutral by default, detailed, or none."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.identity.models import Account
from sar import notify
from sar import operations as sar_ops
from sar.models import SarRequest
from tests.consent.selfservice.helpers import STAFF, linked_account, outbox, post
from tests.identity_helpers import login, make_account


def _request_of(session: Session, account: Account) -> SarRequest:
    new = sar_ops.NewRequest(requester_name="Kit Jones", requester_email=account.email,
                             subject_name="Kit Jones")
    sar = sar_ops.file_request(session, new, actor=STAFF, today=dt.date(2026, 11, 2),
                               account=account)
    session.commit()
    return sar


def test_an_account_chooses_no_email_for_itself_and_its_requests(
        app: Flask, client: FlaskClient, session: Session, demo: Any) -> None:
    # Given an account with a request, neutral by default
    account = linked_account(session)
    sar = _request_of(session, account)
    assert account.email_wording == sar.email_wording == "neutral"
    login(client, account)
    page = client.get("/my/emails").get_data(as_text=True)
    assert 'value="neutral" checked' in page
    # When the person chooses no email at all
    assert post(client, "/my/emails", {"wording": "none"}).status_code == 302
    # Then the account and its requests remember it, and nothing is sent about the request
    session.rollback()
    assert session.scalar(select(Account.email_wording).where(
        Account.id == account.id)) == "none"
    refreshed = session.get(SarRequest, sar.id)
    assert refreshed is not None
    session.refresh(refreshed)
    assert refreshed.email_wording == "none"
    with app.test_request_context():
        assert notify.to_requester(refreshed, "message", app.config["PORTAL"], link="x") is None
    # And a request filed from now on, without answering the question, follows the account
    r = post(client, "/sar/request", {"requester_name": "Kit Jones", "on_behalf": "no",
                                      "scope": "everything", "delivery": "download",
                                      "identity_method": "document"})
    assert r.status_code == 302, r.get_data(as_text=True)[:2000]
    session.rollback()
    newest = session.scalars(select(SarRequest).where(SarRequest.account_id == account.id)
                             .order_by(SarRequest.created_at.desc())).first()
    assert newest is not None and newest.id != sar.id and newest.email_wording == "none"
    assert outbox(app) == []


def test_a_wording_that_is_not_offered_is_refused(client: FlaskClient, session: Session,
                                                   demo: Any) -> None:
    login(client, make_account(session))
    r = post(client, "/my/emails", {"wording": "loud"})
    assert r.status_code == 200 and "Choose what our emails may say" in r.get_data(as_text=True)
