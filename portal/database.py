"""The request-scoped database session: one commit per request, at the end."""

from __future__ import annotations

import datetime as dt
import os
import select
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app, g
from sqlalchemy import DateTime, Engine, MetaData, Uuid, create_engine, event
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import InvalidatePoolError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

from portal.config import Config


@dataclass
class Database:
    """The application's engine and session factory."""

    engine: Engine
    sessionmaker: sessionmaker[Session]


def init_app(app: Flask, config: Config) -> Database:
    """Create the engine for this app and close request sessions at teardown."""
    engine = make_engine(config.resolved_database_url(),
                         sqlite_synchronous=config.sqlite_synchronous,
                         timeout_ms=config.check_timeout_ms, pool_size=config.pool_size)
    database = Database(engine, make_sessionmaker(engine, audit_chains=config.audit_chains))
    app.extensions["portal.db"] = database

    @app.teardown_appcontext
    def _close(exc: BaseException | None) -> None:
        session: Session | None = g.pop("db_session", None)
        if session is not None:
            # Anything not committed by finish_request is abandoned.
            session.rollback()
            session.close()

    return database


def get_database(app: Flask | Any) -> Database:
    """The Database of an application."""
    db: Database = app.extensions["portal.db"]
    return db


def app_sessions() -> sessionmaker[Session]:
    """The current application's session factory (for commands, outside a request)."""

    return get_database(current_app).sessionmaker


def session() -> Session:
    """The current request's session, opened on first use."""
    if "db_session" not in g:

        g.db_session = get_database(current_app).sessionmaker()
    s: Session = g.db_session
    return s


def commit_if_open() -> None:
    """Commit the request's session if one was opened (raises on failure)."""
    s: Session | None = g.get("db_session")
    if s is not None:
        s.commit()


def rollback_if_open() -> None:
    """Roll the request's session back if one was opened."""
    s: Session | None = g.get("db_session")
    if s is not None:
        s.rollback()


NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Stores naive UTC and always returns an aware UTC datetime, on every engine."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> Any:
        """Normalise to naive UTC before it reaches the database."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are ambiguous; pass an aware UTC datetime")
        return value.astimezone(dt.UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        """Return the stored value as an aware UTC datetime."""
        if value is None:
            return None
        if not isinstance(value, dt.datetime):
            raise TypeError(f"expected a datetime from the database, got {type(value)!r}")
        if value.tzinfo is not None:
            return value.astimezone(dt.UTC)
        return value.replace(tzinfo=dt.UTC)


class Base(DeclarativeBase):
    """Declarative base with a constraint naming convention Alembic can rely on."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dt.datetime: UTCDateTime(), uuid.UUID: Uuid()}


def utcnow() -> dt.datetime:
    """The current time, aware, in UTC."""
    return dt.datetime.now(dt.UTC)


def make_engine(url: str, *, sqlite_synchronous: str = "FULL", timeout_ms: int = 2000,
                pool_size: int = 10, sqlite_immediate: bool = True) -> Engine:
    """Create an engine with the durability and timeout settings the invariants need."""
    if url.startswith("sqlite"):
        # Pooled connections: closing the last connection to a WAL database checkpoints it,
        # which would otherwise happen (with its fsyncs) after every request.
        in_memory = url in {"sqlite://", "sqlite:///:memory:"}
        pool: dict[str, Any] = {} if in_memory else {"pool_size": pool_size,
                                                     "max_overflow": pool_size}
        engine = create_engine(
            url,
            connect_args={"timeout": timeout_ms / 1000, "check_same_thread": False},
            **pool,
        )
        _configure_sqlite(engine, sqlite_synchronous, sqlite_immediate)
        return engine
    connect_args: dict[str, Any] = {
        # A check that cannot get an answer in time must fail closed, not hang.
        "options": f"-c statement_timeout={timeout_ms} -c lock_timeout={timeout_ms}",
        "connect_timeout": max(1, timeout_ms // 1000),
    }
    engine = create_engine(
        url,
        connect_args=connect_args,
        pool_size=pool_size,
        max_overflow=pool_size,
        # No pre-ping (a round trip per checkout); a cheap local test at checkout instead.
        pool_timeout=max(1, timeout_ms // 1000),
    )
    event.listen(engine, "checkout", _refuse_hung_up)
    return engine


def _refuse_hung_up(dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
    """Replace the pool when a connection taken from it was closed by the server.

    A server that restarted or failed over has closed every idle connection: its goodbye (or
    EOF) is waiting on the socket, so one zero-timeout poll sees it without a round trip. The
    check path uses raw DBAPI connections, whose errors SQLAlchemy never sees, so without this a
    pool of dead connections would fail request after request until each had been tried.
    """
    hung_up = bool(getattr(dbapi_conn, "closed", False) or getattr(dbapi_conn, "broken", False))
    if not hung_up:
        try:
            poller = select.poll()
            poller.register(dbapi_conn.fileno(), select.POLLIN | select.POLLERR | select.POLLHUP)
            # An idle connection has nothing to read unless the server has hung up (we use no
            # LISTEN/NOTIFY); a false alarm only costs a reconnect.
            hung_up = bool(poller.poll(0))
        except (OSError, ValueError, AttributeError):
            hung_up = True
    if hung_up:
        raise InvalidatePoolError("the server closed this pooled connection")


def _configure_sqlite(engine: Engine, synchronous: str, immediate: bool) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take transaction control from pysqlite so that BEGIN IMMEDIATE can be issued.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous.upper()}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Every transaction here may write (audit entries); taking the write lock up front
        # avoids SQLITE_BUSY on lock upgrade, which busy_timeout cannot retry.
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def make_sessionmaker(engine: Engine, *, audit_chains: int | None = None
                      ) -> sessionmaker[Session]:
    """Sessions that keep loaded objects usable after commit."""
    info = {"audit_chains": audit_chains} if audit_chains else {}
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=True, info=info)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session that commits on success and rolls back on any error (for CLI and workers)."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def new_uuid() -> uuid.UUID:
    """A random identifier for rows whose ids are shown outside the database."""
    return uuid.uuid4()


_LOW_62 = (1 << 62) - 1


def new_time_ordered_uuids(count: int) -> list[uuid.UUID]:
    """``count`` version 7 UUIDs (RFC 9562): the current Unix time in milliseconds, then 74
    random bits, from one read of the system's randomness."""
    # For ids of rows written by the thousand (check decisions): consecutive ids sit side by
    # side in the primary key's index, so a batch's inserts dirty a few pages instead of one
    # per row. They reveal when the row was made, which the row's answer states anyway.
    # Python 3.14 has uuid.uuid7; this is its layout, made in bulk.
    prefix = (time.time_ns() // 1_000_000) << 80 | 0x7 << 76 | 0b10 << 62
    raw = os.urandom(10 * count)
    out: list[uuid.UUID] = []
    for i in range(0, 10 * count, 10):
        bits = int.from_bytes(raw[i:i + 10], "big")
        # 12 random bits after the version, 62 after the variant.
        out.append(uuid.UUID(int=prefix | (bits >> 62 & 0xFFF) << 64 | bits & _LOW_62))
    return out
