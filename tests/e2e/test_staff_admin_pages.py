"""Notice administration and an agency admin's staff pages in a real browser at a tablet's
size: each page, and each page showing its errors, is checked with axe-core."""

from __future__ import annotations

import email
import re
from pathlib import Path
from typing import Any

from playwright.sync_api import Page
from sqlalchemy import select
from sqlalchemy.orm import Session

from consent.models import Notice
from portal.identity.models import Role
from tests.e2e.conftest import LiveServer, assert_accessible, sign_in_browser
from tests.identity_helpers import make_staff


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
