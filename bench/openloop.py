"""An open-loop load generator: requests offered at a fixed rate, whatever the answers do.

    python -m bench.openloop URL [--rate 200] [--duration 10] [--check-subjects N]

Request i is scheduled at ``start + i / rate`` on the monotonic clock and sent then, on an idle
keep-alive connection or a new one, however many earlier requests are still unanswered (no
coordinated omission: a slow answer does not delay the next request). Each latency is measured
from the request's **scheduled** send time to the last byte of its answer, so that any lateness
of the generator itself (the event loop waking late, a new connection's handshake) counts
against the server rather than hiding its queueing. The send lag (actual dispatch minus
scheduled time) is reported too: it is the generator's own error.

gunicorn's sync workers close the connection after every answer (``Connection: close``), so
against them each request opens its own connection at its send time; connections are never
opened ahead, because a sync worker that accepts an idle connection waits on it and serves
nothing else.

With ``--check-subjects N`` each request is a consent check (``POST /api/v1/consent/check``)
for a random subject ``BENCH-0000001`` .. ``BENCH-<N>``, with the API key read from the
environment variable ``BENCH_API_KEY``; otherwise each request is a ``GET`` of the URL.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import selectors
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

# A request unanswered after this long is abandoned and counted as an error, with this as its
# latency (wrk's --timeout in the closed-loop runs is the same).
TIMEOUT_S = 10.0
# In-flight requests beyond this wait in the generator for a connection; their wait still
# counts in their latency, which runs from the scheduled time.
MAX_CONNECTIONS = 256
PERMIT_MARK = b'"decision":"permit","decision_id"'


@dataclass
class OpenLoopResult:
    """What one open-loop run measured."""

    rate: float
    duration_s: float
    scheduled: int = 0
    sent: int = 0
    answered_200: int = 0
    non200: int = 0
    errors: int = 0  # no HTTP answer (refused, reset, timed out)
    permits: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    connections_opened: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    # The second of the schedule each latency belongs to, in the same order: a stall shows as
    # the seconds it lasted rather than as a p99 alone.
    seconds_of: list[int] = field(default_factory=list)
    lags_ms: list[float] = field(default_factory=list)
    first_dispatch: float = 0.0
    last_dispatch: float = 0.0

    @property
    def offered_rate(self) -> float:
        """Requests per second as they actually left the generator."""
        span = self.last_dispatch - self.first_dispatch
        return (self.sent - 1) / span if self.sent > 1 and span > 0 else 0.0

    def as_json(self) -> dict[str, Any]:
        """For the results file."""
        lat, lag = sorted(self.latencies_ms), sorted(self.lags_ms)
        return {"target_rate": self.rate, "duration_s": self.duration_s,
                "scheduled": self.scheduled, "sent": self.sent,
                "offered_rate": round(self.offered_rate, 2),
                "answered_200": self.answered_200, "non200": self.non200,
                "errors": self.errors, "statuses": {str(k): v for k, v in self.statuses.items()},
                "permits": self.permits, "connections_opened": self.connections_opened,
                "p50_ms": percentile(lat, 50), "p95_ms": percentile(lat, 95),
                "p99_ms": percentile(lat, 99), "max_ms": round(lat[-1], 3) if lat else None,
                "send_lag_p99_ms": percentile(lag, 99),
                "send_lag_max_ms": round(lag[-1], 3) if lag else None,
                "per_second": self.per_second()}

    def per_second(self) -> list[dict[str, Any]]:
        """p50, p99 and max latency of the requests scheduled in each second of the run."""
        buckets: dict[int, list[float]] = {}
        for second, ms in zip(self.seconds_of, self.latencies_ms, strict=True):
            buckets.setdefault(second, []).append(ms)
        out = []
        for second in sorted(buckets):
            lat = sorted(buckets[second])
            out.append({"second": second, "requests": len(lat), "p50_ms": percentile(lat, 50),
                        "p99_ms": percentile(lat, 99), "max_ms": round(lat[-1], 3)})
        return out


def percentile(ordered: list[float], pct: float) -> float | None:
    """The nearest-rank percentile of an ascending list (None when empty)."""
    if not ordered:
        return None
    rank = max(1, -(-len(ordered) * pct // 100))  # ceil(n * pct / 100), at least 1
    return round(ordered[int(rank) - 1], 3)


RequestFactory = Callable[[int], bytes]


def get_request(host: str, path: str) -> RequestFactory:
    """``GET path`` every time."""
    raw = (f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAccept: */*\r\n\r\n").encode()
    return lambda _i: raw


def check_request(host: str, path: str, key: str, subjects: int, seed: int = 7
                  ) -> RequestFactory:
    """A consent check for a random seeded subject each time (as bench/check.lua asks)."""
    rng = random.Random(seed)
    head = (f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"Authorization: Bearer {key}\r\n")

    def make(_i: int) -> bytes:
        ref = f"BENCH-{rng.randint(1, subjects):07d}"
        body = ('{"subject":{"agency_ref":"' + ref + '"},"recipient":"victim-care",'
                '"purpose":"victim-support-referral",'
                '"categories":["contact-details","incident-report"]}').encode()
        return head.encode() + f"Content-Length: {len(body)}\r\n\r\n".encode() + body

    return make


async def _read_answer(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    """One HTTP/1.1 answer: (status, body, whether the connection may be reused)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip().lower()
    keep = headers.get("connection") != "close" and lines[0].startswith("HTTP/1.1")
    if "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding") == "chunked":
        parts = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await reader.readuntil(b"\r\n")  # no trailers expected
                break
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)
        body = b"".join(parts)
    else:
        body, keep = await reader.read(), False
    return status, body, keep


