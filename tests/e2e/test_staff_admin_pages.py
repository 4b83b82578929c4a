"""Notice administration, an agency admin's staff pages and the SAR reports in a real
browser at a tablet's size: each page, and each page showing its errors, is checked with
axe-core."""

from __future__ import annotations

import email
import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page
from sqlalchemy import select
from sqlalchemy.orm import Session

from consent.models import Notice
from portal.identity.models import Role
from sar import clock
from tests.e2e.conftest import LiveServer, assert_accessible, sign_in_browser, tab_to
from tests.identity_helpers import make_staff
from tests.sar.report_requests import TODAY, seed_report_requests


def _submit(page: Page, name: str) -> None:
    with page.expect_navigation():
        page.get_by_role("button", name=name).click()


def test_notice_pages_are_accessible(live: LiveServer, tablet: Page, session: Session,
                                     demo: Any) -> None:
    admin = make_staff(session, "fenshire-police", Role.PARTNERSHIP_ADMIN)
    sign_in_browser(tablet, live, admin)
    tablet.goto(live.url + "/staff/")
    tablet.get_by_role("link", name="Notices").first.click()
    assert tablet.locator("h1").inner_text() == "Notices"
    assert_accessible(tablet)
    _submit(tablet, "Add and write the first version")
    assert "There is a problem" in tablet.content()
    assert_accessible(tablet)
    tablet.fill("#slug", "fire-safety-visit")
    _submit(tablet, "Add and write the first version")
    assert "Draft of fire-safety-visit, version 1" in tablet.locator("h1").inner_text()
    assert_accessible(tablet)
    tablet.get_by_role("link", name="Edit English").click()
    assert_accessible(tablet)
    _submit(tablet, "Save")
    assert "There is a problem" in tablet.content()
    assert_accessible(tablet)
    tablet.fill("#title", "A free home fire safety visit")
    tablet.fill("#body", "We would like to pass your address to the fire service.")
    tablet.check("#status-approved")
    _submit(tablet, "Save")
    assert "Saved the text in English" in tablet.content()
    # Publishing with Welsh and Polish missing and nothing chosen: every error, accessible
    _submit(tablet, "Publish version 1")
    content = tablet.content()
    assert "Missing: Cymraeg, Polski" in content
    assert 'href="#requires_reconsent"' in content and 'href="#agreements"' in content
    assert_accessible(tablet)
    notice = session.scalar(select(Notice).where(Notice.slug == "idva-referral"))
    assert notice is not None
    tablet.goto(f"{live.url}/staff/notices/{notice.id}/versions/2")
    assert_accessible(tablet)


def test_staff_management_pages_are_accessible(live: LiveServer, tablet: Page,
                                               session: Session, demo: Any) -> None:
    admin = make_staff(session, "fenshire-police", Role.AGENCY_ADMIN)
    sign_in_browser(tablet, live, admin)
    tablet.goto(live.url + "/staff/")
    tablet.get_by_role("link", name="Staff of your agency").click()
    assert_accessible(tablet)
    _submit(tablet, "Add and send the link")
    assert "There is a problem" in tablet.content()
    assert_accessible(tablet)
    tablet.fill("#name", "Morgan Jones")
    tablet.fill("#email", "morgan.jones@fenshire-police.example")
    tablet.check("#roles")
    _submit(tablet, "Add and send the link")
    assert tablet.locator("h1").inner_text() == "Morgan Jones"
    assert_accessible(tablet)
    _submit(tablet, "Change roles")
    assert_accessible(tablet)
    # The new member's set-password page, from the emailed link
    outbox = Path(live.app.config["PORTAL"].instance_path) / "outbox"
    [message] = [email.message_from_bytes(p.read_bytes()) for p in outbox.glob("*.eml")]
    body = message.get_payload(decode=True).decode()  # type: ignore[union-attr]
    match = re.search(r"https?://\S+?(/staff/set-password/\S+)", body)
    assert match
    tablet.context.clear_cookies()
    tablet.goto(live.url + match.group(1))
    assert_accessible(tablet)
    _submit(tablet, "Save and go to sign in")
    assert "There is a problem" in tablet.content()
    assert_accessible(tablet)


def test_an_agencys_controller_details_page_is_accessible(live: LiveServer, tablet: Page,
                                                          session: Session, demo: Any) -> None:
    from portal.reference.models import Agency

    admin = make_staff(session, "fenshire-police", Role.PARTNERSHIP_ADMIN)
    agency = session.scalar(select(Agency).where(Agency.slug == "fen-housing"))
    assert agency is not None
    sign_in_browser(tablet, live, admin)
    tablet.goto(f"{live.url}/staff/partnership/agencies/{agency.id}")
    assert "Fen Housing Association Limited" in tablet.content()
    assert_accessible(tablet)
    # Every error at once, and what was typed is still there
    tablet.fill("#controller_name", "<b>Fen</b>")
    tablet.fill("#retention_statement", "Six years after the tenancy ends.")
    tablet.fill("#dpo_contact", "x" * 301)
    _submit(tablet, "Save changes")
    content = tablet.content()
    assert 'href="#controller_name"' in content and 'href="#dpo_contact"' in content
    assert "Six years after the tenancy ends." in content
    assert_accessible(tablet)
def test_sar_reports_page_is_accessible_and_works_by_keyboard(
        live: LiveServer, tablet: Page, page_nojs: Page, session: Session, demo: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Given the requests of the reports' tests, and a partnership coordinator
    monkeypatch.setattr(clock, "today", lambda now=None: TODAY)
    seed_report_requests(session)
    coordinator = make_staff(session, "victim-care", Role.SAR_COORDINATOR)
    sign_in_browser(tablet, live, coordinator)
    # When they follow the queue's link
    tablet.goto(live.url + "/staff/sar/")
    tablet.get_by_role("link", name="Reports: requests on time, overdue, extended and "
                                    "refused").click()
    assert tablet.locator("h1").inner_text() == "Subject access reports"
    assert_accessible(tablet)
    # And choose October to November 2026 by keyboard
    for selector, value in (("#from-month", "10"), ("#from-year", "2026"),
                            ("#to-month", "11"), ("#to-year", "2026")):
        tab_to(tablet, selector)
        tablet.keyboard.press("Control+A")
        tablet.keyboard.type(value)
    with tablet.expect_navigation():
        tablet.keyboard.press("Enter")
    # Then both charts are images with their names, and the figures are in the tables
    charts = tablet.get_by_role("img")
    assert charts.count() == 2
    assert charts.first.get_attribute("aria-labelledby") == "months-chart-title months-chart-desc"
    assert "October 2026" in tablet.locator("table").first.inner_text()
    assert_accessible(tablet)
    # And a period that does not exist lists its errors, accessibly, in Welsh too
    tablet.goto(live.url + "/staff/sar/reports/?from-month=13&from-year=2026&to-month=1"
                "&to-year=20")
    assert "There is a problem" in tablet.content()
    assert_accessible(tablet)
    tablet.goto(live.url + "/language/cy?next=/staff/sar/reports/")
    assert tablet.locator("html").get_attribute("lang") == "cy"
    assert_accessible(tablet)
    # And without JavaScript the charts are drawn the same
    sign_in_browser(page_nojs, live, coordinator)
    page_nojs.goto(live.url + "/staff/sar/reports/?from-month=10&from-year=2026&to-month=11"
                   "&to-year=2026")
    assert page_nojs.get_by_role("img").count() == 2
    # (axe needs JavaScript: the same page was checked above with it on)
