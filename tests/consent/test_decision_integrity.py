"""Check decisions against their audit entries: append-only, and compared by `audit verify`.

A decision row is what the person sees on their page and what the API calls the check's
audit record; someone with database access who edits or deletes one must be caught.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError
from sqlalchemy.orm import Session

from consent import operations as consent_ops
from tests.conftest import bearer, lift_append_only

CHECK = "/api/v1/consent/check"


def _question(ref: str) -> dict[str, Any]:
    return {"subject": {"agency_ref": ref}, "recipient": "victim-care",
            "purpose": "victim-support-referral",
            "categories": ["contact-details", "incident-report"]}


@pytest.fixture
def answered(client: FlaskClient, api_key: Callable[..., str], session: Session) -> list[str]:
    """Decision ids of a permit, a deny and an unknown subject asked singly, and a batch."""
    key = api_key("fenshire-police", "consent:check")
    ids = [client.post(CHECK, json=_question(ref), headers=bearer(key)).get_json()["decision_id"]
           for ref in ("FP-DEMO-0001", "FP-DEMO-0002", "NOBODY-HERE")]
    batch = client.post(CHECK + "/batch", headers=bearer(key), json={
        "questions": [_question(r) for r in ("FP-DEMO-0001", "FP-DEMO-0003", "NOBODY")]})
    ids += [r["decision_id"] for r in batch.get_json()["results"]]
    session.rollback()
    return ids


@pytest.fixture
def tamper(session: Session) -> Iterator[Session]:
    """Lift the append-only guard on decisions, as someone with database access could."""
    lift_append_only(session, "check_decisions")
    yield session


def _where(decision_id: str, backend: str) -> str:
    # SQLite keeps a UUID as 32 hex digits.
    return decision_id if backend == "postgresql" else decision_id.replace("-", "")


def test_every_decision_matches_its_entry(answered: list[str], session: Session) -> None:
    result = consent_ops.verify_decisions(session)
    assert result.ok and result.count == 6, result.problem


def test_database_refuses_update_and_delete(answered: list[str], session: Session,
                                            backend: str) -> None:
    where = _where(answered[1], backend)
    for stmt in ("UPDATE check_decisions SET decision = 'permit' WHERE id = :id",
                 "DELETE FROM check_decisions WHERE id = :id"):
        with pytest.raises(DatabaseError, match="append-only"):
            session.execute(text(stmt), {"id": where})
        session.rollback()
    assert consent_ops.verify_decisions(session).ok


@pytest.mark.parametrize(("change", "named"), [
    ("decision = 'permit', reason = NULL", "(decision)"),
    ("reason = 'no_agreement'", "(reason)"),
    ("categories = '[\"contact-details\"]'", "(categories)"),
    ("recipient_agency_id = agency_id", "(recipient)"),
    ("subject_id = NULL", "(subject)"),
    ("api_client_id = 999", "(caller)"),
    ("evaluated_at = '2020-01-01 00:00:00.000000'", "(time)"),
    ("subject_ref = 'FP-DEMO-0001'", "(reference, basis, result or validity)"),
    ("basis = 'consent'", "(reference, basis, result or validity)"),
    ("result = '{}'", "(reference, basis, result or validity)"),
    ("valid_until = '2030-01-01 00:00:00.000000'", "(reference, basis, result or validity)"),
])
def test_an_edited_decision_is_named(answered: list[str], tamper: Session, backend: str,
                                     change: str, named: str) -> None:
    # Given the deny for FP-DEMO-0002, edited with the triggers lifted
    tamper.execute(text(f"UPDATE check_decisions SET {change} WHERE id = :id"),
                   {"id": _where(answered[1], backend)})
    tamper.commit()
    # When the decisions are verified, then that decision is named, with what differs
    result = consent_ops.verify_decisions(tamper)
    assert not result.ok
    assert result.problem == f"check decision {answered[1]} differs from its audit entry {named}"


def test_a_decision_moved_to_another_entry_is_caught(answered: list[str], tamper: Session,
                                                     backend: str) -> None:
    tamper.execute(text("UPDATE check_decisions SET audit_id = audit_id + 1 WHERE id = :id"),
                   {"id": _where(answered[0], backend)})
    tamper.commit()
    result = consent_ops.verify_decisions(tamper)
    assert not result.ok and answered[0] in result.problem


def test_a_deleted_decision_is_caught(answered: list[str], tamper: Session,
                                      backend: str) -> None:
    # Given a decision deleted to hide from the person that their record was asked about
    tamper.execute(text("DELETE FROM check_decisions WHERE id = :id"),
                   {"id": _where(answered[4], backend)})
    tamper.commit()
    # Then its entry, still on the chain, is found without it
    result = consent_ops.verify_decisions(tamper)
    assert not result.ok
    assert result.problem == ("1 consent.check audit entries have no decision "
                              f"(first: decision {answered[4]})")


def test_cli_verify_compares_decisions(app: Flask, answered: list[str], tamper: Session,
                                       backend: str) -> None:
    runner = app.test_cli_runner()
    ok = runner.invoke(args=["audit", "verify"])
    assert ok.exit_code == 0, ok.output
    assert "check decisions intact: 6 match their audit entries" in ok.output
    tamper.execute(text("UPDATE check_decisions SET decision = 'permit' WHERE id = :id"),
                   {"id": _where(answered[1], backend)})
    tamper.commit()
    bad = runner.invoke(args=["audit", "verify"])
    assert bad.exit_code == 1
    assert f"check decisions BROKEN: check decision {answered[1]}" in bad.output


def test_an_entry_from_before_the_digest_still_verifies(session: Session, demo: Any) -> None:
    # Given a decision and its entry as earlier releases wrote them (no digest of the row)
    from consent.models import CheckDecision
    from portal import audit
    from portal.audit import Actor, NewEntry
    from portal.database import new_uuid, utcnow
    from portal.reference.operations import agency_by_slug

    police = agency_by_slug(session, "fenshire-police")
    care = agency_by_slug(session, "victim-care")
    now, decision_id = utcnow(), new_uuid()
    [entry_id] = audit.record_many(session, [NewEntry(
        consent_ops.CHECK_ACTION, Actor("api_client", "0", police.id),
        object_type="check_decision", object_id=str(decision_id), at=now,
        details={"recipient": "victim-care", "purpose": "victim-support-referral",
                 "categories": ["identity"], "decision": "deny", "reason": "no_consent"})])
    purpose_id = session.scalar(text("SELECT id FROM purposes "
                                     "WHERE slug = 'victim-support-referral'"))
    session.add(CheckDecision(
        id=decision_id, evaluated_at=now, agency_id=police.id, recipient_agency_id=care.id,
        purpose_id=purpose_id, subject_ref="OLD-1", categories='["identity"]',
        decision="deny", reason="no_consent", result="{}", valid_until=now,
        audit_id=entry_id))
    session.commit()
    # Then it verifies: its chain holds it, and it has nothing more to compare
    result = consent_ops.verify_decisions(session)
    assert result.ok and result.count == 1, result.problem
