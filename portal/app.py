"""The application factory."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

from flask import Flask, Response, abort, g, request
from flask_babel import get_locale
from werkzeug.middleware.proxy_fix import ProxyFix

from portal import database, i18n, mail, ui
from portal import logging as portal_logging
from portal.config import Config
from portal.extensions import babel, csrf, limiter
from portal.identity import sessions
from portal.security import PUBLIC_ENDPOINTS, access_rule

ROOT = Path(__file__).resolve().parent.parent
log = logging.getLogger("portal.app")


def create_app(config: Config | None = None) -> Flask:
    """Build the portal application from a Config (default: the environment)."""
    config = config or Config.from_env()
    config.validate()
    instance_path = config.instance_path or str(ROOT / "instance")
    app = Flask("portal", instance_path=instance_path, instance_relative_config=True,
                template_folder=str(ROOT / "templates"), static_folder=str(ROOT / "static"))
    Path(instance_path).mkdir(parents=True, exist_ok=True)
    if not config.instance_path:
        config = replace(config, instance_path=instance_path)
    portal_logging.configure(config.log_level)
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
        RATELIMIT_STORAGE_URI=config.redis_url or "memory://",
        RATELIMIT_ENABLED=config.rate_limits,
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the session, which is bounded
    )
    if config.proxy_hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=config.proxy_hops,  # type: ignore[method-assign]
                                x_proto=config.proxy_hops, x_host=config.proxy_hops)
    database.init_app(app, config)
    csrf.init_app(app)
    babel.init_app(app, locale_selector=ui.select_locale)
    app.jinja_env.globals["get_locale"] = get_locale
    ui.init_app(app)
    limiter.init_app(app)
    sessions.init_app(app)

    import portal.selfservice
    import portal.staff
    import sar
    from consent.views import api as consent_api
    from portal import api, cli, public

    if "public" in config.surfaces or "staff" in config.surfaces:
        app.register_blueprint(public.bp)
    else:
        app.register_blueprint(public.health_bp)
    if "api" in config.surfaces:
        app.register_blueprint(api.bp)
        app.register_blueprint(consent_api)
        csrf.exempt(api.bp)
        csrf.exempt(consent_api)
    cli.register(app)
    # Each area registers its own blueprints and commands.
    if "public" in config.surfaces:
        portal.selfservice.init_app(app)
    if "staff" in config.surfaces:
        portal.staff.init_app(app)
    sar.init_app(app)  # spans the public, staff and API surfaces; it checks them itself

    @app.before_request
    def _deny_by_default() -> None:
        if request.endpoint is None or request.endpoint in PUBLIC_ENDPOINTS:
            return
        # Deny by default: a route with neither a public listing nor a declared access rule
        # is refused, so a forgotten check fails safe.
        if access_rule(app.view_functions.get(request.endpoint)) is None:
            log.error("route without an access rule refused", extra={"endpoint": request.endpoint})
            abort(404)

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
        from portal.api import problem

        response = problem(503, "the service could not record this; treat it as a deny",
                           code="unavailable", headers={"Retry-After": "1"})
    else:
        response = Response("Service unavailable", status=503, mimetype="text/plain")
    return response


def _security_headers(response: Response, config: Config) -> None:
    headers = response.headers
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "no-referrer")
    nonce = f" 'nonce-{g.csp_nonce}'" if "csp_nonce" in g else ""
    headers.setdefault("Content-Security-Policy",
                       f"default-src 'self'; script-src 'self'{nonce}; style-src 'self'; "
                       "img-src 'self' data:; font-src 'self'; object-src 'none'; "
                       "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    if config.is_production:
        headers.setdefault("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
    if request.endpoint != "static":
        # No-store unless a view chose otherwise (the receipt-signing key): on a shared or
        # seized phone even a cached information page says what its owner was reading.
        headers.setdefault("Cache-Control", "no-store")
