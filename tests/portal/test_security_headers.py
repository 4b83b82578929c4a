"""Security headers on every route, cookie flags, and `next` redirects that stay on this site.

The walk follows the url_map (like tests/portal/test_access.py): a new route is checked the day
it is added, as the person who may use it and as a stranger.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import pyotp
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from consent.models import Notice
from portal.app import create_app
from portal.config import Config
from portal.http import access_rule
from portal.identity.models import Role
from portal.reference.models import Holding
from portal.ui import safe_next
from tests.conftest import bearer, make_config
from tests.identity_helpers import PASSWORD, login, make_account, make_staff

# Not about anyone: the only responses a browser or proxy may keep.
CACHEABLE = frozenset({"static", "public.jwks"})
EVIL_TARGETS = ["https://evil.example", "//evil.example", "/\\evil.example", "/%5Cevil.example",
                "/%5cevil.example", "\\\\evil.example", "https:evil.example", "/%2Fevil.example",
                "///evil.example", "/\t/evil.example", "http://localhost@evil.example",
                "%2F%2Fevil.example", "javascript:alert(1)", " //evil.example"]
# The sign-in flows each take a few password hashes per try: the three and the
# encoded forms. Every flow calls safe_next, which meets the whole list above.
FLOW_TARGETS = ["https://evil.example", "//evil.example", "/\\evil.example",
                "/%5Cevil.example", "\\\\evil.example", "https:evil.example"]


def _directives(csp: str) -> dict[str, list[str]]:
    out = {}
    for part in csp.split(";"):
        words = part.split()
        if words:
            out[words[0]] = words[1:]
    return out


def assert_headers(response: TestResponse, endpoint: str, where: str) -> None:
    """The headers every response carries; no-store on everything personal."""
    h = response.headers
    csp = _directives(h.get("Content-Security-Policy", ""))
    assert csp.get("default-src") == ["'self'"], where
    scripts = csp.get("script-src", csp["default-src"])
    assert "'unsafe-inline'" not in scripts and "'unsafe-eval'" not in scripts, where
    assert all(s == "'self'" or s.startswith("'nonce-") for s in scripts), where
    assert csp.get("frame-ancestors") == ["'none'"], where
    assert csp.get("object-src") == ["'none'"], where
    assert csp.get("base-uri") == ["'none'"], where
    assert csp.get("form-action") == ["'self'"], where
    assert h.get("X-Content-Type-Options") == "nosniff", where
    assert h.get("Referrer-Policy") == "no-referrer", where
    assert h.get("X-Frame-Options") == "DENY", where
    if endpoint not in CACHEABLE:
        assert "no-store" in h.get("Cache-Control", ""), where
    assert "Strict-Transport-Security" not in h, f"HSTS outside production: {where}"


def assert_no_inline_script(response: TestResponse, where: str) -> None:
    """An HTML page's scripts are files, or carry this response's nonce."""
    if response.mimetype != "text/html" or response.status_code != 200:
        return
    html = response.get_data(as_text=True)
    nonces = re.findall(r"'nonce-([^']+)'", response.headers["Content-Security-Policy"])
    for tag in re.findall(r"<script\b[^>]*>", html, flags=re.I):
        has_src = re.search(r"\ssrc=", tag, flags=re.I)
        nonce = re.search(r'\snonce="([^"]+)"', tag)
        assert has_src or (nonce and nonce.group(1) in nonces), f"inline script on {where}"
    assert not re.search(r"<[^>]+\son[a-z]+\s*=", html, flags=re.I), \
        f"inline event handler on {where}"
    assert "javascript:" not in html.lower(), where


@pytest.fixture
def walkers(app: Flask, session: Session, demo: Any,
            api_key: Callable[..., str]) -> dict[str, Any]:
    """A client for each kind of caller, and real values for the routes' parameters."""
    subject_id = session.scalar(select(Holding.subject_id)
                                .where(Holding.agency_ref == "FP-DEMO-0001"))
    notice_id = session.scalar(select(Notice.id).limit(1))
    account = make_account(session, subject_id=subject_id)
    staff = make_staff(session, "fenshire-police", *[r.value for r in Role])
    person, officer = app.test_client(), app.test_client()
    login(person, account)
    login(officer, staff)
    key = api_key("fenshire-police", "consent:check", "holdings:write", "sar:supply")
    values = {"agency_ref": "FP-DEMO-0001", "notice_id": notice_id, "action": "withdraw",
              "public_id": "unknown", "what": "pdf", "token": "unknown", "code": "cy",
              "client_id": 1, "holding_id": 1, "record_id": 1, "kind": "agencies",
              "reference": "SAR-AAAA-BBBB", "filename": "build/portal.css",
              "subject_id": subject_id, "bundle_id": uuid.uuid4(), "receipt_id": uuid.uuid4(),
              "task_id": uuid.uuid4(), "staff_id": staff.id, "language": "cy", "number": 1,
              "item_id": 1, "agreement_id": 1, "account_id": uuid.uuid4(), "document_id": 1,
              "file_id": 1, "page": 1}
    return {"account": person, "staff": officer, "key": key, "values": values}


