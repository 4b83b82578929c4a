"""Late agency tasks are reminded by email once a day."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.database import get_database
from sar import worker
from sar.models import SarRequest, SarTask
from tests.sar.conftest import Inbox


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
