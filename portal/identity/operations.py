"""Public accounts: registration, verification, passwords, language, email wording and the
second factor. Each takes a session and plain values, audits, flushes and never commits."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal import audit, signals
from portal.audit import Actor
from portal.database import utcnow
from portal.errors import Conflict, Invalid, NotFound
from portal.identity import claims, second_factor
from portal.identity.models import Account, PersonNotice
from portal.identity.passwords import MAX_LENGTH, MIN_LENGTH, hash_password, verify_password
from portal.mail import WORDINGS
from portal.reference.models import (
    Subject,
)

MAX_EMAIL = 320


PERMITTING = frozenset({"given", "renewed"})


def normalise_email(email: str) -> str:
    """Trimmed and lower-cased, as accounts store it."""
    return email.strip().lower()


def account_by_email(session: Session, email: str) -> Account | None:
    """The account for an email address, if there is one."""
    return session.scalar(select(Account).where(Account.email == normalise_email(email)))


def check_password_rules(password: str, field_name: str = "password") -> None:
    """Raise Invalid unless the password is long enough and not too long."""
    if len(password) < MIN_LENGTH:
        raise Invalid("too short", field=field_name)
    if len(password) > MAX_LENGTH:
        raise Invalid("too long", field=field_name)


def register(session: Session, email: str, password: str, *, language: str,
             actor: Actor) -> tuple[Account, bool]:
    """Create an unverified account; (account, created). An existing address is not
    revealed: the caller tells its owner by email instead of the person at the screen."""
    check_password_rules(password)
    existing = account_by_email(session, email)
    # Hashed on both branches: skipping the work for a known address would tell anyone
    # timing the answer that the address has an account.
    password_hash = hash_password(password)
    if existing is not None:
        return existing, False
    account = Account(email=normalise_email(email), password_hash=password_hash,
                      preferred_language=language)
    session.add(account)
    session.flush()
    audit.record(session, "account.register", actor, object_type="account",
                 object_id=str(account.id))
    return account, True


def verify_email(session: Session, account_id: uuid.UUID, email: str, *,
                 actor: Actor) -> Account:
    """Mark the address as confirmed; a link for an address the account no longer has fails."""
    account = session.get(Account, account_id)
    if account is None or account.email != email or account.disabled_at is not None:
        raise NotFound("no such account")
    if account.email_verified_at is None:
        account.email_verified_at = utcnow()
        session.flush()
        audit.record(session, "account.verify_email", actor, object_type="account",
                     object_id=str(account.id))
    return account


def authenticate(session: Session, email: str, password: str) -> Account | None:
    """The account if the password is right; the same work and answer for anything else."""
    account = account_by_email(session, email) if len(email) <= MAX_EMAIL else None
    stored = account.password_hash if account is not None else None
    if not verify_password(stored, password[:MAX_LENGTH]) or account is None:
        return None
    if account.disabled_at is not None:
        return None
    return account


def set_password(session: Session, account: Account, password: str, *, actor: Actor
                 ) -> PersonNotice | None:
    """Change the password and end every session of the account; the notice returned tells
    the person whose records the account sees."""
    check_password_rules(password)
    account.password_hash = hash_password(password)
    if account.email_verified_at is None:
        # Only the owner of the address can follow a reset link.
        account.email_verified_at = utcnow()
    account.session_epoch += 1
    session.flush()
    audit.record(session, "account.password_reset", actor, object_type="account",
                 object_id=str(account.id))
    if account.subject_id is not None:
        # A reset link travels by email: whoever reads the mailbox could take the account,
        # so the person hears of it through the channel they chose at first contact.

        subject = session.get(Subject, account.subject_id)
        if subject is not None:
            return claims.tell_person(session, subject, claims.PASSWORD_RESET, account.id,
                                      actor=actor)
    return None


def set_language(session: Session, account: Account, language: str, locales: Sequence[str], *,
                 actor: Actor) -> None:
    """Remember the account's language."""
    if language not in locales:
        raise Invalid("unknown language", field="language")
    account.preferred_language = language
    session.flush()
    audit.record(session, "account.language", actor, object_type="account",
                 object_id=str(account.id), details={"language": language})


def set_email_wording(session: Session, account: Account, wording: str, *,
                      actor: Actor) -> None:
    """Remember what emails to this account may say (neutral, detailed or none), for it and
    for every request it filed."""
    if wording not in WORDINGS:
        raise Invalid("unknown wording", field="wording")
    account.email_wording = wording
    signals.email_wording_changed.send(session, account_id=account.id, wording=wording)
    session.flush()
    audit.record(session, "account.email_wording", actor, object_type="account",
                 object_id=str(account.id), details={"wording": wording})


def enable_totp(session: Session, account: Account, secret: str, code: str, *,
                actor: Actor) -> list[str]:
    """Turn on the second factor with a secret the person proves they hold (the code is then
    spent); return ten recovery codes, to be shown once."""
    if account.totp_enabled_at is not None:
        raise Conflict("a second factor is already set up")
    if not second_factor.use_totp(session, account, secret, code):
        raise Invalid("wrong code", field="code")
    account.totp_secret = secret
    account.totp_enabled_at = utcnow()
    account.totp_reset_confirmed_at = None
    account.session_epoch += 1
    codes = second_factor.new_recovery_codes(session, account)
    audit.record(session, "account.totp_enable", actor, object_type="account",
                 object_id=str(account.id))
    return codes


