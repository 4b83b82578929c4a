"""audit entries: the subject index covers staff views only

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-26
"""
from alembic import op
import sqlalchemy as sa


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

# The only read of audit entries by person is "every time staff looked at your record"
# (action subject.view, newest first). Every consent check's entry names its person too, so
# the whole-table index took a random key from each of them: a batch of a thousand checks
# dirtied a thousand of its pages, each written to the log at the commit. Decisions about
# a person are read from check_decisions, which has its own index.
_WHERE = "action = 'subject.view'"  # portal.models.STAFF_VIEW_ACTION


def upgrade() -> None:
    # Building it scans the whole log and, on PostgreSQL, holds back appends (so checks)
    # until done: a large deployment can build it first with CREATE INDEX CONCURRENTLY under
    # this name and condition (docs/deployment.md), and this step then keeps it.
    op.create_index('ix_audit_entries_subject_view', 'audit_entries', ['subject_id', 'id'],
                    unique=False, postgresql_where=sa.text(_WHERE), sqlite_where=sa.text(_WHERE),
                    if_not_exists=True)
    op.drop_index('ix_audit_entries_subject_id', table_name='audit_entries')


def downgrade() -> None:
    op.create_index('ix_audit_entries_subject_id', 'audit_entries', ['subject_id'],
                    unique=False)
    op.drop_index('ix_audit_entries_subject_view', table_name='audit_entries')
