"""Claim codes: how a person given a code in person links a portal account to their record.

A code is shown on screen or printed at first contact (or by a consent officer later, with
proof of identity), never emailed: whoever reads a person's mailbox must not be able to take
over their records. When a code is used, the person is told through the channel they chose
at first contact, and staff can undo a wrong link.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
import uuid
from dataclasses import dataclass
from email.message import EmailMessage

from flask import render_template
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal import audit, mail
from portal.audit import Actor
from portal.config import Config
from portal.database import utcnow
from portal.errors import Conflict, Invalid, NotFound
from portal.identity.models import Account, ClaimCode, PersonNotice
from portal.reference.models import Subject

# No 0/O, 1/I/L, 5/S, 8/B: codes are read aloud and typed from paper.
ALPHABET = "ACDEFGHJKMNPQRTUVWXYZ234679"
LENGTH = 12  # about 57 bits; redemption is also throttled and single-use
DEFAULT_TTL = dt.timedelta(days=30)
LINKED = "account-linked"
UNLINKED = "account-unlinked"
PASSWORD_RESET = "password-reset"  # noqa: S105 - a notice reason (of a linked account), no secret
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


@dataclass(frozen=True)
class Linked:
    """A redeemed code: whose records the account now sees, and the notice telling them."""

    subject: Subject
    notice: PersonNotice


def redeem(session: Session, account: Account, code: str, *, actor: Actor) -> Linked:
    """Link the account to the code's subject, which stops the code working; the person is
    told (``notice_email`` when the notice says so).

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
    return Linked(subject, tell_person(session, subject, LINKED, account.id, actor=actor))


def tell_person(session: Session, subject: Subject, reason: str,
                account_id: uuid.UUID | None, *, actor: Actor) -> PersonNotice:
    """Record that the person must be told of a change to who can see their records.

    Told through the channel chosen at first contact: by email (to the subject's recorded
    address, not the account's) when that is the channel and email is not refused; otherwise
    an open task for staff to make contact. ``notice.emailed`` says the caller must queue
    ``notice_email``.
    """
    channel = subject.contact_channel
    by_email = channel == "email" and bool(subject.email) and subject.email_wording != "none"
    notice = PersonNotice(subject_id=subject.id, account_id=account_id, reason=reason,
                          channel=channel, emailed=by_email,
                          done_at=utcnow() if by_email else None)
    session.add(notice)
    session.flush()
    audit.record(session, "person_notice.create", actor, subject_id=subject.id,
                 object_type="person_notice", object_id=str(notice.id),
                 details={"reason": reason, "channel": channel or "not-recorded",
                          "emailed": by_email})
    return notice


def notice_email(notice: PersonNotice, subject: Subject, config: Config) -> EmailMessage | None:
    """The email telling the person of a link or unlink, to the address recorded at first
    contact, in the wording they chose (None when the notice is not for email)."""
    if not notice.emailed or not subject.email:
        return None
    detailed = mail.wording(subject.email_wording) == mail.DETAILED
    with force_locale(subject.preferred_language):
        if not detailed:
            title = mail.neutral_subject(config)
        elif notice.reason == LINKED:
            title = _("An online account was linked to your records")
        elif notice.reason == PASSWORD_RESET:
            title = _("The password of your online account was reset")
        else:
            title = _("An online account was unlinked from your records")
        text = render_template("email/public/account_link.txt", detailed=detailed,
                               reason=notice.reason, at=notice.created_at,
                               partnership=config.partnership_name)
    return mail.build(subject.email, title, text, config=config)


def linked_accounts(session: Session, subject_id: uuid.UUID) \
        -> list[tuple[Account, dt.datetime | None]]:
    """The account(s) linked to a subject (the model allows one), with when each linked."""
    out = []
    for account in session.scalars(select(Account).where(Account.subject_id == subject_id)):
        used = session.scalar(select(ClaimCode.used_at).where(
            ClaimCode.subject_id == subject_id, ClaimCode.used_by_account_id == account.id)
            .order_by(ClaimCode.id.desc()).limit(1))
        out.append((account, used))
    return out


def unlink(session: Session, subject_id: uuid.UUID, account_id: uuid.UUID, *,
           actor: Actor) -> PersonNotice:
    """Undo a wrong link: the account loses the records and every session it has now."""
    account = session.get(Account, account_id)
    if account is None or account.subject_id != subject_id:
        raise NotFound("no such linked account")
    subject = session.get(Subject, subject_id)
    if subject is None:  # pragma: no cover - the account's foreign key guarantees it
        raise NotFound("no such subject")
    account.subject_id = None
    account.session_epoch += 1
    session.flush()
    audit.record(session, "account.unlink", actor, subject_id=subject_id,
                 object_type="account", object_id=str(account.id))
    return tell_person(session, subject, UNLINKED, account.id, actor=actor)


def reissue(session: Session, subject_id: uuid.UUID, *, actor: Actor) -> tuple[ClaimCode, str]:
    """A new code for a person in front of a consent officer; every unused code stops working."""
    unused = session.scalars(select(ClaimCode).where(ClaimCode.subject_id == subject_id,
                                                     ClaimCode.used_at.is_(None),
                                                     ClaimCode.revoked.is_(False)))
    for old in unused:
        old.revoked = True
        audit.record(session, "claim_code.revoke", actor, subject_id=subject_id,
                     object_type="claim_code", object_id=str(old.id))
    session.flush()
    return issue(session, subject_id, actor=actor)


def notices_of(session: Session, subject_id: uuid.UUID, limit: int = 20) -> list[PersonNotice]:
    """The newest links and unlinks of accounts to the person's records."""
    return list(session.scalars(select(PersonNotice).where(PersonNotice.subject_id == subject_id)
                                .order_by(PersonNotice.id.desc()).limit(limit)))


def open_notices(session: Session, subject_id: uuid.UUID) -> list[PersonNotice]:
    """Notices staff still have to give the person by phone or post, oldest first."""
    return list(session.scalars(select(PersonNotice).where(
        PersonNotice.subject_id == subject_id, PersonNotice.done_at.is_(None))
        .order_by(PersonNotice.id)))


def notice_done(session: Session, subject_id: uuid.UUID, notice_id: int, staff_id: int, *,
                actor: Actor) -> PersonNotice:
    """Record that staff told the person (by the channel they chose)."""
    notice = session.get(PersonNotice, notice_id)
    if notice is None or notice.subject_id != subject_id or notice.done_at is not None:
        raise NotFound("no such open notice")
    notice.done_at = utcnow()
    notice.done_by_staff_id = staff_id
    session.flush()
    audit.record(session, "person_notice.done", actor, subject_id=subject_id,
                 object_type="person_notice", object_id=str(notice.id))
    return notice
