"""Late agency tasks are reminded by email once a day."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.database import get_database, make_engine, make_sessionmaker
from sar import operations as ops
from sar import worker
from sar.models import SarRequest, SarTask
from tests.sar.conftest import STAFF, Inbox


def test_late_tasks_are_reminded_once_a_day(mail_app: Flask, inbox: Inbox, session: Session,
                                            filed: Callable[..., SarRequest]) -> None:
    sar = filed()
    due = sar.tasks[0].due_on
    factory = get_database(mail_app).sessionmaker
    config = mail_app.config["PORTAL"]
    with mail_app.app_context():
        # Not late on the due date itself
        assert worker.remind_late(factory, config, due) == 0
        # Late the day after: each agency's SAR contact is emailed, once that day
        assert worker.remind_late(factory, config, due + dt.timedelta(days=1)) == 2
        assert worker.remind_late(factory, config, due + dt.timedelta(days=1)) == 0
    recipients = sorted(str(m["To"]) for m in inbox.messages)
    assert recipients == ["dataprotection@fenshire-idva.example",
                          "dataprotection@fenshire-police.example"]
    assert "overdue" in inbox.messages[0]["Subject"]
    session.rollback()
    session.expire_all()
    assert all(t.reminded_at for t in session.scalars(select(SarTask)))


def test_two_workers_do_not_both_take_the_same_late_task(
        backend: str, db_url: str, session: Session, filed: Callable[..., SarRequest]) -> None:
    # Given late tasks, and two SAR workers looking for them at the same moment
    sar = filed()
    late = sar.tasks[0].due_on + dt.timedelta(days=1)
    engine = make_engine(db_url)
    factory = make_sessionmaker(engine)
    try:
        with factory() as first:
            taken = ops.late_tasks(first, late)
            assert len(taken) == 2
            if backend == "postgresql":
                # Then the second skips what the first holds until the first commits
                with factory() as second:
                    assert ops.late_tasks(second, late) == []
                    second.rollback()
            for task in taken:
                ops.mark_reminded(first, task, actor=STAFF)
            first.commit()
        # And after the first has reminded them, nothing is left for today
        with factory() as second:
            assert ops.late_tasks(second, late) == []
            second.rollback()
    finally:
        engine.dispose()
