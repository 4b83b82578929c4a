"""Two app instances sharing one database and one Redis behave as one service.

Each instance is its own gunicorn (the repository's gunicorn.conf.py) on its own port, with
its own instance folder, as two hosts behind a load balancer would be. Between them they
share only the database, Redis and the secret key. Every test runs on each engine in
``PORTAL_TEST_DATABASES``; Redis is always required (``PORTAL_TEST_REDIS_URL``, default
``redis://127.0.0.1:6379/0``) and an unreachable Redis fails the run, never skips it.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import pytest
import redis
from sqlalchemy import select

from bench.browser import Browser
from bench.check import Server, clean_env, free_port, start_server
from consent import demo
from consent.models import ConsentEvent
from portal.database import make_engine, make_sessionmaker, transaction
from portal.reference import apikeys
from tests.conftest import REQUESTED, STAFF, PostgresServer, _truncate_all
from tests.consent.selfservice.helpers import subject_of
from tests.identity_helpers import PASSWORD, make_account

REDIS_URL = os.environ.get("PORTAL_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
CHECK = {"subject": {"agency_ref": "FP-DEMO-0001"}, "recipient": "victim-care",
         "purpose": "victim-support-referral", "categories": ["contact-details"]}
SIGN_IN_LIMIT = 5  # per address typed and caller: portal/identity/account_views.py


class Person(NamedTuple):
    """A public account's address and the subject it is linked to."""

    email: str
    subject_id: uuid.UUID | None


@dataclass
class Pair:
    """Two running instances, their database and their Redis key prefix."""

    a: Server
    b: Server
    db_url: str
    key: str
    prefix: str
    redis: redis.Redis

    def check(self, server: Server) -> dict[str, Any]:
        """Ask the consent check on one instance."""
        answer = Browser().request(server, "POST", "/api/v1/consent/check",
                                   body=json.dumps(CHECK).encode(),
                                   headers={"Authorization": f"Bearer {self.key}",
                                            "Content-Type": "application/json"})
        assert answer.status == 200, answer.body
        result: dict[str, Any] = answer.json()
        return result

    def account(self, *, linked: bool) -> Person:
        """A verified public account, linked to FP-DEMO-0001's subject or not."""
        engine = make_engine(self.db_url, sqlite_immediate=False)
        try:
            with make_sessionmaker(engine)() as session:
                subject = subject_of(session, "FP-DEMO-0001") if linked else None
                account = make_account(session, subject_id=subject)
                return Person(account.email, subject)
        finally:
            engine.dispose()


@pytest.fixture(scope="module")
def shared_redis() -> Iterator[tuple[redis.Redis, str]]:
    """Redis, with a key prefix of this run's own; every key under it is removed after."""
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=5, socket_timeout=5)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.fail(f"Redis is required for the two-instance tests but cannot be used at "
                    f"{REDIS_URL}: {exc}", pytrace=False)
    prefix = f"portal-test-{os.getpid()}-{secrets.token_hex(4)}"
    yield client, prefix
    for key in client.scan_iter(match=f"*{prefix}*", count=500):
        client.delete(key)
    client.close()


def _database(backend: str, request: pytest.FixtureRequest, folder: Path) -> str:
    if backend == "postgresql":
        server: PostgresServer = request.getfixturevalue("postgres")
        _truncate_all(server.url)
        return server.url
    template: Path = request.getfixturevalue("sqlite_template")
    path = folder / "portal.sqlite3"
    shutil.copyfile(template, path)  # two processes share one WAL database file
    return f"sqlite:///{path}"


@pytest.fixture(scope="module", params=REQUESTED)
def pair(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
         shared_redis: tuple[redis.Redis, str]) -> Iterator[Pair]:
    """The demo partnership in a fresh database, served by instances A and B."""
    backend = str(request.param)
    folder = tmp_path_factory.mktemp(f"instances-{backend}")
    url = _database(backend, request, folder)
    engine = make_engine(url)
    with transaction(make_sessionmaker(engine)) as session:
        demo.seed(session)
        _client, key = apikeys.create_api_key(session, "fenshire-police",
                                                 ["consent:check"], actor=STAFF)
    engine.dispose()
    client, run_prefix = shared_redis
    prefix = f"{run_prefix}-{backend}"
    secret = secrets.token_urlsafe(32)
    taken: set[int] = set()
    servers: list[Server] = []
    try:
        for name in ("a", "b"):
            port = free_port(taken)
            env = clean_env({
                "PORTAL_ENV": "testing", "PORTAL_SECRET_KEY": secret,
                "PORTAL_DATABASE_URL": url, "PORTAL_INSTANCE_PATH": str(folder / name),
                "PORTAL_REDIS_URL": REDIS_URL, "PORTAL_RATELIMIT_KEY_PREFIX": prefix,
                "PORTAL_LOG_LEVEL": "WARNING", "PORTAL_WORKERS": "1",
                "PORTAL_BIND": f"127.0.0.1:{port}"})
            servers.append(start_server(f"{backend}-{name}", "portal.wsgi:app", port, env,
                                        log_dir=folder))
        yield Pair(servers[0], servers[1], url, key, prefix, client)
    finally:
        for server in servers:
            server.stop()


