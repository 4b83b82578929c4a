"""retiring categories and purposes; sharing agreements unique per reference and version

Revision ID: 0006
Revises: 0008
Create Date: 2026-11-25
"""
from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0008'
branch_labels = None
depends_on = None


def _restore_sqlite_triggers(table: str) -> None:
    # SQLite's batch mode rebuilds the table, which drops its triggers: put back the ones
    # 0008 made to invalidate the consent check's reference cache.
    if op.get_bind().dialect.name != 'sqlite':
        return
    bump = "UPDATE reference_generation SET value = value + 1"
    for verb in ('INSERT', 'UPDATE', 'DELETE'):
        op.execute(f"DROP TRIGGER IF EXISTS {table}_{verb.lower()}_bump_generation")
        op.execute(f"CREATE TRIGGER {table}_{verb.lower()}_bump_generation AFTER {verb} "
                   f"ON {table} BEGIN {bump}; END")


def upgrade() -> None:
    with op.batch_alter_table('data_categories', schema=None) as batch_op:
        batch_op.add_column(sa.Column('retired_at', sa.DateTime(), nullable=True))
    with op.batch_alter_table('purposes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('retired_at', sa.DateTime(), nullable=True))
    _restore_sqlite_triggers('purposes')
    _restore_sqlite_triggers('data_categories')
    # An agreement in use is versioned: its successors keep its reference.
    with op.batch_alter_table('sharing_agreements', schema=None) as batch_op:
        batch_op.drop_constraint('uq_sharing_agreements_reference', type_='unique')
        batch_op.create_unique_constraint(
            batch_op.f('uq_sharing_agreements_reference_version'), ['reference', 'version'])
    _restore_sqlite_triggers('sharing_agreements')


def downgrade() -> None:
    # Refuses (unique violation) once an agreement has a second version: drop those first.
    with op.batch_alter_table('sharing_agreements', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_sharing_agreements_reference_version'),
                                 type_='unique')
        batch_op.create_unique_constraint('uq_sharing_agreements_reference', ['reference'])
    _restore_sqlite_triggers('sharing_agreements')
    with op.batch_alter_table('purposes', schema=None) as batch_op:
        batch_op.drop_column('retired_at')
    _restore_sqlite_triggers('purposes')
    with op.batch_alter_table('data_categories', schema=None) as batch_op:
        batch_op.drop_column('retired_at')
    _restore_sqlite_triggers('data_categories')
