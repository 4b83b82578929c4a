"""A reviewer reviews a record in Debian's Chromium: the text beside its photo, a selection
redacted with the "Redact selection" button, a suggestion redacted in one click, a redaction
undone; axe-clean with JavaScript, and the typed form without it."""

from __future__ import annotations

import io
import re
from collections.abc import Callable

from PIL import Image
from playwright.sync_api import Page, expect
from sqlalchemy.orm import Session

from portal.identity.models import StaffUser
from sar import operations as ops
from sar.models import SarRecord, SarRequest
from tests.e2e.conftest import LiveServer, assert_accessible, sign_in_browser
from tests.sar.conftest import STAFF, filed, morgan, officers, reviewers  # noqa: F401 - fixtures

TEXT = ("Morgan reported damage.\nNeighbour Jane Doe saw it and rang 07700 900123.\n"
        "Alex Rivera was not there.")


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (160, 90), "white").save(out, "PNG")
    return out.getvalue()


def _supply(session: Session, sar: SarRequest) -> SarRecord:
    police = next(t for t in sar.tasks if t.agency.slug == "fenshire-police")
    ops.supply_records(session, police, [ops.NewRecord(
        "INC-1", "incident", "Criminal damage", TEXT,
        files=[("photo.png", "image/png", _png())])], actor=STAFF)
    session.commit()
    return ops.records(sar)[0]


def _select(page: Page, selector: str, needle: str) -> None:
    """Select a piece of an element's text as a person would with the mouse."""
    page.eval_on_selector(selector, """(el, needle) => {
        const node = el.firstChild;
        const at = node.textContent.indexOf(needle);
        const range = document.createRange();
        range.setStart(node, at);
        range.setEnd(node, at + needle.length);
        const sel = window.getSelection();
        sel.removeAllRanges();
        sel.addRange(range);
    }""", needle)


def test_a_reviewer_redacts_a_selection_and_a_suggestion_and_undoes_one(
        live: LiveServer, tablet: Page, session: Session,
        filed: Callable[..., SarRequest], reviewers: dict[str, StaffUser]) -> None:  # noqa: F811
    sar = filed()
    record = _supply(session, sar)
    record_id, task_id = record.id, record.task_id
    reviewer = reviewers["fenshire-police"]
    session.commit()
    page = tablet
    page.goto(live.url + "/")
    sign_in_browser(page, live, reviewer)
    # Given the police's reviewer opens the record from their task
    page.goto(f"{live.url}/staff/sar/tasks/{task_id}")
    page.locator(f"#review-{record_id}").click()
    # Then the text and the photo are side by side, with suggestions to consider
    body = page.locator(f"#record-{record_id}-body")
    expect(body).to_contain_text("Neighbour Jane Doe saw it")
    expect(page.locator("svg image")).to_have_count(1)
    expect(page.locator("#suggestion-list")).to_contain_text("07700 900123")
    expect(page.locator("#suggestion-list")).to_contain_text("Alex Rivera")
    expect(page.locator("#redaction-list")).to_have_text("None.")
    assert_accessible(page)
    # When they select the neighbour's name and press "Redact selection"
    _select(page, f"#record-{record_id}-body", "Jane Doe")
    page.get_by_role("button", name="Redact selection").click()
    expect(page.locator(f"#record-{record_id}-text")).to_have_value("Jane Doe")
    start = TEXT.index("Jane Doe")
    expect(page.locator("input[name=start]")).to_have_value(str(start))
    expect(page.locator("input[name=end]")).to_have_value(str(start + len("Jane Doe")))
    # (a police record is law-enforcement processing: its reasons are s45(4)'s)
    page.locator(f"#record-{record_id}-reason").select_option("s45-4-e")
    page.get_by_role("button", name="Redact", exact=True).click()
    # Then the redaction is listed with its reason
    expect(page.locator("#redaction-list")).to_contain_text(
        "“Jane Doe” – To protect the rights and freedoms of others")
    # And a suggestion is one click away, with its reason
    page.get_by_role("button", name="Redact “07700 900123”").click()
    expect(page.locator("#redaction-list")).to_contain_text("“07700 900123”")
    assert_accessible(page)
    # And the number, redacted by mistake, is undone
    page.get_by_role("button", name=re.compile(r"Undo this redaction.*07700 900123")).click()
    expect(page.locator("#redaction-list")).not_to_contain_text("07700 900123")
    expect(page.locator("#redaction-list")).to_contain_text("Jane Doe")
    assert_accessible(page)
    session.rollback()
    assert [(r.text, r.start) for r in session.get(SarRecord, record_id).redactions] == [
        ("Jane Doe", start)]


def test_without_javascript_the_typed_form_redacts(
        live: LiveServer, page_nojs: Page, session: Session,
        filed: Callable[..., SarRequest], reviewers: dict[str, StaffUser]) -> None:  # noqa: F811
    sar = filed()
    record = _supply(session, sar)
    record_id = record.id
    session.commit()
    page = page_nojs
    page.goto(live.url + "/")
    sign_in_browser(page, live, reviewers["fenshire-police"])
    page.goto(f"{live.url}/staff/sar/records/{record_id}")
    # The selection button needs the script: without it, it is not offered
    expect(page.get_by_role("button", name="Redact selection")).to_have_count(0)
    page.get_by_label("Text to redact (select it in the record, or copy it exactly)").fill(
        "Jane Doe")
    page.get_by_role("button", name="Redact", exact=True).click()
    expect(page.locator("#redaction-list")).to_contain_text("“Jane Doe”")
    # (axe needs JavaScript: the page's accessibility is checked in the test above)
