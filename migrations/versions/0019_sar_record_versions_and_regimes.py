"""SAR records: versions by the agency's own id, the regime each was processed under, and the
legal ground of "another reason"

Agencies of the police, probation and youth-justice kinds become competent authorities; a
record takes its agency's regime (Part 3 for a competent authority, Part 2 otherwise).
Records supplied more than once under the same id in a task become versions of one record,
numbered in the order they arrived, the last one current.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07
"""
from alembic import op
import sqlalchemy as sa


revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None

_GROUND = ('sar_redactions', 'sar_file_redactions')


def upgrade() -> None:
    with op.batch_alter_table('agencies', schema=None) as batch_op:
        batch_op.add_column(sa.Column('competent_authority', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
    op.execute("UPDATE agencies SET competent_authority = TRUE "
               "WHERE kind IN ('police', 'probation', 'youth-justice')")
    with op.batch_alter_table('sar_records', schema=None) as batch_op:
        batch_op.add_column(sa.Column('version', sa.Integer(), nullable=False,
                                      server_default='1'))
        batch_op.add_column(sa.Column('supplied_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('superseded_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('regime', sa.String(length=8), nullable=False,
                                      server_default='part2'))
        batch_op.add_column(sa.Column('withhold_ground', sa.String(length=200),
                                      nullable=False, server_default=''))
    op.execute("UPDATE sar_records SET supplied_at = (SELECT COALESCE(t.supplied_at, "
               "t.created_at) FROM sar_tasks t WHERE t.id = sar_records.task_id)")
    op.execute("UPDATE sar_records SET regime = 'part3' WHERE task_id IN (SELECT t.id FROM "
               "sar_tasks t JOIN agencies a ON a.id = t.agency_id "
               "WHERE a.competent_authority = TRUE)")
    # Repeats of one id in a task were separate records: they become its versions.
    op.execute("UPDATE sar_records SET version = (SELECT COUNT(*) FROM sar_records o "
               "WHERE o.task_id = sar_records.task_id "
               "AND o.external_id = sar_records.external_id AND o.id <= sar_records.id)")
    op.execute("UPDATE sar_records SET superseded_at = supplied_at WHERE EXISTS (SELECT 1 "
               "FROM sar_records o WHERE o.task_id = sar_records.task_id "
               "AND o.external_id = sar_records.external_id AND o.id > sar_records.id)")
    with op.batch_alter_table('sar_records', schema=None) as batch_op:
        batch_op.alter_column('supplied_at', existing_type=sa.DateTime(), nullable=False)
        batch_op.create_unique_constraint('uq_sar_records_task_external_version',
                                          ['task_id', 'external_id', 'version'])
    for table in _GROUND:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('ground', sa.String(length=200), nullable=False,
                                          server_default=''))
    with op.batch_alter_table('sar_files', schema=None) as batch_op:
        batch_op.add_column(sa.Column('withhold_ground', sa.String(length=200),
                                      nullable=False, server_default=''))


def downgrade() -> None:
    with op.batch_alter_table('sar_files', schema=None) as batch_op:
        batch_op.drop_column('withhold_ground')
    for table in _GROUND:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column('ground')
    with op.batch_alter_table('sar_records', schema=None) as batch_op:
        batch_op.drop_constraint('uq_sar_records_task_external_version', type_='unique')
        batch_op.drop_column('withhold_ground')
        batch_op.drop_column('regime')
        batch_op.drop_column('superseded_at')
        batch_op.drop_column('supplied_at')
        batch_op.drop_column('version')
    with op.batch_alter_table('agencies', schema=None) as batch_op:
        batch_op.drop_column('competent_authority')
