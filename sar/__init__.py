"""Subject access requests: the legal clock, workflow, tasks, bundles and delivery (issue 5)."""

from __future__ import annotations

from flask import Flask

from sar.cli import sar_cli


def init_app(app: Flask) -> None:
    """Register the SAR area's blueprints (per surface) and commands."""
    surfaces = app.config["PORTAL"].surfaces
    if "api" in surfaces:
        from sar.api import bp as api_bp

        app.register_blueprint(api_bp)
    app.cli.add_command(sar_cli)