def _sign_in(browser: Browser, server: Server, account: Person) -> None:
    r = browser.submit(server, "/account/sign-in", {"email": account.email,
                                                    "password": PASSWORD})
    assert r.status == 302 and r.headers["location"].endswith("/my"), r.status


def test_a_withdrawal_on_one_instance_is_denied_at_once_by_the_other(pair: Pair) -> None:
    # Given a person whose consent instance B permits
    account = pair.account(linked=True)
    assert pair.check(pair.b)["decision"] == "permit"
    engine = make_engine(pair.db_url, sqlite_immediate=False)
    with make_sessionmaker(engine)() as session:
        notice_id = session.scalar(select(ConsentEvent.notice_id).where(
            ConsentEvent.subject_id == account.subject_id))
    engine.dispose()
    # When they withdraw it through instance A's public portal
    browser = Browser()
    _sign_in(browser, pair.a, account)
    r = browser.submit(pair.a, f"/my/consents/{notice_id}/withdraw")
    assert r.status == 302 and r.headers["location"].endswith("/withdraw/done"), r.status
    # Then the very next check, on instance B, denies
    answer = pair.check(pair.b)
    assert answer["decision"] == "deny" and answer["reason"] == "withdrawn"
    assert pair.check(pair.a)["decision"] == "deny"
    # And giving it again on B is seen at once by A
    r = browser.submit(pair.b, f"/my/consents/{notice_id}/give")
    assert r.status == 302, r.status
    assert pair.check(pair.a)["decision"] == "permit"


def test_a_rate_limit_is_counted_once_across_both_instances(pair: Pair) -> None:
    # Given an address someone is guessing passwords for, alternately on A and on B
    email = f"{uuid.uuid4().hex[:10]}@example.org"
    browser = Browser()
    statuses = []
    for attempt in range(SIGN_IN_LIMIT + 1):
        server = pair.a if attempt % 2 == 0 else pair.b
        r = browser.submit(server, "/account/sign-in", {"email": email, "password": "wrong"})
        statuses.append(r.status)
    # Then the limit trips at its count in total, not per instance (the last try went to B,
    # which on its own had seen only half of them)
    assert statuses == [200] * SIGN_IN_LIMIT + [429]
    # And the counters live in Redis under this run's prefix
    assert any(email in k.decode() for k in pair.redis.scan_iter(match=f"*{pair.prefix}*"))


def test_a_session_from_one_instance_works_on_the_other_until_signed_out(pair: Pair) -> None:
    account = pair.account(linked=False)
    # Given a person signed in on A
    browser = Browser()
    _sign_in(browser, pair.a, account)
    copied = dict(browser.cookies)
    # Then B knows them
    assert browser.get(pair.b, "/my").status == 200
    # When they sign out on A
    r = browser.submit(pair.a, "/account/sign-out", form_page="/my")
    assert r.status == 302 and r.headers["location"].endswith("/account/signed-out")
    # Then a copy of the old cookie opens nothing on B
    replay = Browser(dict(copied))
    r = replay.get(pair.b, "/my")
    assert r.status == 302 and "/account/sign-in" in r.headers["location"]


def test_exit_on_one_instance_ends_the_session_on_the_other(pair: Pair) -> None:
    account = pair.account(linked=False)
    browser = Browser()
    _sign_in(browser, pair.a, account)
    copied = dict(browser.cookies)
    assert browser.get(pair.b, "/my").status == 200
    # When they press Exit this page on A
    r = browser.get(pair.a, "/exit")
    assert r.status == 302 and not r.headers["location"].startswith("http://127.0.0.1")
    # Then neither their browser nor a copy of its cookie opens anything on B
    assert browser.get(pair.b, "/my").status == 302
    r = Browser(dict(copied)).get(pair.b, "/my")
    assert r.status == 302 and "/account/sign-in" in r.headers["location"]
