"""The request-scoped database session: one commit per request, at the end."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Flask, g
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from portal.config import Config
from portal.db import make_engine, make_sessionmaker


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


def session() -> Session:
    """The current request's session, opened on first use."""
    if "db_session" not in g:
        from flask import current_app

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
