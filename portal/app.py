"""The application factory."""

from __future__ import annotations

import logging
import mimetypes
import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

import orjson
from flask import Flask, Request, Response, abort, g, request, send_from_directory
from flask.json.provider import DefaultJSONProvider
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from flask_babel import get_locale
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.sansio.response import Response as BaseResponse
from werkzeug.security import safe_join

from portal import database, i18n, mail, ui
from portal import logging as portal_logging
from portal.config import Config
from portal.extensions import babel, csrf, limiter
from portal.http import PUBLIC_ENDPOINTS, access_rule
from portal.identity import sessions

ROOT = Path(__file__).resolve().parent.parent
log = logging.getLogger("portal.app")


class PortalFlask(Flask):
    """Flask, minus the per-call check for coroutine views (the portal has none: a test walks
    every view and hook, and the check costs about a tenth of a millisecond per request), and
    serving the build's gzip copies of static files."""

    def ensure_sync(self, func: Callable[..., Any]) -> Callable[..., Any]:
        """Every view and hook here is synchronous already."""
        return func

    def send_static_file(self, filename: str) -> Response:
        """The static file, or the gzip copy the build wrote beside it for a client that
        accepts gzip (the stylesheet and script are most of what a page weighs)."""
        folder = self.static_folder
        path = safe_join(folder, filename) if folder else None
        if folder is None or path is None or not _fresh_gzip_copy(path):
            return super().send_static_file(filename)
        if not request.accept_encodings["gzip"]:
            response = super().send_static_file(filename)
        else:
            mimetype = mimetypes.guess_type(filename)[0] or "application/octet-stream"
            response = send_from_directory(folder, f"{filename}.gz",
                                           mimetype=mimetype,
                                           max_age=self.get_send_file_max_age(filename))
            response.headers["Content-Encoding"] = "gzip"
        response.vary.add("Accept-Encoding")
        return response


def _fresh_gzip_copy(path: str) -> bool:
    # A copy older than its file (a stylesheet rebuilt by hand) is never served.
    try:
        return os.stat(f"{path}.gz").st_mtime >= os.stat(path).st_mtime
    except OSError:
        return False


class PortalJSONProvider(DefaultJSONProvider):
    """Flask's JSON answers encoded by orjson: the same keys, order and values, in a tenth of
    the time (a batch check's answer is a thousand objects)."""

    # Times and dataclasses go to Flask's own conversion, as before; keys that are not text
    # make orjson refuse, and json sorts them as Flask does.
    _OPTIONS = (orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_DATETIME
                | orjson.OPT_PASSTHROUGH_DATACLASS)

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        """Serialize as compact JSON; other options (an indent for debugging) go to json."""
        if kwargs and kwargs != {"separators": (",", ":")}:
            return super().dumps(obj, **kwargs)
        return self._encode(obj).decode()

    def response(self, *args: Any, **kwargs: Any) -> BaseResponse:
        """A JSON response, as compact as Flask's outside debug mode."""
        if self.compact is False or (self.compact is None and self._app.debug):
            return super().response(*args, **kwargs)
        body = self._encode(self._prepare_response_obj(args, kwargs))
        # Typed as werkzeug's base class, whose constructor takes no body.
        response_class: Any = self._app.response_class
        return cast(BaseResponse, response_class(body + b"\n", mimetype=self.mimetype))

    def _encode(self, obj: Any) -> bytes:
        try:
            return orjson.dumps(obj, default=self.default, option=self._OPTIONS)
        except TypeError:  # what orjson refuses (an integer beyond 64 bits): json's way
            return super().dumps(obj, separators=(",", ":")).encode()


class PortalSessionInterface(SecureCookieSessionInterface):
    """Cookie sessions for pages; none at all for the machine API, which authenticates by key
    alone and must never read or set a cookie."""

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        """A null session (writing to it raises) on /api/, the signed cookie elsewhere."""
        if request.path.startswith("/api/"):
            return self.make_null_session(app)
        return super().open_session(app, request)


