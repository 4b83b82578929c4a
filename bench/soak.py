"""The soak benchmark: mixed load for minutes on PostgreSQL, then the books balance.

    python -m bench.soak [--minutes 10] [--subjects 20000] [--events 100000]

Serves the portal with the repository's gunicorn.conf.py (production settings, rate limits in
Redis) and the SAR worker as its own process, then for the given time runs at once:
consent checks (most of the load), consent changes through the public portal (signed-in
people withdrawing and giving again, each change followed at once by a check that must agree),
public page views, and SAR steps (agencies list, read and answer their tasks through the API;
bundles are queued and the SAR worker builds them). Every 10 s it samples the resident memory
of each gunicorn worker and of the SAR worker. Afterwards it checks that every answered check
has its decision and audit entry, that the audit chain verifies, that no withdrawal was
followed by a permit, and that memory stayed flat after warm-up.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import secrets
import signal
import string
import subprocess
import sys
import threading
import time
import traceback
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select

from bench import check as bc
from bench.browser import Browser
from portal.reference import apikeys

SOAK_DB = "portal_soak"  # never portal_bench: bench.check may be running on it
PASSWORD = "soak-password-" + "x" * 12  # synthetic accounts in a throwaway database
ACCOUNTS = 8  # under the sign-in limit of 20 a minute from one address
SARS_PER_MINUTE = 40
CHECK_THREADS = 4
SAMPLE_S = 10.0
PUBLIC_PAGES = ["/", "/help", "/staying-safe", "/accessibility", "/privacy", "/cookies"]
# Memory is flat when, after warm-up (the first minute), each process grew by at most
# GROWTH_MB between the first and the last minute's samples and, over at least SLOPE_SPAN_S
# of samples, its fitted slope is at most SLOPE_MB_PER_MIN.
GROWTH_MB = 10.0
SLOPE_MB_PER_MIN = 2.0
SLOPE_SPAN_S = 300.0


@dataclass
class Tally:
    """What one kind of load did: answers by status, and any unexpected outcomes."""

    statuses: Counter[int] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    ms: list[float] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, status: int, took_ms: float) -> None:
        """Count one answer."""
        with self.lock:
            self.statuses[status] += 1
            if len(self.ms) < 200_000:
                self.ms.append(took_ms)

    def problem(self, text: str) -> None:
        """Note something that must not happen (kept to the first 20)."""
        with self.lock:
            if len(self.problems) < 20:
                self.problems.append(text)

    def as_json(self) -> dict[str, Any]:
        """For the results file."""
        ms = sorted(self.ms)

        def pct(p: float) -> float | None:
            return round(ms[min(len(ms) - 1, int(len(ms) * p))], 1) if ms else None

        return {"requests": sum(self.statuses.values()),
                "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
                "p50_ms": pct(0.5), "p99_ms": pct(0.99), "problems": self.problems}


@dataclass
class Soak:
    """Everything the load threads share."""

    portal: bc.Server
    check_key: str
    sar_key: str
    subjects: int
    deadline: float
    url: str
    accounts: list[tuple[str, str]]  # (email, agency_ref)
    notice_id: int
    change_pause: float = 0.2
    checks: Tally = field(default_factory=Tally)
    changes: Tally = field(default_factory=Tally)
    pages: Tally = field(default_factory=Tally)
    sar: Tally = field(default_factory=Tally)
    answered_checks: int = 0
    permits: int = 0
    withdrawals: int = 0
    gives: int = 0
    stale_permits: int = 0
    records_supplied: int = 0
    bundles_queued: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def running(self) -> bool:
        """True until the time is up."""
        return time.monotonic() < self.deadline

    def check(self, browser: Browser, ref: str) -> dict[str, Any] | None:
        """One consent check; the answer, or None if it was not a 200."""
        body = json.dumps({"subject": {"agency_ref": ref}, "recipient": bc.RECIPIENT,
                           "purpose": bc.PURPOSE, "categories": bc.CATEGORIES}).encode()
        t0 = time.monotonic()
        try:
            r = browser.request(self.portal, "POST", bc.CHECK_PATH, body=body, headers={
                "Authorization": f"Bearer {self.check_key}", "Content-Type": "application/json"})
        except OSError as exc:
            self.checks.add(0, 0.0)
            self.checks.problem(f"check: {exc!r}")
            return None
        self.checks.add(r.status, (time.monotonic() - t0) * 1000)
        if r.status != 200:
            self.checks.problem(f"check answered {r.status}: {r.body[:200]}")
            return None
        answer: dict[str, Any] = r.json()
        with self.lock:
            self.answered_checks += 1
            self.permits += answer["decision"] == "permit"
        return answer


def ref_of(n: int) -> str:
    """The agency reference bench.seed gives subject number n (1-based)."""
    return f"BENCH-{n:07d}"


# --- Load -----------------------------------------------------------------------------------

def check_load(soak: Soak, n: int) -> None:
    """Checks for random seeded subjects, as fast as answers come."""
    rng = random.Random(n)
    browser = Browser()
    while soak.running():
        soak.check(browser, ref_of(rng.randint(1, soak.subjects)))


def change_load(soak: Soak) -> None:
    """Signed-in people withdraw and give again; the very next check must agree."""
    people = []
    for email, ref in soak.accounts:
        browser = Browser()
        r = browser.submit(soak.portal, "/account/sign-in", {"email": email,
                                                              "password": PASSWORD})
        soak.changes.add(r.status, 0.0)
        if r.status != 302 or not r.headers.get("location", "").endswith("/my"):
            soak.changes.problem(f"sign-in for {email} answered {r.status}")
            continue
        # Start from a known state: the consent given.
        browser.submit(soak.portal, f"/my/consents/{soak.notice_id}/give")
        people.append((browser, ref))
    if not people:
        return
    step = 0
    while soak.running():
        browser, ref = people[step % len(people)]
        action = "withdraw" if (step // len(people)) % 2 == 0 else "give"
        step += 1
        t0 = time.monotonic()
        try:
            r = browser.submit(soak.portal, f"/my/consents/{soak.notice_id}/{action}")
        except OSError as exc:
            soak.changes.problem(f"{action}: {exc!r}")
            continue
        soak.changes.add(r.status, (time.monotonic() - t0) * 1000)
        if r.status != 302 or not r.headers.get("location", "").endswith(f"/{action}/done"):
            soak.changes.problem(f"{action} for {ref} answered {r.status} "
                                 f"{r.headers.get('location', '')}")
            continue
        answer = soak.check(Browser(), ref)
        if answer is None:
            continue
        with soak.lock:
            if action == "withdraw":
                soak.withdrawals += 1
                if answer["decision"] != "deny":
                    soak.stale_permits += 1
                    soak.changes.problem(f"a check after withdrawing {ref} said "
                                         f"{answer['decision']}")
            else:
                soak.gives += 1
        time.sleep(soak.change_pause)


def page_load(soak: Soak) -> None:
    """Public pages, and a signed-in person's own pages."""
    rng = random.Random(7)
    anonymous = Browser()
    person = Browser()
    email, _ref = soak.accounts[-1]
    person.submit(soak.portal, "/account/sign-in", {"email": email, "password": PASSWORD})
    while soak.running():
        if rng.random() < 0.7:
            browser, path = anonymous, rng.choice(PUBLIC_PAGES)
        else:
            browser, path = person, rng.choice(["/my", "/my/consents", "/my/records"])
        t0 = time.monotonic()
        try:
            r = browser.get(soak.portal, path)
        except OSError as exc:
            soak.pages.problem(f"{path}: {exc!r}")
            continue
        soak.pages.add(r.status, (time.monotonic() - t0) * 1000)
        if r.status != 200:
            soak.pages.problem(f"{path} answered {r.status}")
        time.sleep(0.05)


