"""The audit chain: append-only in the database, and any edit, removal or reorder detected."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from sqlalchemy import select, text
from sqlalchemy.exc import DatabaseError
from sqlalchemy.orm import Session

from portal import audit
from portal.audit import Actor, AuditEntry
from tests.conftest import lift_append_only

ACTOR = Actor("staff", "s-1", 1)


@pytest.fixture
def chain(session: Session) -> Session:
    """Five entries on one chain (seq 1 to 5)."""
    session.info["audit_chains"] = 1
    for i in range(5):
        audit.record(session, "test.act", ACTOR, object_type="thing", object_id=str(i),
                     details={"i": i, "text": "Zażółć gęślą jaźń – ☃"})
    session.commit()
    return session


@pytest.fixture
def tamper(chain: Session) -> Iterator[Session]:
    """Lift the append-only guard, as someone with database access could."""
    lift_append_only(chain, "audit_entries")
    yield chain


def test_intact_chain_verifies(chain: Session) -> None:
    result = audit.verify(chain)
    assert result.ok and result.count == 5 and result.heads[0][0] == 5
    assert audit.head(chain) == result.heads


def test_database_refuses_update_and_delete(chain: Session) -> None:
    for stmt in ("UPDATE audit_entries SET action = 'x' WHERE seq = 2",
                 "DELETE FROM audit_entries WHERE seq = 2"):
        with pytest.raises(DatabaseError, match="append-only"):
            chain.execute(text(stmt))
        chain.rollback()
    assert audit.verify(chain).ok


def test_consent_events_are_append_only_too(app: Flask, session: Session, demo: object) -> None:
    for stmt in ("UPDATE consent_events SET event_type = 'given'",
                 "DELETE FROM consent_events"):
        with pytest.raises(DatabaseError, match="append-only"):
            session.execute(text(stmt))
        session.rollback()


def test_edit_is_detected(tamper: Session) -> None:
    tamper.execute(text("UPDATE audit_entries SET details = :d WHERE seq = 3"),
                   {"d": '{"i":99}'})
    tamper.commit()
    result = audit.verify(tamper)
    assert not result.ok and result.bad_seq == 3 and "altered" in result.problem


def test_edit_with_recomputed_hash_is_detected_at_the_next_link(tamper: Session) -> None:
    row = tamper.scalars(select(AuditEntry).where(AuditEntry.seq == 3)).one()
    new_hash = audit.entry_hash(row.prev_hash, 0, 3, row.at, row.actor_type, row.actor_id,
                                row.agency_id, "forged", row.subject_id, row.object_type,
                                row.object_id, row.details)
    tamper.execute(text("UPDATE audit_entries SET action = 'forged', hash = :h WHERE seq = 3"),
                   {"h": new_hash})
    tamper.commit()
    result = audit.verify(tamper)
    assert not result.ok and result.bad_seq == 4


def test_deletion_is_detected(tamper: Session) -> None:
    tamper.execute(text("DELETE FROM audit_entries WHERE seq = 2"))
    tamper.commit()
    result = audit.verify(tamper)
    assert not result.ok and result.bad_seq == 2 and "missing" in result.problem


def test_deleting_the_first_entry_is_detected(tamper: Session) -> None:
    tamper.execute(text("DELETE FROM audit_entries WHERE seq = 1"))
    tamper.commit()
    assert audit.verify(tamper).bad_seq == 1


def test_reordering_is_detected(tamper: Session) -> None:
    # Swap the positions of entries 2 and 4 (keeping each row's own hash).
    tamper.execute(text("UPDATE audit_entries SET seq = -2 WHERE seq = 2"))
    tamper.execute(text("UPDATE audit_entries SET seq = 2 WHERE seq = 4"))
    tamper.execute(text("UPDATE audit_entries SET seq = 4 WHERE seq = -2"))
    tamper.commit()
    result = audit.verify(tamper)
    assert not result.ok and result.bad_seq == 2


def test_moving_an_entry_to_another_chain_is_detected(tamper: Session) -> None:
    tamper.execute(text("UPDATE audit_entries SET chain = 1, seq = 1 WHERE seq = 5"))
    tamper.commit()
    result = audit.verify(tamper)
    assert not result.ok and result.bad_chain == 1


def test_cli_verify_exit_codes(app: Flask, tamper: Session) -> None:
    runner = app.test_cli_runner()
    ok = runner.invoke(args=["audit", "verify"])
    assert ok.exit_code == 0 and "intact: 5 entries" in ok.output
    head = runner.invoke(args=["audit", "head"])
    assert head.output.startswith("0 5 ")
    tamper.execute(text("UPDATE audit_entries SET actor_id = 'someone-else' WHERE seq = 4"))
    tamper.commit()
    bad = runner.invoke(args=["audit", "verify"])
    assert bad.exit_code == 1 and "chain 0 entry 4" in bad.output


def test_concurrent_appends_keep_one_chain(app: Flask) -> None:
    """Appends from many sessions at once still form one unbroken chain."""
    import threading

    from portal.database import get_database

    factory = get_database(app).sessionmaker
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            for i in range(10):
                with factory() as s:
                    audit.record(s, "test.concurrent", ACTOR, object_id=f"{n}-{i}")
                    s.commit()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    with factory() as s:
        result = audit.verify(s)
    assert result.ok and result.count == 60
    if app.config["PORTAL"].database_url.startswith("postgresql"):
        assert len(result.heads) > 1, "appends should spread over several chains"


def test_an_append_takes_a_free_chain_or_waits_for_one(app: Flask, backend: str) -> None:
    """Given other transactions holding every chain's lock but one, an append goes on the free
    chain after its head; with every chain held, it waits and appends once one is released.
    (SQLite has one chain, and BEGIN IMMEDIATE already makes writers take turns.)"""
    import threading

    from portal.database import get_database

    db = get_database(app)
    if backend == "sqlite":
        with db.sessionmaker() as s:
            entry = s.get(AuditEntry, audit.record(s, "test.free", ACTOR))
            assert entry is not None and entry.chain == 0
        return
    holder = db.engine.connect()
    try:
        for free in (0, audit.PG_CHAINS - 1):
            tx = holder.begin()
            for held in range(audit.PG_CHAINS):
                if held != free:
                    holder.execute(text("SELECT pg_advisory_xact_lock(:k)"),
                                   {"k": audit.PG_LOCK_BASE + held})
            for i in range(3):  # whichever chain the append tries first
                with db.sessionmaker() as s:
                    # A wrong choice then fails the test instead of hanging it.
                    s.execute(text("SET LOCAL lock_timeout = '5s'"))
                    before = audit.head(s).get(free, (0, audit.GENESIS))
                    entry_id = audit.record(s, "test.free", ACTOR, object_id=f"{free}-{i}")
                    s.commit()
                    entry = s.get(AuditEntry, entry_id)
                    assert entry is not None and entry.chain == free
                    assert (entry.seq, entry.prev_hash) == (before[0] + 1, before[1])
            tx.rollback()

        tx = holder.begin()
        for held in range(audit.PG_CHAINS):
            holder.execute(text("SELECT pg_advisory_xact_lock(:k)"),
                           {"k": audit.PG_LOCK_BASE + held})
        done: list[int] = []

        def append() -> None:
            with db.sessionmaker() as s:
                done.append(audit.record(s, "test.wait", ACTOR))
                s.commit()

        waiting = threading.Thread(target=append)
        waiting.start()
        waiting.join(0.5)
        assert waiting.is_alive() and not done, "an append must wait while every chain is held"
        tx.rollback()
        waiting.join(10)
        assert len(done) == 1
    finally:
        holder.close()
    with db.sessionmaker() as s:
        assert audit.verify(s).ok


AWKWARD = ["", "Zoë’s \"case\" \\ 🙂", "line\nbreak\ttab", "\u0000nul", "ﬁ ß Ł ą ć ż"]


def test_an_entry_hash_is_the_hash_of_its_whole_canonical_body() -> None:
    """The body is hashed in two parts (the database finishes it once it knows the chain
    and sequence number); together they are exactly the canonical JSON of the entry."""
    import datetime as dt
    import hashlib
    import uuid

    at = dt.datetime(2026, 11, 26, 7, 0, 0, 123456, tzinfo=dt.UTC)
    subject = uuid.uuid4()
    for text_ in AWKWARD:
        details = audit.canonical_json({"reason": text_, "n": [1, None]})
        whole = audit.canonical_json([3, 41, "2026-11-26T07:00:00.123456Z", "api_client",
                                      text_, None, "consent.check", str(subject), "o", text_,
                                      details])
        assert audit.entry_hash("ab" * 32, 3, 41, at, "api_client", text_, None,
                                "consent.check", subject, "o", text_, details) == \
            hashlib.sha256(("ab" * 32 + whole).encode()).hexdigest()


def test_the_database_computes_the_same_link_hash(session: Session, backend: str) -> None:
    """PG_LINK_HASH, which a check's one-statement append uses, agrees with link_hash on
    awkward text (SQLite appends with hashes computed in Python only)."""
    if backend == "sqlite":
        import hashlib

        assert audit.link_hash("0" * 64, 0, 1, '"x"]') == \
            hashlib.sha256(("0" * 64 + '[0,1,"x"]').encode()).hexdigest()
        return
    sql = "SELECT " + audit.PG_LINK_HASH.format(prev="(:prev)", chain="(:chain)",
                                                seq="(:seq)", tail="(:tail)")
    for text_ in AWKWARD[:3] + AWKWARD[4:]:  # PostgreSQL text cannot hold NUL
        tail = audit.canonical_json([text_, None])[1:]
        for chain, seq in ((0, 1), (7, 123456789)):
            got = session.execute(text(sql), {"prev": "f" * 64, "chain": chain, "seq": seq,
                                              "tail": tail}).scalar()
            assert got == audit.link_hash("f" * 64, chain, seq, tail)
