"""The SAR pages end to end (without a browser), with a real SMTP server reading the mail."""

from __future__ import annotations

import io
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from itsdangerous.timed import TimestampSigner
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.audit import AuditEntry
from portal.database import get_database
from portal.identity.models import Role, StaffUser
from sar import worker
from sar.models import SarDownload, SarRequest, Status
from tests.conftest import bearer
from tests.identity_helpers import login, make_account, make_staff
from tests.sar.conftest import PNG, Inbox


def _csrf(client: FlaskClient, url: str) -> str:
    page = client.get(url).get_data(as_text=True)
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, url
    return match.group(1)


def _file(client: FlaskClient, **fields: Any) -> Any:
    data = {"csrf_token": _csrf(client, "/sar/request"), "requester_name": "Morgan Lee",
            "requester_email": "morgan.lee@example.org", "on_behalf": "no",
            "scope": "everything", "delivery": "download", "identity_method": "document",
            "identity_document": (io.BytesIO(PNG), "passport.png"), **fields}
    return client.post("/sar/request", data=data, content_type="multipart/form-data")


def test_file_without_an_account_and_follow_it(mail_app: Flask, inbox: Inbox,
                                               session: Session, demo: Any) -> None:
    client = mail_app.test_client()
    # When a person files with a photo of their passport
    r = _file(client)
    assert r.status_code == 302
    status_url = r.headers["Location"]
    page = client.get(status_url).get_data(as_text=True)
    # Then they see a confirmation with a reference, waiting for ID to be checked
    session.rollback()
    sar = session.scalars(select(SarRequest)).one()
    assert sar.reference in page and "Waiting for proof of identity" in page
    assert sar.status == Status.WAITING_FOR_ID
    # And an email with the status link reached the SMTP server, saying nothing of what
    # it is about (the default wording is neutral)
    assert sar.reference not in inbox.messages[0]["Subject"]
    assert "subject access" not in inbox.bodies()[0].lower()
    assert "/sar/track/" in inbox.bodies()[0]


def test_disguised_and_oversized_uploads_are_refused(mail_app: Flask, session: Session,
                                                     demo: Any) -> None:
    client = mail_app.test_client()
    r = _file(client, identity_document=(io.BytesIO(b"MZ\x90\x00program"), "passport.jpg"))
    assert r.status_code == 400
    page = r.get_data(as_text=True)
    assert "There is a problem" in page and "must be a photo (JPEG or PNG) or a PDF" in page
    assert 'value="Morgan Lee"' in page  # nothing typed is lost
    big = PNG + b"\x00" * (10 * 1024 * 1024)
    r = _file(client, identity_document=(io.BytesIO(big), "passport.png"))
    assert r.status_code == 400 and "10 MB or smaller" in r.get_data(as_text=True)
    r = _file(client, requester_email="nope")
    assert "correct format" in r.get_data(as_text=True)
    session.rollback()
    assert session.scalars(select(SarRequest)).all() == []


def test_staff_pages_need_a_sar_role(app: Flask, client: FlaskClient, session: Session,
                                     demo: Any) -> None:
    consent_officer = make_staff(session, "fenshire-police", Role.CONSENT_OFFICER)
    login(client, consent_officer)
    assert client.get("/staff/sar/").status_code == 403
    # An agency's reviewer has a list of their agency's tasks, and no request pages
    sar_officer = make_staff(session, "fenshire-police", Role.SAR_OFFICER)
    login(client, sar_officer)
    assert client.get("/staff/sar/").status_code == 200
    assert client.get("/staff/sar/SAR-NOPE-NOPE").status_code == 403
    coordinator = make_staff(session, "victim-care", Role.SAR_COORDINATOR)
    login(client, coordinator)
    assert client.get("/staff/sar/").status_code == 200
    assert client.get("/staff/sar/SAR-NOPE-NOPE").status_code == 404


