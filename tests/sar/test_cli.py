"""``flask sar worker --once`` builds queued bundles; ``flask sar purge`` honours retention and
says what it removed."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.audit import AuditEntry
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
    # Closed 31 days ago: its raw supplies (the unreleased draft among them) purged by the
    # default grace period, kept by a longer one; the case file by the complaint period
    sar = session.get(SarRequest, sar.id)
    assert sar is not None
    sar.closed_at = utcnow() - dt.timedelta(days=31)
    session.commit()
    assert "purged 0 request(s)" in runner.invoke(
        args=["sar", "purge", "--grace-days", "40"]).output
    output = runner.invoke(args=["sar", "purge"]).output
    assert "purged 1 request(s)" in output and "1 drafts" in output and "1 documents" in output
    session.rollback()
    session.expire_all()
    bundle = session.scalars(select(SarBundle)).one()
    assert bundle.pdf is None and bundle.purged_at is not None
    output = runner.invoke(args=["sar", "purge", "--case-days", "30"]).output
    assert "purged 1 request(s)" in output, output
    session.rollback()
    # And each run is audited with its counts
    runs = session.scalars(select(AuditEntry).where(AuditEntry.action == "sar.purge_run")).all()
    assert [json.loads(r.details)["drafts"] for r in runs] == [0, 1, 0]
    assert session.scalars(select(AuditEntry.action).where(
        AuditEntry.action.in_(("sar.raw_purged", "sar.case_purged")))).all() == [
        "sar.raw_purged", "sar.case_purged"]
