"""What a person sees: choices that apply, re-consent, holdings, statutory sharing, checks,
staff views (never a name), two-factor sign-in and the remembered language."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

import pyotp
from flask.testing import FlaskClient
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from consent.models import ConsentEvent, Notice
from consent.selfservice import operations as ops
from portal import audit
from portal.audit import STAFF_VIEW_ACTION, Actor
from portal.identity.models import Account
from tests.conftest import bearer
from tests.consent.selfservice.helpers import linked_account, post, subject_of
from tests.identity_helpers import PASSWORD, login, make_account


def test_every_notice_that_applies_is_listed_with_its_state(session: Session,
                                                           demo: Any) -> None:
    subject_id = subject_of(session, "FP-DEMO-0001")
    views = {v.version.notice.slug: v for v in ops.my_notices(session, subject_id, "en")}
    # The police hold their records, so every notice covering police sharing applies
    assert views["victim-support-referral"].state == "given"
    assert views["idva-referral"].state == "none"
    assert views["victim-support-referral"].sharing[0].from_agency
    # in their language, falling back to English
    welsh = ops.my_notices(session, subject_id, "cy")
    assert all(v.text is not None for v in welsh)


def test_a_material_change_asks_for_consent_again(client: FlaskClient, session: Session,
                                                  demo: Any) -> None:
    account = linked_account(session, "FP-DEMO-0004")
    notice = session.scalar(select(Notice).where(Notice.slug == "idva-referral"))
    assert notice is not None
    view = ops.notice_view(session, subject_of(session, "FP-DEMO-0004"), notice.id, "en")
    assert view.reconsent and view.version.version == 2
    login(client, account)
    html = client.get(f"/my/consents/{notice.id}").get_data(as_text=True)
    assert "This choice has changed since you said yes" in html
    assert post(client, f"/my/consents/{notice.id}/give").status_code == 302
    session.rollback()
    latest = session.scalars(select(ConsentEvent).where(
        ConsentEvent.subject_id == account.subject_id).order_by(ConsentEvent.id.desc())).first()
    assert latest is not None and latest.event_type == "given"
    assert not ops.notice_view(session, subject_of(session, "FP-DEMO-0004"), notice.id,
                               "en").reconsent


def test_records_page_shows_holdings_and_statutory_sharing(client: FlaskClient,
                                                           session: Session,
                                                           demo: Any) -> None:
    login(client, linked_account(session, "FP-DEMO-0001"))
    html = client.get("/my/records").get_data(as_text=True)
    assert "dataprotection@fenshire-police.example" in html
    statutory = ops.statutory_sharing(session, subject_of(session, "FP-DEMO-0001"))
    assert statutory and all(s.lawful_basis != "consent" for s in statutory)
    assert statutory[0].statutory_gateway in html
    assert "A public task set by law" in html
    assert "Sharing that does not need your consent" in html


def test_activity_shows_checks_and_staff_views_without_names(
        client: FlaskClient, session: Session, demo: Any,
        api_key: Callable[..., str]) -> None:
    account = linked_account(session, "FP-DEMO-0001")
    key = api_key("fenshire-police", "consent:check")
    client.post("/api/v1/consent/check", headers=bearer(key), json={
        "subject": {"agency_ref": "FP-DEMO-0001"}, "recipient": "victim-care",
        "purpose": "victim-support-referral", "categories": ["contact-details"]})
    audit.record(session, "subject.view", Actor("staff", "42", 1),
                 subject_id=account.subject_id, object_type="subject",
                 object_id=str(account.subject_id),
                 details={"agency": "fenshire-police", "role": "consent-officer"})
    session.commit()
    login(client, account)
    html = client.get("/my/activity").get_data(as_text=True)
    assert "Allowed" in html and "Victim" in html
    assert "consent-officer" in html and "Fenshire" in html
    assert "Test Officer" not in html and ">42<" not in html
    # New entries appear as soon as they are committed
    assert len(ops.checks(session, account.subject_id)) == 1  # type: ignore[arg-type]


def test_staff_views_are_read_through_their_own_index(session: Session, demo: Any,
                                                      backend: str) -> None:
    # Given a person whose record staff looked at
    subject_id = subject_of(session, "FP-DEMO-0001")
    audit.record(session, STAFF_VIEW_ACTION, Actor("staff", "42", 1), subject_id=subject_id,
                 details={"agency": "fenshire-police", "role": "consent-officer"})
    session.commit()
    # When their activity page reads those views
    seen: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if "audit_entries" in statement:
            seen.append((statement, parameters))

    engine = session.get_bind()
    event.listen(engine, "before_cursor_execute", capture)
    try:
        assert len(ops.staff_views(session, subject_id)) == 1
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    # Then the database plans it on the staff-views index (the log's only index by person,
    # which consent checks do not write to), however small the table
    [(statement, parameters)] = seen
    with engine.connect() as conn:
        raw = conn.connection.driver_connection
        cursor = raw.cursor()  # type: ignore[union-attr]
        if backend == "postgresql":
            cursor.execute("SET enable_seqscan = off")
            cursor.execute("EXPLAIN " + statement, parameters)
        else:
            cursor.execute("EXPLAIN QUERY PLAN " + statement, parameters)
        plan = " ".join(str(row) for row in cursor.fetchall())
        cursor.close()
        conn.rollback()
    assert "ix_audit_entries_subject_view" in plan


def test_two_factor_is_optional_and_then_required(client: FlaskClient, session: Session,
                                                  demo: Any) -> None:
    account = linked_account(session)
    post(client, "/account/sign-in", {"email": account.email, "password": PASSWORD})
    page = client.get("/account/two-factor").get_data(as_text=True)
    assert "<svg" in page
    with client.session_transaction() as s:
        secret = s["totp_setup"]
    r = post(client, "/account/two-factor", {"code": "000000"})
    assert "The code is not right" in r.get_data(as_text=True)
    r = post(client, "/account/two-factor", {"code": pyotp.TOTP(secret).now()})
    assert "Your authenticator app is on" in r.get_data(as_text=True)
    # Next sign-in needs the code before any personal page
    fresh = client.application.test_client()
    r = post(fresh, "/account/sign-in", {"email": account.email, "password": PASSWORD})
    assert "/account/second-factor" in r.headers["Location"]
    assert "/account/second-factor" in fresh.get("/my/consents").headers["Location"]
    r = post(fresh, "/account/second-factor", {"code": "12345"})
    assert "The code must be 6 numbers" in r.get_data(as_text=True)
    # (the enrolment's code was spent: a code works once, so the next one is given)
    r = post(fresh, "/account/second-factor", {"code": pyotp.TOTP(secret).now()})
    assert "The code is not right" in r.get_data(as_text=True)
    r = post(fresh, "/account/second-factor",
             {"code": pyotp.TOTP(secret).at(time.time() + 30)})
    assert r.status_code == 302
    assert fresh.get("/my/consents").status_code == 200


def test_the_language_choice_is_remembered_on_the_account(client: FlaskClient,
                                                          session: Session,
                                                          demo: Any) -> None:
    account = make_account(session)
    login(client, account)
    r = post(client, "/account/language", {"language": "cy"})
    assert r.status_code == 302
    session.rollback()
    assert session.scalar(select(Account.preferred_language)
                          .where(Account.id == account.id)) == "cy"
    # A fresh browser without the cookie gets Welsh once signed in
    other = client.application.test_client()
    r = post(other, "/account/sign-in", {"email": account.email, "password": PASSWORD})
    other.delete_cookie("portal_lang")
    assert 'lang="cy"' in other.get("/my").get_data(as_text=True)


def test_personal_pages_are_not_cached(client: FlaskClient, session: Session,
                                       demo: Any) -> None:
    login(client, linked_account(session))
    for url in ["/my", "/my/consents", "/my/records", "/my/activity", "/my/download",
                "/account/sign-in"]:
        assert client.get(url).headers["Cache-Control"] == "no-store", url


def test_a_child_cannot_give_consent_alone_and_is_told_why(client: FlaskClient,
                                                           session: Session,
                                                           demo: Any) -> None:
    account = linked_account(session, "FP-DEMO-0005")  # eleven years old
    notice = session.scalar(select(Notice).where(Notice.slug == "victim-support-referral"))
    assert notice is not None
    login(client, account)
    before = len(session.scalars(select(ConsentEvent)).all())
    r = post(client, f"/my/consents/{notice.id}/give")
    assert r.status_code == 200
    assert "A parent or guardian must give this consent" in r.get_data(as_text=True)
    session.rollback()
    assert len(session.scalars(select(ConsentEvent)).all()) == before


def test_the_header_language_switch_is_remembered_on_the_account(
        client: FlaskClient, session: Session, demo: Any) -> None:
    account = make_account(session)
    login(client, account)
    assert client.get("/language/pl?next=/my").status_code == 302
    session.rollback()
    assert session.scalar(select(Account.preferred_language)
                          .where(Account.id == account.id)) == "pl"


def test_the_activity_page_goes_back_a_page_at_a_time_and_points_to_the_download(
        client: FlaskClient, session: Session, demo: Any,
        monkeypatch: Any) -> None:
    from consent.selfservice import views

    # Given five staff views of a person's record, and pages of two
    account = linked_account(session, "FP-DEMO-0001")
    for n in range(1, 6):
        audit.record(session, "subject.view", Actor("staff", "7", 1),
                     subject_id=account.subject_id,
                     details={"agency": "fenshire-police", "role": f"role-number-{n}"})
    session.commit()
    monkeypatch.setattr(views, "ACTIVITY_LIMIT", 2)
    login(client, account)
    # When they read their history a page at a time
    pages = [client.get(url).get_data(as_text=True)
             for url in ("/my/activity", "/my/activity?page=2", "/my/activity?page=3")]
    # Then each page shows the next views, newest first, each once
    shown = [re.findall(r"role-number-(\d)", html) for html in pages]
    assert shown == [["5", "4"], ["3", "2"], ["1"]]
    # with links to the older and newer pages, and the download for everything
    assert 'href="/my/activity?page=2" rel="next"' in pages[0]
    assert 'rel="prev"' not in pages[0]
    assert 'href="/my/activity" rel="prev"' in pages[1]
    assert 'href="/my/activity?page=3" rel="next"' in pages[1]
    assert 'href="/my/activity?page=2" rel="prev"' in pages[2]
    assert 'rel="next"' not in pages[2]
    assert all("This page shows 2 of each at a time" in html and 'href="/my/download"' in html
               for html in pages)
    assert "<title>What happened to your information (page 2) –" in pages[1]
    # and a page past the end, or before the first, is not found
    for page in ("4", "0", "-1", "1000001", "9" * 30):
        assert client.get(f"/my/activity?page={page}").status_code == 404, page
