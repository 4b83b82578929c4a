"""PostgreSQL goes away under load: every check fails closed, and the service heals itself.

Invariant 2 (the check fails closed) and 3 (no answer without a record), proved against real
processes: the app under gunicorn with the repository's configuration, a private PostgreSQL
cluster stopped with a fast shutdown while checks run, then started again.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass
from http.client import HTTPException
from pathlib import Path

import pytest
from sqlalchemy import select

from consent import demo
from consent.models import CheckDecision
from portal import audit, migrate
from portal.audit import AuditEntry
from portal.database import make_engine, make_sessionmaker, transaction
from portal.reference import apikeys
from tests.conftest import STAFF, bearer
from tests.faults.servers import (
    CHECK_PATH,
    PERMIT_QUESTION,
    app_env,
    free_port,
    gunicorn,
    private_postgres,
    request,
)

pytestmark = [pytest.mark.postgresql_only, pytest.mark.slow,
              pytest.mark.filterwarnings("error::pytest.PytestUnhandledThreadExceptionWarning")]
CLIENTS = 4
WORKERS = 2
OUTAGE_S = 3.0
RECOVERY_LIMIT_S = 20.0


@dataclass(frozen=True)
class Answer:
    """One check as the client saw it."""

    started: float
    ended: float
    status: int  # 0: no HTTP answer at all
    decision: str | None  # a batch permits when every one of its questions does
    decision_ids: tuple[str, ...]
    problem: str = ""


def _ask(port: int, key: str, *, batch: bool = False) -> Answer:
    started = time.monotonic()
    path, question = CHECK_PATH, PERMIT_QUESTION
    if batch:
        path, question = CHECK_PATH + "/batch", {"questions": [PERMIT_QUESTION] * 3}
    try:
        status, _headers, raw = request(port, "POST", path, body=question,
                                        headers=bearer(key), timeout=30)
    except (OSError, HTTPException) as exc:  # no answer, or half of one
        return Answer(started, time.monotonic(), 0, None, (), repr(exc))
    try:
        body = json.loads(raw)
    except ValueError:
        body = {}
    results = body.get("results", [body]) if status == 200 else []
    decision = body.get("decision")
    if status == 200 and batch:
        decision = "permit" if all(r["decision"] == "permit" for r in results) else "deny"
    return Answer(started, time.monotonic(), status, decision,
                  tuple(r["decision_id"] for r in results),
                  "" if status == 200 else raw[:300].decode())


def test_checks_fail_closed_while_postgresql_is_down_and_recover(tmp_path: Path) -> None:
    with private_postgres() as pg:
        engine = make_engine(pg.url)
        migrate.upgrade(engine)
        with transaction(make_sessionmaker(engine)) as s:
            demo.seed(s)
            _client, key = apikeys.create_api_key(s, "fenshire-police", ["consent:check"],
                                                     actor=STAFF)
        engine.dispose()
        port = free_port()
        env = app_env(pg.url, tmp_path / "instance", port, PORTAL_WORKERS=str(WORKERS),
                      PORTAL_CHECK_TIMEOUT_MS="1000")
        with gunicorn(env, port, tmp_path / "gunicorn.log") as server:
            # Given checks running steadily and permitting,
            answers: list[Answer] = []
            lock = threading.Lock()
            stop = threading.Event()

            def client(batch: bool) -> None:
                while not stop.is_set():
                    answer = _ask(port, key, batch=batch)
                    with lock:
                        answers.append(answer)

            # One client asks in batches (the other check endpoint), the rest one by one.
            threads = [threading.Thread(target=client, args=(n == 0,), daemon=True)
                       for n in range(CLIENTS)]
            for t in threads:
                t.start()
            try:
                time.sleep(1.5)
                # when PostgreSQL is shut down (fast: every session cut off at once),
                pg.stop()
                stopped_at = time.monotonic()
                time.sleep(OUTAGE_S)
                # and comes back while the load goes on,
                up_at = time.monotonic()
                pg.start()
                restarted_at = time.monotonic()
                recovered_at = None
                while time.monotonic() - restarted_at < RECOVERY_LIMIT_S:
                    with lock:
                        recovered_at = next((a.ended for a in answers
                                             if a.started > restarted_at
                                             and a.decision == "permit"), None)
                    if recovered_at is not None:
                        break
                    time.sleep(0.1)
                time.sleep(1.5)
            finally:
                stop.set()
                for t in threads:
                    t.join(timeout=60)
            # A restart while nobody is asking leaves every pooled connection dead; the pool
            # sees that at checkout (portal/db.py) and reconnects: not one check fails.
            pg.stop()
            pg.start()
            idle = [_ask(port, key, batch=n % 2 == 1) for n in range(4 * WORKERS)]
            assert all(a.status == 200 and a.decision == "permit" for a in idle), idle
            answers.extend(idle)
            log = (tmp_path / "gunicorn.log").read_text()
            assert server.proc.poll() is None, "the app must not need restarting"

        # then no check was ever answered with anything but a 200 or a 503 deny,
        assert not [a for a in answers if a.status == 0], \
            f"checks got no HTTP answer: {[a.problem for a in answers if a.status == 0][:3]}"
        odd = [a for a in answers if a.status not in (200, 503)
               or (a.status == 503 and a.decision != "deny")]
        assert not odd, f"answers other than 200 or 503 deny: {odd[:5]}\n{log[-3000:]}"
        # every check wholly inside the outage answered 503 deny and none permitted,
        during = [a for a in answers if a.started > stopped_at and a.ended < up_at]
        assert len(during) >= CLIENTS, "the outage should have seen checks"
        assert all(a.status == 503 and a.decision == "deny" for a in during), during[:5]
        # the service recovered by itself, in bounded time,
        assert recovered_at is not None, \
            f"no permit within {RECOVERY_LIMIT_S} s of PostgreSQL returning\n{log[-3000:]}"
        tail = [a for a in answers if recovered_at < a.started < idle[0].started]
        assert tail and all(a.status == 200 for a in tail), \
            f"after recovery some checks still failed: {[a for a in tail if a.status != 200][:5]}"

        # and every answered check has its decision record and audit entry; the chain verifies.
        answered = {uuid.UUID(i) for a in answers if a.status == 200 for i in a.decision_ids}
        assert len(answered) > CLIENTS * 2
        engine = make_engine(pg.url)
        try:
            with make_sessionmaker(engine)() as s:
                rows = dict(s.execute(select(CheckDecision.id, CheckDecision.audit_id)
                                      .where(CheckDecision.id.in_(answered))).all())
                assert set(rows) == answered, "an answered check has no decision record"
                logged = set(s.scalars(select(AuditEntry.object_id).where(
                    AuditEntry.object_type == "check_decision",
                    AuditEntry.id.in_(list(rows.values())))))
                assert logged == {str(i) for i in answered}, "an answer has no audit entry"
                result = audit.verify(s)
                assert result.ok, result.problem
        finally:
            engine.dispose()
