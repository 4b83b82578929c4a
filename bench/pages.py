"""The public pages' benchmark (DESIGN §7: server time p95 under 50 ms; page weight under
100 kB without images). Its own command, never part of the test suite.

    python -m bench.pages --db sqlite|postgresql|both [--rounds 20] [--clients 4]
                          [--checks-about 1000]

For each database: a fresh database with the project's migrations and the demo partnership, a
person signed up and linked to FP-DEMO-0004, and ``--checks-about`` consent checks about that
person made through the batch API (so that their "checks about me" page has something to
show). The portal is served with the repository's gunicorn.conf.py and gunicorn's access log
recording each request's own time (``%(D)s``: from the request read to the response written,
in the worker). Every public page and every one of the person's pages is then requested in
English, Welsh and Polish, ``--rounds`` times one at a time, and the same again by
``--clients`` browsers at once (the person signed in on each). Each page is also weighed
(``bench.weight``) as a browser that accepts gzip receives it. The server times come from the
access log; the summary is printed and saved to ``bench/results/pages-<db>-<time>.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import secrets
import statistics
import threading
import time
from pathlib import Path
from typing import Any

from sqlalchemy import select

from bench import check as bc
from bench.browser import Browser
from bench.weight import BROWSER_HEADERS, LIMIT_BYTES, PERSONAL_PAGES, PUBLIC_PAGES, weigh
from portal.reference import apikeys

PASSWORD = "pages-password-" + "x" * 12  # a synthetic account in a throwaway database
PERSON_REF = "FP-DEMO-0004"
LANGUAGES = ("en", "cy", "pl")
TARGET_P95_MS = 50.0
PG_DB = "portal_pages"  # never portal_bench or portal_soak: those may be in use
# The access log: the request line's path, the status, the request's time in microseconds.
ACCESS_FORMAT = "%(m)s %(U)s %(s)s %(D)s"
MARKER = "/healthz"


def arrange(url: str) -> dict[str, Any]:
    """Migrate, seed the demo partnership, an API key, and a person linked to a subject."""
    from consent import demo
    from consent.models import ConsentEvent
    from portal import migrate
    from portal.audit import Actor
    from portal.database import make_sessionmaker, transaction, utcnow
    from portal.identity.models import Account
    from portal.identity.passwords import hash_password
    from portal.reference.models import Holding

    engine = bc.bench_engine(url)
    try:
        migrate.upgrade(engine)
        with transaction(make_sessionmaker(engine)) as session:
            demo.seed(session)
            _client, key = apikeys.create_api_key(
                session, "fenshire-police", ["consent:check"], actor=Actor("system", "bench"))
            subject_id = session.scalar(select(Holding.subject_id)
                                        .where(Holding.agency_ref == PERSON_REF))
            notice_id = session.scalar(select(ConsentEvent.notice_id)
                                       .where(ConsentEvent.subject_id == subject_id).limit(1))
            email = "pages-person@example.org"
            session.add(Account(email=email, password_hash=hash_password(PASSWORD),
                                subject_id=subject_id, email_verified_at=utcnow()))
    finally:
        engine.dispose()
    return {"key": key, "notice_id": notice_id, "email": email}


def checks_about(port: int, key: str, count: int) -> None:
    """Ask ``count`` checks about the person through the batch API."""
    question = {"subject": {"agency_ref": PERSON_REF}, "recipient": bc.RECIPIENT,
                "purpose": bc.PURPOSE, "categories": bc.CATEGORIES}
    while count > 0:
        size = min(count, bc.BATCH_SIZE)
        status, raw = bc._post(port, bc.BATCH_PATH, key,
                               json.dumps({"questions": [question] * size}).encode())
        if status != 200:
            raise RuntimeError(f"the batch check answered {status}: {raw[:300]!r}")
        count -= size


def signed_in(server: bc.Server, email: str) -> Browser:
    """A browser with the person signed in."""
    person = Browser()
    person.submit(server, "/account/sign-in", {"email": email, "password": PASSWORD})
    if person.get(server, "/my").status != 200:
        raise RuntimeError(f"{email} could not sign in")
    return person


def pages(notice_id: int) -> list[tuple[bool, str]]:
    """(personal, path) for every page measured."""
    return [(False, p) for p in PUBLIC_PAGES] + \
        [(True, p.format(notice=notice_id)) for p in PERSONAL_PAGES]


def visit(server: bc.Server, anonymous: Browser, person: Browser,
          plan: list[tuple[bool, str]], rounds: int, problems: list[str]) -> None:
    """Every page in every language, ``rounds`` times, one request at a time."""
    for _ in range(rounds):
        for lang in LANGUAGES:
            for personal, path in plan:
                browser = person if personal else anonymous
                r = browser.get(server, f"{path}?lang={lang}", headers=BROWSER_HEADERS)
                if r.status != 200:
                    problems.append(f"{path}?lang={lang} answered {r.status}")


def _at_once(server: bc.Server, person: Browser, plan: list[tuple[bool, str]], rounds: int,
             clients: int, problems: list[str]) -> None:
    """``visit`` by several browsers at once; the person's with a copy of the signed-in
    cookies."""
    threads = [threading.Thread(target=visit, args=(
        server, Browser(), Browser(dict(person.cookies)), plan, rounds, problems))
        for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def read_log(path: Path) -> list[list[tuple[str, int, float]]]:
    """The access log's page requests (path, status, ms), split at each marker request."""
    phases: list[list[tuple[str, int, float]]] = [[]]
    for line in path.read_text(errors="replace").splitlines():
        parts = line.split()
        if len(parts) != 4 or parts[0] != "GET" or not parts[3].isdigit():
            continue
        _method, url, status, micros = parts
        if url == MARKER:
            phases.append([])
        elif not url.startswith("/static/"):
            phases[-1].append((url, int(status), int(micros) / 1000))
    return phases


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)], 2)


