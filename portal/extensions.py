"""Flask extensions shared by every blueprint (initialised in create_app)."""

from __future__ import annotations

from flask import request
from flask_babel import Babel
from flask_limiter import Limiter
from flask_login import LoginManager
from flask_wtf.csrf import CSRFProtect


def client_address() -> str:
    """The caller's address as the trusted proxy reported it (ProxyFix sets remote_addr)."""
    return request.remote_addr or "unknown"


csrf = CSRFProtect()
babel = Babel()
login_manager = LoginManager()
# Storage is set from PORTAL_REDIS_URL at init: memory for one process, Redis for several.
limiter = Limiter(key_func=client_address, default_limits=[], strategy="moving-window",
                  headers_enabled=False)


@limiter.request_filter
def _consent_checks_unlimited() -> bool:
    # The consent check is the partnership's hot path and carries no limit of its own; the
    # filter spares it the limiter's per-request work (limits elsewhere are unaffected).
    return request.path.startswith("/api/v1/consent/check")
