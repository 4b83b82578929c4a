"""Staff sign-in: password, then a mandatory second factor; no path skips it."""

from __future__ import annotations

from typing import Any

import pyotp
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.audit import AuditEntry, verify
from portal.database import utcnow
from portal.identity.models import RecoveryCode, StaffUser
from tests.identity_helpers import PASSWORD, login, make_staff
from tests.staff_helpers import csrf


def _password_step(client: FlaskClient, email: str, password: str = PASSWORD) -> Any:
    return client.post("/staff/sign-in", data={"csrf_token": csrf(client), "email": email,
                                               "password": password})


def _code_step(client: FlaskClient, code: str) -> Any:
    return client.post("/staff/second-factor", data={
        "csrf_token": csrf(client, "/staff/second-factor"), "code": code})


def test_password_and_code_sign_in(client: FlaskClient, session: Session, demo: Any) -> None:
    staff = make_staff(session, "fenshire-police", "consent-officer")
    # When the officer gives their password
    r = _password_step(client, staff.email.upper())
    # Then they are asked for the second factor, and staff pages still send them there
    assert r.status_code == 302 and r.headers["Location"].endswith("/staff/second-factor")
    assert client.get("/staff/").headers["Location"].endswith("/staff/second-factor")
    # When they give a current code
    r = _code_step(client, pyotp.TOTP(staff.totp_secret or "").now())
    assert r.status_code == 302 and r.headers["Location"].endswith("/staff/")
    assert client.get("/staff/").status_code == 200
    session.rollback()
    actions = list(session.scalars(select(AuditEntry.action)))
    assert actions.count("staff.sign_in") == 2


def test_wrong_password_and_unknown_email_get_the_same_answer(client: FlaskClient,
                                                              session: Session,
                                                              demo: Any) -> None:
    staff = make_staff(session, "fenshire-police", "consent-officer")
    wrong = _password_step(client, staff.email, "not the password")
    unknown = _password_step(client, "nobody@example.org")
    assert wrong.status_code == unknown.status_code == 400
    assert "The email address or password is not right" in wrong.get_data(as_text=True)
    assert "The email address or password is not right" in unknown.get_data(as_text=True)
    assert client.get("/staff/second-factor").headers["Location"].endswith("/staff/sign-in")


def test_empty_sign_in_form_names_each_field(client: FlaskClient, demo: Any) -> None:
    r = client.post("/staff/sign-in", data={"csrf_token": csrf(client), "email": "",
                                            "password": ""})
    body = r.get_data(as_text=True)
    assert r.status_code == 400
    assert 'href="#email"' in body and 'href="#password"' in body


def test_wrong_code_is_refused_and_the_session_stays_half_signed_in(
        client: FlaskClient, session: Session, demo: Any) -> None:
    staff = make_staff(session, "fenshire-police", "consent-officer")
    _password_step(client, staff.email)
    r = _code_step(client, "000000")
    assert r.status_code == 400
    assert "That code is not right" in r.get_data(as_text=True)
    assert client.get("/staff/").status_code == 302


def test_disabled_staff_cannot_sign_in(client: FlaskClient, session: Session, demo: Any) -> None:
    staff = make_staff(session, "fenshire-police", "consent-officer")
    staff.disabled_at = utcnow()
    session.commit()
    assert _password_step(client, staff.email).status_code == 400


