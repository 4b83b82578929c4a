"""SAR staff access: who supplied, withheld and opened what, verification notes, safeguarding

Adds the columns four eyes reads (who supplied a task, who withheld a record), the verifier's
note, the safeguarding decision, and the table of staff views of a request. Views logged
before this revision (audit action sar.viewed) are copied into it, so the person sees them.

Revision ID: 0015
Revises: 0013
Create Date: 2026-12-06
"""
import json
import uuid

from alembic import op
import sqlalchemy as sa


revision = '0015'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('sar_requests', schema=None) as batch_op:
        batch_op.add_column(sa.Column('verification_note', sa.Text(), nullable=False,
                                      server_default=''))
        batch_op.add_column(sa.Column('adult_at_risk', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
        batch_op.add_column(sa.Column('safeguarding_decision', sa.String(length=16),
                                      nullable=False, server_default=''))
        batch_op.add_column(sa.Column('safeguarding_reason', sa.Text(), nullable=False,
                                      server_default=''))
        batch_op.add_column(sa.Column('safeguarding_by_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('safeguarding_at', sa.DateTime(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f('fk_sar_requests_safeguarding_by_id_staff_users'), 'staff_users',
            ['safeguarding_by_id'], ['id'])
    with op.batch_alter_table('sar_tasks', schema=None) as batch_op:
        batch_op.add_column(sa.Column('supplied_by_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_sar_tasks_supplied_by_id_staff_users'),
                                    'staff_users', ['supplied_by_id'], ['id'])
    with op.batch_alter_table('sar_records', schema=None) as batch_op:
        batch_op.add_column(sa.Column('withheld_by_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_sar_records_withheld_by_id_staff_users'),
                                    'staff_users', ['withheld_by_id'], ['id'])
    op.create_table(
        'sar_views',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('request_id', sa.Uuid(), nullable=False),
        sa.Column('staff_id', sa.Integer(), nullable=False),
        sa.Column('agency_id', sa.Integer(), nullable=True),
        sa.Column('role', sa.String(length=32), nullable=False),
        sa.Column('what', sa.String(length=16), nullable=False),
        sa.Column('object_id', sa.String(length=64), nullable=False),
        sa.Column('at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['agency_id'], ['agencies.id'],
                                name=op.f('fk_sar_views_agency_id_agencies')),
        sa.ForeignKeyConstraint(['request_id'], ['sar_requests.id'],
                                name=op.f('fk_sar_views_request_id_sar_requests')),
        sa.ForeignKeyConstraint(['staff_id'], ['staff_users.id'],
                                name=op.f('fk_sar_views_staff_id_staff_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_sar_views')))
    with op.batch_alter_table('sar_views', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sar_views_request_id'), ['request_id'],
                              unique=False)
    _copy_logged_views()


def _copy_logged_views() -> None:
    # Every officer could open every request before this revision: each view logged then was
    # by a SAR officer. Only views of requests and staff that still exist are copied.
    conn = op.get_bind()
    views = sa.table('sar_views', sa.column('request_id', sa.Uuid()),
                     sa.column('staff_id', sa.Integer()), sa.column('agency_id', sa.Integer()),
                     sa.column('role', sa.String()), sa.column('what', sa.String()),
                     sa.column('object_id', sa.String()), sa.column('at', sa.DateTime()))
    entries = sa.table('audit_entries', sa.column('at', sa.DateTime()),
                       sa.column('actor_type', sa.String()), sa.column('actor_id', sa.String()),
                       sa.column('agency_id', sa.Integer()), sa.column('action', sa.String()),
                       sa.column('object_type', sa.String()),
                       sa.column('object_id', sa.String()), sa.column('details', sa.Text()))
    requests = sa.table('sar_requests', sa.column('id', sa.Uuid()))
    bundles = sa.table('sar_bundles', sa.column('id', sa.Uuid()),
                       sa.column('request_id', sa.Uuid()))
    staff = sa.table('staff_users', sa.column('id', sa.Integer()))
    known_requests = set(conn.execute(sa.select(requests.c.id)).scalars())
    bundle_requests = dict(conn.execute(sa.select(bundles.c.id, bundles.c.request_id)).all())
    known_staff = set(conn.execute(sa.select(staff.c.id)).scalars())
    rows = []
    for entry in conn.execute(sa.select(entries).where(entries.c.action == 'sar.viewed',
                                                       entries.c.actor_type == 'staff')):
        what = str(json.loads(entry.details or '{}').get('what', 'request'))
        try:
            object_id = uuid.UUID(entry.object_id)
            staff_id = int(entry.actor_id)
        except ValueError:
            continue
        request_id = bundle_requests.get(object_id) if what == 'bundle' else object_id
        if request_id not in known_requests or staff_id not in known_staff:
            continue
        rows.append({'request_id': request_id, 'staff_id': staff_id,
                     'agency_id': entry.agency_id, 'role': 'sar-officer',
                     'what': what[:16], 'object_id': str(object_id), 'at': entry.at})
    if rows:
        op.bulk_insert(views, rows)


def downgrade() -> None:
    with op.batch_alter_table('sar_views', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sar_views_request_id'))
    op.drop_table('sar_views')
    with op.batch_alter_table('sar_records', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_sar_records_withheld_by_id_staff_users'),
                                 type_='foreignkey')
        batch_op.drop_column('withheld_by_id')
    with op.batch_alter_table('sar_tasks', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_sar_tasks_supplied_by_id_staff_users'),
                                 type_='foreignkey')
        batch_op.drop_column('supplied_by_id')
    with op.batch_alter_table('sar_requests', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_sar_requests_safeguarding_by_id_staff_users'),
                                 type_='foreignkey')
        batch_op.drop_column('safeguarding_at')
        batch_op.drop_column('safeguarding_by_id')
        batch_op.drop_column('safeguarding_reason')
        batch_op.drop_column('safeguarding_decision')
        batch_op.drop_column('adult_at_risk')
        batch_op.drop_column('verification_note')
