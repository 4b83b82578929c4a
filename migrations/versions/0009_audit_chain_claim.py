"""audit chain claim: take a free chain's append lock and read its head in one statement

Revision ID: 0009
Revises: 0006
Create Date: 2026-11-26
"""
from alembic import op


revision = '0009'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != 'postgresql':
        return  # SQLite has one chain and one writer at a time
    # VOLATILE, so the head is read with a snapshot taken after the lock is held (each
    # statement of a volatile function takes its own under READ COMMITTED): a head read in
    # the same statement as the lock could miss the previous holder's commit.
    op.execute("""
        CREATE FUNCTION portal_claim_audit_chain(first_choice integer, chains integer,
                                                 lock_base bigint)
        RETURNS TABLE (claimed_chain integer, head_seq integer, head_hash text)
        LANGUAGE plpgsql VOLATILE AS $$
        DECLARE
            candidate integer := first_choice;
            claimed boolean := false;
        BEGIN
            FOR i IN 0 .. chains - 1 LOOP
                candidate := (first_choice + i) % chains;
                IF pg_try_advisory_xact_lock(lock_base + candidate) THEN
                    claimed := true;
                    EXIT;
                END IF;
            END LOOP;
            IF NOT claimed THEN
                candidate := first_choice;
                PERFORM pg_advisory_xact_lock(lock_base + candidate);
            END IF;
            claimed_chain := candidate;
            SELECT e.seq, e.hash INTO head_seq, head_hash FROM audit_entries AS e
                WHERE e.chain = candidate ORDER BY e.seq DESC LIMIT 1;
            RETURN NEXT;
        END $$""")


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("DROP FUNCTION IF EXISTS portal_claim_audit_chain(integer, integer, bigint)")
