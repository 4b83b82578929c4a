"""The durable mail outbox, SAR notices and their proof, pause reasons, search records and
the retention dates of a closed case

Revision ID: 0021
Revises: 0018
Create Date: 2026-12-07
"""
from alembic import op
import sqlalchemy as sa


revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('mail_outbox',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.String(length=64), nullable=False),
    sa.Column('object_type', sa.String(length=32), nullable=False),
    sa.Column('object_id', sa.String(length=64), nullable=False),
    sa.Column('recipient', sa.String(length=320), nullable=False),
    sa.Column('subject', sa.Text(), nullable=False),
    sa.Column('message_id', sa.String(length=255), nullable=False),
    sa.Column('content', sa.LargeBinary(), nullable=True),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(), nullable=False),
    sa.Column('sent_at', sa.DateTime(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('purged_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_mail_outbox'))
    )
    with op.batch_alter_table('mail_outbox', schema=None) as batch_op:
        batch_op.create_index('ix_mail_outbox_state_next', ['state', 'next_attempt_at'],
                              unique=False)
        batch_op.create_index('ix_mail_outbox_object', ['object_type', 'object_id'],
                              unique=False)
    op.create_table('sar_notices',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('request_id', sa.Uuid(), nullable=False),
    sa.Column('event', sa.String(length=24), nullable=False),
    sa.Column('mail_id', sa.Uuid(), nullable=True),
    sa.Column('letter_posted_on', sa.Date(), nullable=True),
    sa.Column('letter_address', sa.String(length=16), nullable=False),
    sa.Column('letter_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['request_id'], ['sar_requests.id'], name=op.f('fk_sar_notices_request_id_sar_requests')),
    sa.ForeignKeyConstraint(['mail_id'], ['mail_outbox.id'], name=op.f('fk_sar_notices_mail_id_mail_outbox')),
    sa.ForeignKeyConstraint(['letter_by_id'], ['staff_users.id'], name=op.f('fk_sar_notices_letter_by_id_staff_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sar_notices'))
    )
    with op.batch_alter_table('sar_notices', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sar_notices_request_id'), ['request_id'], unique=False)
    op.create_table('sar_searches',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('request_id', sa.Uuid(), nullable=False),
    sa.Column('agency_id', sa.Integer(), nullable=False),
    sa.Column('task_id', sa.Uuid(), nullable=True),
    sa.Column('systems', sa.Text(), nullable=False),
    sa.Column('terms', sa.Text(), nullable=False),
    sa.Column('searched_on', sa.Date(), nullable=False),
    sa.Column('proportionality', sa.Text(), nullable=False),
    sa.Column('staff_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['request_id'], ['sar_requests.id'], name=op.f('fk_sar_searches_request_id_sar_requests')),
    sa.ForeignKeyConstraint(['agency_id'], ['agencies.id'], name=op.f('fk_sar_searches_agency_id_agencies')),
    sa.ForeignKeyConstraint(['task_id'], ['sar_tasks.id'], name=op.f('fk_sar_searches_task_id_sar_tasks')),
    sa.ForeignKeyConstraint(['staff_id'], ['staff_users.id'], name=op.f('fk_sar_searches_staff_id_staff_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sar_searches'))
    )
    with op.batch_alter_table('sar_searches', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sar_searches_request_id'), ['request_id'], unique=False)
    with op.batch_alter_table('sar_pauses', schema=None) as batch_op:
        batch_op.add_column(sa.Column('staff_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_sar_pauses_staff_id_staff_users'),
                                    'staff_users', ['staff_id'], ['id'])
    with op.batch_alter_table('sar_requests', schema=None) as batch_op:
        batch_op.add_column(sa.Column('closed_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('raw_purged_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('case_purged_at', sa.DateTime(), nullable=True))
    # Requests closed before this revision: delivered when their bundle first was, refused
    # when last changed is unknown, so from when they were made (the earliest it could be).
    op.execute("UPDATE sar_requests SET closed_at = (SELECT MIN(b.delivered_at) FROM "
               "sar_bundles b WHERE b.request_id = sar_requests.id) "
               "WHERE status = 'delivered'")
    op.execute("UPDATE sar_requests SET closed_at = created_at "
               "WHERE status = 'refused' OR (status = 'delivered' AND closed_at IS NULL)")


def downgrade() -> None:
    with op.batch_alter_table('sar_requests', schema=None) as batch_op:
        batch_op.drop_column('case_purged_at')
        batch_op.drop_column('raw_purged_at')
        batch_op.drop_column('closed_at')
    with op.batch_alter_table('sar_pauses', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_sar_pauses_staff_id_staff_users'),
                                 type_='foreignkey')
        batch_op.drop_column('staff_id')
    with op.batch_alter_table('sar_searches', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sar_searches_request_id'))
    op.drop_table('sar_searches')
    with op.batch_alter_table('sar_notices', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sar_notices_request_id'))
    op.drop_table('sar_notices')
    with op.batch_alter_table('mail_outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_mail_outbox_object')
        batch_op.drop_index('ix_mail_outbox_state_next')
    op.drop_table('mail_outbox')