def _routes(app: Flask, values: dict[str, Any]) -> Iterator[tuple[str, str, str]]:
    adapter = app.url_map.bind("localhost")
    for rule in app.url_map.iter_rules():
        missing = rule.arguments - set(values)
        assert not missing, f"{rule.rule}: give {sorted(missing)} a value in walkers()"
        url = adapter.build(rule.endpoint, {a: values[a] for a in rule.arguments})
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            yield rule.endpoint, method, url


def test_every_route_sends_the_security_headers(app: Flask, client: FlaskClient,
                                                walkers: dict[str, Any]) -> None:
    # Given every route, and a caller allowed to use it (a person, staff, an agency's key)
    seen = 0
    for endpoint, method, url in _routes(app, walkers["values"]):
        rule = access_rule(app.view_functions[endpoint]) or "public"
        callers: list[tuple[str, FlaskClient, dict[str, str]]] = [("anonymous", client, {})]
        if rule == "account":
            callers.append(("account", walkers["account"], {}))
        elif rule.startswith("staff:"):
            callers.append(("staff", walkers["staff"], {}))
        elif rule.startswith("api:"):
            callers.append(("api key", client, bearer(walkers["key"])))
        for who, caller, headers in callers:
            # When it is asked for (forms without a CSRF token are refused, and still count)
            kwargs: dict[str, Any] = {"json": {}} if url.startswith("/api/") else {}
            r = caller.open(url, method=method, headers=headers, **kwargs)
            where = f"{method} {url} as {who} -> {r.status_code}"
            # Then the answer, whatever it is, carries the headers
            assert r.status_code < 500, where
            assert_headers(r, endpoint, where)
            assert_no_inline_script(r, where)
            seen += 1
    assert seen > 100


def test_personal_pages_that_answer_are_not_stored(client: FlaskClient,
                                                   walkers: dict[str, Any]) -> None:
    # The walk above mostly meets refusals; these are the pages themselves, answering 200.
    pages = {"account": ["/my", "/my/consents", "/my/records", "/my/activity", "/my/download",
                         "/sar/mine", "/account/two-factor"],
             "staff": ["/staff/", "/staff/subjects", f"/staff/subjects/"
                       f"{walkers['values']['subject_id']}", "/staff/sar/",
                       "/staff/admin/api-keys", "/staff/first-contact/", "/staff/admin/staff",
                       f"/staff/admin/staff/{walkers['values']['staff_id']}", "/staff/notices"]}
    for who, urls in pages.items():
        for url in urls:
            r = walkers[who].get(url)
            assert r.status_code == 200, (url, r.status_code)
            assert r.headers["Cache-Control"] == "no-store", url
    r = client.post("/api/v1/consent/check", headers=bearer(walkers["key"]), json={
        "subject": {"agency_ref": "FP-DEMO-0001"}, "recipient": "victim-care",
        "purpose": "victim-support-referral", "categories": ["contact-details"]})
    assert r.status_code == 200 and r.headers["Cache-Control"] == "no-store"


def test_public_information_pages_are_not_stored_either(client: FlaskClient) -> None:
    # A cached "Staying safe" page on a shared phone says what its owner was reading.
    for url in ("/", "/help", "/staying-safe", "/exit-this-page", "/privacy", "/cookies",
                "/accessibility", "/account/sign-in", "/staff/sign-in", "/sar/request"):
        r = client.get(url)
        assert r.status_code == 200, url
        assert r.headers["Cache-Control"] == "no-store", url


def _production_app(tmp_path: Path, **overrides: Any) -> Flask:
    # Nothing here touches the database: an address where nothing listens is enough.
    config = Config(env="production", secret_key="p" * 40, instance_path=str(tmp_path),
                    database_url="postgresql+psycopg://nobody@127.0.0.1:9/none",
                    receipt_signing_key='{"kty": "EC"}', log_level="WARNING",
                    ratelimit_storage_uri="memory://", **overrides)
    return create_app(config)


def _set_cookies(response: TestResponse) -> dict[str, str]:
    return {h.split("=", 1)[0]: h for h in response.headers.getlist("Set-Cookie")}


def test_production_sends_hsts_and_secure_cookies(tmp_path: Path) -> None:
    # Given the app configured for production
    app = _production_app(tmp_path)
    client = app.test_client()
    # Then every answer asks browsers to use HTTPS only, for two years
    for url in ("/", "/account/sign-in", "/staff/sign-in", "/api/v1/openapi.json",
                "/no-such-page"):
        hsts = client.get(url).headers.get("Strict-Transport-Security", "")
        assert re.fullmatch(r"max-age=(\d+); includeSubDomains", hsts), url
        assert int(hsts.split("=")[1].split(";")[0]) >= 31536000
    # And the cookies it sets are Secure, HttpOnly and SameSite, scoped to this host
    session_cookie = _set_cookies(app.test_client().get("/account/sign-in"))["portal_session"]
    language_cookie = _set_cookies(client.get("/language/cy?next=/"))["portal_lang"]
    for cookie in (session_cookie, language_cookie):
        flags = [f.strip().lower() for f in cookie.split(";")]
        assert "secure" in flags and "httponly" in flags and "samesite=lax" in flags, cookie
        assert not any(f.startswith("domain=") for f in flags), cookie
        assert "path=/" in flags, cookie


