"""The check path's per-process cache and group commit (consent/check/)."""

from __future__ import annotations

import fcntl
import os
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session

from consent.check import write as check_write
from consent.check.service import CheckService
from consent.models import CheckDecision, NoticeVersion, ReferenceGeneration
from portal import audit
from portal.app import create_app
from portal.audit import AuditEntry
from portal.database import get_database, utcnow
from portal.reference.models import Agency, ApiClient, SharingAgreement
from tests.conftest import bearer, make_config

CHECK = "/api/v1/consent/check"
PERMITTED = {"subject": {"agency_ref": "FP-DEMO-0001"}, "recipient": "victim-care",
             "purpose": "victim-support-referral",
             "categories": ["contact-details", "incident-report"]}


@pytest.fixture
def key(api_key: Callable[..., str]) -> str:
    return api_key("fenshire-police", "consent:check")


def ask(client: FlaskClient, key: str, body: Any = PERMITTED) -> Any:
    return client.post(CHECK, json=body, headers=bearer(key))


def generation(session: Session) -> int:
    session.rollback()
    value = session.scalar(select(ReferenceGeneration.value))
    assert value is not None
    return value


def test_every_reference_table_bumps_the_generation(session: Session, key: str) -> None:
    """The triggers cover each table a check caches, and not a key's last use."""
    before = generation(session)
    session.execute(update(Agency).where(Agency.slug == "victim-care").values(name="VC"))
    session.commit()
    after_agency = generation(session)
    assert after_agency > before
    session.execute(update(SharingAgreement).values(statutory_gateway="s.115"))
    session.commit()
    assert generation(session) > after_agency
    current = generation(session)
    session.execute(update(ApiClient).values(last_used_at=utcnow()))
    session.commit()
    assert generation(session) == current  # checks write this themselves
    session.execute(update(ApiClient).values(revoked_at=utcnow()))
    session.commit()
    assert generation(session) > current
    current = generation(session)
    session.execute(update(NoticeVersion).values(requires_reconsent=False))
    session.commit()
    assert generation(session) > current


def test_a_retired_agreement_denies_on_the_next_check(client: FlaskClient, key: str,
                                                      session: Session) -> None:
    """Given a process whose cache permits, when the agreement is retired by anyone,
    then the very next check is refused."""
    assert ask(client, key).get_json()["decision"] == "permit"
    session.execute(update(SharingAgreement).values(retired_at=utcnow()))
    session.commit()
    body = ask(client, key).get_json()
    assert body["decision"] == "deny"


def test_a_revoked_key_is_refused_by_another_process(app: Flask, client: FlaskClient,
                                                     key: str, db_url: str,
                                                     tmp_path: Path) -> None:
    """Two applications (two caches) on one database: a revocation through one is seen by
    the other on its next request."""
    other = create_app(make_config(db_url, tmp_path / "other"))
    try:
        other_client = other.test_client()
        assert ask(other_client, key).status_code == 200  # its cache now holds the key
        with get_database(app).sessionmaker() as s:
            s.execute(update(ApiClient).values(revoked_at=utcnow()))
            s.commit()
        r = ask(other_client, key)
        assert r.status_code == 401 and r.get_json()["decision"] == "deny"
    finally:
        get_database(other).engine.dispose()


def test_a_key_made_after_the_cache_loaded_is_accepted(client: FlaskClient, key: str,
                                                       api_key: Callable[..., str]) -> None:
    assert ask(client, key).status_code == 200
    newer = api_key("fenshire-police", "consent:check")
    assert ask(client, newer).status_code == 200


def test_unknown_keys_do_not_reload_the_cache(app: Flask, client: FlaskClient, key: str,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    assert ask(client, key).status_code == 200
    loads: list[int] = []
    import consent.check.service as checks

    real = checks.load_refdata
    monkeypatch.setattr(checks, "load_refdata", lambda s: loads.append(1) or real(s))
    for _ in range(5):
        assert ask(client, "cpk_" + "x" * 40).status_code == 401
    assert loads == []


def test_concurrent_checks_share_commits_and_all_are_recorded(app: Flask, key: str,
                                                              session: Session) -> None:
    """Given 24 checks at once, each answer's decision and audit entry are committed
    before it is received, and the chain verifies."""
    service: CheckService = app.extensions["consent.checks"]
    commits: list[int] = []
    real = service.committer._write

    def counting(batch: Any) -> None:
        commits.append(len(batch))
        real(batch)

    service.committer._write = counting  # type: ignore[method-assign]
    answers: list[str] = []
    errors: list[BaseException] = []
    start = threading.Barrier(24)

    def one() -> None:
        try:
            start.wait()
            r = ask(app.test_client(), key)
            assert r.status_code == 200
            decision_id = r.get_json()["decision_id"]
            with get_database(app).sessionmaker() as fresh:  # seen at once by anyone
                assert fresh.get(CheckDecision, uuid.UUID(decision_id)) is not None
            answers.append(decision_id)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=one) for _ in range(24)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors and len(answers) == 24
    assert sum(commits) == 24
    session.rollback()
    assert session.scalar(select(func.count()).select_from(CheckDecision)) == 24
    assert audit.verify(session).ok


