"""staff back office

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""
from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'first_contact_receipts',
        sa.Column('id', sa.Uuid(), nullable=False),
        sa.Column('subject_id', sa.Uuid(), nullable=False),
        sa.Column('agency_id', sa.Integer(), nullable=False),
        sa.Column('staff_user_id', sa.Integer(), nullable=False),
        sa.Column('language', sa.String(length=8), nullable=False),
        sa.Column('event_ids', sa.Text(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['agency_id'], ['agencies.id'],
                                name=op.f('fk_first_contact_receipts_agency_id_agencies')),
        sa.ForeignKeyConstraint(['staff_user_id'], ['staff_users.id'],
                                name=op.f('fk_first_contact_receipts_staff_user_id_staff_users')),
        sa.ForeignKeyConstraint(['subject_id'], ['subjects.id'],
                                name=op.f('fk_first_contact_receipts_subject_id_subjects')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_first_contact_receipts')),
    )
    op.create_index(op.f('ix_first_contact_receipts_subject_id'), 'first_contact_receipts',
                    ['subject_id'], unique=False)
    op.create_table(
        'staff_totp_steps',
        sa.Column('staff_user_id', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('last_step', sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(['staff_user_id'], ['staff_users.id'],
                                name=op.f('fk_staff_totp_steps_staff_user_id_staff_users')),
        sa.PrimaryKeyConstraint('staff_user_id', name=op.f('pk_staff_totp_steps')),
    )


def downgrade() -> None:
    op.drop_table('staff_totp_steps')
    op.drop_index(op.f('ix_first_contact_receipts_subject_id'),
                  table_name='first_contact_receipts')
    op.drop_table('first_contact_receipts')