def create_app(config: Config | None = None) -> Flask:
    """Build the portal application from a Config (default: the environment)."""
    config = config or Config.from_env()
    config.validate()
    instance_path = config.instance_path or str(ROOT / "instance")
    app = PortalFlask("portal", instance_path=instance_path, instance_relative_config=True,
                template_folder=str(ROOT / "templates"), static_folder=str(ROOT / "static"))
    Path(instance_path).mkdir(parents=True, exist_ok=True)
    app.session_interface = PortalSessionInterface()
    app.json = PortalJSONProvider(app)
    if not config.instance_path:
        config = replace(config, instance_path=instance_path)
    portal_logging.configure(config.log_level)
    if config.is_production and config.rate_limits and not config.shared_rate_limits:
        log.warning("rate limits are counted in this process's memory "
                    "(PORTAL_RATELIMIT_STORAGE_URI=memory://): run a single worker, or set "
                    "PORTAL_REDIS_URL so that every worker and instance shares the counters")
    app.config.update(
        PORTAL=config,
        SECRET_KEY=config.secret_key,
        DEBUG=config.debug,
        MAX_CONTENT_LENGTH=1024 * 1024,
        SESSION_COOKIE_NAME="portal_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=config.env != "development" and config.env != "testing",
        **i18n.babel_settings(),
        BABEL_DEFAULT_LOCALE=config.default_locale,
        TESTING=config.env == "testing",
        RATELIMIT_STORAGE_URI=config.rate_limit_storage(),
        RATELIMIT_KEY_PREFIX=config.ratelimit_key_prefix,
        RATELIMIT_ENABLED=config.rate_limits,
        # If Redis goes away, count in this process's memory until it is back rather than
        # failing every sign-in: limits stay on, only less tight.
        RATELIMIT_IN_MEMORY_FALLBACK_ENABLED=config.shared_rate_limits,
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the session, which is bounded
    )
    if config.proxy_hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=config.proxy_hops,  # type: ignore[method-assign]
                                x_proto=config.proxy_hops, x_host=config.proxy_hops)
    db = database.init_app(app, config)
    from consent.check.service import CheckService

    app.extensions["consent.checks"] = CheckService(db.engine, db.sessionmaker,
                                                    timeout_ms=config.check_timeout_ms)
    csrf.init_app(app)
    babel.init_app(app, locale_selector=ui.select_locale)
    app.jinja_env.globals["get_locale"] = get_locale
    ui.init_app(app)
    limiter.init_app(app)
    sessions.init_app(app)

    _compose(app, config)

    @app.before_request
    def _deny_by_default() -> None:
        if request.endpoint is None or request.endpoint in PUBLIC_ENDPOINTS:
            return
        # Deny by default: a route with neither a public listing nor a declared access rule
        # is refused, so a forgotten check fails safe.
        if access_rule(app.view_functions.get(request.endpoint)) is None:
            log.error("route without an access rule refused", extra={"endpoint": request.endpoint})
            abort(404)

    @app.before_request
    def _refuse_nul() -> None:
        # PostgreSQL cannot hold NUL in text, so a page's input carrying one is malformed:
        # refused (400) before any view hands it to a query (a 500 there). The API refuses
        # it itself, as the 422 its document states.
        if request.path.startswith("/api/"):
            return
        values = list(request.args.items(multi=True))
        if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
            values += request.form.items(multi=True)
        if "\x00" in request.path or any("\x00" in k or "\x00" in v for k, v in values):
            abort(400)

    @app.after_request
    def _finish(response: Response) -> Response:
        # One commit per request, at the end, before anything is sent: an answer is never
        # given for work that is not durable.
        if response.status_code < 400:
            try:
                database.commit_if_open()
            except Exception:
                log.exception("commit failed", extra={"endpoint": request.endpoint})
                database.rollback_if_open()
                mail.discard_queue()
                return _commit_failed()
            mail.flush_queue()
        else:
            database.rollback_if_open()
            mail.discard_queue()
        _security_headers(response, config)
        return response

    return app


def _commit_failed() -> Response:
    if request.path.startswith("/api/"):
        from portal.http import problem

        response = problem(503, "the service could not record this; treat it as a deny",
                           code="unavailable", headers={"Retry-After": "1"})
    else:
        response = Response("Service unavailable", status=503, mimetype="text/plain")
    return response


