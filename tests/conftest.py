"""Shared fixtures: every database test runs on SQLite and on PostgreSQL.

``PORTAL_TEST_DATABASES`` (default ``sqlite,postgresql``) says which engines to use. If
PostgreSQL is asked for and cannot be reached, the run fails: it is never skipped.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session

import portal.all_models  # noqa: F401 - every table must be known to TRUNCATE
from portal import migrate
from portal.app import create_app
from portal.audit import Actor
from portal.config import Config
from portal.database import Base, get_database, make_engine, make_sessionmaker
from portal.reference import apikeys

PG_URL = os.environ.get("PORTAL_TEST_POSTGRES_URL",
                        "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REQUESTED = [b.strip() for b in os.environ.get("PORTAL_TEST_DATABASES",
                                               "sqlite,postgresql").split(",") if b.strip()]
STAFF = Actor("staff", "test-officer", None)


def pytest_configure(config: pytest.Config) -> None:
    unknown = set(REQUESTED) - {"sqlite", "postgresql"}
    if unknown or not REQUESTED:
        raise pytest.UsageError(f"PORTAL_TEST_DATABASES: unknown engine(s) {sorted(unknown)}")


class PostgresServer:
    """One throwaway database per test session, created next to ``test``."""

    def __init__(self, base_url: str) -> None:
        self.base = make_url(base_url)
        self.name = f"portal_test_{os.getpid()}_{secrets.token_hex(3)}"
        try:
            self.admin = create_engine(self.base, isolation_level="AUTOCOMMIT",
                                       connect_args={"connect_timeout": 5})
            with self.admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{self.name}"'))
        except Exception as exc:  # noqa: BLE001 - reported as a hard failure below
            pytest.exit(f"PostgreSQL was asked for (PORTAL_TEST_DATABASES) but cannot be used "
                        f"at {self.base.render_as_string(hide_password=True)}: {exc}",
                        returncode=3)
        self.url = self.base.set(database=self.name).render_as_string(hide_password=False)

    def drop(self) -> None:
        with self.admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
        self.admin.dispose()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    server = PostgresServer(PG_URL)
    engine = make_engine(server.url)
    migrate.upgrade(engine)
    engine.dispose()
    yield server
    server.drop()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite") / "template.sqlite3"
    engine = make_engine(f"sqlite:///{path}")
    migrate.upgrade(engine)
    engine.dispose()  # the last connection to close checkpoints the WAL into the file
    assert not Path(f"{path}-wal").exists()
    return path


# Tables whose UPDATE and DELETE triggers a test may lift, as someone with database access
# could; on the shared PostgreSQL database they must be back on for the next test.
APPEND_ONLY = ("audit_entries", "consent_events", "check_decisions")


def lift_append_only(session: Session, table: str) -> None:
    """Drop a table's UPDATE and DELETE guard and commit, as someone with database access
    could (on PostgreSQL the next test's reset puts it back)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER USER"))
    else:
        session.execute(text(f"DROP TRIGGER {table}_no_update"))
        session.execute(text(f"DROP TRIGGER {table}_no_delete"))
    session.commit()


def _truncate_all(url: str) -> None:
    engine = create_engine(url)
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        for table in APPEND_ONLY:
            conn.execute(text(f"ALTER TABLE {table} ENABLE TRIGGER USER"))
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        # As migration 0008 leaves it: the check cache's generation counter has its one row.
        conn.execute(text("INSERT INTO reference_generation (id, value) VALUES (1, 0)"))
    engine.dispose()


@pytest.fixture(params=REQUESTED)
def backend(request: pytest.FixtureRequest) -> str:
    """Which engine this test runs on."""
    return str(request.param)


@pytest.fixture
def db_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated, empty database of the current backend."""
    if backend == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "portal.sqlite3"
        shutil.copyfile(template, path)
        return f"sqlite:///{path}"
    server: PostgresServer = request.getfixturevalue("postgres")
    _truncate_all(server.url)
    return server.url


def make_config(db_url: str, instance: Path, **overrides: Any) -> Config:
    """A testing configuration for this database."""
    return Config(env="testing", database_url=db_url, instance_path=str(instance),
                  secret_key="test-secret-" + "x" * 32, log_level="WARNING", **overrides)


@pytest.fixture
def app(db_url: str, tmp_path: Path) -> Iterator[Flask]:
    application = create_app(make_config(db_url, tmp_path / "instance"))
    yield application
    get_database(application).engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def engine(app: Flask) -> Engine:
    return get_database(app).engine


@pytest.fixture
def session(db_url: str, app: Flask) -> Iterator[Session]:
    """A session for arranging and inspecting data; tests commit what they arrange.

    Its transactions are deferred on SQLite so that a test holding a read open does not take
    the write lock the application needs; call ``rollback()`` to see the app's later writes.
    """
    eng = make_engine(db_url, sqlite_immediate=False)
    s = make_sessionmaker(eng)()
    yield s
    s.rollback()
    s.close()
    eng.dispose()


@pytest.fixture
def demo(session: Session) -> Any:
    """The demo partnership, committed."""
    from consent import demo as demo_module

    summary = demo_module.seed(session)
    session.commit()
    return summary


@pytest.fixture
def api_key(session: Session, demo: Any) -> Callable[..., str]:
    """Make a committed key: ``api_key("fenshire-police", "consent:check", ...)``."""

    def make(agency: str = "fenshire-police", *scopes: str,
             expires_at: dt.datetime | None = None) -> str:
        _client, key = apikeys.create_api_key(session, agency,
                                                 list(scopes) or ["consent:check"],
                                                 actor=STAFF, expires_at=expires_at)
        session.commit()
        return key

    return make


def bearer(key: str) -> dict[str, str]:
    """The Authorization header for a key."""
    return {"Authorization": f"Bearer {key}"}
