"""The yardsticks, served like the portal (``gunicorn -c gunicorn.conf.py bench.yardstick:app``).

``GET /``: a trivial Flask route returning a small JSON: what the same gunicorn configuration,
Flask and the machine cost before the portal does any work of its own.

``POST /write``: the write yardstick, against which DESIGN §7 judges the consent check's
throughput (docs/design.md): one row inserted and committed durably in the database named by
``YARDSTICK_DATABASE_URL``, through the portal's own engine settings (``portal.db.make_engine``:
SQLite in WAL mode with ``synchronous=FULL``; PostgreSQL with the server's
``synchronous_commit``). A consent check
does that and more (a read, a decision, two rows), so the ratio against it measures the
portal's own work rather than what the database and the disk cost for any durable write.
"""

from __future__ import annotations

import datetime as dt
import os
from functools import cache

from flask import Flask, Response, jsonify
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    insert,
)

app = Flask("yardstick")

WRITE_TABLE = "bench_yardstick_writes"
metadata = MetaData()
writes = Table(WRITE_TABLE, metadata,
               Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
               Column("at", DateTime, nullable=False),
               Column("note", String(64), nullable=False))


@cache
def _engine() -> Engine:
    from portal.database import make_engine

    return make_engine(os.environ["YARDSTICK_DATABASE_URL"])


@app.get("/")
def index() -> Response:
    """A small JSON answer, nothing else."""
    return jsonify({"ok": True})


@app.post("/write")
def write() -> Response:
    """Insert one row, commit it durably, answer a small JSON."""
    with _engine().begin() as conn:
        row_id = conn.execute(insert(writes).values(
            at=dt.datetime.now(dt.UTC).replace(tzinfo=None), note="yardstick"
        ).returning(writes.c.id)).scalar_one()
    return jsonify({"ok": True, "id": row_id})


@app.get("/healthz")
def healthz() -> Response:
    """The same readiness probe the portal answers."""
    return jsonify({"status": "ok"})


def prepare(engine: Engine) -> None:
    """Create the write yardstick's table afresh (empty) in the database measured."""
    metadata.drop_all(engine)
    metadata.create_all(engine)
