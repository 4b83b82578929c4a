"""Each agency as a controller (legal name, address, DPO, retention) for the SAR letter, and
neither-confirm-nor-deny per agency task and per record

Revision ID: 0020
Revises: 0018
Create Date: 2026-12-07
"""
from alembic import op
import sqlalchemy as sa


revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None


def _ncnd_columns(batch_op):
    batch_op.add_column(sa.Column('ncnd', sa.Boolean(), nullable=False,
                                  server_default=sa.false()))
    batch_op.add_column(sa.Column('ncnd_reason', sa.String(length=32), nullable=False,
                                  server_default=''))
    batch_op.add_column(sa.Column('ncnd_detail', sa.Text(), nullable=False,
                                  server_default=''))


def upgrade() -> None:
    with op.batch_alter_table('agencies', schema=None) as batch_op:
        batch_op.add_column(sa.Column('controller_name', sa.String(length=300), nullable=False,
                                      server_default=''))
        batch_op.add_column(sa.Column('controller_address', sa.Text(), nullable=False,
                                      server_default=''))
        batch_op.add_column(sa.Column('dpo_contact', sa.String(length=300), nullable=False,
                                      server_default=''))
        batch_op.add_column(sa.Column('retention_statement', sa.Text(), nullable=False,
                                      server_default=''))
    for table in ('sar_tasks', 'sar_records'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            _ncnd_columns(batch_op)


def downgrade() -> None:
    for table in ('sar_records', 'sar_tasks'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column('ncnd_detail')
            batch_op.drop_column('ncnd_reason')
            batch_op.drop_column('ncnd')
    with op.batch_alter_table('agencies', schema=None) as batch_op:
        batch_op.drop_column('retention_statement')
        batch_op.drop_column('dpo_contact')
        batch_op.drop_column('controller_address')
        batch_op.drop_column('controller_name')
