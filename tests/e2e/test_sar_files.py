"""A reviewer reviews an agency's files in Debian's Chromium: without JavaScript, by keyboard,
axe-clean; a photo's region is blacked out, a PDF's page is shown as an image."""

from __future__ import annotations

import io
from collections.abc import Callable

from PIL import Image
from playwright.sync_api import Page, expect
from sqlalchemy.orm import Session

from portal.identity.models import StaffUser
from sar import operations as ops
from sar.models import SarFile, SarRequest
from tests.e2e.conftest import LiveServer, assert_accessible, sign_in_browser
from tests.sar.conftest import STAFF, filed, morgan, officers, reviewers  # noqa: F401 - fixtures


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (160, 90), "white").save(out, "PNG")
    return out.getvalue()


def _pdf() -> bytes:
    from weasyprint import HTML

    return bytes(HTML(string="<p>Contact note: informant John Smith</p>").write_pdf())


def _supply(session: Session, sar: SarRequest) -> list[SarFile]:
    police = next(t for t in sar.tasks if t.agency.slug == "fenshire-police")
    ops.supply_records(session, police, [ops.NewRecord(
        "INC-1", "incident", "Report", "Nothing to hide.",
        files=[("photo.png", "image/png", _png()), ("note.pdf", "application/pdf", _pdf())])],
        actor=STAFF)
    session.commit()
    return list(ops.records(sar)[0].files)


def test_a_reviewer_redacts_a_photo_without_javascript(
        live: LiveServer, page_nojs: Page, tablet: Page, session: Session,
        filed: Callable[..., SarRequest], reviewers: dict[str, StaffUser]) -> None:  # noqa: F811
    sar = filed()
    photo, pdf = _supply(session, sar)
    task = next(t for t in sar.tasks if t.agency.slug == "fenshire-police")
    ids = {"task": task.id, "record": photo.record_id, "photo": photo.id, "pdf": pdf.id}
    reviewer = reviewers["fenshire-police"]
    # The test's session lets go of the database while the live server works.
    session.commit()
    page = page_nojs
    page.goto(live.url + "/")
    sign_in_browser(page, live, reviewer)
    # Given the police's reviewer opens the photo from their task
    page.goto(f"{live.url}/staff/sar/tasks/{ids['task']}")
    expect(page.locator(f"#record-{ids['record']}-files")).to_contain_text("Not reviewed")
    page.goto(f"{live.url}/staff/sar/files/{ids['photo']}")
    expect(page.locator("img").first).to_have_attribute("width", "160")
    # When they black out a region, by keyboard, and release it redacted
    for name, value in (("x", "10"), ("y", "10"), ("width", "50"), ("height", "20")):
        page.locator(f"#{name}").fill(value)
    page.locator("#x").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#redactions ~ p").first).to_contain_text("x 10, y 10, 50 by 20")
    page.locator("#decision-redacted").check()
    page.locator("button", has_text="Save the decision").press("Enter")
    # Then the page shows what will be released, and stays accessible
    expect(page.locator("#file-review")).to_contain_text("redactions burnt in")
    expect(page.get_by_text("What will be released")).to_be_visible()
    # And a mistake is shown in the error summary
    page.locator("#width").fill("0")
    page.locator("#x").fill("1")
    page.locator("#y").fill("1")
    page.locator("#height").fill("1")
    page.locator("button", has_text="Black out this region").click()
    expect(page.locator(".govuk-error-summary")).to_contain_text("give a region inside")
    # And a PDF's pages are images, with its text shown for what a viewer would hide
    page.goto(f"{live.url}/staff/sar/files/{ids['pdf']}")
    expect(page.locator("#file-text")).to_contain_text("John Smith")
    expect(page.locator("figcaption").first).to_contain_text("Page 1:")
    # And each state of the page passes axe (which needs JavaScript to run)
    tablet.goto(live.url + "/")
    sign_in_browser(tablet, live, reviewer)
    for which in ("photo", "pdf"):
        tablet.goto(f"{live.url}/staff/sar/files/{ids[which]}")
        assert_accessible(tablet)
    tablet.locator("#width").fill("0")
    tablet.locator("button", has_text="Black out this region").click()
    expect(tablet.locator(".govuk-error-summary")).to_be_visible()
    assert_accessible(tablet)
