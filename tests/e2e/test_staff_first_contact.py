"""The staff back office in a real browser at a tablet's size: signing in with the second
factor, and the whole first-contact journey with a drawn signature (JavaScript) and with a
typed name (no JavaScript). Every page is checked with axe-core."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from typing import Any

import pyotp
import pytest
from playwright.sync_api import Browser, Page
from pypdf import PdfReader
from sqlalchemy import select
from sqlalchemy.orm import Session

from consent.models import ConsentEvent
from portal.identity import claims
from portal.identity.models import Role
from portal.reference.models import Subject
from tests.e2e.conftest import TABLET, LiveServer, assert_accessible, sign_in_browser
from tests.identity_helpers import PASSWORD, make_account, make_staff
from tests.staff_helpers import SYSTEM


@pytest.fixture
def tablet_nojs(browser: Browser) -> Iterator[Page]:
    """A tablet-sized page with JavaScript off."""
    context = browser.new_context(java_script_enabled=False, viewport=TABLET,
                                  accept_downloads=True, locale="en-GB")
    yield context.new_page()
    context.close()


def _submit(page: Page, name: str = "Continue") -> None:
    with page.expect_navigation():
        page.get_by_role("button", name=name).click()


def test_staff_sign_in_with_enrolment_is_accessible(live: LiveServer, tablet: Page,
                                                    session: Session, demo: Any) -> None:
    # Given a new consent officer without an authenticator
    staff = make_staff(session, "fenshire-police", Role.CONSENT_OFFICER)
    staff.totp_secret = None
    staff.totp_confirmed_at = None
    session.commit()
    tablet.goto(live.url + "/staff/")
    assert "/staff/sign-in" in tablet.url
    assert_accessible(tablet)
    # A wrong password gets an error summary that is itself accessible
    tablet.fill("#email", staff.email)
    tablet.fill("#password", "wrong")
    _submit(tablet)
    assert "There is a problem" in tablet.content()
    assert_accessible(tablet)
    tablet.fill("#email", staff.email)
    tablet.fill("#password", PASSWORD)
    _submit(tablet)
    # They set up the authenticator from the key shown beside the QR code
    assert tablet.locator(".app-qr svg").count() == 1
    assert_accessible(tablet)
    secret = tablet.locator(".app-secret").inner_text().strip()
    tablet.fill("#code", "000000")
    _submit(tablet)
    assert_accessible(tablet)
    tablet.fill("#code", pyotp.TOTP(secret).now())
    _submit(tablet)
    assert tablet.locator(".app-recovery-codes li").count() == 10
    assert_accessible(tablet)
    with tablet.expect_navigation():
        tablet.get_by_role("link", name="I have kept my codes safe").click()
    assert tablet.locator("h1").inner_text() == "Staff back office"
    assert_accessible(tablet)


def _journey(page: Page, live: LiveServer, *, draw: bool) -> tuple[str, str]:
    # axe-core needs JavaScript: the pages are checked in the run that has it.
    def check(p: Page) -> None:
        if draw:
            assert_accessible(p)

    page.goto(live.url + "/staff/first-contact/")
    check(page)
    page.fill("#given_name", "Dana")
    page.fill("#family_name", "Kowalska")
    page.fill("#date_of_birth", "1985-02-03")
    page.check("#language-pl")
    page.fill("#safe_contact", "Do not phone after 6pm")
    page.fill("#agency_ref", "FP-E2E-" + ("JS" if draw else "NOJS"))
    _submit(page)
    check(page)
    page.check("#interpreter")
    page.fill("#interpreter_language", "Polish")
    _submit(page)
    # The choices, in Polish, nothing pre-selected
    assert page.locator("html").get_attribute("lang") == "pl"
    assert page.locator("input[type=radio]:checked").count() == 0
    check(page)
    groups = page.locator("fieldset").count()
    assert groups == 3
    radios = page.locator("input[type=radio][value=yes]")
    for i in range(groups):
        (radios.nth(i) if i != 1 else page.locator("input[type=radio][value=no]").nth(i)).check()
    with page.expect_navigation():
        page.locator("main form button[type=submit]").click()
    check(page)
    if draw:
        pad = page.locator("canvas.app-signature__pad")
        assert pad.is_visible()
        box = pad.bounding_box()
        assert box is not None
        page.mouse.move(box["x"] + 20, box["y"] + 40)
        page.mouse.down()
        for step in range(1, 12):
            page.mouse.move(box["x"] + 20 + step * 25, box["y"] + 40 + (step % 3) * 30)
        page.mouse.up()
    else:
        page.fill("#typed_name", "Dana Kowalska")
    page.check("#witness")
    _submit(page, "Record the choices")
    assert page.locator(".govuk-panel__title").inner_text() == "Choices recorded"
    check(page)
    code = page.locator(".app-claim-code").inner_text().strip()
    receipt_id = page.locator(".app-receipt-id").inner_text().strip()
    # The receipt PDF, in the person's language, lists each choice and the claim code
    pdf = page.context.request.get(
        f"{live.url}/staff/first-contact/receipts/{receipt_id}/receipt.pdf")
    assert pdf.status == 200
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.body())).pages)
    assert "Przekazanie Twoich danych do Victim Care" in text
    assert code in text
    return code, receipt_id


@pytest.mark.parametrize("draw", [True, False], ids=["drawn-signature", "typed-name"])
def test_the_whole_first_contact_journey(live: LiveServer, tablet: Page, tablet_nojs: Page,
                                         session: Session, demo: Any, draw: bool) -> None:
    page = tablet if draw else tablet_nojs
    officer = make_staff(session, "fenshire-police", Role.CONSENT_OFFICER)
    sign_in_browser(page, live, officer)
    code, _receipt_id = _journey(page, live, draw=draw)
    session.rollback()
    subject = session.scalar(select(Subject).where(Subject.family_name == "Kowalska"))
    assert subject is not None
    events = list(session.scalars(select(ConsentEvent).where(
        ConsentEvent.subject_id == subject.id).order_by(ConsentEvent.id)))
    assert [e.event_type for e in events] == ["given", "refused", "given"]
    kind = "drawn" if draw else "typed"
    assert all(f'"kind":"{kind}"' in e.evidence for e in events)
    if draw:
        assert re.search(r'"image":"data:image/png;base64,', events[0].evidence)
    # The claim code on the receipt links a public account to the person
    account = make_account(session)
    assert claims.redeem(session, account, code, actor=SYSTEM).subject.id == subject.id


def test_subject_pages_are_accessible(live: LiveServer, tablet: Page, session: Session,
                                      demo: Any) -> None:
    officer = make_staff(session, "fenshire-police", Role.CONSENT_OFFICER, Role.SAR_OFFICER)
    sign_in_browser(tablet, live, officer)
    tablet.goto(live.url + "/staff/")
    assert_accessible(tablet)
    tablet.goto(live.url + "/staff/subjects?q=rivera")
    assert_accessible(tablet)
    with tablet.expect_navigation():
        tablet.get_by_role("link", name="Alex Rivera").click()
    assert_accessible(tablet)
    # Adding a reference by hand, with an error first
    tablet.locator("summary", has_text="Add a reference your agency holds").click()
    _submit(tablet, "Add the reference")
    assert "There is a problem" in tablet.content()
    assert_accessible(tablet)
    # A choice received by phone, with an error first
    _submit(tablet, "Record the choice")
    assert "There is a problem" in tablet.content()
    assert_accessible(tablet)


def test_api_keys_page_is_accessible(live: LiveServer, tablet: Page, session: Session,
                                     demo: Any) -> None:
    admin = make_staff(session, "fenshire-police", Role.AGENCY_ADMIN)
    sign_in_browser(tablet, live, admin)
    tablet.goto(live.url + "/staff/admin/api-keys")
    assert_accessible(tablet)
    # An empty form gets its errors; a good one shows the key once, in a list with a revoke
    _submit(tablet, "Create the key")
    assert "There is a problem" in tablet.content()
    assert_accessible(tablet)
    tablet.fill("#name", "Athena")
    tablet.check("#scopes")
    _submit(tablet, "Create the key")
    assert tablet.locator(".app-new-key").inner_text().startswith("cpk_")
    assert_accessible(tablet)


def test_register_export_page_is_accessible(live: LiveServer, tablet: Page, session: Session,
                                            demo: Any) -> None:
    admin = make_staff(session, "fenshire-police", Role.PARTNERSHIP_ADMIN)
    sign_in_browser(tablet, live, admin)
    tablet.goto(live.url + "/staff/")
    assert_accessible(tablet)
    tablet.goto(live.url + "/staff/admin/register")
    assert_accessible(tablet)
    for kind in ("agencies", "categories", "purposes"):
        tablet.goto(f"{live.url}/staff/partnership/{kind}")
        assert_accessible(tablet)
        _submit(tablet, "Add")
        assert "There is a problem" in tablet.content()
        assert_accessible(tablet)
    response = tablet.context.request.get(live.url + "/staff/admin/register/export.zip")
    assert response.status == 200 and response.body()[:2] == b"PK"


def test_partnership_admin_pages_are_accessible(live: LiveServer, tablet: Page,
                                                session: Session, demo: Any) -> None:
    from portal.reference.models import Agency, SharingAgreement

    admin = make_staff(session, "fenshire-police", Role.PARTNERSHIP_ADMIN)
    agency = session.scalar(select(Agency).where(Agency.slug == "fen-housing"))
    agreement = session.scalar(select(SharingAgreement).where(
        SharingAgreement.reference == "FEN-ISA-001"))
    assert agency is not None and agreement is not None
    sign_in_browser(tablet, live, admin)
    # An agency's page, and its form with an error
    tablet.goto(f"{live.url}/staff/partnership/agencies/{agency.id}")
    assert_accessible(tablet)
    tablet.fill("#name", "")
    _submit(tablet, "Save changes")
    assert "There is a problem" in tablet.content()
    assert_accessible(tablet)
    # The agreements: list, new form (empty and with errors), one agreement, its edit form
    tablet.goto(f"{live.url}/staff/partnership/agreements")
    assert_accessible(tablet)
    tablet.goto(f"{live.url}/staff/partnership/agreements/new")
    assert_accessible(tablet)
    _submit(tablet, "Add the agreement")
    assert "There is a problem" in tablet.content()
    assert_accessible(tablet)
    tablet.goto(f"{live.url}/staff/partnership/agreements/{agreement.id}")
    assert_accessible(tablet)
    tablet.goto(f"{live.url}/staff/partnership/agreements/{agreement.id}/edit")
    assert_accessible(tablet)
    tablet.fill("#title", "")
    _submit(tablet, "Save changes")
    assert "There is a problem" in tablet.content()
    assert_accessible(tablet)
    # Switching a consent agreement people rely on to another basis is refused, by keyboard
    tablet.goto(f"{live.url}/staff/partnership/agreements/{agreement.id}/edit")
    tablet.check("#lawful_basis-legitimate-interests")
    _submit(tablet, "Save changes")
    content = tablet.content()
    assert "There is a problem" in content and "cannot change to or from consent" in content
    assert "not a lawful basis for a public authority" in content
    assert_accessible(tablet)


def test_staff_pages_are_accessible_in_welsh(live: LiveServer, tablet: Page, session: Session,
                                             demo: Any) -> None:
    officer = make_staff(session, "fenshire-police", Role.CONSENT_OFFICER)
    tablet.goto(live.url + "/staff/sign-in?lang=cy")
    assert tablet.locator("h1").inner_text() == "Mewngofnodi staff"
    assert_accessible(tablet)
    sign_in_browser(tablet, live, officer)
    tablet.goto(live.url + "/staff/first-contact/?lang=cy")
    assert tablet.locator("html").get_attribute("lang") == "cy"
    assert tablet.locator("h1").inner_text() == "Gyda phwy ydych chi'n cofnodi caniatâd?"
    assert_accessible(tablet)
