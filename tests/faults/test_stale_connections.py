"""A pooled PostgreSQL connection the server has closed is replaced at checkout, unnoticed.

The fast version of the outage test's idle restart: the server ends the pooled connection's
backend (as a restart or failover would), and the next raw and ORM uses still work.
"""

from __future__ import annotations

import time

import pytest
from sqlalchemy import create_engine, text

from portal.database import make_engine
from tests.conftest import PostgresServer

pytestmark = pytest.mark.postgresql_only


def _backend_pid(engine: object) -> int:
    conn = engine.raw_connection()  # type: ignore[attr-defined]
    try:
        cursor = conn.cursor()
        cursor.execute("SELECT pg_backend_pid()")
        pid = int(cursor.fetchone()[0])
        conn.rollback()
        return pid
    finally:
        conn.close()  # back to the pool


def test_a_connection_the_server_closed_is_replaced_at_checkout(
        postgres: PostgresServer) -> None:
    engine = make_engine(postgres.url, pool_size=2)
    admin = create_engine(postgres.url, isolation_level="AUTOCOMMIT")
    try:
        first = _backend_pid(engine)
        # When the server ends the idle pooled connection,
        with admin.connect() as conn:
            assert conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": first}).scalar()
            deadline = time.monotonic() + 10
            while conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE pid = :p"),
                               {"p": first}).scalar() and time.monotonic() < deadline:
                time.sleep(0.05)
        # then the next raw use (the check path's) gets a live connection, without an error,
        second = _backend_pid(engine)
        assert second != first
        # and so does the ORM's.
        with engine.connect() as conn:
            assert conn.execute(text("SELECT 1")).scalar() == 1
    finally:
        engine.dispose()
        admin.dispose()