def _security_headers(response: Response, config: Config) -> None:
    headers = response.headers
    present = {key.lower() for key, _value in headers.items()}
    nonce = f" 'nonce-{g.csp_nonce}'" if "csp_nonce" in g else ""
    wanted = [
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "no-referrer"),
        ("Content-Security-Policy",
         f"default-src 'self'; script-src 'self'{nonce}; style-src 'self'; "
         "img-src 'self' data:; font-src 'self'; object-src 'none'; "
         "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"),
        ("X-Frame-Options", "DENY"),
        ("Cross-Origin-Opener-Policy", "same-origin"),
    ]
    if config.is_production:
        wanted.append(("Strict-Transport-Security", "max-age=63072000; includeSubDomains"))
    if request.endpoint != "static":
        # No-store unless a view chose otherwise (the receipt-signing key): on a shared or
        # seized phone even a cached information page says what its owner was reading.
        wanted.append(("Cache-Control", "no-store"))
    # One pass over the headers already set (a view may set its own), then plain appends.
    for key, value in wanted:
        if key.lower() not in present:
            headers.add(key, value)


def _compose(app: Flask, config: Config) -> None:
    """Register every area's blueprints, hooks and commands, for the surfaces this instance
    serves. The one place that knows every area: each imports only what is beneath it."""
    from consent import cli as consent_cli
    from consent import openapi as consent_openapi
    from consent import operations as consent_ops
    from consent.receipts import public_jwks
    from portal import audit_cli, info, migrate, outbox, public
    from portal.identity import cli as identity_cli
    from portal.reference import cli as reference_cli
    from sar import cli as sar_cli
    from sar import openapi as sar_openapi
    from sar import receivers  # noqa: F401 - connects SAR's receivers to the kernel's signals

    surfaces = config.surfaces
    app.register_blueprint(public.bp if {"public", "staff"} & surfaces else public.health_bp)
    if "api" in surfaces:
        from consent.api import api as consent_api
        from portal.reference import api
        from sar.api import bp as sar_api

        # Bearer keys, never cookies: no CSRF on the machine API.
        for blueprint in (api.bp, consent_api, sar_api):
            csrf.exempt(blueprint)
        app.register_blueprint(api.bp)
        app.register_blueprint(consent_api)
    if "public" in surfaces:
        from consent.selfservice import views as selfservice
        from portal.identity import account_views

        app.before_request(account_views.shared_routes)
        app.register_blueprint(info.bp)
        app.register_blueprint(account_views.bp)
        app.register_blueprint(selfservice.bp)
    if "staff" in surfaces:
        from consent import (
            agreement_views,
            notice_views,
            register_views,  # noqa: F401 - adds the register page to admin.bp
            staff,
        )
        from consent.first_contact import views as first_contact
        from portal.identity import people, staff_views
        from portal.reference import admin, partnership

        app.jinja_env.globals["shown_safe_contact"] = staff.template_safe_contact
        for blueprint in (staff_views.auth, staff.bp, first_contact.bp, admin.bp,
                          partnership.bp, agreement_views.bp, notice_views.bp, people.bp,
                          people.setup):
            app.register_blueprint(blueprint)
    if "public" in surfaces:
        from sar.views_public import bp as sar_public

        app.register_blueprint(sar_public)
    if "staff" in surfaces:
        from sar.views_files import bp as sar_files
        from sar.views_report import bp as sar_report
        from sar.views_staff import bp as sar_staff

        app.register_blueprint(sar_staff)
        app.register_blueprint(sar_files)
        app.register_blueprint(sar_report)
    if "api" in surfaces:
        app.register_blueprint(sar_api)
    app.extensions["audit.record_verifiers"] = [consent_ops.verify_records]
    app.extensions["public.jwks"] = lambda: public_jwks(config)
    app.extensions["openapi.areas"] = [(consent_openapi.PATHS, consent_openapi.SCHEMAS),
                                       (sar_openapi.PATHS, sar_openapi.SCHEMAS)]
    for group in (migrate.db_cli, reference_cli.api_keys_cli, consent_cli.consent_cli,
                  audit_cli.audit_cli, reference_cli.holdings_cli, identity_cli.staff_cli,
                  sar_cli.sar_cli, outbox.mail_cli):
        app.cli.add_command(group)
    app.cli.add_command(consent_cli.demo_data)
