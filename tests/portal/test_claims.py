"""Claim codes: one-time, expiring, useless once used, and no oracle."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from sqlalchemy.orm import Session

from portal.audit import Actor
from portal.database import utcnow
from portal.errors import Conflict, Invalid
from portal.identity import claims
from tests.identity_helpers import make_account

STAFF = Actor("staff", "1", 1)


def _subject(demo: Any, ref: str = "FP-DEMO-0001") -> uuid.UUID:
    return uuid.UUID(next(s for r, s, _ in demo.subjects if r == ref))


def test_code_links_once(session: Session, demo: Any) -> None:
    # Given a code printed on a receipt
    claim, code = claims.issue(session, _subject(demo), actor=STAFF)
    assert len(code) == 14 and code.count("-") == 2
    assert claim.code_hash != code and code.replace("-", "") not in claim.code_hash
    account = make_account(session)
    # When the person types it in lower case with spaces
    subject = claims.redeem(session, account, " " + code.lower().replace("-", " "),
                            actor=STAFF).subject
    # Then the account is linked, and the code never works again
    assert account.subject_id == subject.id == _subject(demo)
    other = make_account(session)
    with pytest.raises(Invalid):
        claims.redeem(session, other, code, actor=STAFF)


def test_expired_wrong_and_overlong_codes_say_the_same(session: Session, demo: Any) -> None:
    _claim, code = claims.issue(session, _subject(demo), actor=STAFF,
                                ttl=dt.timedelta(seconds=-1))
    account = make_account(session)
    messages = set()
    for attempt in (code, "AAAA-AAAA-AAAA", "x" * 100):
        with pytest.raises(Invalid) as err:
            claims.redeem(session, account, attempt, actor=STAFF)
        messages.add(err.value.message)
    assert len(messages) == 1
    assert account.subject_id is None


def test_an_account_links_to_one_subject(session: Session, demo: Any) -> None:
    account = make_account(session)
    _c1, code1 = claims.issue(session, _subject(demo, "FP-DEMO-0001"), actor=STAFF)
    _c2, code2 = claims.issue(session, _subject(demo, "FP-DEMO-0002"), actor=STAFF)
    claims.redeem(session, account, code1, actor=STAFF)
    with pytest.raises(Conflict):
        claims.redeem(session, account, code2, actor=STAFF)
    assert utcnow()