def test_first_sign_in_enrols_an_authenticator_and_gives_recovery_codes(
        client: FlaskClient, session: Session, demo: Any) -> None:
    # Given a new staff member with no authenticator yet
    staff = make_staff(session, "fenshire-police", "consent-officer")
    staff.totp_secret = None
    staff.totp_confirmed_at = None
    session.commit()
    _password_step(client, staff.email)
    # When they open the second step, they see a QR code (inline SVG) and the key
    page = client.get("/staff/second-factor").get_data(as_text=True)
    assert "<svg" in page
    session.rollback()
    secret = session.scalar(select(StaffUser.totp_secret).where(StaffUser.id == staff.id))
    assert secret and secret in page
    # A wrong code keeps the same secret and refuses
    r = _code_step(client, "123456")
    assert r.status_code == 400 and "That code is not right" in r.get_data(as_text=True)
    assert secret in r.get_data(as_text=True)
    assert client.get("/staff/").status_code == 302
    # When they confirm with a code from the app
    r = _code_step(client, pyotp.TOTP(secret).now())
    body = r.get_data(as_text=True)
    # Then they get recovery codes, once, stored only as hashes
    assert r.status_code == 200 and "Your recovery codes" in body
    session.rollback()
    rows = list(session.scalars(select(RecoveryCode).where(
        RecoveryCode.staff_user_id == staff.id)))
    assert len(rows) == 10
    assert all(row.code_hash not in body for row in rows)
    assert client.get("/staff/").status_code == 200


def test_a_recovery_code_works_once(client: FlaskClient, session: Session, demo: Any) -> None:
    staff = make_staff(session, "fenshire-police", "consent-officer")
    staff.totp_secret = pyotp.random_base32()
    staff.totp_confirmed_at = None
    session.commit()
    _password_step(client, staff.email)
    client.get("/staff/second-factor")
    session.rollback()
    secret = session.scalar(select(StaffUser.totp_secret).where(StaffUser.id == staff.id))
    body = _code_step(client, pyotp.TOTP(secret or "").now()).get_data(as_text=True)
    import re

    codes = re.findall(r"<code>([A-Z0-9]{5}-[A-Z0-9]{5})</code>", body)
    assert len(codes) == 10
    client.post("/staff/sign-out", data={"csrf_token": csrf(client, "/staff/")})
    # When they sign in with a recovery code instead of the app
    _password_step(client, staff.email)
    assert _code_step(client, codes[0].lower()).status_code == 302
    assert client.get("/staff/").status_code == 200
    client.post("/staff/sign-out", data={"csrf_token": csrf(client, "/staff/")})
    # Then the same code does not work a second time
    _password_step(client, staff.email)
    assert _code_step(client, codes[0]).status_code == 400
    session.rollback()
    assert verify(session).ok


def test_sign_out_ends_every_session(app: Flask, session: Session, demo: Any) -> None:
    staff = make_staff(session, "fenshire-police", "consent-officer")
    first, second = app.test_client(), app.test_client()
    login(first, staff)
    login(second, staff)
    assert second.get("/staff/").status_code == 200
    first.post("/staff/sign-out", data={"csrf_token": csrf(first, "/staff/")})
    # A replayed older cookie is refused
    assert second.get("/staff/").status_code == 302


def test_sign_in_is_throttled_per_account(client: FlaskClient, session: Session,
                                          demo: Any) -> None:
    staff = make_staff(session, "fenshire-police", "consent-officer")
    codes = [_password_step(client, staff.email, "wrong").status_code for _ in range(6)]
    assert codes[:5] == [400] * 5 and codes[5] == 429


def test_half_signed_in_staff_is_idle_timed_out(client: FlaskClient, session: Session,
                                                demo: Any) -> None:
    staff = make_staff(session, "fenshire-police", "consent-officer")
    login(client, staff)
    with client.session_transaction() as s:
        s["seen_at"] = s["seen_at"] - 16 * 60  # the staff idle timeout is 15 minutes
    r = client.get("/staff/")
    assert r.status_code == 302 and "/staff/sign-in" in r.headers["Location"]


def test_a_code_works_only_once(client: FlaskClient, session: Session, demo: Any) -> None:
    # Given an officer who signed in with a code
    staff = make_staff(session, "fenshire-police", "consent-officer")
    code = pyotp.TOTP(staff.totp_secret or "").now()
    _password_step(client, staff.email)
    assert _code_step(client, code).status_code == 302
    client.post("/staff/sign-out", data={"csrf_token": csrf(client, "/staff/")})
    # When someone replays the same code (seen over a shoulder) with the password
    _password_step(client, staff.email)
    r = _code_step(client, code)
    # Then it is refused
    assert r.status_code == 400
    assert client.get("/staff/").status_code == 302
