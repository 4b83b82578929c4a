"""The staff back office: staff sign-in, roles, first contact, administration (issue 4)."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the staff area's blueprints."""
