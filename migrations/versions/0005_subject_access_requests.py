"""subject access requests

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25
"""
from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('sar_requests',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('reference', sa.String(length=20), nullable=False),
    sa.Column('account_id', sa.Uuid(), nullable=True),
    sa.Column('subject_id', sa.Uuid(), nullable=True),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('requester_name', sa.String(length=200), nullable=False),
    sa.Column('requester_email', sa.String(length=320), nullable=False),
    sa.Column('on_behalf', sa.Boolean(), nullable=False),
    sa.Column('relationship_to_subject', sa.String(length=200), nullable=False),
    sa.Column('subject_name', sa.String(length=400), nullable=False),
    sa.Column('subject_date_of_birth', sa.Date(), nullable=True),
    sa.Column('scope_everything', sa.Boolean(), nullable=False),
    sa.Column('scope_agencies', sa.Text(), nullable=False),
    sa.Column('scope_from', sa.Date(), nullable=True),
    sa.Column('scope_to', sa.Date(), nullable=True),
    sa.Column('scope_text', sa.Text(), nullable=False),
    sa.Column('delivery', sa.String(length=16), nullable=False),
    sa.Column('postal_address', sa.Text(), nullable=False),
    sa.Column('language', sa.String(length=8), nullable=False),
    sa.Column('nation', sa.String(length=24), nullable=False),
    sa.Column('identity_method', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=24), nullable=False),
    sa.Column('received_on', sa.Date(), nullable=False),
    sa.Column('clock_start', sa.Date(), nullable=True),
    sa.Column('extension_months', sa.Integer(), nullable=False),
    sa.Column('extension_reason', sa.Text(), nullable=False),
    sa.Column('refusal_reason', sa.Text(), nullable=False),
    sa.Column('neither_confirm_nor_deny', sa.Boolean(), nullable=False),
    sa.Column('ncnd_reason', sa.Text(), nullable=False),
    sa.Column('assigned_to_id', sa.Integer(), nullable=True),
    sa.Column('verified_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_sar_requests_account_id_accounts')),
    sa.ForeignKeyConstraint(['assigned_to_id'], ['staff_users.id'], name=op.f('fk_sar_requests_assigned_to_id_staff_users')),
    sa.ForeignKeyConstraint(['subject_id'], ['subjects.id'], name=op.f('fk_sar_requests_subject_id_subjects')),
    sa.ForeignKeyConstraint(['verified_by_id'], ['staff_users.id'], name=op.f('fk_sar_requests_verified_by_id_staff_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sar_requests')),
    sa.UniqueConstraint('reference', name=op.f('uq_sar_requests_reference'))
    )
    with op.batch_alter_table('sar_requests', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sar_requests_account_id'), ['account_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_sar_requests_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_sar_requests_subject_id'), ['subject_id'], unique=False)

    op.create_table('sar_bundles',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('request_id', sa.Uuid(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('progress', sa.Integer(), nullable=False),
    sa.Column('error', sa.Text(), nullable=False),
    sa.Column('requested_by_id', sa.Integer(), nullable=True),
    sa.Column('pdf', sa.LargeBinary(), nullable=True),
    sa.Column('archive', sa.LargeBinary(), nullable=True),
    sa.Column('pages', sa.Integer(), nullable=False),
    sa.Column('approved_by_id', sa.Integer(), nullable=True),
    sa.Column('approved_at', sa.DateTime(), nullable=True),
    sa.Column('release_blocked', sa.Text(), nullable=False),
    sa.Column('delivered_at', sa.DateTime(), nullable=True),
    sa.Column('link_used_at', sa.DateTime(), nullable=True),
    sa.Column('purged_at', sa.DateTime(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('started_at', sa.DateTime(), nullable=True),
    sa.Column('finished_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['approved_by_id'], ['staff_users.id'], name=op.f('fk_sar_bundles_approved_by_id_staff_users')),
    sa.ForeignKeyConstraint(['request_id'], ['sar_requests.id'], name=op.f('fk_sar_bundles_request_id_sar_requests')),
    sa.ForeignKeyConstraint(['requested_by_id'], ['staff_users.id'], name=op.f('fk_sar_bundles_requested_by_id_staff_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sar_bundles'))
    )
    with op.batch_alter_table('sar_bundles', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sar_bundles_request_id'), ['request_id'], unique=False)
        batch_op.create_index('ix_sar_bundles_state', ['state', 'created_at'], unique=False)

    op.create_table('sar_documents',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('request_id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('mime', sa.String(length=64), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('content', sa.LargeBinary(), nullable=True),
    sa.Column('received_on', sa.Date(), nullable=False),
    sa.Column('deleted_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['request_id'], ['sar_requests.id'], name=op.f('fk_sar_documents_request_id_sar_requests')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sar_documents'))
    )
    with op.batch_alter_table('sar_documents', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sar_documents_request_id'), ['request_id'], unique=False)

    op.create_table('sar_messages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('request_id', sa.Uuid(), nullable=False),
    sa.Column('from_requester', sa.Boolean(), nullable=False),
    sa.Column('staff_id', sa.Integer(), nullable=True),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['request_id'], ['sar_requests.id'], name=op.f('fk_sar_messages_request_id_sar_requests')),
    sa.ForeignKeyConstraint(['staff_id'], ['staff_users.id'], name=op.f('fk_sar_messages_staff_id_staff_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sar_messages'))
    )
    with op.batch_alter_table('sar_messages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sar_messages_request_id'), ['request_id'], unique=False)

    op.create_table('sar_pauses',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('request_id', sa.Uuid(), nullable=False),
    sa.Column('reason', sa.String(length=24), nullable=False),
    sa.Column('start', sa.Date(), nullable=False),
    sa.Column('end', sa.Date(), nullable=True),
    sa.ForeignKeyConstraint(['request_id'], ['sar_requests.id'], name=op.f('fk_sar_pauses_request_id_sar_requests')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sar_pauses'))
    )
    with op.batch_alter_table('sar_pauses', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sar_pauses_request_id'), ['request_id'], unique=False)

    op.create_table('sar_tasks',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('request_id', sa.Uuid(), nullable=False),
    sa.Column('agency_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('due_on', sa.Date(), nullable=False),
    sa.Column('supplied_at', sa.DateTime(), nullable=True),
    sa.Column('reminded_at', sa.DateTime(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['agency_id'], ['agencies.id'], name=op.f('fk_sar_tasks_agency_id_agencies')),
    sa.ForeignKeyConstraint(['request_id'], ['sar_requests.id'], name=op.f('fk_sar_tasks_request_id_sar_requests')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sar_tasks'))
    )
    with op.batch_alter_table('sar_tasks', schema=None) as batch_op:
        batch_op.create_index('ix_sar_tasks_agency_status', ['agency_id', 'status'], unique=False)
        batch_op.create_index(batch_op.f('ix_sar_tasks_request_id'), ['request_id'], unique=False)

    op.create_table('sar_downloads',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('bundle_id', sa.Uuid(), nullable=False),
    sa.Column('account_id', sa.Uuid(), nullable=False),
    sa.Column('what', sa.String(length=8), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_sar_downloads_account_id_accounts')),
    sa.ForeignKeyConstraint(['bundle_id'], ['sar_bundles.id'], name=op.f('fk_sar_downloads_bundle_id_sar_bundles')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sar_downloads'))
    )
    with op.batch_alter_table('sar_downloads', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sar_downloads_bundle_id'), ['bundle_id'], unique=False)

    op.create_table('sar_records',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('task_id', sa.Uuid(), nullable=False),
    sa.Column('external_id', sa.String(length=100), nullable=False),
    sa.Column('kind', sa.String(length=64), nullable=False),
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.Column('occurred_on', sa.Date(), nullable=True),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('withheld', sa.Boolean(), nullable=False),
    sa.Column('withhold_reason', sa.String(length=32), nullable=False),
    sa.Column('withhold_detail', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['task_id'], ['sar_tasks.id'], name=op.f('fk_sar_records_task_id_sar_tasks')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sar_records'))
    )
    with op.batch_alter_table('sar_records', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sar_records_task_id'), ['task_id'], unique=False)

    op.create_table('sar_files',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('record_id', sa.Integer(), nullable=False),
    sa.Column('filename', sa.String(length=200), nullable=False),
    sa.Column('mime', sa.String(length=100), nullable=False),
    sa.Column('content', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['record_id'], ['sar_records.id'], name=op.f('fk_sar_files_record_id_sar_records')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sar_files'))
    )
    with op.batch_alter_table('sar_files', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sar_files_record_id'), ['record_id'], unique=False)

    op.create_table('sar_redactions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('record_id', sa.Integer(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('reason', sa.String(length=32), nullable=False),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.Column('staff_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['record_id'], ['sar_records.id'], name=op.f('fk_sar_redactions_record_id_sar_records')),
    sa.ForeignKeyConstraint(['staff_id'], ['staff_users.id'], name=op.f('fk_sar_redactions_staff_id_staff_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sar_redactions'))
    )
    with op.batch_alter_table('sar_redactions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sar_redactions_record_id'), ['record_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('sar_redactions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sar_redactions_record_id'))

    op.drop_table('sar_redactions')
    with op.batch_alter_table('sar_files', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sar_files_record_id'))

    op.drop_table('sar_files')
    with op.batch_alter_table('sar_records', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sar_records_task_id'))

    op.drop_table('sar_records')
    with op.batch_alter_table('sar_downloads', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sar_downloads_bundle_id'))

    op.drop_table('sar_downloads')
    with op.batch_alter_table('sar_tasks', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sar_tasks_request_id'))
        batch_op.drop_index('ix_sar_tasks_agency_status')

    op.drop_table('sar_tasks')
    with op.batch_alter_table('sar_pauses', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sar_pauses_request_id'))

    op.drop_table('sar_pauses')
    with op.batch_alter_table('sar_messages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sar_messages_request_id'))

    op.drop_table('sar_messages')
    with op.batch_alter_table('sar_documents', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sar_documents_request_id'))

    op.drop_table('sar_documents')
    with op.batch_alter_table('sar_bundles', schema=None) as batch_op:
        batch_op.drop_index('ix_sar_bundles_state')
        batch_op.drop_index(batch_op.f('ix_sar_bundles_request_id'))

    op.drop_table('sar_bundles')
    with op.batch_alter_table('sar_requests', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sar_requests_subject_id'))
        batch_op.drop_index(batch_op.f('ix_sar_requests_status'))
        batch_op.drop_index(batch_op.f('ix_sar_requests_account_id'))

    op.drop_table('sar_requests')
