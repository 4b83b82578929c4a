"""SAR requests: the UK date each was answered or refused, for the on-time reports

Requests already closed get it from what the portal recorded: the first approval of a
bundle (released: ready or delivered), or the audit log's refusal entry (refused).

Revision ID: 0023
Revises: 0018
Create Date: 2026-12-07
"""
import datetime as dt
import uuid
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from alembic import op

revision = '0023'
down_revision = '0021'
branch_labels = None
depends_on = None

_LONDON = ZoneInfo("Europe/London")


def _uk_date(value: dt.datetime | str | None) -> dt.date | None:
    # Stored as naive UTC on both engines (SQLite may hand back text).
    if value is None:
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value.replace(tzinfo=dt.UTC).astimezone(_LONDON).date()


def upgrade() -> None:
    with op.batch_alter_table('sar_requests', schema=None) as batch_op:
        batch_op.add_column(sa.Column('answered_on', sa.Date(), nullable=True))
    conn = op.get_bind()
    closed: dict[str, dt.date] = {}
    for request_id, approved_at in conn.execute(sa.text(
            "SELECT b.request_id, MIN(b.approved_at) FROM sar_bundles b "
            "JOIN sar_requests r ON r.id = b.request_id "
            "WHERE b.approved_at IS NOT NULL AND r.status IN ('ready', 'delivered') "
            "GROUP BY b.request_id")):
        day = _uk_date(approved_at)
        if day is not None:
            closed[str(request_id)] = day
    refused = {str(r).replace("-", ""): r for (r,) in conn.execute(sa.text(
        "SELECT id FROM sar_requests WHERE status = 'refused'"))}
    if refused:
        # A one-off scan of the log: from now on the refusal records its own date.
        for object_id, at in conn.execute(sa.text(
                "SELECT object_id, at FROM audit_entries WHERE action = 'sar.refused'")):
            request_id = refused.get(str(object_id).replace("-", ""))
            day = _uk_date(at)
            if request_id is not None and day is not None:
                closed[str(request_id)] = day
    table = sa.table('sar_requests', sa.column('id', sa.Uuid()), sa.column('answered_on', sa.Date()))
    for request_id, day in closed.items():
        conn.execute(table.update().where(table.c.id == uuid.UUID(request_id))
                     .values(answered_on=day))


def downgrade() -> None:
    with op.batch_alter_table('sar_requests', schema=None) as batch_op:
        batch_op.drop_column('answered_on')