def test_a_failed_group_commit_answers_each_check_503_deny(app: Flask, client: FlaskClient,
                                                           key: str, session: Session,
                                                           monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    service: CheckService = app.extensions["consent.checks"]

    def failing(_batch: Any) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(service.committer, "_write", failing)
    r = ask(client, key)
    assert r.status_code == 503 and r.get_json()["decision"] == "deny"
    session.rollback()
    assert session.scalar(select(func.count()).select_from(CheckDecision)) == 0


def test_missing_generation_row_still_answers_from_fresh_facts(client: FlaskClient, key: str,
                                                               session: Session) -> None:
    """Without its counter the cache cannot be trusted, so every check reloads it."""
    session.execute(text("DELETE FROM reference_generation"))
    session.commit()
    assert ask(client, key).get_json()["decision"] == "permit"
    session.execute(update(SharingAgreement).values(retired_at=utcnow()))
    session.commit()
    assert ask(client, key).get_json()["decision"] == "deny"


def _batch(size: int) -> dict[str, Any]:
    return {"questions": [PERMITTED] * size}


def test_a_decision_that_lost_its_audit_entry_commits_nothing(
        app: Flask, client: FlaskClient, key: str, session: Session, backend: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Given decisions that cannot be paired with their audit entries, nothing is committed
    and the batch answers 503 deny: on PostgreSQL the database refuses the statement (the
    unpaired decision's audit_id would be NULL); on SQLite the writer refuses when the entry
    ids it reads back do not pair up."""
    if backend == "postgresql":
        real = audit._by_column
        link = check_write._DECISION_COLUMNS.index("audit_id")

        def unlinked(rows: Any, width: int) -> list[list[Any]]:
            out = real(rows, width)
            if width == len(check_write._DECISION_COLUMNS):  # the decisions' column arrays
                out[link] = [seq + 1_000_000 for seq in out[link]]  # no entry has these
            return out

        monkeypatch.setattr(audit, "_by_column", unlinked)
    else:
        writer = app.extensions["consent.checks"].committer._writer.appender
        monkeypatch.setattr(writer, "_ids", writer._ids.replace("ORDER BY", "AND 0 ORDER BY"))
    r = client.post("/api/v1/consent/check/batch", json=_batch(3), headers=bearer(key))
    assert r.status_code == 503 and r.get_json()["decision"] == "deny"
    session.rollback()
    assert session.scalar(select(func.count()).select_from(CheckDecision)) == 0
    assert session.scalar(select(func.count()).select_from(AuditEntry)
                          .where(AuditEntry.action == "consent.check")) == 0


def test_checks_append_to_a_free_chain_or_wait_for_one(
        app: Flask, client: FlaskClient, key: str, session: Session, backend: str) -> None:
    """Given other transactions holding every audit chain's lock but one, a check's entry goes
    on the free chain; with every chain held, the check waits and is answered once one is
    released. (SQLite has one chain and one writer at a time.)"""
    if backend == "sqlite":
        assert ask(client, key).status_code == 200
        return
    chains = audit.PG_CHAINS
    holder = get_database(app).engine.connect()
    try:
        for free in (0, chains - 1):
            tx = holder.begin()
            for chain in range(chains):
                if chain != free:
                    holder.execute(text("SELECT pg_advisory_xact_lock(:k)"),
                                   {"k": audit.PG_LOCK_BASE + chain})
            for _ in range(3):  # whichever chain a check tries first
                decision_id = ask(client, key).get_json()["decision_id"]
                session.rollback()
                row = session.get(CheckDecision, uuid.UUID(decision_id))
                assert row is not None
                entry = session.get(AuditEntry, row.audit_id)
                assert entry is not None and entry.chain == free
            tx.rollback()

        tx = holder.begin()
        for chain in range(chains):
            holder.execute(text("SELECT pg_advisory_xact_lock(:k)"),
                           {"k": audit.PG_LOCK_BASE + chain})
        answers: list[int] = []
        waiting = threading.Thread(target=lambda: answers.append(ask(client, key).status_code))
        waiting.start()
        waiting.join(0.5)
        assert waiting.is_alive() and not answers  # no chain free: it waits, unanswered
        tx.rollback()
        waiting.join(10)
        assert answers == [200]
    finally:
        holder.close()
    session.rollback()
    assert audit.verify(session).ok


def test_sqlite_writers_take_turns_on_one_lock_per_process(
        app: Flask, client: FlaskClient, key: str, backend: str) -> None:
    """Given another process holding the SQLite writers' lock, a check waits for it; the
    lock file is opened once per process, and again in a forked child."""
    committer = app.extensions["consent.checks"].committer
    if backend == "postgresql":
        assert committer._lock_path is None  # chain locks in the database instead
        assert ask(client, key).status_code == 200
        return
    assert ask(client, key).status_code == 200
    first = committer._lock_fd
    assert ask(client, key).status_code == 200
    assert committer._lock_fd == first
    committer._lock_pid = -1  # as a forked child sees it
    assert ask(client, key).status_code == 200
    assert committer._lock_fd != first

    other = os.open(committer._lock_path, os.O_RDWR)
    try:
        fcntl.flock(other, fcntl.LOCK_EX)
        answers: list[int] = []
        waiting = threading.Thread(target=lambda: answers.append(ask(client, key).status_code))
        waiting.start()
        waiting.join(0.5)
        assert waiting.is_alive() and not answers
        fcntl.flock(other, fcntl.LOCK_UN)
        waiting.join(10)
        assert answers == [200]
    finally:
        os.close(other)
