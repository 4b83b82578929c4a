"""Shared UI: GOV.UK Frontend templates, the language choice, CSP nonces, error pages."""

from __future__ import annotations

import logging
import secrets
from typing import Any
from urllib.parse import unquote, urlsplit

from flask import (
    Blueprint,
    Flask,
    current_app,
    g,
    has_request_context,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from jinja2 import ChoiceLoader, PackageLoader, PrefixLoader
from markupsafe import Markup
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException, ServiceUnavailable
from werkzeug.wrappers import Response

from portal import database
from portal.config import Config
from portal.http import http_problem, problem

log = logging.getLogger("portal.ui")

LANGUAGE_COOKIE = "portal_lang"
# Translators: language names are shown in their own language, never translated.
LANGUAGE_NAMES = {"en": "English", "cy": "Cymraeg", "pl": "Polski"}

bp = Blueprint("ui", __name__)


def safe_next(target: str | None, fallback: str = "/") -> str:
    """A redirect target on this site only: a path, never a scheme, host or backslash trick."""
    if not target:
        return fallback
    # Judge the target decoded as well: a proxy or an old browser that decodes %5C or %2F
    # would turn /%5Cevil.example into /\evil.example, which some read as another host.
    for form in (target, unquote(target)):
        if not form.startswith("/") or form.startswith("//") or "\\" in form:
            return fallback
        parts = urlsplit(form)
        if parts.scheme or parts.netloc or any(ord(c) < 32 or ord(c) == 127 for c in form):
            return fallback
    return target


def select_locale() -> str:
    """The page language: an explicit choice, then the account's, then the browser's."""
    config: Config = current_app.config["PORTAL"]
    chosen = request.args.get("lang") or request.cookies.get(LANGUAGE_COOKIE)
    if chosen in config.locales:
        return chosen
    preferred = getattr(g, "preferred_language", None)
    if preferred in config.locales:
        return str(preferred)
    return request.accept_languages.best_match(config.locales) or config.default_locale


@bp.get("/language/<code>")
def change_language(code: str) -> Response:
    """Remember a language choice and go back to the page the person was on."""
    config: Config = current_app.config["PORTAL"]
    response = redirect(safe_next(request.args.get("next")))
    if code in config.locales:
        response.set_cookie(LANGUAGE_COOKIE, code, max_age=365 * 24 * 3600, httponly=True,
                            samesite="Lax", secure=current_app.config["SESSION_COOKIE_SECURE"])
    return response


def _template_globals() -> dict[str, Any]:
    config: Config = current_app.config["PORTAL"]
    locale = str(get_locale() or config.default_locale)
    return {
        "csp_nonce": csp_nonce(),
        "current_language": locale,
        "languages": [(code, LANGUAGE_NAMES.get(code, code)) for code in config.locales],
        "partnership_name": config.partnership_name,
        # Templates also render outside requests (PDFs and emails in the SAR worker), where
        # there are no pages to link to.
        "footer_links": [(url_for(endpoint), text) for endpoint, text in FOOTER_LINKS
                         if endpoint in current_app.view_functions]
        if has_request_context() else [],
    }


def csp_nonce() -> str:
    """A per-request nonce for the one inline script GOV.UK Frontend's template needs."""
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(16)
    nonce: str = g.csp_nonce
    return nonce


# Pages every page links to, once they exist (endpoint, link text).
FOOTER_LINKS: list[tuple[str, Any]] = [
    ("info.help_page", _l("Help")),
    ("info.safety", _l("Staying safe online")),
    ("info.accessibility", _l("Accessibility statement")),
    ("info.privacy", _l("Privacy notice")),
    ("info.cookies", _l("Cookies")),
]

ERROR_TITLES = {
    400: _l("Something was wrong with the request"),
    403: _l("You cannot see this page"),
    404: _l("Page not found"),
    405: _l("Page not found"),
    413: _l("The file or form was too large"),
    429: _l("Too many attempts"),
    500: _l("Sorry, there is a problem with the service"),
    503: _l("Sorry, the service is unavailable"),
}


def _error_page(exc: HTTPException) -> tuple[str, int]:
    code = exc.code or 500
    return render_template("errors/error.html", code=code,
                           title=ERROR_TITLES.get(code, ERROR_TITLES[500])), code


def isolate(value: object) -> Markup:
    """Person-supplied text, escaped, in a bidirectional isolate of its own (``<bdi>``)."""
    # A name in Arabic beside Latin text would otherwise reorder its neighbours' characters
    # in a PDF (a family name "<b>Bold</b>" printed as "< محمدb>Bold</b>").
    return Markup("<bdi>{}</bdi>").format(value)


def init_app(app: Flask) -> None:
    """Wire GOV.UK Frontend's Jinja macros, template globals and HTML error pages."""
    loader = app.jinja_loader
    assert loader is not None  # noqa: S101 - Flask always sets one
    app.jinja_loader = ChoiceLoader([
        loader,
        PrefixLoader({"govuk_frontend_jinja": PackageLoader("govuk_frontend_jinja")}),
    ])
    app.context_processor(_template_globals)
    app.add_template_filter(isolate, "bdi")
    app.register_blueprint(bp)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Any:
        if request.path.startswith("/api/"):

            return http_problem(exc)
        body, code = _error_page(exc)
        # A 405 names the methods the address does allow (RFC 9110), on pages as on the API.
        allowed = {k: v for k, v in exc.get_headers() if k.lower() == "allow"}
        return body, code, allowed

    @app.errorhandler(OperationalError)
    @app.errorhandler(PoolTimeout)
    def _database_unavailable(exc: Exception) -> Any:
        # The database is unreachable, locked past the timeout or restarting: the page is
        # temporarily unavailable (503, try again), not broken (500). Nothing was committed.
        log.warning("database unavailable", extra={"endpoint": request.endpoint,
                                                   "error": type(exc).__name__})
        headers = {"Retry-After": "5"}
        if request.path.startswith("/api/"):

            return problem(503, "the service is unavailable; try again", code="unavailable",
                           headers=headers)
        try:

            database.rollback_if_open()
            # Render as signed out: looking the user up again would wait on the database again.
            g._login_user = current_app.login_manager.anonymous_user()  # type: ignore[attr-defined]
            body, code = _error_page(ServiceUnavailable())
        except Exception:  # noqa: BLE001 - the page may still need the database
            return Response("Service unavailable", status=503, mimetype="text/plain",
                            headers=headers)
        return body, code, headers
