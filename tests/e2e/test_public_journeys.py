"""The public journey in a real browser, once with JavaScript off and once by keyboard only:
register, confirm the address, link with a claim code, withdraw a consent (the check API then
says deny), download the data and a receipt and validate them, then Exit this page."""

from __future__ import annotations

import contextlib
import email
import io
import json
import re
import zipfile
from pathlib import Path
from typing import Any

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page
from sqlalchemy.orm import Session

from consent.receipts import verify
from portal.audit import Actor
from portal.identity import claims
from portal.reference import apikeys
from tests.consent.selfservice.helpers import subject_of
from tests.e2e.conftest import LiveServer, assert_accessible, tab_to
from tests.identity_helpers import PASSWORD

KANTARA = ("version", "jurisdiction", "consentTimestamp", "collectionMethod",
           "consentReceiptID", "piiPrincipalId", "piiControllers", "policyUrl", "services",
           "sensitive", "spiCat")
PURPOSE_FIELDS = ("consentType", "purposeCategory", "piiCategory", "termination",
                  "thirdPartyDisclosure", "thirdPartyName")
CHECK = {"subject": {"agency_ref": "FP-DEMO-0001"}, "recipient": "victim-care",
         "purpose": "victim-support-referral", "categories": ["contact-details"]}
STAFF = Actor("staff", "e2e-officer", None)


class Driver:
    """Fills and submits forms either by mouse-free keyboard or by plain clicks (no JS)."""

    def __init__(self, page: Page, keyboard: bool) -> None:
        self.page = page
        self.keyboard = keyboard

    def fill(self, selector: str, value: str) -> None:
        if self.keyboard:
            tab_to(self.page, selector)
            self.page.keyboard.type(value)
        else:
            self.page.fill(selector, value)

    def activate(self, selector: str) -> None:
        with self.page.expect_navigation():
            if self.keyboard:
                tab_to(self.page, selector)
                self.page.keyboard.press("Enter")
            else:
                self.page.click(selector)

    def download(self, selector: str) -> bytes:
        with self.page.expect_download() as info:
            if self.keyboard:
                tab_to(self.page, selector)
                self.page.keyboard.press("Enter")
            else:
                self.page.click(selector)
        path = info.value.path()
        return Path(path).read_bytes()


def _verification_link(live: LiveServer) -> str:
    outbox = Path(live.app.config["PORTAL"].instance_path) / "outbox"
    messages = [email.message_from_bytes(p.read_bytes()) for p in outbox.glob("*.eml")]
    assert len(messages) == 1
    text = messages[0].get_payload(decode=True)
    assert isinstance(text, bytes)
    match = re.search(r"https?://[^/\s]+(/account/verify/\S+)", text.decode())
    assert match
    return match.group(1)


def _journey(page: Page, live: LiveServer, session: Session, keyboard: bool) -> None:
    d = Driver(page, keyboard)
    key = apikeys.create_api_key(session, "fenshire-police", ["consent:check"],
                                    actor=STAFF)[1]
    session.commit()

    def check() -> dict[str, Any]:
        response = page.request.post(live.url + "/api/v1/consent/check", data=CHECK,
                                     headers={"Authorization": f"Bearer {key}"})
        body: dict[str, Any] = response.json()
        return body

    assert check()["decision"] == "permit"
    # Register
    page.goto(live.url + "/")
    d.activate("a.govuk-button--start")
    d.fill("#email", "sam.e2e@example.org")
    d.fill("#password", PASSWORD)
    d.fill("#confirm", PASSWORD)
    d.activate("main form button.govuk-button")
    assert page.locator("h1").inner_text() == "Check your email"
    # Confirm the address from the emailed link; the Exit this page explanation follows
    page.goto(live.url + _verification_link(live))
    assert "Leaving this website quickly" in page.content()
    d.activate("main a.govuk-button")
    # Sign in
    d.fill("#email", "sam.e2e@example.org")
    d.fill("#password", PASSWORD)
    d.activate("main form button.govuk-button")
    assert page.locator("h1").inner_text() == "Your account"
    # Link with the code from a first-contact receipt
    code = claims.issue(session, subject_of(session, "FP-DEMO-0001"), actor=STAFF)[1]
    session.commit()
    d.activate("main a.govuk-button")
    d.fill("#code", code)
    d.activate("main form button.govuk-button")
    assert page.locator("h1").inner_text() == "Your records are linked"
    # Withdraw: the choice, then check your answer, then confirm
    d.activate("main a.govuk-button")
    d.activate("a[href^='/my/consents/']")
    assert "Yes, you agreed" in page.content()
    d.activate("main a.govuk-button--warning")
    assert page.locator("h1").inner_text() == "Check your answer"
    d.activate("main form button.govuk-button")
    assert "You withdrew your consent" in page.locator("h1").inner_text()
    # The check API now says deny
    answer = check()
    assert answer["decision"] == "deny" and answer["reason"] == "withdrawn"
    # Take it away: the data zip and a signed receipt, validated
    page.goto(live.url + "/my/download")
    archive = zipfile.ZipFile(io.BytesIO(d.download("#download-zip")))
    events = json.loads(archive.read("consent_events.json"))
    assert [e["event"] for e in events] == ["given", "withdrawn"]
    assert "consent_events.csv" in archive.namelist()
    token = d.download("a[href$='.jws']").decode()
    jwks = page.request.get(live.url + "/.well-known/jwks.json").json()
    receipt = verify(token, jwks)
    assert all(f in receipt for f in KANTARA)
    assert all(f in receipt["services"][0]["purposes"][0] for f in PURPOSE_FIELDS)
    pdf = d.download("a[href$='.pdf']")
    assert pdf.startswith(b"%PDF")
    # Exit this page ends the session: the old cookie no longer opens anything
    cookies = page.context.cookies()
    page.goto(live.url + "/my/consents")
    # The neutral site is outside the test machine's reach: watching the exit answer is enough.
    with page.expect_response(lambda r: r.url.endswith("/exit")) as exited:
        if keyboard:
            for _ in range(3):
                page.keyboard.press("Shift")
        else:
            page.click(".govuk-exit-this-page__button")
    assert exited.value.status == 302
    assert exited.value.headers["location"].startswith("https://www.bbc.co.uk/")
    # The neutral site cannot be resolved here; the browser gives up on it.
    with contextlib.suppress(PlaywrightError):
        page.wait_for_url(lambda url: not url.startswith(live.url), wait_until="commit")
    page.context.add_cookies(cookies)  # replay the cookie someone might have copied
    # A new tab: the exited one may still be failing over to the unreachable neutral site.
    replay = page.context.new_page()
    replay.goto(live.url + "/my/consents")
    assert replay.locator("h1").inner_text() == "Sign in"


