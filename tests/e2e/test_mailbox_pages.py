"""The pages that keep a person's records out of reach of whoever reads their mailbox, in a
real browser: a new link to a request, an expired link, what emails may say, and the staff
person page's online account section with a new claim code. Each is axe-clean; the choice of
wording is made by keyboard."""

from __future__ import annotations

import time
from typing import Any

import pytest
from itsdangerous.timed import TimestampSigner
from playwright.sync_api import Page
from sqlalchemy.orm import Session

from portal.identity import claims
from portal.identity.models import Role
from portal.reference.models import Subject
from tests.consent.selfservice.helpers import linked_account
from tests.e2e.conftest import LiveServer, assert_accessible, sign_in_browser, tab_to
from tests.identity_helpers import make_account, make_staff
from tests.sar.conftest import PNG
from tests.staff_helpers import SYSTEM, person_of


def test_a_new_link_page_is_accessible(live: LiveServer, page: Page, demo: Any) -> None:
    page.goto(live.url + "/sar/new-link")
    assert_accessible(page)
    # Nothing filled in: a GOV.UK error summary, itself accessible
    page.click("main form button.govuk-button")
    assert page.locator(".govuk-error-summary").count() == 1
    assert_accessible(page)
    page.fill("#reference", "SAR-NONE-NONE")
    page.fill("#email", "nobody@example.org")
    page.click("main form button.govuk-button")
    assert "Check your email" in page.content()
    assert_accessible(page)


def test_an_expired_link_offers_a_new_one(live: LiveServer, page: Page, session: Session,
                                          demo: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import datetime as dt

    from sar import operations as ops
    from sar.views_public import track_token

    new = ops.NewRequest(requester_name="Morgan Lee", requester_email="m@example.org",
                         subject_name="Morgan Lee", documents=[("identity", PNG)])
    sar = ops.file_request(session, new, actor=SYSTEM, today=dt.date(2026, 11, 2))
    session.commit()
    monkeypatch.setattr(TimestampSigner, "get_timestamp",
                        lambda self: int(time.time()) - 31 * 86400)
    with live.app.test_request_context():
        token = track_token(sar)
    monkeypatch.undo()
    response = page.goto(f"{live.url}/sar/track/{token}")
    assert response is not None and response.status == 410
    assert sar.reference not in page.content()
    assert_accessible(page)


def test_choosing_what_emails_say_by_keyboard(live: LiveServer, page: Page, session: Session,
                                              demo: Any) -> None:
    account = make_account(session)
    sign_in_browser(page, live, account)
    page.goto(live.url + "/my/emails")
    assert_accessible(page)
    # Tab reaches the chosen radio (neutral, the default); arrows move within the group
    tab_to(page, "#wording")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    assert page.is_checked("#wording-3")
    tab_to(page, "main form button.govuk-button")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url.endswith("/my?emails=1")
    session.rollback()
    session.refresh(account)
    assert account.email_wording == "none"


def test_the_staff_person_page_shows_the_account_and_gives_a_new_code(
        live: LiveServer, tablet: Page, session: Session, demo: Any) -> None:
    person = person_of(session, "fenshire-police")
    _claim, code = claims.issue(session, person.id, actor=SYSTEM)
    account = make_account(session)
    claims.redeem(session, account, code, actor=SYSTEM)
    session.commit()
    officer = make_staff(session, "fenshire-police", Role.CONSENT_OFFICER)
    sign_in_browser(tablet, live, officer)
    tablet.goto(f"{live.url}/staff/subjects/{person.id}")
    assert account.email in tablet.content()
    assert "Tell the person that an online account was linked" in tablet.content()
    assert_accessible(tablet)
    # Without confirming identity: an error on the page, accessible
    with tablet.expect_navigation():
        tablet.click("#new-code button")
    assert "Confirm that you checked their proof of identity" in tablet.content()
    assert_accessible(tablet)
    tablet.check("#identity_checked")
    with tablet.expect_navigation():
        tablet.click("#new-code button")
    assert tablet.locator(".app-claim-code").count() == 1
    assert_accessible(tablet)


def test_the_account_page_lists_links(live: LiveServer, page: Page, session: Session,
                                      demo: Any) -> None:
    account = linked_account(session)
    assert account.subject_id is not None
    claims.tell_person(session, session.get_one(Subject, account.subject_id), claims.LINKED,
                       account.id, actor=SYSTEM)
    session.commit()
    sign_in_browser(page, live, account)
    page.goto(live.url + "/my")
    assert "an online account was linked to your records" in page.content()
    assert_accessible(page)