def test_development_keeps_cookies_usable_over_plain_http(tmp_path: Path) -> None:
    config = Config(env="development", instance_path=str(tmp_path), log_level="WARNING",
                    database_url=f"sqlite:///{tmp_path}/dev.sqlite3")
    client = create_app(config).test_client()
    r = client.get("/account/sign-in")
    assert "Strict-Transport-Security" not in r.headers
    cookie = _set_cookies(r)["portal_session"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "secure" not in cookie


def assert_stays_here(location: str) -> None:
    """A browser following this Location stays on this site."""
    resolved = urlsplit(urljoin("http://portal.example/account/sign-in", location))
    assert resolved.scheme == "http" and resolved.netloc == "portal.example", location
    assert "evil" not in location, location


@pytest.mark.parametrize("target", EVIL_TARGETS)
def test_safe_next_refuses_other_sites(target: str) -> None:
    assert safe_next(target, "/home") == "/home"


def test_safe_next_keeps_paths_on_this_site() -> None:
    for target in ("/my", "/my/consents?page=2", "/staff/subjects/abc#x"):
        assert safe_next(target) == target


@pytest.fixture
def unthrottled(db_url: str, tmp_path: Path, demo: Any) -> Iterator[FlaskClient]:
    """A client of an app without rate limits: these tests sign in many times in a row."""
    from portal.database import get_database

    application = create_app(make_config(db_url, tmp_path / "unthrottled", rate_limits=False))
    yield application.test_client()
    get_database(application).engine.dispose()


def test_public_sign_in_never_sends_anyone_to_another_site(unthrottled: FlaskClient,
                                                           session: Session) -> None:
    from tests.consent.selfservice.helpers import csrf

    client = unthrottled
    account = make_account(session)
    for target in FLOW_TARGETS:
        # Given a person whose link was crafted with a next parameter pointing away
        client.delete_cookie("portal_session")
        token = csrf(client, f"/account/sign-in?next={target}")
        # When they sign in with a password
        r = client.post("/account/sign-in", data={"csrf_token": token, "email": account.email,
                                                  "password": PASSWORD, "next": target})
        # Then they land on this site
        assert r.status_code == 302, target
        assert_stays_here(r.headers["Location"])
        # And the second-factor step refuses it too, and so does the language switch
        r = client.get("/account/second-factor", query_string={"next": target})
        assert r.status_code == 302, target
        assert_stays_here(r.headers["Location"])
        r = client.get("/language/cy", query_string={"next": target})
        assert_stays_here(r.headers["Location"])


def test_public_second_factor_never_sends_anyone_to_another_site(unthrottled: FlaskClient,
                                                                 session: Session) -> None:
    from portal.database import utcnow
    from tests.consent.selfservice.helpers import csrf

    client = unthrottled
    for target in FLOW_TARGETS:
        client.delete_cookie("portal_session")
        account = make_account(session)
        account.totp_secret = pyotp.random_base32()
        account.totp_enabled_at = utcnow()
        session.commit()
        token = csrf(client, "/account/sign-in")
        r = client.post("/account/sign-in", data={"csrf_token": token, "email": account.email,
                                                  "password": PASSWORD, "next": target})
        assert r.status_code == 302, target
        assert_stays_here(r.headers["Location"])
        token = csrf(client, "/account/second-factor")
        r = client.post("/account/second-factor", data={
            "csrf_token": token, "code": pyotp.TOTP(account.totp_secret).now(),
            "next": target})
        assert r.status_code == 302, target
        assert_stays_here(r.headers["Location"])


def test_staff_sign_in_never_sends_anyone_to_another_site(unthrottled: FlaskClient,
                                                          session: Session) -> None:
    from tests.staff_helpers import csrf

    client = unthrottled
    staff = make_staff(session, "fenshire-police", Role.CONSENT_OFFICER)
    for target in FLOW_TARGETS:
        # The password step keeps where to go after the code: never another site.
        client.delete_cookie("portal_session")
        r = client.post("/staff/sign-in", query_string={"next": target}, data={
            "csrf_token": csrf(client), "email": staff.email, "password": PASSWORD})
        assert r.status_code == 302, target
        assert_stays_here(r.headers["Location"])
        with client.session_transaction() as s:
            assert s.get("staff_next") == "", target
    # And the code step, following it, lands on the staff home page
    r = client.post("/staff/second-factor", data={
        "csrf_token": csrf(client, "/staff/second-factor"),
        "code": pyotp.TOTP(staff.totp_secret or "").now()})
    assert r.status_code == 302
    assert_stays_here(r.headers["Location"])
    assert r.headers["Location"].endswith("/staff/")
