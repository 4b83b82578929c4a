"""The public self-service portal: accounts, my consents, my records, my data (issue 3)."""

from __future__ import annotations

from flask import Flask, Response


def no_store(response: Response) -> Response:
    """Personal and account pages are never kept by a browser or a proxy."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


def _end_sessions_on_exit() -> None:
    # Exit this page must leave nothing usable behind: a copy of the cookie (another tab, a
    # synced browser) stops working too, not only the one this browser is about to drop.
    from flask import request

    if request.endpoint != "public.exit_page":
        return
    from portal import audit, database
    from portal.identity import sessions

    account = sessions.current_account()
    if account is not None:
        audit.record(database.session(), "account.exit", sessions.actor(),
                     object_type="account", object_id=str(account.id))
        sessions.sign_out()


def init_app(app: Flask) -> None:
    """Register the public area's blueprints."""
    from portal.selfservice import accounts, info, views

    app.before_request(_end_sessions_on_exit)

    app.register_blueprint(info.bp)
    app.register_blueprint(accounts.bp)
    app.register_blueprint(views.bp)
