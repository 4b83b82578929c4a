"""Processes killed with SIGKILL mid-write lose nothing committed and leave nothing half-done.

The app runs under gunicorn with the repository's configuration. While clients give and
withdraw consent on the public site, register holdings and ask for checks through the API,
gunicorn workers are killed with SIGKILL again and again (the arbiter starts new ones). A SAR
bundle worker is killed in the middle of a build and started again. Afterwards every request
that got a success answer is in the database, every consent event and decision has its audit
entry (and every such entry its row), the chains verify, and the bundle is built.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from http.client import HTTPConnection, HTTPException
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from consent.models import CheckDecision, ConsentEvent
from portal import audit
from portal.audit import AuditEntry
from portal.identity.models import Account
from portal.reference.models import Holding, Subject
from sar import operations as sar_ops
from sar.models import SarBundle, SarRequest
from tests.conftest import bearer
from tests.faults.servers import (
    CHECK_PATH,
    PERMIT_QUESTION,
    ROOT,
    app_env,
    free_port,
    gunicorn,
    request,
)
from tests.identity_helpers import login, make_account
from tests.sar.conftest import STAFF as SAR_STAFF
from tests.sar.conftest import filed, morgan, officers  # noqa: F401 - fixtures

# A client thread that dies would quietly lighten the load: make it fail the test.
pytestmark = [pytest.mark.slow,
              pytest.mark.filterwarnings("error::pytest.PytestUnhandledThreadExceptionWarning")]
LOAD_S = 12.0
KILL_EVERY_S = (0.8, 1.6)
WORKER_BOOT_S = 1.5
WORKERS = 3


@dataclass
class Tally:
    """What the clients were told, per kind of write."""

    checks: list[str] = field(default_factory=list)  # decision ids answered 200
    holdings: list[str] = field(default_factory=list)  # agency refs answered 201
    consent: dict[str, list[str]] = field(default_factory=dict)  # ref -> actions answered done
    dropped: int = 0  # requests that got no answer (their worker was killed)
    unavailable: int = 0  # 503 answers (fail closed: allowed, but counted)
    errors: list[str] = field(default_factory=list)  # answers that are neither success nor 503
    lock: threading.Lock = field(default_factory=threading.Lock)


def _http(port: int, method: str, path: str, *, cookies: dict[str, str],
          form: dict[str, str] | None = None) -> tuple[int, str, str]:
    """A browser-like request: (status, Location, body), keeping the session cookie."""
    conn = HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())}
        body = None
        if form is not None:
            body = urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        for raw in response.msg.get_all("Set-Cookie") or []:
            jar: SimpleCookie = SimpleCookie()
            jar.load(raw)
            for name, morsel in jar.items():
                cookies[name] = morsel.value
        return response.status, response.getheader("Location") or "", \
            response.read().decode(errors="replace")
    finally:
        conn.close()


def _consent_client(port: int, cookie: str, ref: str, notice_id: int, given: bool,
                    tally: Tally, stop: threading.Event) -> None:
    """Give and withdraw, turn about, through the public site's two-step pages."""
    cookies = {"portal_session": cookie}
    while not stop.is_set():
        action = "withdraw" if given else "give"
        path = f"/my/consents/{notice_id}/{action}"
        try:
            status, _loc, html = _http(port, "GET", path, cookies=cookies)
            token = re.search(r'name="csrf_token" value="([^"]+)"', html)
            if status != 200 or token is None:
                if status not in (200, 503):
                    with tally.lock:
                        tally.errors.append(f"GET {path}: {status}")
                continue
            status, location, _html = _http(port, "POST", path, cookies=cookies,
                                            form={"csrf_token": token.group(1)})
        except (OSError, HTTPException):  # no answer, or half of one (worker killed)
            with tally.lock:
                tally.dropped += 1
            continue
        if status == 302 and location.endswith(f"/{action}/done"):
            with tally.lock:
                tally.consent.setdefault(ref, []).append(action)
            given = not given
        elif status == 302 and location.endswith(f"/consents/{notice_id}"):
            given = not given  # an earlier, unanswered request had committed the change
        else:
            with tally.lock:
                if status == 503:
                    tally.unavailable += 1
                else:
                    tally.errors.append(f"POST {path}: {status} {location}")


def _api_client(port: int, key: str, n: int, tally: Tally, stop: threading.Event) -> None:
    """Register new holdings and ask checks, turn about."""
    i = 0
    while not stop.is_set():
        i += 1
        try:
            if i % 2:
                ref = f"KILL-{n}-{i}"
                status, _h, raw = request(port, "PUT", f"/api/v1/holdings/{ref}", body={
                    "categories": ["contact-details"], "since": "2026-01-02",
                    "subject": {"given_name": f"Test{n}", "family_name": f"Person{i}"}},
                    headers=bearer(key), timeout=30)
                if status == 201:
                    with tally.lock:
                        tally.holdings.append(ref)
                    continue
            else:
                status, _h, raw = request(port, "POST", CHECK_PATH, body=PERMIT_QUESTION,
                                          headers=bearer(key), timeout=30)
                if status == 200:
                    with tally.lock:
                        tally.checks.append(json.loads(raw)["decision_id"])
                    continue
        except (OSError, HTTPException):  # no answer, or half of one (worker killed)
            with tally.lock:
                tally.dropped += 1
            continue
        with tally.lock:
            if status == 503:
                tally.unavailable += 1
            else:
                tally.errors.append(f"API {status}: {raw[:200]!r}")


