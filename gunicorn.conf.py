"""Production gunicorn settings; override any of them with GUNICORN_CMD_ARGS."""

import multiprocessing
import os
from typing import Any

bind = os.environ.get("PORTAL_BIND", "127.0.0.1:8000")
# Sync workers, 2 per core: each request is handled by one process, one at a time. Threads
# (gthread) let consent checks share group commits (consent/check/) and measured faster,
# but workers segfaulted in the PostgreSQL soak, more often with threads and also without: a
# memory-safety fault of CPython 3.11.7 itself (docs/performance.md; 3.12 soaked clean), and
# threads are not yet soaked on 3.12. PORTAL_THREADS above 1 selects gthread.
workers = int(os.environ.get("PORTAL_WORKERS", multiprocessing.cpu_count() * 2))
threads = int(os.environ.get("PORTAL_THREADS", 1))
worker_class = "gthread" if threads > 1 else "sync"
timeout = 30
graceful_timeout = 20
keepalive = 5
max_requests = 20000
max_requests_jitter = 2000
accesslog = None
errorlog = "-"
forwarded_allow_ips = os.environ.get("PORTAL_FORWARDED_ALLOW_IPS", "127.0.0.1")


def on_starting(server: Any) -> None:
    """Refuse per-process rate-limit counters in production when several workers would each
    keep their own (every limit would be multiplied by the number of workers)."""
    from portal.config import Config

    config = Config.from_env()
    if (config.is_production and config.rate_limits and not config.shared_rate_limits
            and server.cfg.workers > 1):
        raise SystemExit(
            f"refusing to start: {server.cfg.workers} workers would each count rate limits in "
            "their own memory; set PORTAL_REDIS_URL (or PORTAL_WORKERS=1)")


def post_fork(server: Any, worker: Any) -> None:
    """Print every thread's Python stack to the error log if a worker crashes hard (a
    segfault in a C extension), so that the crash can be traced."""
    import faulthandler

    faulthandler.enable(all_threads=True)


def post_worker_init(worker: Any) -> None:
    """Move everything the worker built at start-up (the application, its modules, the
    check cache) out of the garbage collector's reach: without it, each full collection
    walks those hundreds of thousands of long-lived objects again, in the middle of whichever
    check or batch set it off."""
    import gc

    gc.collect()
    gc.freeze()
