"""The shared layout in a real browser: accessible, works without JavaScript, by keyboard."""

from __future__ import annotations

import contextlib
from typing import Any

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page
from sqlalchemy.orm import Session

from tests.e2e.conftest import LiveServer, assert_accessible, sign_in_browser, tab_to
from tests.identity_helpers import make_account


def test_start_page_is_accessible_in_english_and_welsh(live: LiveServer, page: Page) -> None:
    page.goto(live.url + "/")
    assert page.locator("h1").inner_text() == "Your consent and your records"
    assert_accessible(page)
    page.goto(live.url + "/?lang=cy")
    assert page.locator("html").get_attribute("lang") == "cy"
    assert page.locator("h1").inner_text() == "Eich caniatâd a'ch cofnodion"
    assert_accessible(page)


def test_language_switch_works_without_javascript(live: LiveServer, page_nojs: Page) -> None:
    page_nojs.goto(live.url + "/")
    with page_nojs.expect_navigation():
        page_nojs.get_by_role("link", name="Polski").click()
    assert page_nojs.locator("h1").inner_text() == "Twoje zgody i Twoje dane"
    # The choice is remembered on the next page
    page_nojs.goto(live.url + "/")
    assert page_nojs.locator("html").get_attribute("lang") == "pl"


def test_skip_link_and_language_switch_by_keyboard(live: LiveServer, page: Page) -> None:
    page.goto(live.url + "/")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent").strip() == "Skip to main content"
    tab_to(page, "a[hreflang=cy]")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("lang") == "cy"


def test_no_request_leaves_the_site(live: LiveServer, page: Page) -> None:
    outside: list[str] = []
    page.on("request", lambda r: None if r.url.startswith(live.url) else outside.append(r.url))
    page.goto(live.url + "/")
    page.wait_for_load_state("networkidle")
    assert outside == []


def test_not_found_page_is_accessible(live: LiveServer, page: Page) -> None:
    response = page.goto(live.url + "/no-such-page")
    assert response is not None and response.status == 404
    assert page.locator("h1").inner_text() == "Page not found"
    assert_accessible(page)


def test_shift_pressed_three_times_leaves_any_public_page(live: LiveServer, page: Page,
                                                          session: Session, demo: Any) -> None:
    account = make_account(session)
    for path in ("/", "/staying-safe", "/account/sign-in", "/no-such-page", "/my"):
        if path == "/my":
            sign_in_browser(page, live, account)
        # Given a page of the public surface, its script loaded
        tab = page.context.new_page()
        tab.goto(live.url + path)
        tab.wait_for_load_state("networkidle")
        assert tab.locator(".govuk-exit-this-page").count() == 1, path
        if path == "/my":
            assert tab.locator("form.app-sign-out button").count() == 1
        # When Shift is pressed three times
        with tab.expect_response(lambda r: r.url.endswith("/exit")) as exited:
            for _ in range(3):
                tab.keyboard.press("Shift")
        # Then the page is left for the neutral site (out of this machine's reach, so the
        # browser gives up on it), and any session ended
        assert exited.value.status == 302, path
        assert exited.value.headers["location"].startswith("https://www.bbc.co.uk/"), path
        with contextlib.suppress(PlaywrightError):
            tab.wait_for_url(lambda url: not url.startswith(live.url), wait_until="commit")
        tab.close()
    check = page.context.new_page()
    check.goto(live.url + "/my")
    assert check.locator("h1").inner_text() == "Sign in"
