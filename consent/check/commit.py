"""Group commit: the checks of a process waiting at one moment are written in one transaction."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import threading
import weakref
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from consent.check.write import _Writer
from portal.audit import NewEntry

log = logging.getLogger("consent.checks")

# Decisions per group commit; a batch call of 1,000 questions is one unit of work.
MAX_GROUP_ROWS = 4000


class CommitFailed(RuntimeError):
    """The transaction holding this check's decision did not commit."""


@dataclass
class _Work:
    entries: list[NewEntry]
    rows: list[dict[str, Any]]
    touch_client: int | None
    wake: threading.Event = field(default_factory=threading.Event)
    finished: bool = False
    error: BaseException | None = None


class GroupCommitter:
    """Leader/follower group commit: the first check to find no commit running writes every
    check waiting (its own included) in one transaction; checks that arrive meanwhile wait,
    each on its own event, and the first of them leads the next commit. No thread of its own,
    so no hand-off when the service is quiet, and no check is woken for nothing."""

    def __init__(self, writer: _Writer, *, lock_path: str | None, wait_seconds: float) -> None:
        self._writer = writer
        self._lock_path = lock_path
        self._lock_fd: int | None = None
        self._lock_pid = 0
        self._wait = wait_seconds
        self._queue: deque[_Work] = deque()
        self._lock = threading.Lock()
        self._busy = False

    def commit(self, work: _Work) -> None:
        """Return once the work is committed (raises CommitFailed otherwise)."""
        with self._lock:
            self._queue.append(work)
            lead = not self._busy
            self._busy = True
        if not lead:
            if not work.wake.wait(self._wait):
                with self._lock:
                    if not work.wake.is_set():  # neither written nor asked to lead
                        self._queue.remove(work)
                        raise CommitFailed("the decision was not committed in time")
            if not work.finished:
                lead = True  # appointed by the previous leader
        if lead:
            self._lead(work)
        if work.error is not None:
            raise CommitFailed("the decision could not be committed") from work.error

    def _lead(self, own: _Work) -> None:
        while not own.finished:
            with self._lock:
                batch = self._take()
            try:
                self._write(batch)
            except BaseException as exc:
                log.exception("group commit of %d checks failed", len(batch))
                for w in batch:
                    w.error = exc
            with self._lock:
                for w in batch:
                    w.finished = True
                    if w is not own:
                        w.wake.set()
                if own.finished:
                    if self._queue:
                        self._queue[0].wake.set()  # the next commit's leader
                    else:
                        self._busy = False

    def _take(self) -> list[_Work]:
        batch: list[_Work] = []
        rows = 0
        while self._queue and (not batch or rows + len(self._queue[0].rows) <= MAX_GROUP_ROWS):
            w = self._queue.popleft()
            batch.append(w)
            rows += len(w.rows)
        return batch

    @contextlib.contextmanager
    def _writer_lock(self) -> Iterator[None]:
        if self._lock_path is None:
            yield
            return
        # SQLite: processes take turns on a kernel lock, woken at once, instead of polling
        # the database lock with busy_timeout's sleeps.
        handle = self._lock_file(self._lock_path)
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)

    def _lock_file(self, path: str) -> int:
        # Opened once per process (not per commit). A descriptor inherited across a fork
        # would share its lock with the parent's, so a child opens its own.
        pid = os.getpid()
        if self._lock_fd is None or self._lock_pid != pid:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            weakref.finalize(self, os.close, fd)
            self._lock_fd, self._lock_pid = fd, pid
        return self._lock_fd

    def _write(self, batch: list[_Work]) -> None:
        entries = [e for work in batch for e in work.entries]
        rows = [r for work in batch for r in work.rows]
        touched = sorted({w.touch_client for w in batch if w.touch_client is not None})
        # Everything that does not depend on the chain's head is made before the lock: on
        # SQLite writers take turns, so time under the lock bounds the rate of every writer.
        prepared = self._writer.prepare(entries, rows)
        with self._writer_lock():
            self._writer.write(prepared, touched)
