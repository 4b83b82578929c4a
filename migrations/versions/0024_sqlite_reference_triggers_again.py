"""The reference cache's triggers on agencies, again, on SQLite

Revision ID: 0024
Revises: 0022
Create Date: 2026-12-07

Adding a column to agencies in batch mode (0019, 0020) rebuilt the table on SQLite, and a
rebuilt table loses its triggers: without them an agency's change would not reach the check's
cache. PostgreSQL keeps its triggers through ALTER TABLE.
"""
from alembic import op

revision = '0024'
down_revision = '0022'
branch_labels = None
depends_on = None

BUMP = "UPDATE reference_generation SET value = value + 1"


def upgrade() -> None:
    if op.get_bind().dialect.name != 'sqlite':
        return
    for verb in ('INSERT', 'UPDATE', 'DELETE'):
        name = f"agencies_{verb.lower()}_bump_generation"
        op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute(f"CREATE TRIGGER {name} AFTER {verb} ON agencies BEGIN {BUMP}; END")


def downgrade() -> None:
    """The triggers stay: the schema before this revision should have had them."""