def test_a_requester_sees_only_their_own(client: FlaskClient, session: Session,
                                         filed: Callable[..., SarRequest]) -> None:
    mine = make_account(session, "morgan.lee@example.org")
    other = make_account(session, "other@example.org")
    sar = filed(account_id=mine.id)
    login(client, mine)
    assert sar.reference in client.get("/sar/mine").get_data(as_text=True)
    login(client, other)
    assert sar.reference not in client.get("/sar/mine").get_data(as_text=True)
    # A forged status link is not found.
    assert client.get("/sar/track/forged.token").status_code == 404


def _open_bundle(client: FlaskClient, sar: SarRequest) -> None:
    page = client.get(f"/staff/sar/{sar.reference}").get_data(as_text=True)
    link = re.search(r'id="open-bundle" href="([^"]+)"', page)
    assert link
    r = client.get(link.group(1))
    assert r.status_code == 200 and r.data.startswith(b"%PDF")


def _act(client: FlaskClient, sar: SarRequest, **form: str) -> Any:
    token = _csrf(client, f"/staff/sar/{sar.reference}")
    return client.post(f"/staff/sar/{sar.reference}/{form.pop('action')}",
                       data={"csrf_token": token, **form})


def test_the_whole_journey(mail_app: Flask, inbox: Inbox, session: Session,
                           officers: tuple[StaffUser, StaffUser], morgan: uuid.UUID,
                           reviewers: dict[str, StaffUser],
                           api_key: Callable[..., str]) -> None:
    public, staff = mail_app.test_client(), mail_app.test_client()
    first, second = officers
    # Given a request filed on the web, by someone who chose detailed emails
    _file(public, email_wording="detailed")
    session.rollback()
    sar = session.scalars(select(SarRequest)).one()
    # When a coordinator opens the passport and verifies the identity, the clock starts and
    # tasks go to both agencies
    login(staff, first)
    page = staff.get(f"/staff/sar/{sar.reference}").get_data(as_text=True)
    document = re.search(r'href="(/staff/sar/[^"]+/documents/\d+)"', page)
    assert document and staff.get(document.group(1)).data == PNG
    assert _act(staff, sar, action="verify", subject_id=str(morgan), method="document",
                note="The passport photo and name match.").status_code == 302
    session.rollback()
    assert sar.status == Status.IN_PROGRESS and len(sar.tasks) == 2
    assert "in progress" in inbox.messages[-1]["Subject"]
    # And the police supply a record through the API; the IDVA service holds nothing
    police = api_key("fenshire-police", "sar:supply")
    idva = api_key("fenshire-idva", "sar:supply")
    [task] = public.get("/api/v1/sar/tasks", headers=bearer(police)).get_json()["tasks"]
    r = public.post(f"/api/v1/sar/tasks/{task['id']}/records", headers=bearer(police),
                    json={"records": [{"id": "INC-9", "kind": "incident", "title": "Damage",
                                       "text": "Neighbour Jane Doe saw it. <b>x</b>"}]})
    assert r.status_code == 201
    [task] = public.get("/api/v1/sar/tasks", headers=bearer(idva)).get_json()["tasks"]
    public.post(f"/api/v1/sar/tasks/{task['id']}/nothing-held", headers=bearer(idva))
    session.rollback()
    # Build first, then the police's reviewer redacts: the bundle still holds the name
    assert _act(staff, sar, action="bundle").status_code == 302
    with mail_app.app_context():
        assert worker.run_once(get_database(mail_app).sessionmaker) == "built"
    police_task = next(t for t in sar.tasks if t.agency.slug == "fenshire-police")
    record = police_task.records[0]
    login(staff, reviewers["fenshire-police"])
    token = _csrf(staff, f"/staff/sar/records/{police_task.records[0].id}")
    assert staff.post(f"/staff/sar/records/{record.id}/redact",
                      data={"csrf_token": token, "text": "Jane Doe",
                            "reason": "s45-4-e"}).status_code == 302
    # The builder may not approve; the second coordinator must open the PDF first, and then
    # their approval is blocked by the leak
    login(staff, first)
    page = staff.get(f"/staff/sar/{sar.reference}").get_data(as_text=True)
    assert "another coordinator must approve" in page
    login(staff, second)
    r = _act(staff, sar, action="approve")
    assert r.status_code == 400 and "open the bundle" in r.get_data(as_text=True)
    _open_bundle(staff, sar)
    r = _act(staff, sar, action="approve")
    assert r.status_code == 409 and "Release refused" in r.get_data(as_text=True)
    session.rollback()
    assert session.scalars(select(AuditEntry).where(
        AuditEntry.action == "sar.release_blocked")).one()
    # After a rebuild by the first officer, the second approves and the link is emailed
    login(staff, first)
    _act(staff, sar, action="bundle")
    with mail_app.app_context():
        assert worker.run_once(get_database(mail_app).sessionmaker) == "built"
    login(staff, second)
    _open_bundle(staff, sar)
    assert _act(staff, sar, action="approve").status_code == 302
    session.rollback()
    session.expire_all()
    assert sar.status == Status.READY
    link = re.search(r"http://\S+/sar/download/(\S+)", inbox.bodies()[-1])
    assert link
    path = f"/sar/download/{link.group(1)}"
    # Downloading needs the requester's account
    stranger = make_account(session, "stranger@example.org")
    login(public, stranger)
    assert public.get(path).status_code == 410
    requester = make_account(session, "morgan.lee@example.org")
    login(public, requester)
    # (the stranger's attempt did not spend the link)
    page = public.get(path)
    assert page.status_code == 200
    pdf = public.get(re.search(r'id="download-pdf" href="([^"]+)"',
                               page.get_data(as_text=True)).group(1))  # type: ignore[union-attr]
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    assert b"Jane Doe" not in pdf.data
    # The link fails a second time
    assert public.get(path).status_code == 410
    session.rollback()
    session.expire_all()
    assert sar.status == Status.DELIVERED
    assert len(session.scalars(select(SarDownload)).all()) == 1


