"""A public account's authenticator app: each code once, recovery codes, turning it off, and
a way back by email (with a wait and notices) when both the app and the codes are gone."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

import pyotp
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.audit import AuditEntry
from portal.database import utcnow
from portal.identity import operations as ops
from portal.identity import second_factor
from portal.identity.models import Account, RecoveryCode
from tests.consent.selfservice.helpers import body, link_in, linked_account, outbox, post
from tests.identity_helpers import PASSWORD

Clock = Callable[[int], None]


@pytest.fixture
def step(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """Move the second factor's clock to a number of 30-second steps from now."""
    start = utcnow()

    def move(steps: int) -> None:
        at = start + dt.timedelta(seconds=30 * steps)
        monkeypatch.setattr(second_factor, "utcnow", lambda: at)

    move(0)
    return move


def _code(secret: str, steps: int = 0) -> str:
    totp = pyotp.TOTP(secret)
    return totp.at(second_factor.utcnow() + dt.timedelta(seconds=30 * steps))


def _sign_in(client: FlaskClient, account: Account, password: str = PASSWORD) -> Any:
    return post(client, "/account/sign-in", {"email": account.email, "password": password})


def _turn_on(client: FlaskClient, account: Account) -> tuple[str, list[str]]:
    """Sign in, add an app; the secret and the recovery codes shown."""
    _sign_in(client, account)
    client.get("/account/two-factor")
    with client.session_transaction() as s:
        secret = str(s["totp_setup"])
    page = post(client, "/account/two-factor", {"code": _code(secret)}).get_data(as_text=True)
    codes = re.findall(r"<code>([A-Z0-9]{5}-[A-Z0-9]{5})</code>", page)
    return secret, codes


def _fresh(session: Session, account: Account) -> Account:
    """The account as the app last committed it."""
    session.rollback()
    session.expire_all()
    fresh = session.get(Account, account.id)
    assert fresh is not None
    return fresh


def _actions(session: Session, account: Account) -> list[str]:
    session.rollback()
    return list(session.scalars(select(AuditEntry.action).where(
        AuditEntry.object_type == "account", AuditEntry.object_id == str(account.id))
        .order_by(AuditEntry.id)))


def test_an_app_code_is_accepted_once(app: Flask, client: FlaskClient, session: Session,
                                      demo: Any, step: Clock) -> None:
    # Given an account with an app, signed in once with a code
    account = linked_account(session)
    secret, _codes = _turn_on(client, account)
    step(1)
    first = app.test_client()
    _sign_in(first, account)
    code = _code(secret)
    assert post(first, "/account/second-factor", {"code": code}).status_code == 302
    # When someone who saw that code uses it with the password, still within its window
    other = app.test_client()
    _sign_in(other, account)
    replay = post(other, "/account/second-factor", {"code": code})
    # Then it is refused, as a staff member's would be
    assert "The code is not right" in replay.get_data(as_text=True)
    assert other.get("/my").status_code == 302
    # And an older code of the window is refused too; the next one works
    assert "The code is not right" in post(other, "/account/second-factor",
                                           {"code": _code(secret, -1)}).get_data(as_text=True)
    assert post(other, "/account/second-factor",
                {"code": _code(secret, 1)}).status_code == 302
    assert "account.second_factor_failed" in _actions(session, account)


def test_the_enrolment_code_cannot_sign_in_again(app: Flask, client: FlaskClient,
                                                 session: Session, demo: Any,
                                                 step: Clock) -> None:
    account = linked_account(session)
    secret, _codes = _turn_on(client, account)
    fresh = app.test_client()
    _sign_in(fresh, account)
    r = post(fresh, "/account/second-factor", {"code": _code(secret)})
    assert "The code is not right" in r.get_data(as_text=True)


