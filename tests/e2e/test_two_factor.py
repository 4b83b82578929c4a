"""A public account's authenticator app in a real browser: add it, keep the
recovery codes, sign in with one when the app is out of reach; every page accessible."""

from __future__ import annotations

import re
from typing import Any

import pyotp
from playwright.sync_api import Page
from sqlalchemy.orm import Session

from tests.consent.selfservice.helpers import linked_account
from tests.e2e.conftest import LiveServer, assert_accessible, sign_in_browser
from tests.identity_helpers import PASSWORD


def _submit(page: Page, selector: str = "main form button.govuk-button") -> None:
    with page.expect_navigation():
        page.locator(selector).first.click()


def test_add_an_app_then_sign_in_with_a_recovery_code(live: LiveServer, page: Page,
                                                      session: Session, demo: Any) -> None:
    account = linked_account(session)
    sign_in_browser(page, live, account)
    # Given a person adding an authenticator app
    page.goto(live.url + "/account/two-factor")
    assert_accessible(page)
    secret = page.locator("code.app-secret").inner_text().strip()
    page.fill("#code", pyotp.TOTP(secret).now())
    _submit(page)
    # Then they are shown ten recovery codes, once
    assert page.locator("h1").inner_text() == "Your recovery codes"
    codes = re.findall(r"[A-Z0-9]{5}-[A-Z0-9]{5}", page.locator(".app-recovery-codes").inner_text())
    assert len(codes) == 10
    assert_accessible(page)
    page.goto(live.url + "/account/two-factor")
    assert "10 unused recovery codes" in page.content()
    assert_accessible(page)
    # When they sign in again without their phone
    page.context.clear_cookies()
    page.goto(live.url + "/account/sign-in")
    page.fill("#email", account.email)
    page.fill("#password", PASSWORD)
    _submit(page)
    assert page.locator("h1").inner_text() == "Enter the code from your app"
    assert_accessible(page)
    with page.expect_navigation():
        page.get_by_role("link", name="I cannot use my authenticator app").click()
    assert_accessible(page)
    _submit(page)  # nothing typed: the error summary names the field
    assert page.locator(".govuk-error-summary").count() == 1
    assert_accessible(page)
    with page.expect_navigation():
        page.get_by_role("link", name="Remove the authenticator app from your account by "
                                       "email").click()
    assert_accessible(page)
    page.goto(live.url + "/account/second-factor/recovery-code")
    page.fill("#code", codes[0])
    _submit(page)
    # Then they are in, told the code is spent, and can get new codes or turn the app off
    assert "It will not work again" in page.content()
    assert "9 unused recovery codes" in page.content()
    assert page.locator("form.app-sign-out button").count() == 1
    assert_accessible(page)
