"""Every page of the public surface has Exit this page (its link works without JavaScript, and
the script that makes Shift pressed 3 times leave is loaded), and every page a signed-in
account sees has Sign out. Walked over every GET route the app has, so a new page cannot be
added without them."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.routing import Rule

from consent.models import ConsentEvent
from tests.consent.selfservice.helpers import linked_account
from tests.identity_helpers import login

EXIT_BUTTON = 'data-module="govuk-exit-this-page"'
EXIT_LINK = 'href="/exit"'
SHIFT_SCRIPT = "/static/js/app.mjs"
SIGN_OUT = 'action="/account/sign-out"'
# Not pages: they redirect, answer JSON or serve files.
NOT_PAGES = {"public.exit_page", "ui.change_language", "public.healthz", "public.jwks",
             "static"}
# The pages a frightened person is most likely to land on first.
FIRST_PAGES = ["/", "/help", "/staying-safe", "/exit-this-page", "/accessibility", "/privacy",
               "/cookies", "/account/register", "/account/sign-in", "/account/reset",
               "/account/check-your-email", "/account/signed-out", "/account/password-changed",
               "/sar/request", "/sar/new-link"]


def _public_rules(app: Flask) -> list[Rule]:
    return [r for r in app.url_map.iter_rules()
            if "GET" in (r.methods or set()) and r.endpoint not in NOT_PAGES
            and not r.rule.startswith(("/staff", "/api"))]


def _urls(app: Flask, notice_id: int) -> Iterator[str]:
    values: dict[str, Any] = {"notice_id": notice_id, "action": "withdraw",
                              "token": "not-a-token", "public_id": str(uuid.uuid4()),
                              "bundle_id": uuid.uuid4(), "what": "pdf"}
    with app.test_request_context():
        from flask import url_for

        for rule in _public_rules(app):
            yield url_for(rule.endpoint, **{k: values[k] for k in rule.arguments})
    yield "/no-such-page"
    yield "/staff/no-such-page"


def _assert_exit(page: str, url: str) -> None:
    assert EXIT_BUTTON in page, url
    assert EXIT_LINK in page, url  # the button is a link: it works without JavaScript
    assert SHIFT_SCRIPT in page, url


def _walk(client: FlaskClient, app: Flask, notice_id: int) -> list[str]:
    seen = []
    for url in _urls(app, notice_id):
        response = client.get(url)
        if response.mimetype != "text/html" or 300 <= response.status_code < 400:
            continue
        _assert_exit(response.get_data(as_text=True), url)
        seen.append(f"{url} {response.status_code}")
    return seen


def _notice(session: Session, subject_id: uuid.UUID | None) -> int:
    notice_id = session.scalar(select(ConsentEvent.notice_id)
                               .where(ConsentEvent.subject_id == subject_id))
    assert notice_id is not None
    return notice_id


def test_every_public_page_has_exit_this_page(app: Flask, client: FlaskClient,
                                              session: Session, demo: Any) -> None:
    # Given nobody signed in, on each of the pages people land on first
    for url in FIRST_PAGES:
        response = client.get(url)
        assert response.status_code == 200, url
        _assert_exit(response.get_data(as_text=True), url)
    # When every public GET route (and the not-found pages) is opened
    account = linked_account(session)
    seen = _walk(client, app, _notice(session, account.subject_id))
    # Then each page answered has the button, the not-found page among them
    assert "/no-such-page 404" in seen and "/staff/no-such-page 404" in seen
    assert len(seen) >= 20


def test_every_page_of_a_signed_in_account_has_exit_and_sign_out(
        app: Flask, client: FlaskClient, session: Session, demo: Any) -> None:
    # Given a signed-in account linked to a person's records
    account = linked_account(session)
    login(client, account)
    notice_id = _notice(session, account.subject_id)
    # When each public GET route is opened
    personal = 0
    for url in _urls(app, notice_id):
        response = client.get(url)
        if response.mimetype != "text/html" or 300 <= response.status_code < 400:
            continue
        page = response.get_data(as_text=True)
        # Then every page has Exit this page, and a way to sign out at the top
        _assert_exit(page, url)
        assert SIGN_OUT in page, url
        assert page.index(SIGN_OUT) < page.index('id="main-content"'), url
        if response.status_code == 200 and url.startswith(("/my", "/account", "/sar/mine")):
            personal += 1
    assert personal >= 10


def test_staff_pages_keep_their_own_choice(app: Flask, client: FlaskClient, session: Session,
                                           demo: Any) -> None:
    # The staff sign-in page is not on the public surface; a page with a person on it is.
    page = client.get("/staff/sign-in").get_data(as_text=True)
    assert EXIT_BUTTON not in page
