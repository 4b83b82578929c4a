"""SAR review: redactions by selection, undone redactions kept for the audit, and each
bundle's manifest of what was withheld

Redactions already stored stay in force (not undone), with no selection offsets; bundles
already built have no manifest (an empty one), and are rebuilt to get one.

Revision ID: 0022
Revises: 0018
Create Date: 2026-12-07
"""
from alembic import op
import sqlalchemy as sa


revision = '0022'
down_revision = '0023'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('sar_redactions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('start', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('end', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('created_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('undone_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('undone_by_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_sar_redactions_undone_by_id_staff_users'),
                                    'staff_users', ['undone_by_id'], ['id'])
    with op.batch_alter_table('sar_file_redactions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('undone_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('undone_by_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f('fk_sar_file_redactions_undone_by_id_staff_users'),
            'staff_users', ['undone_by_id'], ['id'])
    with op.batch_alter_table('sar_bundles', schema=None) as batch_op:
        batch_op.add_column(sa.Column('manifest', sa.Text(), nullable=False,
                                      server_default=''))


def downgrade() -> None:
    with op.batch_alter_table('sar_bundles', schema=None) as batch_op:
        batch_op.drop_column('manifest')
    with op.batch_alter_table('sar_file_redactions', schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f('fk_sar_file_redactions_undone_by_id_staff_users'), type_='foreignkey')
        batch_op.drop_column('undone_by_id')
        batch_op.drop_column('undone_at')
    with op.batch_alter_table('sar_redactions', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_sar_redactions_undone_by_id_staff_users'),
                                 type_='foreignkey')
        batch_op.drop_column('undone_by_id')
        batch_op.drop_column('undone_at')
        batch_op.drop_column('created_at')
        batch_op.drop_column('end')
        batch_op.drop_column('start')
