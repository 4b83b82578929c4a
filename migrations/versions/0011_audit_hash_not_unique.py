"""audit entries: no unique index on the hash

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-26
"""
from alembic import op


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

# The index only refused a second entry with the same hash, which the chain already rules out:
# (chain, seq) is unique and each hash covers its chain, its seq and the previous hash, so two
# entries can share one only through a SHA-256 collision, and a copied entry breaks the links
# `audit verify` walks. Nothing looks entries up by hash. Its cost was on every append: a
# random 64-character key inserted into the largest index, about a sixth of the CPU of a
# 1,000-question batch on SQLite (the pages it dirties are written to the log at each commit).


def _restore_sqlite_append_only() -> None:
    # SQLite's batch mode rebuilds the table, which drops its triggers: put back the ones
    # 0001 made to refuse UPDATE and DELETE.
    if op.get_bind().dialect.name != 'sqlite':
        return
    for verb in ('UPDATE', 'DELETE'):
        op.execute(f"DROP TRIGGER IF EXISTS audit_entries_no_{verb.lower()}")
        op.execute(f"CREATE TRIGGER audit_entries_no_{verb.lower()} BEFORE {verb} ON "
                   f"audit_entries BEGIN SELECT RAISE(ABORT, '{verb} on audit_entries is "
                   "refused: the table is append-only'); END")


def upgrade() -> None:
    with op.batch_alter_table('audit_entries', schema=None) as batch_op:
        batch_op.drop_constraint('uq_audit_entries_hash', type_='unique')
    _restore_sqlite_append_only()


def downgrade() -> None:
    with op.batch_alter_table('audit_entries', schema=None) as batch_op:
        batch_op.create_unique_constraint('uq_audit_entries_hash', ['hash'])
    _restore_sqlite_append_only()