def sar_load(soak: Soak, queue_bundle: Callable[[str], bool]) -> None:
    """An agency's system works through its SAR tasks; answered requests get a bundle."""
    browser = Browser()
    auth = {"Authorization": f"Bearer {soak.sar_key}", "Content-Type": "application/json"}
    last_queue = time.monotonic()
    supplied: list[str] = []

    def call(method: str, path: str, body: Any = None) -> Any:
        t0 = time.monotonic()
        r = browser.request(soak.portal, method, path, headers=auth,
                            body=json.dumps(body).encode() if body is not None else None)
        soak.sar.add(r.status, (time.monotonic() - t0) * 1000)
        if r.status not in (200, 201):
            soak.sar.problem(f"{method} {path} answered {r.status}: {r.body[:200]}")
            return None
        return r.json()

    while soak.running():
        try:
            listed = call("GET", "/api/v1/sar/tasks")
            tasks = (listed or {}).get("tasks", [])
            if tasks:
                task = call("GET", f"/api/v1/sar/tasks/{tasks[0]['id']}")
                if task is not None:
                    records = [{"id": f"R-{uuid.uuid4().hex[:8]}", "kind": "note",
                                "title": f"Case note {i}", "text": "Soak record. " * 20,
                                "date": "2026-10-01"} for i in range(3)]
                    done = call("POST", f"/api/v1/sar/tasks/{task['id']}/records",
                                {"records": records})
                    if done is not None:
                        with soak.lock:
                            soak.records_supplied += len(records)
                        supplied.append(task["request_reference"])
            if supplied and time.monotonic() - last_queue > 20:
                last_queue = time.monotonic()
                if queue_bundle(supplied.pop(0)):
                    with soak.lock:
                        soak.bundles_queued += 1
        except OSError as exc:
            soak.sar.problem(f"SAR step: {exc!r}")
        time.sleep(0.5)


