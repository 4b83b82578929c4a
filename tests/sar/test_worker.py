"""The job table: several workers on PostgreSQL never claim the same job, and a job a dead
worker held is taken over after its lease."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from flask import Flask
from sqlalchemy.orm import Session

from portal.database import get_database, make_engine, make_sessionmaker, utcnow
from sar import operations as ops
from sar import worker
from sar.models import SarBundle, SarRequest
from tests.sar.conftest import STAFF


def _queued(session: Session, filed: Callable[..., SarRequest]) -> SarBundle:
    sar = filed()
    for task in sar.tasks:
        ops.hold_nothing(session, task, actor=STAFF)
    bundle = ops.request_bundle(session, sar, staff_id=1, actor=STAFF)
    session.commit()
    return bundle


def test_claims_take_distinct_jobs(backend: str, db_url: str, session: Session,
                                   filed: Callable[..., SarRequest]) -> None:
    first, second = _queued(session, filed), _queued(session, filed)
    engine = make_engine(db_url)
    factory = make_sessionmaker(engine)
    try:
        a = factory()
        job_a = worker.claim(a)
        assert job_a is not None and job_a.state == "running"
        if backend == "postgresql":
            # While the first worker holds its job, a second skips it and takes the other.
            b = factory()
            job_b = worker.claim(b)
            assert job_b is not None and job_b.id != job_a.id
            b.commit()
            a.commit()
        else:
            # SQLite runs one worker: its claim is committed before the next one.
            a.commit()
            b = factory()
            job_b = worker.claim(b)
            assert job_b is not None and job_b.id != job_a.id
            b.commit()
        assert {job_a.id, job_b.id} == {first.id, second.id}
        c = factory()
        assert worker.claim(c) is None
        c.rollback()
    finally:
        engine.dispose()


def test_a_job_left_running_by_a_dead_worker_is_taken_over_after_its_lease(
        db_url: str, session: Session, filed: Callable[..., SarRequest]) -> None:
    # Given a job a worker claimed and then died holding (its claim was committed)
    job = _queued(session, filed)
    engine = make_engine(db_url)
    factory = make_sessionmaker(engine)
    try:
        with factory() as dead:
            claimed = worker.claim(dead)
            assert claimed is not None and claimed.id == job.id
            dead.commit()
        # Then, within the lease, no other worker takes it
        with factory() as other:
            assert worker.claim(other) is None
            other.rollback()
        # When the lease has run out
        session.rollback()
        stuck = session.get(SarBundle, job.id, populate_existing=True)
        assert stuck is not None and stuck.state == "running"
        stuck.started_at = utcnow() - worker.LEASE - dt.timedelta(seconds=1)
        session.commit()
        # Then the next worker takes it over
        with factory() as other:
            again = worker.claim(other)
            assert again is not None and again.id == job.id and again.state == "running"
            other.commit()
    finally:
        engine.dispose()


def test_a_worker_whose_lease_ran_out_does_not_record_its_result(
        app: Flask, session: Session, filed: Callable[..., SarRequest]) -> None:
    from sqlalchemy import func, select

    from portal.audit import AuditEntry

    job = _queued(session, filed)
    factory = get_database(app).sessionmaker
    with app.app_context():
        with factory() as s:
            slow = worker.claim(s)
            assert slow is not None
            s.commit()
            slow_token = slow.started_at
        with factory() as s:
            fresh = worker.claim(s, lease=dt.timedelta(milliseconds=1))
            assert fresh is not None
            s.commit()
            fresh_token = fresh.started_at
        # The slow worker finishes late: its result is dropped, the job stays with the other.
        assert worker.build(factory, job.id, slow_token) == "superseded"
        with factory() as s:
            assert s.get(SarBundle, job.id).state == "running"  # type: ignore[union-attr]
        assert worker.build(factory, job.id, fresh_token) == "built"
        with factory() as s:
            built = s.scalar(select(func.count()).select_from(AuditEntry).where(
                AuditEntry.action == "sar.bundle_built", AuditEntry.object_id == str(job.id)))
            assert built == 1
