"""retiring categories and purposes; sharing agreements unique per reference and version

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25
"""
from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('data_categories', schema=None) as batch_op:
        batch_op.add_column(sa.Column('retired_at', sa.DateTime(), nullable=True))
    with op.batch_alter_table('purposes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('retired_at', sa.DateTime(), nullable=True))
    # An agreement in use is versioned: its successors keep its reference.
    with op.batch_alter_table('sharing_agreements', schema=None) as batch_op:
        batch_op.drop_constraint('uq_sharing_agreements_reference', type_='unique')
        batch_op.create_unique_constraint(
            batch_op.f('uq_sharing_agreements_reference_version'), ['reference', 'version'])


def downgrade() -> None:
    # Refuses (unique violation) once an agreement has a second version: drop those first.
    with op.batch_alter_table('sharing_agreements', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_sharing_agreements_reference_version'),
                                 type_='unique')
        batch_op.create_unique_constraint('uq_sharing_agreements_reference', ['reference'])
    with op.batch_alter_table('purposes', schema=None) as batch_op:
        batch_op.drop_column('retired_at')
    with op.batch_alter_table('data_categories', schema=None) as batch_op:
        batch_op.drop_column('retired_at')
