"""SAR files: a reviewer's decision on each, and redactions burnt into what is released

Files already stored stay unreviewed: none is released until a reviewer has opened it
(sar_views) and decided.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06
"""
from alembic import op
import sqlalchemy as sa


revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('sar_files', schema=None) as batch_op:
        batch_op.add_column(sa.Column('review', sa.String(length=16), nullable=False,
                                      server_default='unreviewed'))
        batch_op.add_column(sa.Column('withhold_reason', sa.String(length=32), nullable=False,
                                      server_default=''))
        batch_op.add_column(sa.Column('withhold_detail', sa.Text(), nullable=False,
                                      server_default=''))
        batch_op.add_column(sa.Column('reviewed_by_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('reviewed_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('released', sa.LargeBinary(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_sar_files_reviewed_by_id_staff_users'),
                                    'staff_users', ['reviewed_by_id'], ['id'])
    op.create_table('sar_file_redactions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('file_id', sa.Integer(), nullable=False),
    sa.Column('page', sa.Integer(), nullable=False),
    sa.Column('x', sa.Integer(), nullable=False),
    sa.Column('y', sa.Integer(), nullable=False),
    sa.Column('width', sa.Integer(), nullable=False),
    sa.Column('height', sa.Integer(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('reason', sa.String(length=32), nullable=False),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.Column('staff_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['file_id'], ['sar_files.id'], name=op.f('fk_sar_file_redactions_file_id_sar_files')),
    sa.ForeignKeyConstraint(['staff_id'], ['staff_users.id'], name=op.f('fk_sar_file_redactions_staff_id_staff_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sar_file_redactions'))
    )
    with op.batch_alter_table('sar_file_redactions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sar_file_redactions_file_id'), ['file_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('sar_file_redactions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sar_file_redactions_file_id'))
    op.drop_table('sar_file_redactions')
    with op.batch_alter_table('sar_files', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_sar_files_reviewed_by_id_staff_users'),
                                 type_='foreignkey')
        batch_op.drop_column('released')
        batch_op.drop_column('reviewed_at')
        batch_op.drop_column('reviewed_by_id')
        batch_op.drop_column('withhold_detail')
        batch_op.drop_column('withhold_reason')
        batch_op.drop_column('review')
