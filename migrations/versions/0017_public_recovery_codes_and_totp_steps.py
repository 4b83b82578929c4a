"""public accounts' recovery codes, used authenticator steps and second-factor reset

Recovery codes belong to a staff member or to a public account (one table, one mechanism);
an account's last used authenticator time-step is kept so that a code works once; and an
account remembers when its owner confirmed, by email, that the second factor is lost.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06
"""
from alembic import op
import sqlalchemy as sa


revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('recovery_codes', schema=None) as batch_op:
        batch_op.alter_column('staff_user_id', existing_type=sa.Integer(), nullable=True)
        batch_op.add_column(sa.Column('account_id', sa.Uuid(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_recovery_codes_account_id_accounts'),
                                    'accounts', ['account_id'], ['id'])
        batch_op.create_index(batch_op.f('ix_recovery_codes_account_id'), ['account_id'],
                              unique=False)
    op.create_table(
        'account_totp_steps',
        sa.Column('account_id', sa.Uuid(), nullable=False),
        sa.Column('last_step', sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(['account_id'], ['accounts.id'],
                                name=op.f('fk_account_totp_steps_account_id_accounts')),
        sa.PrimaryKeyConstraint('account_id', name=op.f('pk_account_totp_steps')),
    )
    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('totp_reset_confirmed_at', sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.drop_column('totp_reset_confirmed_at')
    op.drop_table('account_totp_steps')
    # Accounts' codes cannot be kept without the column that names their owner.
    op.execute(sa.text("DELETE FROM recovery_codes WHERE staff_user_id IS NULL"))
    with op.batch_alter_table('recovery_codes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_recovery_codes_account_id'))
        batch_op.drop_constraint(batch_op.f('fk_recovery_codes_account_id_accounts'),
                                 type_='foreignkey')
        batch_op.drop_column('account_id')
        batch_op.alter_column('staff_user_id', existing_type=sa.Integer(), nullable=False)
