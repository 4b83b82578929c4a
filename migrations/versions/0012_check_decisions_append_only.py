"""check decisions: append-only, like the audit log and consent events

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-26
"""
from alembic import op


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

# A check's decision row is what the person sees on their "who asked about me" page and what
# the API calls "the audit record of this check". Nothing updates or deletes one; the
# database now refuses to, as it does for audit entries and consent events (0001). Whoever
# drops the triggers is still caught by `flask audit verify`, which compares every decision
# with its hash-chained audit entry.
_TABLE = 'check_decisions'


def upgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        # portal_refuse_change() is 0001's.
        op.execute(f"CREATE TRIGGER {_TABLE}_append_only BEFORE UPDATE OR DELETE ON {_TABLE} "
                   "FOR EACH ROW EXECUTE FUNCTION portal_refuse_change()")
        return
    for verb in ('UPDATE', 'DELETE'):
        op.execute(f"CREATE TRIGGER {_TABLE}_no_{verb.lower()} BEFORE {verb} ON {_TABLE} "
                   f"BEGIN SELECT RAISE(ABORT, '{verb} on {_TABLE} is refused: the table is "
                   "append-only'); END")


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(f"DROP TRIGGER IF EXISTS {_TABLE}_append_only ON {_TABLE}")
        return
    for verb in ('update', 'delete'):
        op.execute(f"DROP TRIGGER IF EXISTS {_TABLE}_no_{verb}")