def test_the_link_expires(mail_app: Flask, session: Session, filed: Callable[..., SarRequest],
                          monkeypatch: pytest.MonkeyPatch) -> None:
    from sar import delivery

    sar = filed()
    config = mail_app.config["PORTAL"]
    # A token signed 15 days ago (links live 14 days)
    monkeypatch.setattr(TimestampSigner, "get_timestamp",
                        lambda self: int(time.time()) - 15 * 86400)
    token = delivery.make_token(config, sar.id)
    monkeypatch.undo()
    client = mail_app.test_client()
    login(client, make_account(session, "morgan.lee@example.org"))
    assert client.get(f"/sar/download/{token}").status_code == 410
    with pytest.raises(Exception, match="expired"):
        delivery.read_token(config, token)


def test_staff_enter_a_verbal_request_in_the_same_shape(client: FlaskClient, session: Session,
                                                        officers: tuple[StaffUser, StaffUser]
                                                        ) -> None:
    login(client, officers[0])
    token = _csrf(client, "/staff/sar/new")
    r = client.post("/staff/sar/new", data={
        "csrf_token": token, "channel": "verbal", "language": "cy",
        "requester_name": "Jordan Price", "requester_email": "", "on_behalf": "no",
        "scope": "chosen", "agencies": "fenshire-police", "delivery": "post",
        "postal_address": "1 High Street, Fenchester", "identity_method": "in-person"})
    assert r.status_code == 302
    session.rollback()
    sar = session.scalars(select(SarRequest)).one()
    assert (sar.channel, sar.language, sar.delivery, sar.agency_slugs) == (
        "verbal", "cy", "post", ["fenshire-police"])
    assert sar.status == Status.WAITING_FOR_ID and sar.identity_method == "in-person"
    assert r.headers["Location"].endswith(f"/staff/sar/{sar.reference}")
    r = client.post("/staff/sar/new", data={"csrf_token": token, "channel": "written",
                                            "requester_name": ""})
    assert r.status_code == 400 and "Enter your full name" in r.get_data(as_text=True)
