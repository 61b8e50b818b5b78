"""Four eyes for internal transfers and trusted-account lists: an account's transfer policy
(``four_eyes``: every outgoing internal transfer proposed by one representative and approved by
another), its trusted accounts, and the time a delayed transfer completes

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 15:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'account_policies',
        sa.Column('account_id', sa.Integer(), nullable=False),
        sa.Column('four_eyes', sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(['account_id'], ['accounts.id'],
                                name=op.f('fk_account_policies_account_id_accounts')),
        sa.PrimaryKeyConstraint('account_id', name=op.f('pk_account_policies')),
    )
    op.create_table(
        'trusted_accounts',
        sa.Column('account_id', sa.Integer(), nullable=False),
        sa.Column('trusted_id', sa.Integer(), nullable=False),
        sa.Column('added_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['account_id'], ['accounts.id'],
                                name=op.f('fk_trusted_accounts_account_id_accounts')),
        sa.ForeignKeyConstraint(['trusted_id'], ['accounts.id'],
                                name=op.f('fk_trusted_accounts_trusted_id_accounts')),
        sa.PrimaryKeyConstraint('account_id', 'trusted_id', name=op.f('pk_trusted_accounts')),
    )
    with op.batch_alter_table('transactions') as batch:
        batch.add_column(sa.Column('completes_at', sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('transactions') as batch:
        batch.drop_column('completes_at')
    op.drop_table('trusted_accounts')
    op.drop_table('account_policies')
