"""Real processes for fault tests: a private PostgreSQL cluster and the app under gunicorn.

The shared PostgreSQL on 5432 is never stopped: outage tests start their own cluster (initdb
into a temporary folder, a free port) and stop and start that one. initdb and postgres refuse
to run as root, so as root they run as the ``postgres`` user, which must own the folder.
"""

from __future__ import annotations

import glob
import http.client
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from bench.check import stop_group

ROOT = Path(__file__).resolve().parents[2]
CHECK_PATH = "/api/v1/consent/check"
PERMIT_QUESTION = {"subject": {"agency_ref": "FP-DEMO-0001"}, "recipient": "victim-care",
                   "purpose": "victim-support-referral", "categories": ["contact-details"]}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    path = found[-1] if found else shutil.which(name)
    if not path:
        pytest.fail(f"PostgreSQL was asked for (PORTAL_TEST_DATABASES) but {name} is not "
                    "installed (looked in /usr/lib/postgresql/*/bin and PATH)")
    return path


class PrivatePostgres:
    """A throwaway PostgreSQL cluster that a test may stop and start at will."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="portal-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.user: str | None = None
        if os.geteuid() == 0:
            # initdb and postgres refuse root: run them as postgres, which owns the folder.
            pw = pwd.getpwnam("postgres")
            os.chown(self.root, pw.pw_uid, pw.pw_gid)
            self.user = "postgres"
        self.log = self.root / "postgres.log"
        self._run([_pg_bin("initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust",
                   "--no-sync", "-E", "UTF8"])

    def _run(self, cmd: list[str]) -> None:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False,
                              user=self.user, cwd=self.root)
        if done.returncode != 0:
            pytest.fail(f"{cmd[0]} failed ({done.returncode}): {done.stderr[-2000:]}")

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the cluster's ``postgres`` database."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def start(self, timeout: float = 30.0) -> None:
        """Start the postmaster and wait until it accepts connections."""
        assert self.proc is None or self.proc.poll() is not None
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [_pg_bin("postgres"), "-D", str(self.data), "-p", str(self.port),
                 "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={self.root}",
                 "-c", "fsync=off", "-c", "max_connections=60", "-c", "shared_buffers=16MB"],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                user=self.user, start_new_session=True)
        deadline = time.monotonic() + timeout
        import psycopg

        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"private postgres exited: {self.log.read_text()[-2000:]}")
            try:
                psycopg.connect(f"host=127.0.0.1 port={self.port} user=postgres "
                                "dbname=postgres connect_timeout=2").close()
                return
            except psycopg.OperationalError:
                time.sleep(0.1)
        pytest.fail(f"private postgres did not start in {timeout} s")

    def stop(self, timeout: float = 30.0) -> None:
        """Fast shutdown (SIGINT): sessions are cut off at once, as in a failover."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def destroy(self) -> None:
        """Stop the cluster and delete its files."""
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


@contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    """A running private cluster, removed afterwards however the test ends."""
    cluster = PrivatePostgres()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.destroy()


def receipt_key() -> str:
    """A private EC P-256 JWK: the app's production mode refuses to start without one."""
    from joserfc.jwk import ECKey

    key = ECKey.generate_key("P-256", parameters={"kid": "faults"}, private=True)
    return json.dumps(key.as_dict(private=True))


def app_env(db_url: str, instance: Path, port: int, **extra: str) -> dict[str, str]:
    """The environment for the app under gunicorn: production mode on PostgreSQL."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PORTAL_", "GUNICORN_"))}
    production = db_url.startswith("postgresql")
    env.update({
        "PORTAL_ENV": "production" if production else "development",
        "PORTAL_SECRET_KEY": "faults-" + secrets.token_hex(24),
        "PORTAL_DATABASE_URL": db_url, "PORTAL_INSTANCE_PATH": str(instance),
        "PORTAL_LOG_LEVEL": "WARNING", "PORTAL_BIND": f"127.0.0.1:{port}",
        "PORTAL_RECEIPT_SIGNING_KEY": receipt_key(), "PORTAL_RATE_LIMITS": "0",
    })
    env.update(extra)
    return env


@dataclass
class Gunicorn:
    """``gunicorn -c gunicorn.conf.py portal.wsgi:app`` in its own process group."""

    env: dict[str, str]
    port: int
    log: Path
    proc: subprocess.Popen[bytes] = field(init=False)

    def start(self, timeout: float = 60.0) -> None:
        """Start the arbiter and wait for /healthz."""
        exe = str(Path(sys.executable).parent / "gunicorn")
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen([exe, "-c", "gunicorn.conf.py", "portal.wsgi:app"],
                                         cwd=ROOT, env=self.env, stdout=out,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"gunicorn exited: {self.log.read_text()[-3000:]}")
            with suppress(OSError):
                if request(self.port, "GET", "/healthz", timeout=2)[0] == 200:
                    return
            time.sleep(0.2)
        self.stop()
        pytest.fail(f"gunicorn did not answer /healthz: {self.log.read_text()[-3000:]}")

    def worker_pids(self) -> list[int]:
        """The arbiter's current worker processes."""
        pids = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with suppress(OSError, ValueError, IndexError):
                # The command may contain spaces: the fields after its closing ")" are fixed.
                fields = stat.read_text().rsplit(")", 1)[1].split()
                if int(fields[1]) == self.proc.pid:
                    pids.append(int(stat.parent.name))
        return pids

    def stop(self) -> None:
        """SIGTERM the group, then SIGKILL it if it lingers."""
        stop_group(self.proc)


@contextmanager
def gunicorn(env: dict[str, str], port: int, log: Path) -> Iterator[Gunicorn]:
    """A started gunicorn, stopped afterwards however the test ends."""
    server = Gunicorn(env, port, log)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def request(port: int, method: str, path: str, *, body: Any = None,
            headers: dict[str, str] | None = None, timeout: float = 15.0
            ) -> tuple[int, dict[str, str], bytes]:
    """One HTTP request on a fresh connection: (status, headers, body)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        data = json.dumps(body).encode() if body is not None else None
        hdrs = dict(headers or {})
        if data is not None:
            hdrs.setdefault("Content-Type", "application/json")
        conn.request(method, path, body=data, headers=hdrs)
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()