def summarise(times: list[tuple[str, int, float]], notice_id: int) -> dict[str, Any]:
    """Server time per page and overall (p50, p95, max in ms)."""
    per: dict[str, list[float]] = {}
    for url, _status, ms in times:
        per.setdefault(url.replace(f"/{notice_id}", "/{notice}"), []).append(ms)
    every = [ms for _u, _s, ms in times]
    return {
        "requests": len(every),
        "non200": sum(1 for _u, status, _ms in times if status != 200),
        "p50_ms": _p(every, 0.5) if every else None,
        "p95_ms": _p(every, 0.95) if every else None,
        "p99_ms": _p(every, 0.99) if every else None,
        "max_ms": round(max(every), 2) if every else None,
        "pages": {page: {"requests": len(v), "p50_ms": _p(v, 0.5), "p95_ms": _p(v, 0.95),
                         "max_ms": round(max(v), 2), "mean_ms": round(statistics.mean(v), 2)}
                  for page, v in sorted(per.items())},
    }


def run_one(kind: str, args: argparse.Namespace) -> dict[str, Any]:
    """The whole benchmark against one database."""
    bc.log(f"=== {kind}: public and personal pages ===")
    if kind == "sqlite":
        bc.SQLITE_PATH = bc.DATA / "pages.sqlite3"
    url = bc.fresh_database(kind, PG_DB)
    arranged = arrange(url)
    notice_id = arranged["notice_id"]
    if kind == "sqlite":
        portal_env = {"PORTAL_ENV": "development", "PORTAL_DEBUG": "0",
                      "PORTAL_SQLITE_SYNCHRONOUS": "FULL"}
    else:
        portal_env = {"PORTAL_ENV": "production", "PORTAL_REDIS_URL": bc.REDIS_URL,
                      "PORTAL_RATELIMIT_KEY_PREFIX": f"pages-{args.started_at}",
                      "PORTAL_RECEIPT_SIGNING_KEY": bc.receipt_signing_key()}
    access_log = bc.DATA / f"pages-{kind}-access.log"
    access_log.unlink(missing_ok=True)
    port = bc.free_port(set())
    env = bc.clean_env({
        **portal_env, "PORTAL_DATABASE_URL": url, "PORTAL_BIND": f"127.0.0.1:{port}",
        "PORTAL_SECRET_KEY": secrets.token_urlsafe(32), "PORTAL_LOG_LEVEL": "WARNING",
        "PORTAL_INSTANCE_PATH": str(bc.DATA / "instance"),
        "GUNICORN_CMD_ARGS": f"--access-logfile {access_log} "
                             f"--access-logformat '{ACCESS_FORMAT}'"})
    problems: list[str] = []
    plan = pages(notice_id)
    with bc.serving() as servers:
        servers.append(bc.start_server(f"pages-{kind}", "portal.wsgi:app", port, env))
        server = servers[0]
        checks_about(port, arranged["key"], args.checks_about)
        bc.log(f"served on :{port}; {args.checks_about:,} checks made about {PERSON_REF}")
        anonymous, person = Browser(), signed_in(server, arranged["email"])
        # Weights first (they also warm every page up once)
        weights = []
        for lang in LANGUAGES:
            for personal, path in plan:
                browser = person if personal else anonymous

                def fetch(p: str, b: Browser = browser) -> tuple[int, bytes, dict[str, str]]:
                    r = b.get(server, p, headers=BROWSER_HEADERS)
                    return r.status, r.sent, r.headers

                weights.append(weigh(fetch, f"{path}?lang={lang}"))
        # Warm-up, unmeasured: every worker renders every page in every language once or
        # more (each process compiles its templates on first use).
        _at_once(server, person, plan, 2, args.clients, problems)
        anonymous.get(server, MARKER)
        started = time.monotonic()
        visit(server, anonymous, person, plan, args.rounds, problems)
        bc.log(f"one at a time: {args.rounds} rounds in {time.monotonic() - started:.1f} s")
        anonymous.get(server, MARKER)
        started = time.monotonic()
        _at_once(server, person, plan, args.rounds, args.clients, problems)
        bc.log(f"{args.clients} at once: {args.rounds} rounds each in "
               f"{time.monotonic() - started:.1f} s")
    # Before the first marker: start-up, the weights and the warm-up.
    *_before, one_at_a_time, at_once = read_log(access_log)
    sequential, concurrent = summarise(one_at_a_time, notice_id), summarise(at_once, notice_id)
    heaviest = max(weights, key=lambda w: w.sent)
    summary: dict[str, Any] = {
        "database": kind, "started_at": args.started_at, "source": bc.source_version(),
        "app_env": {k: v for k, v in portal_env.items() if "KEY" not in k},
        "rounds": args.rounds, "clients": args.clients, "checks_about": args.checks_about,
        "one_at_a_time": sequential, "at_once": concurrent,
        "weights": [{"page": w.page, "sent": w.sent, "raw": w.raw, "html_sent": w.html_sent,
                     "assets": w.assets, "elsewhere": w.elsewhere} for w in weights],
        "heaviest": {"page": heaviest.page, "sent": heaviest.sent, "raw": heaviest.raw},
        "problems": problems[:20],
    }
    summary["targets"] = {
        "server_p95_ms": {"target": f"< {TARGET_P95_MS}", "value": sequential["p95_ms"],
                          "at_once": concurrent["p95_ms"],
                          "met": sequential["p95_ms"] is not None
                          and sequential["p95_ms"] < TARGET_P95_MS},
        "page_weight": {"target": f"< {LIMIT_BYTES:,} bytes", "value": heaviest.sent,
                        "met": heaviest.sent < LIMIT_BYTES
                        and not any(w.elsewhere for w in weights)},
        "every_page_200": {"met": not problems and sequential["non200"] == 0
                           and concurrent["non200"] == 0},
    }
    return summary