# --- Memory -----------------------------------------------------------------------------

def children(pid: int) -> list[int]:
    """The direct children of a process (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command may contain spaces and parentheses: fields start after the last ')'.
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[1]) == pid:
            found.append(int(entry.name))
    return sorted(found)


def rss_mb(pid: int) -> float | None:
    """Resident memory of a process in MB, or None if it has gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


@dataclass
class Memory:
    """RSS samples per process: (seconds since start, MB)."""

    samples: dict[str, list[tuple[float, float]]] = field(default_factory=dict)

    def sample(self, t: float, processes: dict[str, int]) -> None:
        """Record every process's RSS now."""
        for name, pid in processes.items():
            mb = rss_mb(pid)
            if mb is not None:
                self.samples.setdefault(name, []).append((round(t, 1), round(mb, 1)))

    def judge(self, duration: float) -> dict[str, Any]:
        """First minute after warm-up against the last minute, and the fitted slope."""
        warmup = min(60.0, duration / 4)
        window = min(60.0, (duration - warmup) / 2)
        out: dict[str, Any] = {"warmup_s": warmup, "window_s": window, "processes": {},
                               "bound": f"growth <= {GROWTH_MB} MB per process after warm-up; "
                                        f"slope <= {SLOPE_MB_PER_MIN} MB/min when judged over "
                                        f">= {SLOPE_SPAN_S:.0f} s"}
        flat = True
        for name, points in self.samples.items():
            after = [(t, mb) for t, mb in points if t >= warmup]
            first = [mb for t, mb in after if t < warmup + window]
            last = [mb for t, mb in after if t >= duration - window]
            if len(after) < 2 or not first or not last:
                out["processes"][name] = {"samples": len(points), "judged": False}
                continue
            growth = sum(last) / len(last) - sum(first) / len(first)
            slope = _slope(after) * 60
            # A slope fitted to a few minutes of samples is mostly noise: it is judged only
            # when the run after warm-up is long enough to show a trend (the 10-minute soak).
            span = after[-1][0] - after[0][0]
            ok = growth <= GROWTH_MB and (span < SLOPE_SPAN_S or slope <= SLOPE_MB_PER_MIN)
            flat = flat and ok
            out["processes"][name] = {
                "samples": len(points), "start_mb": points[0][1], "end_mb": points[-1][1],
                "first_window_mb": round(sum(first) / len(first), 1),
                "last_window_mb": round(sum(last) / len(last), 1),
                "growth_mb": round(growth, 1), "slope_mb_per_min": round(slope, 2),
                "flat": ok}
        out["flat"] = flat and any(p.get("judged", True) for p in out["processes"].values())
        return out


