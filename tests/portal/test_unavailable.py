"""A database that is locked past the timeout (or gone) makes pages 503, never 500.

Found by tests/faults/test_sigkill.py: on a busy SQLite database a public page waited for the
write lock past the timeout and answered 500.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import text
from sqlalchemy.orm import Session

from portal.app import create_app
from portal.database import get_database
from tests.conftest import bearer, make_config
from tests.identity_helpers import login, make_account


@pytest.fixture
def impatient_app(db_url: str, tmp_path: Path) -> Iterator[Flask]:
    """The app with a short database timeout, so that waiting on a lock ends quickly."""
    application = create_app(make_config(db_url, tmp_path / "impatient", check_timeout_ms=300))
    yield application
    get_database(application).engine.dispose()


def _hold_lock(session: Session, backend: str) -> None:
    """Hold a lock the app's next request must wait for (and give up on)."""
    if backend == "postgresql":
        session.execute(text("LOCK TABLE accounts, api_clients IN ACCESS EXCLUSIVE MODE"))
    else:
        # Every app transaction begins IMMEDIATE: holding the write lock blocks them all.
        session.execute(text("UPDATE agencies SET name = name"))


def test_a_page_answers_503_while_the_database_is_locked(impatient_app: Flask, session: Session,
                                                         backend: str, demo: object) -> None:
    account = make_account(session)
    client = impatient_app.test_client()
    login(client, account)
    assert client.get("/my").status_code in (200, 302)
    _hold_lock(session, backend)
    try:
        r = client.get("/my")
        assert r.status_code == 503
        assert r.headers["Retry-After"]
        assert "Sorry, the service is unavailable" in r.get_data(as_text=True)
    finally:
        session.rollback()
    assert client.get("/my").status_code in (200, 302)


def test_the_api_answers_503_while_the_database_is_locked(impatient_app: Flask,
                                                          session: Session, backend: str,
                                                          api_key: object) -> None:
    key = api_key("fenshire-police", "holdings:write")  # type: ignore[operator]
    client = impatient_app.test_client()
    _hold_lock(session, backend)
    try:
        r = client.put("/api/v1/holdings/LOCKED-1", headers=bearer(key), json={
            "categories": ["contact-details"], "since": "2026-01-02",
            "subject": {"given_name": "Lock", "family_name": "Test"}})
        assert r.status_code == 503 and r.mimetype == "application/problem+json"
    finally:
        session.rollback()