def _adult_consents(session: Session, limit: int) -> list[tuple[str, uuid.UUID, int, bool]]:
    """(agency ref, subject, notice, currently given) for demo adults with a consent."""
    today = dt.date.today()
    out: list[tuple[str, uuid.UUID, int, bool]] = []
    rows = session.execute(select(Holding.agency_ref, Subject.id, Subject.date_of_birth)
                           .join(Subject, Subject.id == Holding.subject_id)
                           .where(Holding.agency_ref.like("FP-DEMO-%"))
                           .order_by(Holding.agency_ref)).all()
    for ref, subject_id, born in rows:
        if born is not None and (today - born).days < 14 * 365:
            continue
        latest = session.scalars(select(ConsentEvent).where(ConsentEvent.subject_id == subject_id)
                                 .order_by(ConsentEvent.id.desc())).first()
        if latest is not None and subject_id not in {s for _r, s, _n, _g in out}:
            out.append((ref, subject_id, latest.notice_id, latest.event_type == "given"))
        if len(out) == limit:
            break
    return out


def _kill_workers(server: Any, stop: threading.Event, kills: list[int]) -> None:
    """SIGKILL a serving worker now and then (a new one needs a moment to boot and serve)."""
    rng = random.Random(7)
    seen: dict[int, float] = {}
    while not stop.wait(rng.uniform(*KILL_EVERY_S)):
        now = time.monotonic()
        seen = {pid: seen.get(pid, now) for pid in server.worker_pids()}
        serving = [pid for pid, since in seen.items() if now - since > WORKER_BOOT_S]
        if serving:
            pid = rng.choice(serving)
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
                kills.append(pid)


def _sar_worker(env: dict[str, str], log: Path, lease_s: float) -> subprocess.Popen[bytes]:
    flask = str(Path(sys.executable).parent / "flask")
    with open(log, "ab") as out:
        return subprocess.Popen([flask, "--app", "portal.app", "sar", "worker",
                                 "--lease-seconds", str(lease_s)], cwd=ROOT, env=env,
                                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)


def _stop_group(proc: subprocess.Popen[bytes], sig: int = signal.SIGKILL) -> None:
    with suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)
    proc.wait(timeout=30)


def _bundle_state(session: Session, bundle_id: uuid.UUID) -> tuple[str, int]:
    session.rollback()
    row = session.execute(select(SarBundle.state, SarBundle.progress)
                          .where(SarBundle.id == bundle_id)).one()
    return str(row[0]), int(row[1])


def _wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    pytest.fail(f"timed out after {timeout} s waiting for {what}")


@pytest.fixture
def queued_bundle(session: Session, filed: Callable[..., SarRequest]) -> uuid.UUID:  # noqa: F811
    """A SAR whose agencies have answered, with its bundle build queued."""
    sar = filed()
    police = next(t for t in sar.tasks if t.agency.slug == "fenshire-police")
    for task in sar.tasks:
        if task is police:
            sar_ops.supply_records(session, task, [
                sar_ops.NewRecord(f"INC-{i}", "incident", f"Report {i}",
                                  "Lorem ipsum dolor sit amet. " * 200) for i in range(30)],
                actor=SAR_STAFF)
        else:
            sar_ops.hold_nothing(session, task, actor=SAR_STAFF)
    bundle = sar_ops.request_bundle(session, sar, staff_id=1, actor=SAR_STAFF)
    session.commit()
    return bundle.id


