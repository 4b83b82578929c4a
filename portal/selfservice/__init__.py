"""The public self-service portal: accounts, my consents, my records, my data (issue 3)."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the public area's blueprints."""
