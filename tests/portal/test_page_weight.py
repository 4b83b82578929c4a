"""DESIGN §7: every page weighs under 100 kB without images, as a browser receives it; the
stylesheet and script go out gzip-compressed to browsers that accept it, and as built to
those that do not."""

from __future__ import annotations

import gzip
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from bench.weight import (
    BROWSER_HEADERS,
    LIMIT_BYTES,
    PERSONAL_PAGES,
    PUBLIC_PAGES,
    Fetch,
    Weight,
    weigh,
)
from consent.models import ConsentEvent
from consent.selfservice.views import ACTIVITY_LIMIT
from portal import audit
from portal.audit import Actor
from portal.reference.models import Holding
from tests.conftest import bearer
from tests.identity_helpers import login, make_account

STATIC = Path(__file__).resolve().parents[2] / "static"
BUILT = ["build/portal.css", "build/govuk/govuk-frontend.min.js"]


def _browser(client: FlaskClient, headers: Mapping[str, str] = BROWSER_HEADERS) -> Fetch:
    def fetch(path: str) -> tuple[int, bytes, Mapping[str, str]]:
        response = client.get(path, headers=dict(headers))
        return response.status_code, response.get_data(), response.headers

    return fetch


def _too_heavy(weights: list[Weight]) -> list[str]:
    return [f"{w.page}: {w.sent:,} bytes ({w.raw:,} uncompressed)" for w in weights
            if w.status != 200 or w.sent >= LIMIT_BYTES or w.elsewhere]


def test_every_public_page_weighs_under_100_kb_in_every_language(client: FlaskClient) -> None:
    # Given a browser that accepts gzip, as every browser does
    fetch = _browser(client)
    # When it loads each public page in each language, with its stylesheet and scripts
    weights = [weigh(fetch, f"{path}?lang={lang}") for lang in ("en", "cy", "pl")
               for path in PUBLIC_PAGES]
    # Then each weighs under 100 kB, loads nothing from elsewhere, and loads the stylesheet
    assert not _too_heavy(weights)
    assert all("/static/build/portal.css" in w.assets for w in weights)


def test_a_signed_in_persons_pages_weigh_under_100_kb(
        app: Flask, client: FlaskClient, session: Session, demo: Any,
        api_key: Callable[..., str]) -> None:
    # Given a person linked to a subject with a consent history, and a history page as full
    # as it gets: more checks about them and more staff views than one page shows
    subject_id = session.scalar(select(Holding.subject_id)
                                .where(Holding.agency_ref == "FP-DEMO-0004"))
    notice_id = session.scalar(select(ConsentEvent.notice_id)
                               .where(ConsentEvent.subject_id == subject_id).limit(1))
    question = {"subject": {"agency_ref": "FP-DEMO-0004"}, "recipient": "victim-care",
                "purpose": "victim-support-referral",
                "categories": ["contact-details", "incident-report"]}
    asked = client.post("/api/v1/consent/check/batch", headers=bearer(api_key()),
                        json={"questions": [question] * (ACTIVITY_LIMIT + 1)})
    assert asked.status_code == 200
    for _ in range(ACTIVITY_LIMIT + 1):
        audit.record(session, "subject.view", Actor("staff", "7", 1), subject_id=subject_id,
                     details={"agency": "fenshire-police", "role": "sar-officer"})
    session.commit()
    person = app.test_client()
    login(person, make_account(session, subject_id=subject_id))
    paths = [p.format(notice=notice_id) for p in PERSONAL_PAGES]
    # When they load each of their own pages
    weights = [weigh(_browser(person), f"{path}?lang={lang}") for lang in ("en", "cy")
               for path in paths]
    # Then each weighs under 100 kB, the full history page included
    assert not _too_heavy(weights)
    assert "page=2" in person.get("/my/activity").get_data(as_text=True)


@pytest.mark.parametrize("name", BUILT)
def test_a_browser_that_accepts_gzip_gets_the_built_copy(client: FlaskClient,
                                                          name: str) -> None:
    plain = client.get(f"/static/{name}", headers={"Accept-Encoding": "identity"})
    # When a browser that accepts gzip asks for a built stylesheet or script
    response = client.get(f"/static/{name}", headers=BROWSER_HEADERS)
    # Then it gets the compressed copy: the same bytes once decompressed, the same type
    assert response.status_code == 200
    assert response.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(response.get_data()) == (STATIC / name).read_bytes()
    assert len(response.get_data()) < len(plain.get_data()) / 3
    assert response.headers["Content-Type"] == plain.headers["Content-Type"]
    assert "Accept-Encoding" in response.headers["Vary"]
    assert response.headers["ETag"] != plain.headers["ETag"]
    # and the security headers every response carries
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    # and asking again with its copy's tag is answered "not modified"
    again = client.get(f"/static/{name}", headers={
        **BROWSER_HEADERS, "If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304


@pytest.mark.parametrize("accept", [None, "identity", "gzip;q=0, identity", "br"])
def test_a_client_that_does_not_accept_gzip_gets_the_file_as_built(client: FlaskClient,
                                                                    accept: str | None) -> None:
    headers = {"Accept-Encoding": accept} if accept else {}
    response = client.get("/static/build/portal.css", headers=headers)
    assert response.status_code == 200
    assert "Content-Encoding" not in response.headers
    assert response.get_data() == (STATIC / "build/portal.css").read_bytes()
    assert "Accept-Encoding" in response.headers["Vary"]


def test_a_copy_older_than_its_file_is_never_served(app: Flask, client: FlaskClient,
                                                    tmp_path: Path) -> None:
    # Given a stylesheet rebuilt after its compressed copy was made
    (tmp_path / "site.css").write_text("body { color: #0b0c0c; }")
    (tmp_path / "site.css.gz").write_bytes(gzip.compress(b"body { color: red; }"))
    now = os.stat(tmp_path / "site.css").st_mtime
    os.utime(tmp_path / "site.css.gz", (now - 60, now - 60))
    app.static_folder = str(tmp_path)
    # When a browser that accepts gzip asks for it
    stale = client.get("/static/site.css", headers=BROWSER_HEADERS)
    # Then it gets the stylesheet as it is now, not the stale copy
    assert "Content-Encoding" not in stale.headers
    assert stale.get_data() == b"body { color: #0b0c0c; }"
    # and once the copy is made again, the copy
    (tmp_path / "site.css.gz").write_bytes(gzip.compress(b"body { color: #0b0c0c; }"))
    fresh = client.get("/static/site.css", headers=BROWSER_HEADERS)
    assert fresh.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(fresh.get_data()) == b"body { color: #0b0c0c; }"


def test_a_file_without_a_copy_is_served_as_it_is(client: FlaskClient) -> None:
    response = client.get("/static/js/app.mjs", headers=BROWSER_HEADERS)
    assert response.status_code == 200
    assert "Content-Encoding" not in response.headers
    assert response.get_data() == (STATIC / "js/app.mjs").read_bytes()