def test_sigkilled_workers_lose_nothing_committed(
        app: Flask, db_url: str, session: Session, api_key: Callable[..., str],
        queued_bundle: uuid.UUID, tmp_path: Path) -> None:
    key = api_key("fenshire-police", "consent:check", "holdings:write")
    people = _adult_consents(session, 2)
    assert people, "the demo has adults with consents"
    cookies = {}
    for ref, subject_id, _notice, _given in people:
        account: Account = make_account(session, subject_id=subject_id)
        browser = app.test_client()
        login(browser, account)
        cookie = browser.get_cookie("portal_session")
        assert cookie is not None
        cookies[ref] = cookie.value
    first_event = session.scalar(select(func.max(ConsentEvent.id))) or 0
    session.rollback()

    port = free_port()
    env = app_env(db_url, tmp_path / "instance", port, PORTAL_ENV="development",
                  PORTAL_SECRET_KEY=app.config["SECRET_KEY"], PORTAL_WORKERS=str(WORKERS))
    tally, stop, kills = Tally(), threading.Event(), []
    with gunicorn(env, port, tmp_path / "gunicorn.log") as server:
        # Given clients writing consent, holdings and checks,
        threads = [threading.Thread(target=_consent_client, daemon=True,
                                    args=(port, cookies[ref], ref, notice, given, tally, stop))
                   for ref, _s, notice, given in people]
        threads += [threading.Thread(target=_api_client, args=(port, key, n, tally, stop),
                                     daemon=True) for n in range(2)]
        killer = threading.Thread(target=_kill_workers, args=(server, stop, kills), daemon=True)
        for t in [*threads, killer]:
            t.start()
        load_until = time.monotonic() + LOAD_S
        # and a SAR worker killed mid-build,
        worker_log = tmp_path / "sar-worker.log"
        sar_worker = _sar_worker(env, worker_log, lease_s=2)
        try:
            _wait_for(lambda: _bundle_state(session, queued_bundle)[0] == "running", 60,
                      "the SAR worker to claim the bundle")
            os.kill(sar_worker.pid, signal.SIGKILL)
            sar_worker.wait(timeout=10)
            assert _bundle_state(session, queued_bundle)[0] == "running", \
                "the worker should have been killed mid-build"
        finally:
            _stop_group(sar_worker)
        try:
            time.sleep(max(0.0, load_until - time.monotonic()))
        finally:
            stop.set()
            for t in [*threads, killer]:
                t.join(timeout=60)
        assert server.proc.poll() is None
        # When a new SAR worker starts, it takes the abandoned job up again and finishes it.
        sar_worker = _sar_worker(env, worker_log, lease_s=2)
        try:
            _wait_for(lambda: _bundle_state(session, queued_bundle)[0] in ("built", "failed"),
                      90, "the restarted SAR worker to finish the bundle")
        finally:
            _stop_group(sar_worker, signal.SIGTERM)
    log = (tmp_path / "gunicorn.log").read_text()

    # Shown when the test fails: how hard the run was.
    print(f"kills={len(kills)} checks={len(tally.checks)} holdings={len(tally.holdings)} "
          f"consent={ {k: len(v) for k, v in tally.consent.items()} } "
          f"dropped={tally.dropped} unavailable={tally.unavailable}")
    # Then the load really was cut short by kills, and nothing answered wrongly,
    assert len(kills) >= 5, kills
    assert not tally.errors, f"{tally.errors[:5]}\n{log[-3000:]}"
    assert tally.checks and tally.holdings and tally.consent, tally
    session.rollback()
    # every check answered 200 has its decision record and audit entry,
    decisions = dict(session.execute(select(CheckDecision.id, CheckDecision.audit_id).where(
        CheckDecision.id.in_([uuid.UUID(d) for d in tally.checks]))).all())
    assert len(decisions) == len(set(tally.checks))
    # every holding answered 201 is there, with its subject,
    held = set(session.scalars(select(Holding.agency_ref).where(
        Holding.agency_ref.in_(tally.holdings))))
    assert held == set(tally.holdings)
    # every consent change answered "done" is there, as one event in an unbroken give/withdraw
    # alternation (a change whose answer was lost may be there too),
    for ref, subject_id, notice, given in people:
        events = list(session.scalars(select(ConsentEvent.event_type).where(
            ConsentEvent.subject_id == subject_id, ConsentEvent.notice_id == notice,
            ConsentEvent.id > first_event).order_by(ConsentEvent.id)))
        answered = tally.consent.get(ref, [])
        assert len(events) >= len(answered)
        expected = ["withdrawn" if (i % 2 == 0) == given else "given" for i in range(len(events))]
        assert events == expected, (ref, events)
    # no consent event, decision or holding lacks its audit entry, and no such entry its row,
    e = AuditEntry
    event_ids = {str(p) for p in session.scalars(select(ConsentEvent.public_id))}
    logged_events = set(session.scalars(select(e.object_id).where(
        e.object_type == "consent_event")))
    assert event_ids == logged_events
    audit_ids = set(session.scalars(select(CheckDecision.audit_id)))
    logged_checks = dict(session.execute(select(e.id, e.object_id).where(
        e.object_type == "check_decision")).all())
    assert audit_ids == set(logged_checks)
    assert {str(i) for i in session.scalars(select(CheckDecision.id))} == \
        set(logged_checks.values())
    holding_ids = {str(i) for i in session.scalars(select(Holding.id))}
    assert holding_ids <= set(session.scalars(select(e.object_id).where(
        e.object_type == "holding")))
    orphans = session.scalar(select(func.count()).select_from(Subject).where(
        ~Subject.id.in_(select(Holding.subject_id))))
    assert orphans == 0, "a subject was created without its holding"
    # the audit chains verify,
    result = audit.verify(session)
    assert result.ok, result.problem
    # and the SAR bundle was built once, by the worker that took it up again.
    state, progress = _bundle_state(session, queued_bundle)
    assert (state, progress) == ("built", 100), (worker_log.read_text()[-3000:])
    built = session.scalar(select(func.count()).select_from(e).where(
        e.action == "sar.bundle_built", e.object_id == str(queued_bundle)))
    assert built == 1
