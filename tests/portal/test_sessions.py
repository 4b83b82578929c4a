"""Session rules shared by public and staff sign-in: epochs, timeouts, access decorators."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from portal.identity import sessions
from portal.identity.models import Role
from portal.identity.passwords import hash_password, verify_password
from tests.identity_helpers import PASSWORD, login, make_account, make_staff


@pytest.fixture
def probe(app: Flask) -> Flask:
    """Routes guarded by each decorator, to test the guards themselves."""

    @app.get("/_probe/account")
    @sessions.account_required
    def _account() -> str:
        return "account ok"

    @app.get("/_probe/staff")
    @sessions.staff_required(Role.SAR_OFFICER)
    def _staff() -> str:
        return "staff ok"

    @app.get("/_probe/signout")
    @sessions.account_required
    def _signout() -> str:
        sessions.sign_out()
        return "bye"

    return app


def test_passwords_hash_with_argon2id_and_verify() -> None:
    stored = hash_password(PASSWORD)
    assert stored.startswith("$argon2id$")
    assert verify_password(stored, PASSWORD)
    assert not verify_password(stored, PASSWORD + "x")
    assert not verify_password(None, PASSWORD)


def test_account_guard(probe: Flask, client: FlaskClient, session: Session, demo: Any) -> None:
    assert client.get("/_probe/account").status_code == 302
    account = make_account(session)
    login(client, account)
    assert client.get("/_probe/account").get_data(as_text=True) == "account ok"
    # A staff route refuses a public account
    assert client.get("/_probe/staff").status_code == 302


def test_staff_guard_needs_mfa_and_role(probe: Flask, client: FlaskClient, session: Session,
                                        demo: Any) -> None:
    officer = make_staff(session, "fenshire-police", Role.CONSENT_OFFICER)
    login(client, officer, mfa=False)
    assert client.get("/_probe/staff").status_code == 302
    login(client, officer)
    assert client.get("/_probe/staff").status_code == 403
    sar = make_staff(session, "fenshire-police", Role.SAR_OFFICER)
    login(client, sar)
    assert client.get("/_probe/staff").get_data(as_text=True) == "staff ok"


def test_replayed_cookie_after_sign_out_is_refused(probe: Flask, client: FlaskClient,
                                                   session: Session, demo: Any) -> None:
    # Given a signed-in account whose cookie an abuser copied
    account = make_account(session)
    login(client, account)
    assert client.get("/_probe/account").status_code == 200
    copied = client.get_cookie("portal_session")
    assert copied is not None
    # When the person signs out
    assert client.get("/_probe/signout").status_code == 200
    # Then the copied cookie no longer works
    other = probe.test_client()
    other.set_cookie("portal_session", copied.value)
    assert other.get("/_probe/account").status_code == 302


def test_idle_timeout_ends_the_session(probe: Flask, client: FlaskClient, session: Session,
                                       demo: Any) -> None:
    account = make_account(session)
    login(client, account)
    with client.session_transaction() as s:
        s["seen_at"] = s["seen_at"] - sessions.PUBLIC_IDLE.total_seconds() - 1
    assert client.get("/_probe/account").status_code == 302


def test_absolute_timeout_ends_the_session(probe: Flask, client: FlaskClient,
                                           session: Session, demo: Any) -> None:
    staff = make_staff(session, "fenshire-police", Role.SAR_OFFICER)
    login(client, staff)
    with client.session_transaction() as s:
        s["auth_at"] = s["auth_at"] - (sessions.STAFF_ABSOLUTE + dt.timedelta(seconds=1)
                                       ).total_seconds()
    assert client.get("/_probe/staff").status_code == 302


def test_disabled_account_is_signed_out(probe: Flask, client: FlaskClient, session: Session,
                                        demo: Any) -> None:
    from portal.database import utcnow

    account = make_account(session)
    login(client, account)
    account.disabled_at = utcnow()
    session.commit()
    assert client.get("/_probe/account").status_code == 302
