"""contact channel and email wording; notices of an account linked or unlinked

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06
"""
from alembic import op
import sqlalchemy as sa


revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None

# Existing rows get the safe defaults: no channel recorded (a link is then a task for staff)
# and neutral email wording.
_WORDING = ('subjects', 'accounts', 'sar_requests')


def upgrade() -> None:
    with op.batch_alter_table('subjects', schema=None) as batch_op:
        batch_op.add_column(sa.Column('contact_channel', sa.String(length=16), nullable=False,
                                      server_default=''))
    for table in _WORDING:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('email_wording', sa.String(length=16),
                                          nullable=False, server_default='neutral'))
    # The server defaults only fill existing rows: the models set the values from now on.
    with op.batch_alter_table('subjects', schema=None) as batch_op:
        batch_op.alter_column('contact_channel', server_default=None)
    for table in _WORDING:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column('email_wording', server_default=None)
    op.create_table(
        'person_notices',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('subject_id', sa.Uuid(), nullable=False),
        sa.Column('account_id', sa.Uuid(), nullable=True),
        sa.Column('reason', sa.String(length=24), nullable=False),
        sa.Column('channel', sa.String(length=16), nullable=False),
        sa.Column('emailed', sa.Boolean(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('done_at', sa.DateTime(), nullable=True),
        sa.Column('done_by_staff_id', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['done_by_staff_id'], ['staff_users.id'],
                                name=op.f('fk_person_notices_done_by_staff_id_staff_users')),
        sa.ForeignKeyConstraint(['subject_id'], ['subjects.id'],
                                name=op.f('fk_person_notices_subject_id_subjects')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_person_notices')),
    )
    with op.batch_alter_table('person_notices', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_person_notices_subject_id'), ['subject_id'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('person_notices', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_person_notices_subject_id'))
    op.drop_table('person_notices')
    for table in reversed(_WORDING):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column('email_wording')
    with op.batch_alter_table('subjects', schema=None) as batch_op:
        batch_op.drop_column('contact_channel')
