"""The audit log's one appender: the single-entry path (a session's ``record_many``) and each
bulk strategy of ``audit.Appender`` store the same rows and hashes for the same entries, on
both engines, and ``audit verify`` passes after each."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import Engine, create_engine, select, text
from sqlalchemy.orm import Session

from consent.check.service import CHECK_ACTION, DECISION_OBJECT, decision_digest
from consent.check.write import _DECISION_COLUMNS, DECISIONS
from consent.models import CheckDecision
from portal import audit
from portal.audit import Actor, AuditEntry, NewEntry
from portal.reference.models import Agency, Purpose
from tests.conftest import REQUESTED

SESSION = "session"  # one entry at a time through the ORM, as audit.record does
CASES = [(backend, way) for backend in REQUESTED
         for way in (SESSION, *audit.STRATEGIES[backend])]
AT = dt.datetime(2026, 3, 1, 9, 30, 15, 123456, tzinfo=dt.UTC)
# References a driver must escape, a person known and not, each answer and none.
ASKED = [("FP-1", uuid.UUID(int=7), "permit", None), ('O\'Brien "Q" {a,b}', None, "deny",
         "no_consent"), ("Llŷr Żółć 🙂\tNULL", uuid.UUID(int=8), "deny", "withdrawn")]


@pytest.fixture(params=CASES, ids=[f"{backend}-{way}" for backend, way in CASES])
def case(request: pytest.FixtureRequest) -> tuple[str, str]:
    """Which engine, and which way of appending."""
    backend, way = request.param
    return str(backend), str(way)


@pytest.fixture
def backend(case: tuple[str, str]) -> str:
    """The engine of this case (replaces the shared fixture's own parametrisation)."""
    return case[0]


def _arrange(session: Session) -> tuple[list[NewEntry], list[dict[str, Any]]]:
    """Three check entries and the decisions they record, on an empty log."""
    police = Agency(slug="appender-police", name="Police", kind="police")
    care = Agency(slug="appender-care", name="Care", kind="charity")
    purpose = Purpose(slug="appender-referral", name="Referral")
    session.add_all([police, care, purpose])
    session.commit()
    assert session.scalar(select(AuditEntry.id).limit(1)) is None
    entries: list[NewEntry] = []
    rows: list[dict[str, Any]] = []
    for n, (ref, subject_id, decision, reason) in enumerate(ASKED):
        decision_id = uuid.UUID(int=n + 1)
        at = AT + dt.timedelta(seconds=n)
        valid_until = at + dt.timedelta(hours=1)
        result = audit.canonical_json({"contact-details": {"decision": decision}})
        rows.append({"id": decision_id, "evaluated_at": at, "agency_id": police.id,
                     "api_client_id": None, "recipient_agency_id": care.id,
                     "purpose_id": purpose.id, "subject_id": subject_id, "subject_ref": ref,
                     "categories": json.dumps(["contact-details"]), "decision": decision,
                     "basis": "consent" if decision == "permit" else None, "reason": reason,
                     "result": result, "valid_until": valid_until})
        entries.append(NewEntry(
            CHECK_ACTION, Actor("api_client", "0", police.id), subject_id=subject_id,
            object_type=DECISION_OBJECT, object_id=str(decision_id), at=at,
            details={"recipient": care.slug, "purpose": purpose.slug,
                     "categories": ["contact-details"], "decision": decision,
                     "reason": reason, "row": decision_digest(
                         ref, rows[-1]["basis"], result, valid_until)}))
    return entries, rows


def _by_session(session: Session, entries: list[NewEntry], rows: list[dict[str, Any]]) -> None:
    session.info[audit.SESSION_CHAINS_KEY] = 1
    for entry, row in zip(entries, rows, strict=True):
        [entry_id] = audit.record_many(session, [entry])
        session.add(CheckDecision(**row, audit_id=entry_id))
        session.commit()


def _by_appender(engine: Engine, way: str, entries: list[NewEntry],
                 rows: list[dict[str, Any]]) -> None:
    appender = audit.Appender(engine.dialect, chains=1, linked=DECISIONS)
    # One call per entry where the strategy takes one, else one call for the group.
    groups = ([([e], [r]) for e, r in zip(entries, rows, strict=True)]
              if way in (audit.STATEMENT, audit.ROW) else [(entries, rows)])
    conn = engine.raw_connection()
    driver: Any = conn.driver_connection
    if appender.postgresql:
        driver.autocommit = True  # as the check's writer: the appender opens its transaction
    try:
        for group_entries, group_rows in groups:
            cursor = conn.cursor()
            appender.append(cursor, appender.prepare(group_entries, group_rows), way)
            if way != audit.STATEMENT:  # that one is committed when it returns
                if appender.postgresql:
                    cursor.execute("COMMIT")
                else:
                    conn.commit()
            cursor.close()
    finally:
        if appender.postgresql:
            driver.autocommit = False
        conn.close()


def _stored(session: Session) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Every entry but its id, in chain order, and each decision with its entry's place."""
    e, d = AuditEntry, CheckDecision
    entries = session.execute(select(
        e.chain, e.seq, e.at, e.actor_type, e.actor_id, e.agency_id, e.action, e.subject_id,
        e.object_type, e.object_id, e.details, e.prev_hash, e.hash).order_by(e.chain, e.seq))
    decisions = session.execute(
        select(*(getattr(d, c) for c in _DECISION_COLUMNS[:-1]), e.chain, e.seq)
        .join(e, e.id == d.audit_id).order_by(e.seq))
    return [tuple(r) for r in entries], [tuple(r) for r in decisions]


def _as_stored(table: Any, names: tuple[str, ...], values: tuple[Any, ...], dialect: Any
               ) -> tuple[Any, ...]:
    """Values in the form the ORM (the single-entry path) hands the driver for these columns."""
    out = []
    for name, value in zip(names, values, strict=True):
        process = table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
        out.append(process(value) if process is not None and value is not None else value)
    return tuple(out)


def _raw(session: Session, table: str, names: tuple[str, ...], order: str
         ) -> list[tuple[Any, ...]]:
    """The stored values themselves, read past every column type."""
    # Constant names only.
    return [tuple(r) for r in session.execute(text(
        f"SELECT {', '.join(names)} FROM {table} ORDER BY {order}"))]


def test_every_way_of_appending_stores_the_same_rows_and_hashes(
        case: tuple[str, str], app: Flask, engine: Engine, session: Session) -> None:
    # Given three check entries and their decisions, and an empty log
    _backend, way = case
    entries, rows = _arrange(session)
    # When they are appended this way
    if way == SESSION:
        _by_session(session, entries, rows)
    else:
        _by_appender(engine, way, entries, rows)
    session.rollback()
    # Then the log holds exactly the rows the one hash computation makes for them, from the
    # genesis of chain 0: the same rows, whichever way (and engine) wrote them
    expected = [(r["chain"], r["seq"], r["at"], r["actor_type"], r["actor_id"], r["agency_id"],
                 r["action"], r["subject_id"], r["object_type"], r["object_id"], r["details"],
                 r["prev_hash"], r["hash"])
                for r in audit.chain_rows(0, 0, audit.GENESIS, entries)]
    stored_entries, stored_decisions = _stored(session)
    assert stored_entries == expected
    # And each decision is stored as given, linked to its own entry
    assert stored_decisions == [(*(row[c] for c in _DECISION_COLUMNS[:-1]), 0, n + 1)
                                for n, row in enumerate(rows)]
    # And SQLite's text forms of times and UUIDs are the ORM's, byte for byte (PostgreSQL's
    # columns are typed, so the comparisons above are its stored form)
    if session.get_bind().dialect.name == "sqlite":
        dialect = session.get_bind().dialect
        names = audit._AUDIT_COLUMNS
        assert _raw(session, "audit_entries", names, "seq") == [
            _as_stored(AuditEntry.__table__, names, row, dialect) for row in expected]
        names = _DECISION_COLUMNS[:-1]
        assert _raw(session, "check_decisions", names, "evaluated_at") == [
            _as_stored(CheckDecision.__table__, names, tuple(row[c] for c in names), dialect)
            for row in rows]
    # And the chain and every record beside it verify
    assert audit.verify(session).ok
    result = app.test_cli_runner().invoke(args=["audit", "verify"])
    assert result.exit_code == 0, result.output
    assert "audit chain intact: 3 entries in 1 chain(s)" in result.output
    assert "check decisions intact: 3 match their audit entries" in result.output


@pytest.mark.parametrize("url", ["sqlite://", "postgresql+psycopg://nobody@127.0.0.1/none"])
def test_a_strategy_of_another_engine_or_size_is_refused(url: str) -> None:
    appender = audit.Appender(create_engine(url).dialect, chains=1, linked=DECISIONS)
    other = audit.ROWS if appender.postgresql else audit.COPY
    prepared = audit.Prepared(entries=[], tails=["x", "y"], linked=[])
    with pytest.raises(ValueError, match="strategy on this database"):
        appender.append(None, prepared, other)
    single = audit.STATEMENT if appender.postgresql else audit.ROW
    with pytest.raises(ValueError, match="appends one entry"):
        appender.append(None, prepared, single)
