"""The operations say which emails the requester is owed; the views only queue them."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable

from sqlalchemy.orm import Session

from sar import operations as ops
from sar.models import SarRequest
from tests.sar.conftest import PNG, STAFF, open_documents

TODAY = dt.date(2026, 11, 5)


def _events(notices: list[ops.Notice] | tuple[ops.Notice, ...]) -> list[str]:
    return [n.event for n in notices]


def test_filing_owes_a_receipt(session: Session) -> None:
    filed = ops.record_request(session, ops.NewRequest(
        requester_name="Morgan Lee", requester_email="morgan.lee@example.org",
        subject_name="Morgan Lee", documents=[("identity", PNG)]), actor=STAFF, today=TODAY)
    assert [(n.sar, n.event) for n in filed.notices] == [(filed.sar, "filed")]


def test_each_step_owes_its_email_with_what_its_wording_needs(
        session: Session, filed: Callable[..., SarRequest], morgan: uuid.UUID) -> None:
    sar = filed(verified=False)
    open_documents(session, sar)
    [started] = ops.verify_identity(session, sar, subject_id=morgan, staff_id=1,
                                    method="document", note="passport matches",
                                    today=TODAY, actor=STAFF)
    assert started.event == "started" and started.extra == {"due": ops.due(sar, TODAY)}
    [paused] = ops.pause_for_clarification(session, sar, " Which years? ", staff_id=1,
                                           today=TODAY, actor=STAFF)
    assert (paused.event, paused.extra) == ("paused", {"question": " Which years? "})
    # The requester's own answer owes them nothing; staff's message does
    assert ops.post_message(session, sar, "2020 to 2024", from_requester=True, staff_id=None,
                            today=TODAY, actor=STAFF) == []
    assert _events(ops.post_message(session, sar, "Thank you", from_requester=False,
                                    staff_id=1, today=TODAY, actor=STAFF)) == ["message"]
    [extended] = ops.extend(session, sar, months=1, reason="many records",
                            today=TODAY, actor=STAFF)
    assert extended.event == "extended" and extended.extra == {"due": ops.due(sar, TODAY)}
    assert _events(ops.refuse(session, sar, reason="manifestly excessive: the same request "
                              "every week", actor=STAFF)) == ["refused"]


def test_a_new_link_only_for_the_address_the_request_was_filed_with(
        session: Session, filed: Callable[..., SarRequest]) -> None:
    sar = filed(verified=False)
    assert [(n.sar, n.event) for n in ops.link_requested(
        session, reference=sar.reference, address="morgan.lee@example.org")] == [(sar, "link")]
    assert ops.link_requested(session, reference=sar.reference,
                              address="someone@example.org") == []
    assert ops.link_requested(session, reference="SAR-NONE-NONE",
                              address="morgan.lee@example.org") == []