def _audit_account(session: Session, action: str, account: Account, actor: Actor,
                   **details: Any) -> None:
    audit.record(session, action, actor, object_type="account", object_id=str(account.id),
                 details=details or None)


def _cancel_pending_reset(session: Session, account: Account, actor: Actor) -> None:
    # Whoever holds the app or a recovery code is the owner: a pending removal stops.
    if account.totp_reset_confirmed_at is not None:
        account.totp_reset_confirmed_at = None
        session.flush()
        _audit_account(session, "account.totp_reset_cancelled", account, actor)


def verify_second_factor(session: Session, account: Account, code: str, *,
                         actor: Actor) -> bool:
    """True, once, for a current code from the account's app (the sign-in's second step)."""
    if account.totp_enabled_at is None:
        return False
    if not second_factor.use_totp(session, account, account.totp_secret, code):
        _audit_account(session, "account.second_factor_failed", account, actor, kind="app")
        return False
    _cancel_pending_reset(session, account, actor)
    return True


def use_recovery_code(session: Session, account: Account, code: str, *, actor: Actor) -> bool:
    """True if the code is one of the account's unused recovery codes (then spent)."""
    if account.totp_enabled_at is None:
        return False
    if not second_factor.use_recovery_code(session, account, code):
        _audit_account(session, "account.second_factor_failed", account, actor,
                       kind="recovery-code")
        return False
    _audit_account(session, "account.recovery_code_used", account, actor,
                   left=second_factor.recovery_codes_left(session, account))
    _cancel_pending_reset(session, account, actor)
    return True


def _check_owner(session: Session, account: Account, password: str, code: str) -> None:
    """Raise Invalid unless the password and a code (from the app, or a recovery code) are
    right: turning the factor off or changing its codes needs both again."""
    if not verify_password(account.password_hash, password[:MAX_LENGTH]):
        raise Invalid("wrong password", field="password")
    if not (second_factor.use_totp(session, account, account.totp_secret, code)
            or second_factor.use_recovery_code(session, account, code)):
        raise Invalid("wrong code", field="code")


def _remove_totp(session: Session, account: Account) -> None:
    account.totp_secret = None
    account.totp_enabled_at = None
    account.totp_reset_confirmed_at = None
    account.session_epoch += 1
    second_factor.forget_recovery_codes(session, account)
    session.flush()


def disable_totp(session: Session, account: Account, password: str, code: str, *,
                 actor: Actor) -> None:
    """Turn the second factor off (password and a code again); every session ends."""
    if account.totp_enabled_at is None:
        raise Conflict("no second factor is set up")
    _check_owner(session, account, password, code)
    _remove_totp(session, account)
    _audit_account(session, "account.totp_disable", account, actor)


def regenerate_recovery_codes(session: Session, account: Account, password: str, code: str, *,
                              actor: Actor) -> list[str]:
    """Ten new recovery codes in place of the old ones (password and a code again)."""
    if account.totp_enabled_at is None:
        raise Conflict("no second factor is set up")
    _check_owner(session, account, password, code)
    codes = second_factor.new_recovery_codes(session, account)
    _audit_account(session, "account.recovery_codes_new", account, actor)
    return codes


# How long a confirmed "I have lost my app and my codes" waits before the factor goes: the
# owner, told by email, has this long to stop it by signing in with the app or a code.
TOTP_RESET_WAIT = dt.timedelta(days=3)


def confirm_totp_reset(session: Session, account: Account, *, actor: Actor) -> dt.datetime:
    """Start the wait after which the second factor goes (from the emailed link); return when
    it ends. Confirming again does not restart it."""
    if account.totp_enabled_at is None:
        raise Conflict("no second factor is set up")
    if account.totp_reset_confirmed_at is None:
        account.totp_reset_confirmed_at = utcnow()
        session.flush()
        _audit_account(session, "account.totp_reset_confirmed", account, actor,
                       wait_days=TOTP_RESET_WAIT.days)
    return account.totp_reset_confirmed_at + TOTP_RESET_WAIT


def totp_reset_due_at(account: Account) -> dt.datetime | None:
    """When a confirmed removal of the second factor takes effect, if one is pending."""
    if account.totp_enabled_at is None or account.totp_reset_confirmed_at is None:
        return None
    return account.totp_reset_confirmed_at + TOTP_RESET_WAIT


def apply_due_totp_reset(session: Session, account: Account, *, actor: Actor,
                         now: dt.datetime | None = None) -> bool:
    """Remove the second factor if its confirmed removal has waited long enough (called when
    the password has just been proved); every session ends. True if it was removed."""
    due = totp_reset_due_at(account)
    if due is None or (now or utcnow()) < due:
        return False
    _remove_totp(session, account)
    _audit_account(session, "account.totp_removed_after_reset", account, actor)
    return True


def cancel_totp_reset(session: Session, account: Account, *, actor: Actor) -> None:
    """Stop a pending removal of the second factor (from a fully signed-in session)."""
    _cancel_pending_reset(session, account, actor)