def test_turning_the_app_on_gives_ten_recovery_codes_kept_only_as_hashes(
        client: FlaskClient, session: Session, demo: Any, step: Clock) -> None:
    account = linked_account(session)
    _secret, codes = _turn_on(client, account)
    assert len(codes) == len(set(codes)) == 10
    session.rollback()
    rows = list(session.scalars(select(RecoveryCode).where(
        RecoveryCode.account_id == account.id)))
    assert len(rows) == 10 and all(r.staff_user_id is None for r in rows)
    stored = " ".join(r.code_hash for r in rows)
    assert not any(c.replace("-", "") in stored or c in stored for c in codes)
    # They are shown once: the page about the app only counts them
    page = client.get("/account/two-factor").get_data(as_text=True)
    assert "You have 10 unused recovery codes" in page
    assert not any(c in page for c in codes)


def test_a_recovery_code_signs_in_once_instead_of_the_app(
        app: Flask, client: FlaskClient, session: Session, demo: Any, step: Clock) -> None:
    # Given an account with an app whose owner cannot use it
    account = linked_account(session)
    _secret, codes = _turn_on(client, account)
    fresh = app.test_client()
    _sign_in(fresh, account)
    page = fresh.get("/account/second-factor").get_data(as_text=True)
    assert "I cannot use my authenticator app" in page
    # When they give a recovery code
    r = post(fresh, "/account/second-factor/recovery-code", {"code": codes[3].lower()})
    # Then they are in, and told the code is spent
    assert r.status_code == 302 and "/account/two-factor" in r.headers["Location"]
    assert fresh.get("/my").status_code == 200
    assert "You have 9 unused recovery codes" in fresh.get(
        "/account/two-factor?used=1").get_data(as_text=True)
    # And the same code does not work a second time
    again = app.test_client()
    _sign_in(again, account)
    r = post(again, "/account/second-factor/recovery-code", {"code": codes[3]})
    assert "used before" in r.get_data(as_text=True)
    assert again.get("/my").status_code == 302
    assert "account.recovery_code_used" in _actions(session, account)


def test_turning_the_app_off_needs_the_password_and_a_code_and_ends_other_sessions(
        app: Flask, client: FlaskClient, session: Session, demo: Any, step: Clock) -> None:
    account = linked_account(session)
    secret, codes = _turn_on(client, account)
    other = app.test_client()
    _sign_in(other, account)
    step(1)
    assert post(other, "/account/second-factor", {"code": _code(secret)}).status_code == 302
    # A wrong password, then a wrong code, change nothing
    wrong = post(client, "/account/two-factor/off", {"password": "not it", "code": codes[0]},
                 form_url="/account/two-factor")
    assert "The password is not right" in wrong.get_data(as_text=True)
    wrong = post(client, "/account/two-factor/off", {"password": PASSWORD, "code": "123456"},
                 form_url="/account/two-factor")
    assert "The code is not right" in wrong.get_data(as_text=True)
    # When the password and a recovery code are given
    r = post(client, "/account/two-factor/off", {"password": PASSWORD, "code": codes[0]},
             form_url="/account/two-factor")
    # Then the app is off, the codes are gone, this session goes on and the other ends
    assert r.status_code == 302
    fresh = _fresh(session, account)
    assert fresh.totp_enabled_at is None and fresh.totp_secret is None
    assert second_factor.recovery_codes_left(session, fresh) == 0
    assert client.get("/my").status_code == 200
    assert other.get("/my").status_code == 302
    assert "account.totp_disable" in _actions(session, account)
    assert "was removed" in body(outbox(app)[-1])


def test_new_recovery_codes_replace_the_old_ones(client: FlaskClient, session: Session,
                                                 demo: Any, step: Clock) -> None:
    account = linked_account(session)
    secret, old = _turn_on(client, account)
    step(1)
    page = post(client, "/account/two-factor/recovery-codes",
                {"password": PASSWORD, "code": _code(secret)},
                form_url="/account/two-factor").get_data(as_text=True)
    new = re.findall(r"<code>([A-Z0-9]{5}-[A-Z0-9]{5})</code>", page)
    assert len(new) == 10 and not set(new) & set(old)
    fresh = _fresh(session, account)
    assert not second_factor.use_recovery_code(session, fresh, old[1])
    assert second_factor.use_recovery_code(session, fresh, new[1])
    session.rollback()
    assert "account.recovery_codes_new" in _actions(session, account)


