"""Subject access requests: the legal clock, workflow, tasks, bundles and delivery."""

from __future__ import annotations

from flask import Flask

from sar.cli import sar_cli


def init_app(app: Flask) -> None:
    """Register the SAR area's blueprints (per surface) and commands."""
    surfaces = app.config["PORTAL"].surfaces
    if "public" in surfaces:
        from sar.views_public import bp as public_bp

        app.register_blueprint(public_bp)
    if "staff" in surfaces:
        from sar.views_files import bp as files_bp
        from sar.views_staff import bp as staff_bp

        app.register_blueprint(staff_bp)
        app.register_blueprint(files_bp)
    if "api" in surfaces:
        from portal.extensions import csrf
        from sar.api import bp as api_bp

        # Bearer keys, never cookies: no CSRF on the machine API.
        csrf.exempt(api_bp)
        app.register_blueprint(api_bp)
    app.cli.add_command(sar_cli)
