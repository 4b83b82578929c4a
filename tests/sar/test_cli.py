"""``flask sar worker --once`` builds queued bundles; ``flask sar purge`` honours retention."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.database import utcnow
from sar import operations as ops
from sar.models import SarBundle, SarRequest
from tests.sar.conftest import STAFF


def test_worker_once_and_purge(app: Flask, session: Session,
                               filed: Callable[..., SarRequest]) -> None:
    sar = filed()
    for task in sar.tasks:
        ops.hold_nothing(session, task, actor=STAFF)
    ops.request_bundle(session, sar, staff_id=1, actor=STAFF)
    session.commit()
    runner = app.test_cli_runner()
    result = runner.invoke(args=["sar", "worker", "--once"])
    assert result.exit_code == 0, result.output
    session.rollback()
    bundle = session.scalars(select(SarBundle)).one()
    assert bundle.state == "built" and bundle.pdf
    # Delivered 31 days ago: purged by the default retention, kept by a longer one
    bundle.delivered_at = utcnow() - dt.timedelta(days=31)
    session.commit()
    assert "purged 0" in runner.invoke(args=["sar", "purge", "--days", "40"]).output
    assert "purged 1" in runner.invoke(args=["sar", "purge"]).output
    session.rollback()
    session.expire_all()
    bundle = session.scalars(select(SarBundle)).one()
    assert bundle.pdf is None and bundle.purged_at is not None
