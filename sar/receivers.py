"""SAR's answers to the kernel's signals (connected on import; portal.app imports this)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from consent.selfservice.operations import SarViewEntry
from portal import signals
from portal.audit import Actor
from portal.reference.models import Agency
from sar import clock
from sar import operations as ops
from sar.models import SarRequest, SarView


@signals.email_wording_changed.connect
def _carry_email_wording(session: Session, *, account_id: int, wording: str,
                         **_: Any) -> None:
    # Every request the account filed says what its emails may say, as the account does.
    session.execute(update(SarRequest).where(SarRequest.account_id == account_id)
                    .values(email_wording=wording))


@signals.person_request_views.connect
def sar_views(session: Session, *, subject_id: uuid.UUID, limit: int | None = None,
              offset: int = 0, **_: Any) -> list[SarViewEntry]:
    """Every staff view of a request about the person, newest first, those made before the
    request was matched to them included (``limit`` after the newest ``offset``)."""
    by_id = dict(session.execute(select(Agency.id, Agency.name)).all())
    rows = session.scalars(select(SarView).join(SarRequest, SarView.request_id == SarRequest.id)
                           .where(SarRequest.subject_id == subject_id)
                           .order_by(SarView.id.desc()).offset(offset).limit(limit))
    return [SarViewEntry(v.at, by_id.get(v.agency_id or 0, ""), v.role, v.what) for v in rows]


@signals.holding_registered.connect
def _task_for_new_holding(session: Session, *, subject_id: uuid.UUID, actor: Actor,
                          **_: Any) -> None:
    # A holding registered after the clock started: that agency has its part to play too.
    ops.holding_registered(session, subject_id, actor=actor, today=clock.today())
