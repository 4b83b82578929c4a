"""The clock and the case: agencies' due dates on working days, a task for a holding
registered late, the reasons the clock stops, the searches made, notices proved by their
delivery record or a posted letter, and every error of the request forms at once."""

from __future__ import annotations

import datetime as dt
import io
import re
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.errors import Conflict, Invalid
from portal.identity.models import StaffUser
from portal.outbox import OutboxMail
from portal.reference import operations as reference
from sar import clock
from sar import operations as ops
from sar.models import SarNotice, SarPause, SarRequest, SarSearch
from tests.identity_helpers import login
from tests.sar.conftest import PNG, STAFF, Inbox

D = dt.date
EW = "england-and-wales"
IN_FIRST_MONTH = D(2026, 11, 10)


def _csrf(client: FlaskClient, url: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', client.get(url).get_data(as_text=True))
    assert match, url
    return match.group(1)


# --- Agencies' due dates ---------------------------------------------------------------


def test_an_agencys_task_never_falls_due_on_a_weekend_or_bank_holiday() -> None:
    # Given a clock that starts on Friday 11 December 2026: fourteen days on is Christmas
    # Day, then a weekend, then the Boxing Day substitute (Monday 28th)
    sar = SarRequest(clock_start=D(2026, 12, 11), nation=EW, extension_months=0)
    # Then the agency's part falls due on Tuesday 29 December
    assert ops.task_due(sar, D(2026, 12, 11)) == D(2026, 12, 29)
    # And a Saturday fourteen days on moves to the Monday
    sar = SarRequest(clock_start=D(2026, 11, 14), nation=EW, extension_months=0)
    assert ops.task_due(sar, D(2026, 11, 14)) == D(2026, 11, 30)
    for start in (D(2026, 12, 11) + dt.timedelta(days=n) for n in range(60)):
        sar = SarRequest(clock_start=start, nation=EW, extension_months=0)
        due = ops.task_due(sar, start)
        assert clock.is_working_day(due, EW), start
        assert due <= clock.due_date(start, EW), start


def test_a_late_task_is_due_on_a_working_day_before_the_deadline() -> None:
    # A task added 25 days into the clock: fourteen days on would pass the statutory deadline
    sar = SarRequest(clock_start=D(2026, 11, 2), nation=EW, extension_months=0)
    assert ops.task_due(sar, D(2026, 11, 27)) == D(2026, 12, 2)
    # Past the deadline, the next working day
    assert ops.task_due(sar, D(2026, 12, 5)) == D(2026, 12, 7)


def test_a_holding_registered_after_the_clock_started_gets_a_task(
        session: Session, filed: Callable[..., SarRequest], morgan: uuid.UUID,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a request whose clock runs, with tasks for the police and the IDVA service
    sar = filed()
    assert {t.agency.slug for t in sar.tasks} == {"fenshire-police", "fenshire-idva"}
    monkeypatch.setattr(clock, "today", lambda: D(2026, 11, 13))
    # When Victim Care registers a holding about the person (as its API or an admin would)
    victim_care = reference.agency_by_slug(session, "victim-care")
    reference.put_holding(session, victim_care.id, "VC-9", categories=[],
                          since=D(2026, 11, 12), actor=STAFF, subject_id=morgan,
                          reviewed=True)
    session.commit()
    session.refresh(sar)
    # Then Victim Care has its task, due on a working day fourteen days on
    [late] = [t for t in sar.tasks if t.agency_id == victim_care.id]
    assert late.due_on == D(2026, 11, 27) and clock.is_working_day(late.due_on, EW)
    # And registering it again makes no second task
    reference.put_holding(session, victim_care.id, "VC-9", categories=[],
                          since=D(2026, 11, 12), actor=STAFF)
    session.commit()
    session.refresh(sar)
    assert len([t for t in sar.tasks if t.agency_id == victim_care.id]) == 1


# --- Art 12A: why the clock stops --------------------------------------------------------


def test_a_pause_records_its_reason_from_the_fixed_list(
        session: Session, filed: Callable[..., SarRequest]) -> None:
    sar = filed()
    with pytest.raises(Invalid) as err:
        ops.pause(session, sar, "Please send the fee", reason="because", staff_id=1,
                  today=IN_FIRST_MONTH, actor=STAFF)
    assert err.value.field == "pause_reason"
    ops.pause(session, sar, "Please send the fee for the extra copies", reason="fee",
              staff_id=1, today=IN_FIRST_MONTH, actor=STAFF)
    ops.resume(session, sar, today=D(2026, 11, 13), actor=STAFF)
    ops.pause(session, sar, "Which years?", reason="clarification", staff_id=1,
              today=D(2026, 11, 16), actor=STAFF)
    session.commit()
    pauses = session.scalars(select(SarPause).order_by(SarPause.id)).all()
    assert [(p.reason, p.start, p.end, p.staff_id) for p in pauses] == [
        ("fee", IN_FIRST_MONTH, D(2026, 11, 13), 1), ("clarification", D(2026, 11, 16), None, 1)]


def test_the_case_page_shows_the_clocks_history_with_reasons(
        client: FlaskClient, session: Session, filed: Callable[..., SarRequest],
        officers: tuple[StaffUser, StaffUser], monkeypatch: pytest.MonkeyPatch) -> None:
    sar = filed()
    monkeypatch.setattr(clock, "today", lambda: IN_FIRST_MONTH)
    login(client, officers[0])
    url = f"/staff/sar/{sar.reference}"
    # Without a reason: refused, the question kept
    r = client.post(url + "/pause", data={"csrf_token": _csrf(client, url),
                                          "question": "Which police station?"})
    page = r.get_data(as_text=True)
    assert r.status_code == 400 and "choose why the clock stops" in page
    assert "Which police station?</textarea>" in page
    r = client.post(url + "/pause", data={"csrf_token": _csrf(client, url),
                                          "pause_reason": "identity",
                                          "question": "Please send proof of your address"})
    assert r.status_code == 302
    history = client.get(url).get_data(as_text=True).split('id="clock-history"')[1]
    assert "Stopped on 10/11/2026: Waiting for proof of identity or authority" in history


# --- Art 15(1A): the search made ------------------------------------------------------


def test_the_search_made_is_recorded_per_agency_and_checked(
        session: Session, filed: Callable[..., SarRequest]) -> None:
    sar = filed()
    police = next(t for t in sar.tasks if t.agency.slug == "fenshire-police")
    good = ops.NewSearch(police.agency_id, "Niche RMS; Storm command and control",
                         "Morgan Lee; FP-DEMO-0004; 12 Elm Road", D(2026, 11, 9),
                         "Every system holding victims' reports; email archive excluded: "
                         "no contact by email is recorded")
    for wrong, field in ((ops.NewSearch(0, "a", "b", D(2026, 11, 9), "c"), "agency"),
                         (ops.NewSearch(police.agency_id, " ", "b", D(2026, 11, 9), "c"),
                          "systems"),
                         (ops.NewSearch(police.agency_id, "a", "b", None, "c"), "searched_on"),
                         (ops.NewSearch(police.agency_id, "a", "b", D(2026, 11, 11), "c"),
                          "searched_on"),
                         (ops.NewSearch(police.agency_id, "a", "b", D(2026, 11, 9), ""),
                          "proportionality")):
        with pytest.raises(Invalid) as err:
            ops.record_search(session, sar, wrong, staff_id=1, today=IN_FIRST_MONTH,
                              actor=STAFF)
        assert err.value.field == field
    ops.record_search(session, sar, good, staff_id=1, today=IN_FIRST_MONTH, actor=STAFF,
                      task=police)
    session.commit()
    [kept] = session.scalars(select(SarSearch)).all()
    assert (kept.agency_id, kept.task_id, kept.systems) == (
        police.agency_id, police.id, "Niche RMS; Storm command and control")


def test_a_reviewer_records_their_agencys_search_and_the_case_shows_it(
        client: FlaskClient, session: Session, filed: Callable[..., SarRequest],
        officers: tuple[StaffUser, StaffUser], reviewers: dict[str, StaffUser],
        monkeypatch: pytest.MonkeyPatch) -> None:
    sar = filed()
    monkeypatch.setattr(clock, "today", lambda: IN_FIRST_MONTH)
    police = next(t for t in sar.tasks if t.agency.slug == "fenshire-police")
    login(client, reviewers["fenshire-police"])
    url = f"/staff/sar/tasks/{police.id}"
    form = {"systems": "Niche RMS", "terms": "Morgan Lee", "searched_on": "2026-11-09",
            "proportionality": "the only system holding reports"}
    # An empty answer is refused and nothing typed is lost
    r = client.post(url + "/search", data={"csrf_token": _csrf(client, url),
                                           **{**form, "terms": ""}})
    assert r.status_code == 400 and "Niche RMS</textarea>" in r.get_data(as_text=True)
    r = client.post(url + "/search", data={"csrf_token": _csrf(client, url), **form})
    assert r.status_code == 302
    login(client, officers[0])
    page = client.get(f"/staff/sar/{sar.reference}").get_data(as_text=True)
    searches = page.split('id="searches"')[1].split('id="bundle"')[0]
    assert "Niche RMS" in searches and "the only system holding reports" in searches
    assert "09/11/2026" in searches


# --- Notices proved by delivery, never by a checkbox ------------------------------------


def test_an_extension_is_proved_by_its_delivery_record(
        mail_app: Flask, inbox: Inbox, session: Session, filed: Callable[..., SarRequest],
        officers: tuple[StaffUser, StaffUser], monkeypatch: pytest.MonkeyPatch) -> None:
    sar = filed()
    monkeypatch.setattr(clock, "today", lambda: IN_FIRST_MONTH)
    client = mail_app.test_client()
    login(client, officers[0])
    url = f"/staff/sar/{sar.reference}"
    assert 'name="notice"' not in client.get(url).get_data(as_text=True)  # no checkbox
    r = client.post(url + "/extend", data={"csrf_token": _csrf(client, url), "months": "1",
                                           "reason": "eight agencies, 2,000 records"})
    assert r.status_code == 302
    session.rollback()
    # Then the notice is kept with the email that carried it, and that email reached the
    # mail server with its Date and Message-ID
    notice = session.scalars(select(SarNotice).where(SarNotice.event == "extended")).one()
    row = session.get(OutboxMail, notice.mail_id)
    assert row is not None and row.state == "sent" and row.sent_at is not None
    [received] = [m for m in inbox.messages if m["Message-ID"] == row.message_id]
    assert received["Date"] and received["To"] == "morgan.lee@example.org"
    # And the case page shows its delivery
    page = client.get(url).get_data(as_text=True)
    notices = page.split('id="notices"')[1].split("Agency tasks")[0]
    assert "Extension and its reasons" in notices and "Delivered" in notices
    assert row.message_id.strip("<>") in notices.replace("&lt;", "<").replace("&gt;", ">")


def test_a_notice_without_email_is_proved_by_a_letter_recorded_as_posted(
        client: FlaskClient, session: Session, filed: Callable[..., SarRequest],
        officers: tuple[StaffUser, StaffUser], monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a request by someone with no email address, refused
    sar = filed(email="", channel="written", delivery="post", postal_address="1 High Street")
    monkeypatch.setattr(clock, "today", lambda: IN_FIRST_MONTH)
    login(client, officers[0])
    url = f"/staff/sar/{sar.reference}"
    r = client.post(url + "/refuse", data={"csrf_token": _csrf(client, url),
                                           "reason": "the same request every week"})
    assert r.status_code == 302
    session.rollback()
    notice = session.scalars(select(SarNotice).where(SarNotice.event == "refused")).one()
    assert notice.mail_id is None
    [state] = [n for n in ops.notice_states(session, sar) if n.notice.id == notice.id]
    assert state.required and not state.proved
    page = client.get(url).get_data(as_text=True)
    assert "No email" in page and f"/notices/{notice.id}/letter" in page
    # A date in the future is refused, and the answers are kept
    letter = f"{url}/notices/{notice.id}/letter"
    r = client.post(letter, data={"csrf_token": _csrf(client, url), "posted_on": "2026-11-30",
                                  "address": "request"})
    assert r.status_code == 400 and "today or in the past" in r.get_data(as_text=True)
    assert 'value="2026-11-30"' in r.get_data(as_text=True)
    r = client.post(letter, data={"csrf_token": _csrf(client, url), "posted_on": "2026-11-10",
                                  "address": "request"})
    assert r.status_code == 302
    session.rollback()
    session.refresh(notice)
    assert (notice.letter_posted_on, notice.letter_address, notice.letter_by_id) == (
        IN_FIRST_MONTH, "request", officers[0].id)
    assert "Letter posted on 10/11/2026" in client.get(url).get_data(as_text=True)
    with pytest.raises(Conflict):  # the case is closed: no extension now
        ops.extend(session, sar, months=1, reason="x", today=IN_FIRST_MONTH, actor=STAFF)


# --- Bad input on the request forms ------------------------------------------------------


def _public(client: FlaskClient, **fields: Any) -> Any:
    data = {"csrf_token": _csrf(client, "/sar/request"), "requester_name": "Morgan Lee",
            "requester_email": "morgan.lee@example.org", "on_behalf": "no",
            "scope": "everything", "delivery": "download", "identity_method": "document",
            "identity_document": (io.BytesIO(PNG), "passport.png"), **fields}
    return client.post("/sar/request", data=data, content_type="multipart/form-data")


def _summary(page: str) -> list[str]:
    block = page.split("govuk-error-summary__list")[1].split("</ul>")[0]
    return re.findall(r'href="#([^"]+)"', block)


def test_the_public_form_shows_every_error_at_once_and_cuts_nothing(
        app: Flask, session: Session, demo: Any) -> None:
    app.config["RATELIMIT_ENABLED"] = False
    client = app.test_client()
    long_name = "A" * 201
    r = _public(client, requester_name=long_name, requester_email="<b>x</b>@example.org",
                on_behalf="yes", subject_name="", relationship="", delivery="post",
                postal_address="", **{"scope_from-day": "31", "scope_from-month": "2",
                                      "scope_from-year": "2025"})
    page = r.get_data(as_text=True)
    assert r.status_code == 400
    assert _summary(page) == ["requester_name", "requester_email", "subject_name",
                              "relationship", "scope_from", "postal_address"]
    assert "Your full name must be 200 characters or fewer" in page
    assert f'value="{long_name}"' in page  # shown again, whole
    session.rollback()
    assert session.scalars(select(SarRequest)).all() == []


@pytest.mark.parametrize("email", ["", "<script>@example.org", "a" * 10_000 + "@example.org",
                                   "no-at-sign", "two@@example.org"])
def test_the_staff_form_refuses_a_bad_requester_email(
        client: FlaskClient, session: Session, officers: tuple[StaffUser, StaffUser],
        email: str) -> None:
    login(client, officers[0])
    r = client.post("/staff/sar/new", data={
        "csrf_token": _csrf(client, "/staff/sar/new"), "channel": "verbal", "language": "en",
        "requester_name": "Jordan Price", "requester_email": email, "on_behalf": "no",
        "scope": "everything", "delivery": "download", "identity_method": "in-person"})
    assert r.status_code == 400, email
    assert "requester_email" in _summary(r.get_data(as_text=True))
    session.rollback()
    assert session.scalars(select(SarRequest)).all() == []


def test_the_staff_form_refuses_control_characters_and_long_values(
        client: FlaskClient, session: Session, officers: tuple[StaffUser, StaffUser]) -> None:
    login(client, officers[0])
    r = client.post("/staff/sar/new", data={
        "csrf_token": _csrf(client, "/staff/sar/new"), "channel": "written", "language": "en",
        "requester_name": "Jordan\x07Price", "requester_email": "", "on_behalf": "yes",
        "subject_name": "B" * 401, "relationship": "parent", "scope": "everything",
        "delivery": "post", "postal_address": "1 High Street\nFenchester",
        "scope_text": "x" * 5001, "identity_method": "in-person"})
    page = r.get_data(as_text=True)
    assert r.status_code == 400
    assert _summary(page) == ["requester_name", "subject_name", "scope_text"]
    assert "must not contain control characters" in page
    assert "must be 400 characters or fewer" in page and "must be 5,000 characters" in page
    # A NUL byte is refused before anything reads it
    r = client.post("/staff/sar/new", data={
        "csrf_token": _csrf(client, "/staff/sar/new"), "requester_name": "Jordan\x00Price"})
    assert r.status_code == 400
    session.rollback()
    assert session.scalars(select(SarRequest)).all() == []