async def _offer(host: str, port: int, make: RequestFactory, rate: float, duration: float
                 ) -> OpenLoopResult:
    loop = asyncio.get_running_loop()
    result = OpenLoopResult(rate=rate, duration_s=duration)
    n = int(rate * duration)
    result.scheduled = n
    idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    slots = asyncio.Semaphore(MAX_CONNECTIONS)

    async def exchange(request: bytes) -> tuple[int, bytes]:
        async with slots:
            while True:
                reused = bool(idle)
                if reused:
                    reader, writer = idle.pop()
                else:
                    reader, writer = await asyncio.open_connection(host, port)
                    result.connections_opened += 1
                try:
                    writer.write(request)
                    status, body, keep = await _read_answer(reader)
                except (asyncio.IncompleteReadError, ConnectionError):
                    writer.close()
                    if reused:
                        # The server closed an idle keep-alive connection before answering:
                        # send again on a new one (the latency still runs from the schedule).
                        continue
                    raise
                except BaseException:  # a timeout's cancellation: never reuse a half-read
                    writer.close()
                    raise
                if keep:
                    idle.append((reader, writer))
                else:
                    writer.close()
                return status, body

    async def one(scheduled: float, request: bytes) -> None:
        second = int(scheduled - start)
        try:
            status, body = await asyncio.wait_for(
                exchange(request), timeout=max(0.001, scheduled + TIMEOUT_S - loop.time()))
        except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError, IndexError):
            result.errors += 1
            result.latencies_ms.append((loop.time() - scheduled) * 1000)
            result.seconds_of.append(second)
            return
        result.latencies_ms.append((loop.time() - scheduled) * 1000)
        result.seconds_of.append(second)
        result.statuses[status] = result.statuses.get(status, 0) + 1
        if status == 200:
            result.answered_200 += 1
            result.permits += PERMIT_MARK in body
        else:
            result.non200 += 1

    tasks: set[asyncio.Task[None]] = set()
    start = loop.time() + 0.05
    for i in range(n):
        scheduled = start + i / rate
        request = make(i)  # built before the send time, not after it
        delay = scheduled - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        now = loop.time()
        if i == 0:
            result.first_dispatch = now
        result.last_dispatch = now
        result.lags_ms.append((now - scheduled) * 1000)
        result.sent += 1
        task = loop.create_task(one(scheduled, request))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:
        await asyncio.wait(set(tasks), timeout=TIMEOUT_S + 5)
    for task in list(tasks):  # past every request's own timeout: nothing should be left
        task.cancel()
    for reader_writer in idle:
        reader_writer[1].close()
    return result


def run_open_loop(url: str, rate: float, duration: float, *, check_key: str | None = None,
                  check_subjects: int = 0) -> OpenLoopResult:
    """Offer requests to ``url`` at ``rate`` per second for ``duration`` seconds (consent checks
    when ``check_key`` is given, otherwise GETs), and return what was measured."""
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise ValueError(f"need an http:// URL, not {url!r}")
    host, port, path = parts.hostname, parts.port or 80, parts.path or "/"
    hostport = f"{host}:{port}"
    make = (check_request(hostport, path, check_key, check_subjects) if check_key
            else get_request(hostport, path))
    # A collection pausing the generator would show as the server's latency.
    gc.collect()
    gc.freeze()
    gc.disable()
    # select() sleeps to the microsecond; epoll and poll round every wait up to the next
    # millisecond, which would add up to 1 ms to each request's latency.
    loop = asyncio.SelectorEventLoop(selectors.SelectSelector())
    try:
        return loop.run_until_complete(_offer(host, port, make, rate, duration))
    finally:
        loop.close()
        gc.enable()
        gc.unfreeze()


def realtime() -> str:
    """Run this process under SCHED_FIFO if allowed, and say which policy it runs under.

    On a loaded machine an ordinary process that wakes for its next send waits for a core for
    up to several milliseconds (the p99 of a 5 ms sleep's lateness was 3 to 5 ms at a load
    average of 6 on 2 cores, 0.1 ms under SCHED_FIFO): that wait would be counted as the
    server's latency. The generator sleeps between sends and the kernel keeps 5% of every
    second for other work (sched_rt_runtime_us), so it cannot starve the server.
    """
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(10))
    except OSError as exc:
        return f"SCHED_OTHER (SCHED_FIFO refused: {exc.strerror})"
    return "SCHED_FIFO"


def main(argv: list[str] | None = None) -> int:
    """Offer load to one URL and print the figures as JSON."""
    parser = argparse.ArgumentParser(prog="python -m bench.openloop", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("url")
    parser.add_argument("--rate", type=float, default=200.0, help="requests per second")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds")
    parser.add_argument("--check-subjects", type=int, default=0,
                        help="send consent checks for subjects 1..N (key in BENCH_API_KEY)")
    parser.add_argument("--no-realtime", dest="realtime", action="store_false",
                        help="do not ask for SCHED_FIFO (see realtime())")
    args = parser.parse_args(argv)
    if not 0 < args.rate <= 5000 or not 0 < args.duration <= 600:
        parser.error("--rate must be in (0, 5000] and --duration in (0, 600]")
    key = None
    if args.check_subjects:
        key = os.environ.get("BENCH_API_KEY")
        if not key:
            parser.error("--check-subjects needs the API key in BENCH_API_KEY")
    policy = realtime() if args.realtime else "SCHED_OTHER"
    started = time.monotonic()
    result = run_open_loop(args.url, args.rate, args.duration, check_key=key,
                           check_subjects=args.check_subjects)
    out = result.as_json()
    out["wall_s"] = round(time.monotonic() - started, 2)
    out["scheduling"] = policy
    print(json.dumps(out, indent=2))
    return 0 if result.errors == 0 and result.non200 == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
