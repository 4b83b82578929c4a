"""Subject access requests: the legal clock, workflow, tasks, bundles and delivery (issue 5)."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the SAR area's blueprints and commands."""
