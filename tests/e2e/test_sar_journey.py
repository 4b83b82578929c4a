"""A SAR end to end in Debian's Chromium: file, verify, supply a record and a photo, review
both, approve, download; the released PDF and zip are read back."""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
import re
import time
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from itsdangerous.timed import TimestampSigner
from PIL import Image
from playwright.sync_api import Page, expect
from pypdf import PdfReader
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.app import create_app
from portal.audit import Actor
from portal.database import get_database
from portal.identity.models import Role
from portal.reference import apikeys, operations
from portal.reference.models import Holding
from sar import delivery, worker
from sar import operations as ops
from sar.models import SarBundle, SarRequest
from tests.conftest import make_config
from tests.e2e.conftest import LiveServer, assert_accessible, sign_in_browser
from tests.identity_helpers import make_account, make_staff
from tests.sar.conftest import PNG, Inbox, smtp  # noqa: F401 - fixture

STAFF = Actor("staff", "e2e", None)


@pytest.fixture
def live_app(db_url: str, tmp_path: Path, smtp: tuple[Inbox, int]) -> Flask:  # noqa: F811
    """The live app sends its mail to the local SMTP server."""
    return create_app(make_config(db_url, tmp_path / "instance", rate_limits=False,
                                  smtp_host="127.0.0.1", smtp_port=smtp[1], smtp_tls="none"))


@pytest.fixture
def world(session: Session, demo: Any) -> Iterator[dict[str, Any]]:
    """Morgan Lee held by the police and the IDVA service; two SAR coordinators; the police's
    SAR officer (its reviewer); API keys."""
    holding = session.scalar(select(Holding).where(Holding.agency_ref == "FP-DEMO-0004"))
    assert holding is not None
    idva = operations.agency_by_slug(session, "fenshire-idva")
    operations.put_holding(session, idva.id, "IDVA-77", categories=["contact-details"],
                           since=dt.date(2026, 3, 1), actor=STAFF,
                           subject_id=holding.subject_id, reviewed=True)
    _c, police_key = apikeys.create_api_key(session, "fenshire-police", ["sar:supply"],
                                               actor=STAFF)
    _c, idva_key = apikeys.create_api_key(session, "fenshire-idva", ["sar:supply"],
                                             actor=STAFF)
    session.commit()
    yield {"subject": holding.subject_id, "police": police_key, "idva": idva_key,
           "first": make_staff(session, "victim-care", Role.SAR_COORDINATOR),
           "second": make_staff(session, "fenshire-city-council", Role.SAR_COORDINATOR),
           "reviewer": make_staff(session, "fenshire-police", Role.SAR_OFFICER)}


