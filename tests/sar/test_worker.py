"""The job table: several workers on PostgreSQL never claim the same job."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session

from portal.db import make_engine, make_sessionmaker
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
