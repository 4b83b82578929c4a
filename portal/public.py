"""The public site's blueprint (the self-service pages build on this)."""

from __future__ import annotations

from flask import (
    Blueprint,
    Response,
    current_app,
    jsonify,
    redirect,
    render_template,
    session,
)
from sqlalchemy import text
from werkzeug.wrappers import Response as BaseResponse

from portal import database

# Somewhere that looks ordinary in a browser history.
NEUTRAL_SITE = "https://www.bbc.co.uk/weather"

bp = Blueprint("public", __name__)
health_bp = Blueprint("public", __name__)


@bp.get("/")
def index() -> str:
    """The start page."""
    return render_template("public/index.html")


@bp.get("/exit")
def exit_page() -> BaseResponse:
    """Leave in a hurry: end any session, then go to a neutral site."""
    session.clear()
    response = redirect(NEUTRAL_SITE)
    response.headers["Clear-Site-Data"] = '"cache", "cookies", "storage"'
    return response


@bp.get("/.well-known/jwks.json")
def jwks() -> Response:
    """The public key that verifies consent receipts."""
    # The receipts' signer is consent's: the composition root hands the kernel its key set.
    response = jsonify(current_app.extensions["public.jwks"]())
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response


def healthz() -> tuple[Response, int]:
    """Liveness and database reachability, for a load balancer."""
    try:
        database.session().execute(text("SELECT 1"))
    except Exception:  # noqa: BLE001 - any failure means not ready
        return jsonify({"status": "unavailable"}), 503
    return jsonify({"status": "ok"}), 200


bp.add_url_rule("/healthz", "healthz", healthz)
health_bp.add_url_rule("/healthz", "healthz", healthz)