def _slope(points: list[tuple[float, float]]) -> float:
    n = len(points)
    mean_t = sum(t for t, _ in points) / n
    mean_m = sum(m for _, m in points) / n
    var = sum((t - mean_t) ** 2 for t, _ in points)
    return sum((t - mean_t) * (m - mean_m) for t, m in points) / var if var else 0.0


# --- Setup ------------------------------------------------------------------------------

def arrange(url: str, subjects: int, sars: int) -> dict[str, Any]:
    """Accounts linked to seeded subjects, SAR requests with tasks, and a SAR API key."""
    import pyotp

    from consent.models import Notice
    from portal.audit import Actor
    from portal.database import make_sessionmaker, transaction, utcnow
    from portal.identity.models import Account, Role, StaffUser
    from portal.identity.passwords import hash_password
    from portal.reference import operations
    from portal.reference.models import Holding
    from sar import operations as sar_ops

    system = Actor("system", "soak")
    engine = bc.bench_engine(url)
    try:
        with transaction(make_sessionmaker(engine)) as session:
            _client, sar_key = apikeys.create_api_key(session, "fenshire-police",
                                                         ["sar:supply"], actor=system)
            police = operations.agency_by_slug(session, "fenshire-police")
            staff = StaffUser(agency_id=police.id, email="soak-officer@fenshire-police.example",
                              name="Soak Officer", password_hash=hash_password(PASSWORD),
                              totp_secret=pyotp.random_base32(), totp_confirmed_at=utcnow(),
                              roles=Role.SAR_OFFICER)
            session.add(staff)
            notice_id = session.scalar(select(Notice.id).where(
                Notice.slug == "victim-support-referral"))
            hashed = hash_password(PASSWORD)
            accounts = []
            for n in range(1, ACCOUNTS + 1):
                ref = ref_of(n)
                subject_id = session.scalar(select(Holding.subject_id)
                                            .where(Holding.agency_ref == ref))
                email = f"soak-{n}@example.org"
                session.add(Account(email=email, password_hash=hashed, subject_id=subject_id,
                                    email_verified_at=utcnow()))
                accounts.append((email, ref))
            session.flush()
            today = dt.date.today()
            for n in range(sars):
                ref = ref_of(subjects - n)
                subject_id = session.scalar(select(Holding.subject_id)
                                            .where(Holding.agency_ref == ref))
                assert subject_id is not None
                new = sar_ops.NewRequest(requester_name=f"Soak Person {n}",
                                         requester_email=f"soak-sar-{n}@example.org",
                                         subject_name=f"Soak Person {n}",
                                         identity_method="in-person", channel="phone")
                sar = sar_ops.file_request(session, new, actor=system, today=today)
                sar_ops.verify_identity(session, sar, subject_id=subject_id,
                                        staff_id=staff.id, method="in-person", today=today,
                                        actor=system)
            staff_id = staff.id
    finally:
        engine.dispose()
    return {"sar_key": sar_key, "accounts": accounts, "notice_id": notice_id,
            "staff_id": staff_id}


def bundle_queuer(url: str, staff_id: int) -> tuple[Callable[[str], bool], Callable[[], None]]:
    """A function that queues a bundle for a request (the SAR officer's step), and a closer."""
    from portal.audit import Actor
    from portal.database import make_sessionmaker, transaction
    from sar import operations as sar_ops

    engine = bc.bench_engine(url)
    factory = make_sessionmaker(engine)
    actor = Actor("staff", str(staff_id), None)

    def queue(reference: str) -> bool:
        try:
            with transaction(factory) as session:
                sar = sar_ops.by_reference(session, reference)
                sar_ops.request_bundle(session, sar, staff_id=staff_id, actor=actor)
        except Exception as exc:  # noqa: BLE001 - reported in the summary, the soak goes on
            bc.log(f"could not queue a bundle for {reference}: {exc!r}")
            return False
        return True

    return queue, engine.dispose


