"""The public self-service portal: accounts, my consents, my records, my data."""

from __future__ import annotations

from flask import Flask, Response


def no_store(response: Response) -> Response:
    """Personal and account pages are never kept by a browser or a proxy."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


def _shared_routes() -> None:
    """What the public area adds to two shared routes, for signed-in accounts."""
    from flask import current_app, request

    if request.endpoint not in {"public.exit_page", "ui.change_language"}:
        return
    from portal import audit, database
    from portal.identity import sessions

    account = sessions.current_account()
    if account is None:
        return
    if request.endpoint == "ui.change_language":
        # A language chosen in the header is remembered on the account too.
        code = (request.view_args or {}).get("code", "")
        locales = current_app.config["PORTAL"].locales
        if code in locales and code != account.preferred_language:
            from portal.selfservice import operations

            operations.set_language(database.session(), account, code, locales,
                                    actor=sessions.actor())
        return
    # Exit this page must leave nothing usable behind: a copy of the cookie (another tab, a
    # synced browser) stops working too, not only the one this browser is about to drop.
    audit.record(database.session(), "account.exit", sessions.actor(),
                 object_type="account", object_id=str(account.id))
    sessions.sign_out()


def init_app(app: Flask) -> None:
    """Register the public area's blueprints."""
    from portal.selfservice import accounts, info, views

    app.before_request(_shared_routes)

    app.register_blueprint(info.bp)
    app.register_blueprint(accounts.bp)
    app.register_blueprint(views.bp)
