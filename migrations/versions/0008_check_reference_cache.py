"""check reference cache: a generation counter bumped by triggers

Revision ID: 0008
Revises: 0005
Create Date: 2026-11-25
"""
from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0005'
branch_labels = None
depends_on = None

# Every table whose rows a consent check caches. api_clients bumps only when a column the
# check reads changes: last_used_at is written by checks themselves.
TABLES = ('agencies', 'purposes', 'data_categories', 'sharing_agreements',
          'agreement_categories', 'notices', 'notice_versions', 'notice_version_agreements')
KEY_COLUMNS = ('agency_id', 'key_hash', 'scopes', 'expires_at', 'revoked_at')


def upgrade() -> None:
    op.create_table('reference_generation',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('value', sa.BigInteger(), nullable=False),
    sa.CheckConstraint('id = 1', name=op.f('ck_reference_generation_single_row')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reference_generation'))
    )
    op.execute("INSERT INTO reference_generation (id, value) VALUES (1, 0)")
    bump = "UPDATE reference_generation SET value = value + 1"
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(f"""
            CREATE FUNCTION portal_bump_reference_generation() RETURNS trigger
            LANGUAGE plpgsql AS $$ BEGIN {bump}; RETURN NULL; END $$""")
        for table in TABLES:
            op.execute(f"CREATE TRIGGER {table}_bump_generation AFTER INSERT OR UPDATE OR "
                       f"DELETE OR TRUNCATE ON {table} FOR EACH STATEMENT "
                       f"EXECUTE FUNCTION portal_bump_reference_generation()")
        op.execute("CREATE TRIGGER api_clients_bump_generation AFTER INSERT OR DELETE OR "
                   "TRUNCATE ON api_clients FOR EACH STATEMENT "
                   "EXECUTE FUNCTION portal_bump_reference_generation()")
        op.execute(f"CREATE TRIGGER api_clients_keys_bump_generation AFTER UPDATE OF "
                   f"{', '.join(KEY_COLUMNS)} ON api_clients FOR EACH STATEMENT "
                   f"EXECUTE FUNCTION portal_bump_reference_generation()")
        return
    for table in TABLES:
        for verb in ('INSERT', 'UPDATE', 'DELETE'):
            op.execute(f"CREATE TRIGGER {table}_{verb.lower()}_bump_generation AFTER {verb} "
                       f"ON {table} BEGIN {bump}; END")
    for verb in ('INSERT', 'DELETE'):
        op.execute(f"CREATE TRIGGER api_clients_{verb.lower()}_bump_generation AFTER {verb} "
                   f"ON api_clients BEGIN {bump}; END")
    op.execute(f"CREATE TRIGGER api_clients_update_bump_generation AFTER UPDATE OF "
               f"{', '.join(KEY_COLUMNS)} ON api_clients BEGIN {bump}; END")


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        for table in (*TABLES, 'api_clients'):
            op.execute(f"DROP TRIGGER IF EXISTS {table}_bump_generation ON {table}")
        op.execute("DROP TRIGGER IF EXISTS api_clients_keys_bump_generation ON api_clients")
        op.execute("DROP FUNCTION IF EXISTS portal_bump_reference_generation()")
    else:
        for table in (*TABLES, 'api_clients'):
            for verb in ('insert', 'update', 'delete'):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_{verb}_bump_generation")
    op.drop_table('reference_generation')