def _api(live: LiveServer, method: str, path: str, key: str, body: Any = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(live.url + path, data=data, method=method,  # noqa: S310
                                 headers={"Authorization": f"Bearer {key}",
                                          "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 - our own live server
        return json.loads(resp.read())


def _open_pdf(tablet: Page, live: LiveServer, reference: str) -> None:
    """Open the bundle's PDF with the tablet's session (a browser shows it in its viewer)."""
    tablet.goto(f"{live.url}/staff/sar/{reference}")
    href = tablet.locator("#open-bundle").get_attribute("href")
    pdf = tablet.context.request.get(live.url + str(href))
    assert pdf.ok and pdf.body().startswith(b"%PDF")
    tablet.reload()


# A doorbell camera's still: white, with a red face where a neighbour stands.
FACE = (40, 20, 100, 60)  # left, top, right, bottom


def _doorbell_photo() -> bytes:
    img = Image.new("RGB", (200, 100), "white")
    img.paste((200, 0, 0), FACE)
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()


def _build(live: LiveServer) -> None:
    with live.app.app_context():
        assert worker.run_once(get_database(live.app).sessionmaker) == "built"


def test_the_whole_sar_journey(live: LiveServer, page: Page, tablet: Page, session: Session,
                               smtp: tuple[Inbox, int], world: dict[str, Any],  # noqa: F811
                               tmp_path: Path) -> None:
    inbox = smtp[0]
    # Given a person files a request on their phone, with a photo of their passport
    page.goto(live.url + "/sar/request")
    assert_accessible(page)
    page.get_by_label("Your full name").fill("Morgan Lee")
    page.get_by_label("Your email address").fill("morgan.lee@example.org")
    passport = tmp_path / "passport.png"
    passport.write_bytes(PNG)
    page.locator("#document").set_input_files(str(passport))
    page.get_by_role("button", name="Send my request").click()
    expect(page.locator(".govuk-panel__title")).to_have_text("Request received")
    expect(page.locator("#sar-status")).to_have_text("Waiting for proof of identity")
    assert_accessible(page)
    reference = page.locator(".govuk-panel__body strong").inner_text()
    status_url = page.url

    # When a coordinator opens the passport on the tablet, picks the person the search found
    # beside what the requester typed, and says why they are satisfied, the clock starts
    sign_in_browser(tablet, live, world["first"])
    tablet.goto(f"{live.url}/staff/sar/{reference}")
    assert_accessible(tablet)
    expect(tablet.locator("#typed")).to_contain_text("Morgan Lee")
    href = tablet.get_by_role("link", name="Identity document 1").get_attribute("href")
    assert tablet.context.request.get(live.url + str(href)).body() == PNG
    tablet.reload()
    expect(tablet.get_by_text("Opened by you")).to_be_visible()
    tablet.locator(f"#subject-{world['subject']}").check()
    tablet.get_by_label("Why you are satisfied").fill("The passport photo and name match.")
    tablet.get_by_role("button", name="Identity verified: start the clock").click()
    expect(tablet.locator("#sar-status")).to_have_text("In progress")

    # And the police supply a record through the API; the IDVA service holds nothing
    [task] = _api(live, "GET", "/api/v1/sar/tasks", world["police"])["tasks"]
    assert task["request_reference"] == reference
    _api(live, "POST", f"/api/v1/sar/tasks/{task['id']}/records", world["police"], {
        "records": [{"id": "INC-9", "kind": "incident", "title": "Criminal damage",
                     "text": "Neighbour Jane Doe saw it. <img src='http://127.0.0.1:9/x'>",
                     "files": [{"filename": "doorbell.png", "media_type": "image/png",
                                "content_base64": base64.b64encode(_doorbell_photo()).decode()}]
                     }]})
    [task] = _api(live, "GET", "/api/v1/sar/tasks", world["idva"])["tasks"]
    _api(live, "POST", f"/api/v1/sar/tasks/{task['id']}/nothing-held", world["idva"])
    # The police see only their own task, now answered
    assert _api(live, "GET", "/api/v1/sar/tasks", world["police"]) == {"tasks": []}

    # Nothing leaves that no one has looked at: the police's reviewer opens the doorbell photo
    # from their task and blacks out the neighbour's face, for a law-enforcement reason
    sign_in_browser(tablet, live, world["reviewer"])
    tablet.goto(f"{live.url}/staff/sar/")
    tablet.get_by_role("link", name=reference).click()
    tablet.get_by_role("link", name=re.compile(r"Open and review .*doorbell")).click()
    assert_accessible(tablet)
    for name, value in zip(("x", "y", "width", "height"),
                           (FACE[0], FACE[1], FACE[2] - FACE[0], FACE[3] - FACE[1]), strict=True):
        tablet.locator(f"#{name}").fill(str(value))
    region_form = tablet.locator("form", has=tablet.get_by_role("button",
                                                                name="Black out this region"))
    region_form.locator("select[name=reason]").select_option("s45-4-e")
    tablet.get_by_role("button", name="Black out this region").click()
    tablet.locator("#decision-redacted").check()
    tablet.get_by_role("button", name="Save the decision").click()
    expect(tablet.locator("#file-review")).to_contain_text("redactions burnt in")
    assert_accessible(tablet)

    # The coordinator builds the bundle, then the police's reviewer redacts the neighbour's
    # name on the record's review page
    sign_in_browser(tablet, live, world["first"])
    tablet.goto(f"{live.url}/staff/sar/{reference}")
    tablet.get_by_role("button", name="Build the bundle").click()
    _build(live)
    sign_in_browser(tablet, live, world["reviewer"])
    tablet.goto(f"{live.url}/staff/sar/")
    assert_accessible(tablet)
    tablet.get_by_role("link", name=reference).click()
    assert_accessible(tablet)
    tablet.get_by_role("link", name="Review and redact this record").click()
    tablet.get_by_label("Text to redact (select it in the record, or copy it exactly)").fill(
        "Jane Doe")
    tablet.get_by_label("Reason", exact=True).select_option("s45-4-e")
    tablet.get_by_role("button", name="Redact", exact=True).click()
    expect(tablet.locator("#redaction-list")).to_contain_text("“Jane Doe”")

    # Then the second coordinator must open the PDF before approving, and their approval is
    # blocked: the name survives in the built PDF
    sign_in_browser(tablet, live, world["second"])
    tablet.goto(f"{live.url}/staff/sar/{reference}")
    tablet.get_by_role("button", name="Approve and release (second person)").click()
    expect(tablet.locator(".govuk-error-summary")).to_contain_text("open the bundle")
    assert_accessible(tablet)
    _open_pdf(tablet, live, reference)
    tablet.get_by_role("button", name="Approve and release (second person)").click()
    expect(tablet.locator(".govuk-error-summary")).to_contain_text("Release refused")

    # After the first coordinator rebuilds it, the second opens and approves it, and the
    # link is emailed
    sign_in_browser(tablet, live, world["first"])
    tablet.goto(f"{live.url}/staff/sar/{reference}")
    tablet.get_by_role("button", name="Build the bundle").click()
    _build(live)
    sign_in_browser(tablet, live, world["second"])
    tablet.goto(f"{live.url}/staff/sar/{reference}")
    _open_pdf(tablet, live, reference)
    tablet.get_by_role("button", name="Approve and release (second person)").click()
    expect(tablet.locator("#sar-status")).to_have_text("Ready to download")
    body = inbox.bodies()[-1]
    link = re.search(r"http://\S+(/sar/download/\S+)", body)
    assert link, body

    # The requester, signed in, downloads through the link
    session.rollback()
    sign_in_browser(page, live, make_account(session, "morgan.lee@example.org"))
    page.goto(live.url + link.group(1))
    expect(page.locator("h1")).to_have_text("Download your records")
    assert_accessible(page)
    with page.expect_download() as info:
        page.locator("#download-pdf").click()
    pdf = Path(info.value.path()).read_bytes()
    assert pdf.startswith(b"%PDF") and b"Jane Doe" not in pdf
    # The released PDF says what was cut and why, in words, and lists the photo as released
    text = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages)
    text = re.sub(r"\s+", " ", text)
    assert "Jane Doe" not in text
    assert "Neighbour [withheld: third-party data] saw it." in text, text
    assert "What we have not given you, and why" in text
    assert "doorbell" in text
    # And the zip holds the photo with the face burnt out, and a manifest of counts only
    with page.expect_download() as info:
        page.locator("#download-zip").click()
    with zipfile.ZipFile(io.BytesIO(Path(info.value.path()).read_bytes())) as z:
        [photo_name] = [n for n in z.namelist() if "doorbell" in n]
        photo = Image.open(io.BytesIO(z.read(photo_name))).convert("RGB")
        manifest = json.loads(z.read("manifest.json"))
        records = json.loads(z.read("records.json"))["records"]
    left, top, right, bottom = FACE
    face = [photo.getpixel((x, y)) for x in range(left, right) for y in range(top, bottom)]
    assert set(face) == {(0, 0, 0)}, "the face is not wholly blacked out"
    assert photo.getpixel((left - 5, top)) == (255, 255, 255)
    assert photo.getpixel((right + 5, bottom - 1)) == (255, 255, 255)
    assert not any(r > 150 and g < 50 for r, g, _b in photo.getdata()), "red survives"
    assert records[0]["text"].startswith("Neighbour [withheld: third-party data] saw it.")
    counted = {(row["what"], row["count"]) for row in manifest["withheld"]}
    assert counted == {("redactions", 1), ("file_regions", 1)}, manifest
    assert "Jane Doe" not in json.dumps(manifest)
    # The link fails the second time
    page.goto(live.url + link.group(1))
    expect(page.locator("h1")).to_have_text("This link no longer works")
    page.goto(status_url)
    expect(page.locator("#sar-status")).to_have_text("Delivered")

    # And an expired link fails too
    bundle = session.scalars(select(SarBundle).where(SarBundle.approved_at.is_not(None))).one()
    original = TimestampSigner.get_timestamp
    TimestampSigner.get_timestamp = lambda self: int(time.time()) - 30 * 86400  # type: ignore[method-assign]
    try:
        old = delivery.make_token(live.app.config["PORTAL"], bundle.id)
    finally:
        TimestampSigner.get_timestamp = original  # type: ignore[method-assign]
    page.goto(f"{live.url}/sar/download/{old}")
    expect(page.locator("h1")).to_have_text("This link no longer works")
    assert session.scalars(select(SarRequest)).one().reference == reference


def test_bad_uploads_in_the_browser(live: LiveServer, page: Page, world: dict[str, Any],
                                    tmp_path: Path) -> None:
    page.goto(live.url + "/sar/request")
    page.get_by_label("Your full name").fill("Morgan Lee")
    page.get_by_label("Your email address").fill("morgan.lee@example.org")
    disguised = tmp_path / "passport.jpg"
    disguised.write_bytes(b"<html><script>alert(1)</script></html>")
    page.locator("#document").set_input_files(str(disguised))
    page.get_by_role("button", name="Send my request").click()
    expect(page.locator(".govuk-error-summary")).to_contain_text("must be a photo")
    expect(page.get_by_label("Your full name")).to_have_value("Morgan Lee")
    assert_accessible(page)


def test_a_request_for_a_child_in_the_browser(live: LiveServer, tablet: Page, session: Session,
                                              world: dict[str, Any]) -> None:
    # Given a mother's request for her child's records, with her authority, verified
    holding = session.scalar(select(Holding).where(Holding.agency_ref == "FP-DEMO-0005"))
    assert holding is not None
    sar = ops.file_request(session, ops.NewRequest(
        requester_name="Jamie Walsh", requester_email="jamie@example.org",
        subject_name="Casey Walsh", on_behalf=True, relationship_to_subject="mother",
        documents=[("identity", PNG), ("authority", PNG)]), actor=STAFF,
        today=dt.date.today())
    session.commit()
    sign_in_browser(tablet, live, world["first"])
    tablet.goto(f"{live.url}/staff/sar/{sar.reference}")
    # When the coordinator verifies without opening the documents, they are told to open them
    tablet.locator(f"#subject-{holding.subject_id}").check()
    tablet.get_by_label("Why you are satisfied").fill("Birth certificate names the mother")
    tablet.get_by_role("button", name="Identity verified: start the clock").click()
    expect(tablet.locator(".govuk-error-summary")).to_contain_text("open every document")
    assert_accessible(tablet)
    for name in ("Identity document 1", "Evidence of authority 2"):
        href = tablet.get_by_role("link", name=name).get_attribute("href")
        assert tablet.context.request.get(live.url + str(href)).ok
    tablet.goto(f"{live.url}/staff/sar/{sar.reference}")
    tablet.locator(f"#subject-{holding.subject_id}").check()
    tablet.get_by_label("Why you are satisfied").fill("Birth certificate names the mother")
    tablet.get_by_role("button", name="Identity verified: start the clock").click()
    # Then the page asks for the safeguarding decision, by keyboard-usable radios and text
    expect(tablet.locator("#safeguarding")).to_have_text("Safeguarding decision")
    assert_accessible(tablet)
    tablet.get_by_role("button", name="Record the safeguarding decision").click()
    expect(tablet.locator(".govuk-error-summary")).to_be_visible()
    tablet.get_by_label("No: do not release to this requester").check()
    tablet.get_by_label("Reasons for the safeguarding decision").fill(
        "Children's services advise against release")
    tablet.get_by_role("button", name="Record the safeguarding decision").click()
    expect(tablet.locator("#safeguarding-decision")).to_contain_text("do not release")