def render(s: dict[str, Any]) -> str:
    """The human summary for one database."""
    t, seq, con = s["targets"], s["one_at_a_time"], s["at_once"]
    lines = [f"database        {s['database']}",
             f"requests        {seq['requests']:,} one at a time, {con['requests']:,} by "
             f"{s['clients']} clients at once ({s['rounds']} rounds of every page in "
             f"{', '.join(LANGUAGES)})",
             f"server time     one at a time: p50 {seq['p50_ms']} ms, p95 {seq['p95_ms']} ms, "
             f"p99 {seq['p99_ms']} ms, max {seq['max_ms']} ms (target p95 < "
             f"{TARGET_P95_MS:.0f} ms: {'met' if t['server_p95_ms']['met'] else 'MISSED'})",
             f"                {s['clients']} at once: p50 {con['p50_ms']} ms, "
             f"p95 {con['p95_ms']} ms, p99 {con['p99_ms']} ms, max {con['max_ms']} ms",
             f"page weight     heaviest {s['heaviest']['page']}: {s['heaviest']['sent']:,} "
             f"bytes as sent ({s['heaviest']['raw']:,} uncompressed; target < "
             f"{LIMIT_BYTES:,}: {'met' if t['page_weight']['met'] else 'MISSED'})",
             f"answers         {'every page 200' if t['every_page_200']['met'] else 'NOT ALL 200'}"
             f"{'; ' + '; '.join(s['problems'][:3]) if s['problems'] else ''}",
             "slowest pages (one at a time, p95):"]
    slow = sorted(seq["pages"].items(), key=lambda kv: -kv[1]["p95_ms"])[:6]
    lines += [f"  {page:<40} p50 {v['p50_ms']:>6} ms  p95 {v['p95_ms']:>6} ms" for page, v in slow]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the pages benchmark on the chosen databases; 0 when every target was met."""
    parser = argparse.ArgumentParser(prog="python -m bench.pages", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--checks-about", type=int, default=1000)
    args = parser.parse_args(argv)
    if not 1 <= args.rounds <= 1000 or not 1 <= args.clients <= 16 or args.checks_about < 0:
        parser.error("--rounds must be 1 to 1000, --clients 1 to 16, --checks-about 0 or more")
    args.started_at = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    bc.RESULTS.mkdir(parents=True, exist_ok=True)
    met = True
    for kind in (["sqlite", "postgresql"] if args.db == "both" else [args.db]):
        summary = run_one(kind, args)
        out = bc.RESULTS / f"pages-{kind}-{args.started_at}.json"
        out.write_text(json.dumps(summary, indent=2))
        print("-" * 100)
        print(render(summary))
        print("-" * 100)
        bc.log(f"results written to {out.relative_to(bc.ROOT)}")
        met = met and all(v["met"] for v in summary["targets"].values())
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
