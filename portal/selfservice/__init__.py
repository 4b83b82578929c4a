"""The public self-service portal: accounts, my consents, my records, my data (issue 3)."""

from __future__ import annotations

from flask import Flask, Response


def no_store(response: Response) -> Response:
    """Personal and account pages are never kept by a browser or a proxy."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


def init_app(app: Flask) -> None:
    """Register the public area's blueprints."""
    from portal.selfservice import accounts, info, views

    app.register_blueprint(info.bp)
    app.register_blueprint(accounts.bp)
    app.register_blueprint(views.bp)
