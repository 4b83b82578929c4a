"""Information pages anyone can read: help, staying safe, accessibility, privacy, cookies."""

from __future__ import annotations

from flask import Blueprint, render_template

from portal.http import public

bp = Blueprint("info", __name__)


@bp.get("/help")
@public
def help_page() -> str:
    """Help by phone and in person (assisted digital)."""
    return render_template("public/help.html")


@bp.get("/staying-safe")
@public
def safety() -> str:
    """Leaving in a hurry, shared devices, private browsing, where to get help."""
    return render_template("public/safety.html")


@bp.get("/exit-this-page")
@public
def exit_explained() -> str:
    """The interruption page that explains Exit this page the first time."""
    return render_template("public/exit_explained.html")


@bp.get("/accessibility")
@public
def accessibility() -> str:
    """The accessibility statement (UK public-sector model)."""
    return render_template("public/accessibility.html")


@bp.get("/privacy")
@public
def privacy() -> str:
    """The privacy notice."""
    return render_template("public/privacy.html")


@bp.get("/cookies")
@public
def cookies() -> str:
    """The strictly necessary cookies, with purpose and expiry."""
    return render_template("public/cookies.html")