def test_journey_without_javascript(live: LiveServer, page_nojs: Page, session: Session,
                                    demo: Any) -> None:
    _journey(page_nojs, live, session, keyboard=False)


def test_journey_by_keyboard_only(live: LiveServer, page: Page, session: Session,
                                  demo: Any) -> None:
    _journey(page, live, session, keyboard=True)


PUBLIC_PAGES = ["/", "/help", "/staying-safe", "/exit-this-page", "/accessibility", "/privacy",
                "/cookies", "/account/register", "/account/sign-in", "/account/reset",
                "/account/check-your-email", "/account/signed-out",
                "/account/password-changed", "/account/verify/not-a-token", "/sar/request",
                "/no-such-page"]


def test_every_public_page_is_accessible_in_english_and_welsh(live: LiveServer,
                                                              page: Page) -> None:
    for lang in ("en", "cy"):
        for path in PUBLIC_PAGES:
            page.goto(f"{live.url}{path}?lang={lang}")
            assert page.locator("html").get_attribute("lang") == lang, path
            assert page.locator(".govuk-exit-this-page").count() == 1, path
            assert_accessible(page)
        # A form with errors too
        page.goto(f"{live.url}/account/register?lang={lang}")
        with page.expect_navigation():
            page.click("main form button.govuk-button")
        assert page.locator(".govuk-error-summary").count() == 1
        assert_accessible(page)


def test_every_personal_page_is_accessible_in_english_and_welsh(
        live: LiveServer, page: Page, session: Session, demo: Any) -> None:
    from sqlalchemy import select

    from consent.models import ConsentEvent
    from tests.e2e.conftest import sign_in_browser
    from tests.identity_helpers import make_account

    unlinked = make_account(session)
    account = make_account(session, subject_id=subject_of(session, "FP-DEMO-0004"))
    notice_id = session.scalar(select(ConsentEvent.notice_id)
                               .where(ConsentEvent.subject_id == account.subject_id))
    sign_in_browser(page, live, unlinked)
    for lang in ("en", "cy"):
        page.goto(f"{live.url}/my/link?lang={lang}")
        assert_accessible(page)
    page.context.clear_cookies()
    # A history longer than a page, so that its pages and the links between them are seen
    from consent.selfservice.views import ACTIVITY_LIMIT
    from portal import audit

    for _ in range(ACTIVITY_LIMIT + 1):
        audit.record(session, "subject.view", Actor("staff", "7", 1),
                     subject_id=account.subject_id,
                     details={"agency": "fenshire-police", "role": "sar-officer"})
    session.commit()
    sign_in_browser(page, live, account)
    paths = ["/my", "/my/consents", f"/my/consents/{notice_id}",
             f"/my/consents/{notice_id}/give", f"/my/consents/{notice_id}/withdraw",
             "/my/records", "/my/activity", "/my/activity?page=2", "/my/download",
             "/account/language", "/account/two-factor"]
    for lang in ("en", "cy"):
        for path in paths:
            sep = "&" if "?" in path else "?"
            response = page.goto(f"{live.url}{path}{sep}lang={lang}")
            assert response is not None and response.status == 200, path
            assert response.headers["cache-control"] == "no-store", path
            assert page.locator(".govuk-exit-this-page").count() == 1, path
            assert page.locator("form.app-sign-out button").count() == 1, path
            if path.startswith("/my/activity"):
                assert page.locator("nav.govuk-pagination a").count() == 1, path
            assert_accessible(page)