def bundle_states(url: str) -> dict[str, int]:
    """How many bundles ended in each state."""
    from sqlalchemy import func

    from portal.database import make_sessionmaker, transaction
    from sar.models import SarBundle

    engine = bc.bench_engine(url)
    try:
        with transaction(make_sessionmaker(engine)) as session:
            rows = session.execute(select(SarBundle.state, func.count())
                                   .group_by(SarBundle.state)).all()
    finally:
        engine.dispose()
    return {str(state): int(count) for state, count in rows}


# --- The run ----------------------------------------------------------------------------------

def run(args: argparse.Namespace) -> dict[str, Any]:
    """Seed, serve, load, sample, verify."""
    duration = args.minutes * 60
    version = bc.source_version()
    bc.log(f"soak: {args.minutes} min on PostgreSQL ({SOAK_DB}), {args.subjects:,} subjects, "
           f"{args.events:,} events; commit {version['commit']}")
    url = bc.fresh_database("postgresql", SOAK_DB)
    seeded = bc.build("postgresql", url, args.subjects, args.events, args.seed)
    settings = bc.durability("postgresql", url)
    if settings["synchronous_commit"] != "on":
        raise RuntimeError("synchronous_commit is not on: the figures would not be durable")
    sars = max(20, int(SARS_PER_MINUTE * args.minutes))
    arranged = arrange(url, args.subjects, sars)
    bc.log(f"arranged {ACCOUNTS} signed-up people and {sars} SAR requests with their tasks")
    instance = bc.DATA / "soak-instance"
    instance.mkdir(parents=True, exist_ok=True)
    secret = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(40))
    port = bc.free_port(set())
    env = bc.clean_env({
        "PORTAL_ENV": "production", "PORTAL_SECRET_KEY": secret,
        "PORTAL_DATABASE_URL": url, "PORTAL_INSTANCE_PATH": str(instance),
        "PORTAL_RECEIPT_SIGNING_KEY": bc.receipt_signing_key(),
        "PORTAL_REDIS_URL": bc.REDIS_URL, "PORTAL_RATELIMIT_KEY_PREFIX": f"soak-{args.started_at}",
        "PORTAL_LOG_LEVEL": "WARNING", "PORTAL_BIND": f"127.0.0.1:{port}",
        # Workers are not recycled during a soak: recycling would hide a leak.
        "GUNICORN_CMD_ARGS": "--max-requests 0"})
    memory = Memory()
    queue_bundle, close_queuer = bundle_queuer(url, arranged["staff_id"])
    sar_worker: subprocess.Popen[bytes] | None = None
    with bc.serving() as servers:
        servers.append(bc.start_server("soak-portal", "portal.wsgi:app", port, env))
        portal = servers[0]
        worker_log = (bc.DATA / "soak-sar-worker.log").open("wb")
        sar_worker = subprocess.Popen(
            [str(Path(bc.gunicorn_bin()).parent / "flask"), "--app", "portal.wsgi:app",
             "sar", "worker"], cwd=bc.ROOT, env=env, stdout=worker_log,
            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        workers = children(portal.proc.pid)
        bc.log(f"serving on :{port} with {len(workers)} gunicorn workers "
               f"(pids {workers}); SAR worker pid {sar_worker.pid}")
        bc.smoke(port, seeded.key)
        started = time.monotonic()
        soak = Soak(portal=portal, check_key=seeded.key, sar_key=arranged["sar_key"],
                    subjects=args.subjects, deadline=started + duration, url=url,
                    accounts=arranged["accounts"], notice_id=arranged["notice_id"],
                    change_pause=args.change_pause)
        threads = [threading.Thread(target=check_load, args=(soak, n), daemon=True)
                   for n in range(CHECK_THREADS)]
        threads += [threading.Thread(target=change_load, args=(soak,), daemon=True),
                    threading.Thread(target=page_load, args=(soak,), daemon=True),
                    threading.Thread(target=sar_load, args=(soak, queue_bundle), daemon=True)]
        for t in threads:
            t.start()
        restarts: set[int] = set()
        while soak.running():
            now = time.monotonic() - started
            current = children(portal.proc.pid)
            restarts |= set(current) - set(workers)
            processes = {f"gunicorn-worker-{i}": pid for i, pid in enumerate(workers)}
            processes["sar-worker"] = sar_worker.pid
            memory.sample(now, processes)
            if int(now) % 60 < SAMPLE_S:
                bc.log(f"  {now:5.0f} s: {soak.answered_checks:,} checks answered, "
                       f"{soak.withdrawals + soak.gives} consent changes, "
                       f"{sum(soak.pages.statuses.values())} pages, "
                       f"{soak.records_supplied} SAR records supplied")
            time.sleep(min(SAMPLE_S, max(0.0, soak.deadline - time.monotonic())))
        memory.sample(time.monotonic() - started,
                      {**{f"gunicorn-worker-{i}": pid for i, pid in enumerate(workers)},
                       "sar-worker": sar_worker.pid})
        for t in threads:
            t.join(timeout=60)
        elapsed = time.monotonic() - started
        # Give the SAR worker a moment to finish the bundle it is on.
        time.sleep(5)
        stop_group(sar_worker)
        worker_log.close()
    close_queuer()
    bc.log("servers stopped; verifying")
    audit_result = bc.verify_audit(url)
    audit_result["answered_checks_seen_by_clients"] = soak.answered_checks
    audit_result["every_answer_recorded"] = audit_result["check_decisions"] >= soak.answered_checks
    mem = memory.judge(elapsed)
    summary = {
        "kind": "soak", "started_at": args.started_at, "source": version,
        "minutes": args.minutes, "elapsed_s": round(elapsed, 1),
        "subjects": args.subjects, "events": args.events, "durability": settings,
        "machine": {"cpus": os.cpu_count(), "load_avg_at_end": os.getloadavg()},
        "checks": {**soak.checks.as_json(), "answered": soak.answered_checks,
                   "permits": soak.permits,
                   "per_s": round(soak.answered_checks / elapsed, 1) if elapsed else None},
        "consent_changes": {**soak.changes.as_json(), "withdrawals": soak.withdrawals,
                            "gives": soak.gives, "stale_permits": soak.stale_permits},
        "pages": soak.pages.as_json(),
        "sar": {**soak.sar.as_json(), "records_supplied": soak.records_supplied,
                "bundles_queued": soak.bundles_queued, "bundles": bundle_states(url)},
        "workers_restarted": sorted(restarts),
        "memory": mem, "audit": audit_result,
    }
    summary["verdict"] = verdict(summary)
    return summary


def stop_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM a process group, then SIGKILL it if it lingers."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
    except ProcessLookupError:
        return
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def verdict(s: dict[str, Any]) -> dict[str, Any]:
    """Each pass condition and whether it held."""
    a = s["audit"]
    bad_checks = sum(v for k, v in s["checks"]["statuses"].items() if k != "200")
    sar_bad = sum(v for k, v in s["sar"]["statuses"].items() if k not in ("200", "201"))
    page_bad = sum(v for k, v in s["pages"]["statuses"].items() if k != "200")
    conditions = {
        "every_answered_check_recorded": bool(a["every_answer_recorded"] and a["counts_equal"]),
        "audit_chain_verifies": bool(a["chain_ok"]),
        "decisions_match_their_entries": bool(a["decisions_match_entries"]),
        "no_stale_permit_after_withdrawal": s["consent_changes"]["stale_permits"] == 0,
        "consent_changes_made": s["consent_changes"]["withdrawals"] > 0,
        "no_failed_checks": bad_checks == 0,
        "no_failed_pages_or_sar_steps": page_bad == 0 and sar_bad == 0,
        "memory_flat": bool(s["memory"]["flat"]),
        "no_worker_restarted": not s["workers_restarted"],
    }
    return {"conditions": conditions, "passed": all(conditions.values())}


def render(s: dict[str, Any]) -> str:
    """The human summary."""
    c, ch, p, sar, a, m = (s["checks"], s["consent_changes"], s["pages"], s["sar"],
                           s["audit"], s["memory"])
    mem_rows = [f"{name}: {v.get('first_window_mb')} -> {v.get('last_window_mb')} MB "
                f"(growth {v.get('growth_mb')} MB, slope {v.get('slope_mb_per_min')} MB/min, "
                f"{'flat' if v.get('flat') else 'NOT FLAT'})"
                for name, v in m["processes"].items()]
    load = ", ".join(f"{x:.1f}" for x in s["machine"]["load_avg_at_end"])
    rows = [
        ("run", f"{s['minutes']} min ({s['elapsed_s']} s), commit {s['source']['commit']}, "
                f"{s['subjects']:,} subjects, {s['events']:,} events, load avg at end {load}"),
        ("checks", f"{c['answered']:,} answered ({c['per_s']}/s), statuses {c['statuses']}, "
                   f"p50 {c['p50_ms']} ms, p99 {c['p99_ms']} ms"),
        ("consent changes", f"{ch['withdrawals']} withdrawals, {ch['gives']} gives, "
                            f"stale permits {ch['stale_permits']}, p50 {ch['p50_ms']} ms"),
        ("pages", f"{p['requests']:,} views, statuses {p['statuses']}, p50 {p['p50_ms']} ms, "
                  f"p99 {p['p99_ms']} ms"),
        ("SAR", f"{sar['requests']} API calls {sar['statuses']}, {sar['records_supplied']} "
                f"records supplied, {sar['bundles_queued']} bundles queued, states "
                f"{sar['bundles']}"),
        ("audit", f"{a['check_decisions']:,} decisions, {a['audit_consent_check']:,} "
                  f"consent.check entries, {a['decisions_linked_to_their_entry']:,} linked, "
                  f">= {a['answered_checks_seen_by_clients']:,} answered; chain "
                  f"{'intact' if a['chain_ok'] else 'BROKEN: ' + str(a['problem'])} "
                  f"({a['chain_entries']:,} entries)"),
        ("memory (RSS)", f"warm-up {m['warmup_s']:.0f} s, windows of {m['window_s']:.0f} s; "
                         f"{m['bound']}"),
        *(("", row) for row in mem_rows),
        ("verdict", ", ".join(f"{k}: {'ok' if v else 'FAILED'}"
                              for k, v in s["verdict"]["conditions"].items())),
    ]
    width = max(len(k) for k, _ in rows)
    line = "-" * 100
    return "\n".join([line, *(f"{k.ljust(width)}  {v}" for k, v in rows), line])


def main(argv: list[str] | None = None) -> int:
    """Run the soak once."""
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0,
                        help="how long to load (default 10; 2 for a quick trial)")
    parser.add_argument("--subjects", type=int, default=20_000)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--change-pause", type=float, default=0.2, metavar="SECONDS",
                        help="pause after each consent change and its check (default 0.2; "
                             "0.02 makes about ten times as many changes, which is how the "
                             "CPython 3.11.7 crash was reproduced in minutes)")
    args = parser.parse_args(argv)
    if not 0.5 <= args.minutes <= 120:
        parser.error("--minutes must be from 0.5 to 120")
    if args.subjects < 1000 or args.events > 30 * args.subjects:
        parser.error("need at least 1,000 subjects and at most 30 events per subject")
    args.started_at = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    signal.signal(signal.SIGTERM, bc._raise_on_sigterm)
    bc.RESULTS.mkdir(parents=True, exist_ok=True)
    try:
        summary = run(args)
    except Exception as exc:  # noqa: BLE001 - reported, exit code 2
        bc.log(f"soak FAILED to run: {exc!r}")
        traceback.print_exc()
        return 2
    out = bc.RESULTS / f"soak-{args.started_at}.json"
    out.write_text(json.dumps(summary, indent=2, default=str) + "\n")
    print(render(summary), flush=True)
    bc.log(f"results written to {out.relative_to(bc.ROOT)}")
    return 0 if summary["verdict"]["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
