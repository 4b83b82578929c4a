"""The yardstick: a trivial Flask route returning a small JSON, served like the portal.

``gunicorn -c gunicorn.conf.py bench.yardstick:app`` measures what the same gunicorn
configuration, Flask and the machine cost before the portal does any work of its own.
"""

from __future__ import annotations

from flask import Flask, Response, jsonify

app = Flask("yardstick")


@app.get("/")
def index() -> Response:
    """A small JSON answer, nothing else."""
    return jsonify({"ok": True})


@app.get("/healthz")
def healthz() -> Response:
    """The same readiness probe the portal answers."""
    return jsonify({"status": "ok"})
