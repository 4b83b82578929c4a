"""The public site's blueprint (the self-service pages build on this)."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, render_template
from sqlalchemy import text

from portal import database

bp = Blueprint("public", __name__)
health_bp = Blueprint("public", __name__)


@bp.get("/")
def index() -> str:
    """The start page."""
    return render_template("public/index.html")


def healthz() -> tuple[Response, int]:
    """Liveness and database reachability, for a load balancer."""
    try:
        database.session().execute(text("SELECT 1"))
    except Exception:  # noqa: BLE001 - any failure means not ready
        return jsonify({"status": "unavailable"}), 503
    return jsonify({"status": "ok"}), 200


bp.add_url_rule("/healthz", "healthz", healthz)
health_bp.add_url_rule("/healthz", "healthz", healthz)
