"""Claim codes: how a first-contact receipt lets a person link a portal account to their record."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal import audit
from portal.audit import Actor
from portal.db import utcnow
from portal.errors import Conflict, Invalid, NotFound
from portal.identity.models import Account, ClaimCode
from portal.models import Subject

# No 0/O, 1/I/L, 5/S, 8/B: codes are read aloud and typed from paper.
ALPHABET = "ACDEFGHJKMNPQRTUVWXYZ234679"
LENGTH = 12  # about 57 bits; redemption is also throttled and single-use
DEFAULT_TTL = dt.timedelta(days=30)
_NOT_VALID = "That code is not valid, has been used or has expired"


def normalise(code: str) -> str:
    """Upper-case and strip spaces and dashes, as people type codes in many ways."""
    return re.sub(r"[^A-Z0-9]", "", code.upper())


def _hash(code: str) -> str:
    return hashlib.sha256(normalise(code).encode()).hexdigest()


def format_code(code: str) -> str:
    """XXXX-XXXX-XXXX for reading aloud and printing."""
    plain = normalise(code)
    return "-".join(plain[i:i + 4] for i in range(0, len(plain), 4))


def issue(session: Session, subject_id: uuid.UUID, *, actor: Actor,
          ttl: dt.timedelta = DEFAULT_TTL) -> tuple[ClaimCode, str]:
    """Create a claim code for a subject; the plain code is returned once, never stored."""
    if session.get(Subject, subject_id) is None:
        raise NotFound("no such subject")
    code = "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))
    claim = ClaimCode(subject_id=subject_id, code_hash=_hash(code),
                      expires_at=utcnow() + ttl, created_by=f"{actor.type}:{actor.id}")
    session.add(claim)
    session.flush()
    audit.record(session, "claim_code.issue", actor, subject_id=subject_id,
                 object_type="claim_code", object_id=str(claim.id),
                 details={"expires_at": claim.expires_at.isoformat()})
    return claim, format_code(code)


def redeem(session: Session, account: Account, code: str, *, actor: Actor) -> Subject:
    """Link the account to the code's subject; the code then stops working.

    Every failure gives the same message, so codes cannot be probed one property at a time.
    """
    if len(code) > 64:
        raise Invalid(_NOT_VALID, field="code")
    claim = session.scalar(select(ClaimCode).where(ClaimCode.code_hash == _hash(code)))
    now = utcnow()
    if claim is None or claim.used_at is not None or claim.revoked or claim.expires_at <= now:
        raise Invalid(_NOT_VALID, field="code")
    if account.subject_id is not None and account.subject_id != claim.subject_id:
        raise Conflict("This account is already linked to someone's records", field="code")
    other = session.scalar(select(Account).where(Account.subject_id == claim.subject_id,
                                                 Account.id != account.id))
    if other is not None:
        raise Invalid(_NOT_VALID, field="code")
    claim.used_at = now
    claim.used_by_account_id = account.id
    account.subject_id = claim.subject_id
    session.flush()
    audit.record(session, "account.link", actor, subject_id=claim.subject_id,
                 object_type="account", object_id=str(account.id),
                 details={"claim_code": claim.id})
    subject = session.get(Subject, claim.subject_id)
    if subject is None:  # pragma: no cover - a foreign key guarantees it
        raise NotFound("no such subject")
    return subject
