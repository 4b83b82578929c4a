"""The second factor, one implementation for staff and public accounts alike.

An authenticator code is accepted once: the time-step it belongs to must be later than the
last one the owner used, so a code read over a shoulder or replayed within its window fails.
Recovery codes are ten random codes shown once, stored as hashes, each spent when used.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from typing import Any

import pyotp
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from portal.database import utcnow
from portal.identity.models import Account, AccountTotpStep, RecoveryCode, StaffTotpStep, StaffUser

RECOVERY_CODES = 10
RECOVERY_ALPHABET = "ACDEFGHJKMNPQRTUVWXYZ234679"
RECOVERY_LENGTH = 10


def totp_step(secret: str | None, code: str) -> int | None:
    """The time-step (one before to one after now) whose code this is, if any."""
    digits = "".join(ch for ch in code if ch.isdigit())
    if not secret or len(digits) != 6 or len(code.strip()) > 8:
        return None
    totp = pyotp.TOTP(secret)
    now = utcnow()
    for offset in (-1, 0, 1):
        at = now + dt.timedelta(seconds=offset * totp.interval)
        if hmac.compare_digest(totp.at(at), digits):
            return int(totp.timecode(at))
    return None


def _step_model(owner: Account | StaffUser) -> tuple[Any, dict[str, Any]]:
    # Imported here: the staff area's models import this package's models.

    if isinstance(owner, Account):
        return AccountTotpStep, {"account_id": owner.id}
    return StaffTotpStep, {"staff_user_id": owner.id}


def use_step(session: Session, owner: Account | StaffUser, step: int | None) -> bool:
    """Spend this time-step for the owner: False if it is none, or at or before the last one
    used (a replay)."""
    if step is None:
        return False
    model, key = _step_model(owner)
    # Locked (PostgreSQL) so that two requests with the same code cannot both pass; SQLite
    # transactions here are already serialised.
    row = session.scalar(select(model).filter_by(**key).with_for_update())
    if row is None:
        session.add(model(**key, last_step=step))
    elif step <= row.last_step:
        return False
    else:
        row.last_step = step
    session.flush()
    return True


def use_totp(session: Session, owner: Account | StaffUser, secret: str | None,
             code: str) -> bool:
    """True, once, for a current code of this secret."""
    return use_step(session, owner, totp_step(secret, code))


def _owner_filter(owner: Account | StaffUser) -> Any:
    if isinstance(owner, Account):
        return RecoveryCode.account_id == owner.id
    return RecoveryCode.staff_user_id == owner.id


def _hash(owner: Account | StaffUser, code: str) -> str:
    plain = "".join(ch for ch in code.upper() if ch.isalnum())
    # Staff codes keep the form they were first stored in; accounts are named by kind too.
    prefix = f"account:{owner.id}" if isinstance(owner, Account) else str(owner.id)
    return hashlib.sha256(f"{prefix}:{plain}".encode()).hexdigest()


def new_recovery_codes(session: Session, owner: Account | StaffUser) -> list[str]:
    """Replace the owner's recovery codes with ten new ones, returned once for showing."""
    forget_recovery_codes(session, owner)
    codes = ["".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(RECOVERY_LENGTH))
             for _ in range(RECOVERY_CODES)]
    for plain in codes:
        row = RecoveryCode(code_hash=_hash(owner, plain))
        if isinstance(owner, Account):
            row.account_id = owner.id
        else:
            row.staff_user_id = owner.id
        session.add(row)
    session.flush()
    half = RECOVERY_LENGTH // 2
    return [f"{c[:half]}-{c[half:]}" for c in codes]


def forget_recovery_codes(session: Session, owner: Account | StaffUser) -> None:
    """Delete every recovery code of the owner, used or not."""
    session.execute(delete(RecoveryCode).where(_owner_filter(owner)))
    session.flush()


def use_recovery_code(session: Session, owner: Account | StaffUser, code: str) -> bool:
    """True if the code is one of the owner's unused recovery codes, which is then spent."""
    if len(code) > 40:
        return False
    wanted = _hash(owner, code)
    found = False
    for row in session.scalars(select(RecoveryCode).where(
            _owner_filter(owner), RecoveryCode.used_at.is_(None)).with_for_update()):
        # Every row is compared, so the time taken does not say which code matched.
        if hmac.compare_digest(row.code_hash, wanted) and not found:
            row.used_at = utcnow()
            found = True
    session.flush()
    return found


def recovery_codes_left(session: Session, owner: Account | StaffUser) -> int:
    """How many unused recovery codes the owner has."""
    return len(list(session.scalars(select(RecoveryCode.id).where(
        _owner_filter(owner), RecoveryCode.used_at.is_(None)))))