def _lose_everything(app: Flask, session: Session, account: Account) -> FlaskClient:
    """The owner has the password and the mailbox, not the app nor the codes: they confirm
    the removal from the emailed link."""
    client = app.test_client()
    _sign_in(client, account)
    page = client.get("/account/second-factor/recovery-code").get_data(as_text=True)
    assert "/account/second-factor/lost" in page
    r = post(client, "/account/second-factor/lost")
    assert r.headers["Location"].endswith("/account/check-your-email")
    link = link_in(outbox(app)[-1])
    # Opening the link changes nothing (a mail scanner may open it); its button confirms
    assert "Confirm" in client.get(link).get_data(as_text=True)
    assert _fresh(session, account).totp_reset_confirmed_at is None
    r = post(client, link)
    assert "Your authenticator app will be removed" in r.get_data(as_text=True)
    return client


def test_without_app_or_codes_the_app_goes_after_an_emailed_link_and_a_wait(
        app: Flask, client: FlaskClient, session: Session, demo: Any, step: Clock) -> None:
    # Given an account with an app, whose owner lost the phone and the codes
    account = linked_account(session)
    _turn_on(client, account)
    _lose_everything(app, session, account)
    notice = outbox(app)[-1]
    assert notice["To"] == account.email and "will be removed" in body(notice)
    assert "stops the removal" in body(notice)
    # When they sign in before the wait is over, the app is still asked for
    early = app.test_client()
    assert "/account/second-factor" in _sign_in(early, account).headers["Location"]
    assert "due to be removed" in early.get("/account/second-factor").get_data(as_text=True)
    # When the wait is over, the password alone signs in, and they are told
    fresh = _fresh(session, account)
    assert fresh.totp_reset_confirmed_at is not None
    fresh.totp_reset_confirmed_at -= ops.TOTP_RESET_WAIT
    session.commit()
    late = app.test_client()
    r = _sign_in(late, account)
    assert r.status_code == 302 and "/second-factor" not in r.headers["Location"]
    assert late.get("/my").status_code == 200
    assert "was removed" in body(outbox(app)[-1])
    # Then the old sessions have ended, the codes are gone, and every step is in the log
    assert client.get("/my").status_code == 302
    session.rollback()
    assert second_factor.recovery_codes_left(session, fresh) == 0
    actions = _actions(session, account)
    for action in ("account.totp_reset_link_sent", "account.totp_reset_confirmed",
                   "account.totp_removed_after_reset"):
        assert action in actions


def test_signing_in_with_the_app_stops_a_pending_removal(
        app: Flask, client: FlaskClient, session: Session, demo: Any, step: Clock) -> None:
    # Given someone with the password and the mailbox, but not the phone, who asked for the
    # app to be removed
    account = linked_account(session)
    secret, _codes = _turn_on(client, account)
    _lose_everything(app, session, account)
    # When the owner signs in with their app before the wait is over
    owner = app.test_client()
    _sign_in(owner, account)
    step(1)
    assert post(owner, "/account/second-factor", {"code": _code(secret)}).status_code == 302
    # Then the removal is cancelled: after the wait, the app is still asked for
    fresh = _fresh(session, account)
    assert fresh.totp_reset_confirmed_at is None
    assert "account.totp_reset_cancelled" in _actions(session, account)
    later = app.test_client()
    assert "/account/second-factor" in _sign_in(later, account).headers["Location"]


def test_a_removal_link_is_bound_to_its_account_and_app(
        app: Flask, client: FlaskClient, session: Session, demo: Any, step: Clock) -> None:
    account = linked_account(session)
    _turn_on(client, account)
    half = app.test_client()
    _sign_in(half, account)
    post(half, "/account/second-factor/lost")
    link = link_in(outbox(app)[-1])
    # A tampered token, and the link once the app was turned off and on again, fail
    assert client.get(link[:-3] + "xyz").status_code == 400
    fresh = _fresh(session, account)
    fresh.totp_enabled_at = utcnow() + dt.timedelta(seconds=1)
    session.commit()
    assert client.get(link).status_code == 400
    # Only someone whose password was just proved can ask for a link
    assert app.test_client().get("/account/second-factor/lost").status_code == 302
