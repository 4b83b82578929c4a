"""CPU per consent check in-process: the portal's WSGI app called directly, no HTTP, no gunicorn.

    python -m bench.check_cpu --db sqlite|postgresql [--subjects N] [--events M] [--checks K]

Uses the database `python -m bench.check` seeded at the same scale (run it first; the quick
scale is the default here) and its API key. Each check is a real one: read, decide, audit entry
and decision committed. It prints the CPU time per check (`time.process_time()`: this process
only, so a PostgreSQL server's own work is not counted) and the wall time, and the same for the
yardstick route for comparison. It measures the app's own cost, which the HTTP benchmark cannot
separate from gunicorn's, wrk's and the machine's noise; use it to compare commits.
"""

from __future__ import annotations

import argparse
import gc
import io
import json
import os
import random
import secrets
import sys
import time
from collections.abc import Callable
from typing import Any

from bench import check

Environ = dict[str, Any]


def _environ(path: str, body: bytes = b"", key: str | None = None) -> Environ:
    from werkzeug.test import EnvironBuilder

    if key is None:
        environ: Environ = EnvironBuilder(path=path, method="GET").get_environ()
    else:
        environ = EnvironBuilder(path=path, method="POST", data=body, headers=[
            ("Authorization", f"Bearer {key}"), ("Content-Type", "application/json")]
        ).get_environ()
    environ["bench.body"] = body
    return environ


def _call(app: Callable[..., Any], environ: Environ) -> str:
    statuses: list[str] = []
    environ = dict(environ, **{"wsgi.input": io.BytesIO(environ["bench.body"])})
    body = app(environ, lambda status, _headers, _exc=None: statuses.append(status))
    try:
        b"".join(body)
    finally:
        getattr(body, "close", lambda: None)()  # runs what the app does after sending
    return statuses[0]


def measure(app: Callable[..., Any], environs: list[Environ], warmup: int) -> tuple[float, float]:
    """(CPU ms, wall ms) per call, after ``warmup`` calls and with start-up objects frozen."""
    for environ in environs[:warmup]:
        _call(app, environ)
    gc.collect()
    gc.freeze()  # as gunicorn.conf.py does in each worker
    calls = environs[warmup:]
    cpu, wall = time.process_time(), time.perf_counter()
    for environ in calls:
        status = _call(app, environ)
        if not status.startswith("200"):
            raise RuntimeError(f"a check answered {status}")
    return ((time.process_time() - cpu) / len(calls) * 1000,
            (time.perf_counter() - wall) / len(calls) * 1000)


def main(argv: list[str] | None = None) -> int:
    """Measure and print the CPU and wall time per check and per yardstick call."""
    parser = argparse.ArgumentParser(prog="python -m bench.check_cpu", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=("sqlite", "postgresql"), required=True)
    parser.add_argument("--subjects", type=int, default=20_000)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--checks", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    if (args.subjects, args.events) != (1_000_000, 5_000_000):
        check.SQLITE_PATH = check.DATA / f"bench-{args.subjects}-{args.events}.sqlite3"
        check.PG_DB = f"portal_bench_{args.subjects}_{args.events}"
    record = check._seed_record(args.db)
    if not record.exists():
        parser.error(f"no seeded database at this scale ({record.name}): run "
                     f"python -m bench.check --db {args.db} --subjects {args.subjects} "
                     f"--events {args.events} first")
    saved = json.loads(record.read_text())
    os.environ.update(PORTAL_DATABASE_URL=saved["url"], PORTAL_ENV="development",
                      PORTAL_DEBUG="0", PORTAL_LOG_LEVEL="WARNING",
                      PORTAL_SECRET_KEY=secrets.token_urlsafe(32))

    from bench import yardstick
    from portal.app import create_app

    app = create_app()
    rng = random.Random(args.seed)
    warmup = min(200, args.checks)
    environs = [_environ(check.CHECK_PATH, json.dumps({
        "subject": {"agency_ref": f"BENCH-{rng.randint(1, args.subjects):07d}"},
        "recipient": check.RECIPIENT, "purpose": check.PURPOSE,
        "categories": check.CATEGORIES}).encode(), saved["key"])
        for _ in range(args.checks + warmup)]
    cpu, wall = measure(app, environs, warmup)
    gc.unfreeze()
    yard = yardstick.app
    y_environs = [_environ("/") for _ in range(args.checks + warmup)]
    y_cpu, y_wall = measure(yard, y_environs, warmup)
    print(f"{args.db}, {args.subjects:,} subjects, {args.checks:,} checks, "
          f"Python {sys.version.split()[0]}")
    print(f"  consent check: {cpu:.3f} ms CPU, {wall:.3f} ms wall per check")
    print(f"  yardstick:     {y_cpu:.3f} ms CPU, {y_wall:.3f} ms wall per call")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
