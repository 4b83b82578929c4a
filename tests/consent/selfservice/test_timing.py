"""Register, sign-in and reset take as long for a known address as for an unknown one, so
timing an answer does not tell whether an address has an account."""

from __future__ import annotations

import statistics
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from portal.app import create_app
from portal.database import get_database
from tests.conftest import make_config
from tests.consent.selfservice.helpers import csrf
from tests.identity_helpers import make_account

ROUNDS = 7
# Hashing is most of the work; a branch that skips it answers about ten times faster.
LOW, HIGH = 0.5, 2.0


@pytest.fixture
def app(db_url: str, tmp_path: Path) -> Iterator[Flask]:
    # Limits are tested on their own; here the same forms are posted many times quickly.
    application = create_app(make_config(db_url, tmp_path / "instance", rate_limits=False))
    yield application
    get_database(application).engine.dispose()


def _median_times(client: FlaskClient, url: str, known: dict[str, str],
                  unknown: Callable[[], dict[str, str]]) -> tuple[float, float]:
    token = csrf(client, url)
    times: dict[str, list[float]] = {"known": [], "unknown": []}
    client.post(url, data={"csrf_token": token, **unknown()})  # warm up templates and caches
    for _ in range(ROUNDS):
        # Interleaved, so that other load on the machine falls on both alike.
        for name, data in (("known", known), ("unknown", unknown())):
            start = time.perf_counter()
            response = client.post(url, data={"csrf_token": token, **data})
            times[name].append(time.perf_counter() - start)
            assert response.status_code in (200, 302), (url, name, response.status_code)
    return statistics.median(times["known"]), statistics.median(times["unknown"])


@pytest.mark.parametrize("form", ["register", "sign-in", "reset"])
def test_a_known_and_an_unknown_address_cost_the_same(app: Flask, session: Session,
                                                      demo: Any, form: str) -> None:
    # Given an account, and an address nobody registered
    account = make_account(session)
    client = app.test_client()
    password = "a new password for this try"
    fields = {"register": lambda e: {"email": e, "password": password, "confirm": password},
              "sign-in": lambda e: {"email": e, "password": password},
              "reset": lambda e: {"email": e}}[form]
    # When each is posted to the form several times
    # (a new unknown address each time: registering one makes it known)
    known, unknown = _median_times(client, f"/account/{form}", fields(account.email),
                                   lambda: fields(f"nobody-{uuid.uuid4().hex}@example.org"))
    # Then neither answers markedly faster than the other
    assert LOW <= known / unknown <= HIGH, (form, known, unknown)
