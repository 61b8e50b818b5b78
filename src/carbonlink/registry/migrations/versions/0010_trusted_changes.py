"""Trusted-account lists kept by the account's representatives (Reg. (EU) 2019/1122 Art 23(4)):
proposed changes, each proposed by one representative and approved by another; an addition is
in force from its effective time.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 17:45:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'trusted_changes',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('account_id', sa.Integer(), nullable=False),
        sa.Column('trusted_id', sa.Integer(), nullable=False),
        sa.Column('action', sa.String(length=8), nullable=False),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('proposer', sa.String(length=100), nullable=False),
        sa.Column('proposed_at', sa.DateTime(), nullable=False),
        sa.Column('approver', sa.String(length=100), nullable=True),
        sa.Column('decided_at', sa.DateTime(), nullable=True),
        sa.Column('effective_at', sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(['account_id'], ['accounts.id'],
                                name=op.f('fk_trusted_changes_account_id_accounts')),
        sa.ForeignKeyConstraint(['trusted_id'], ['accounts.id'],
                                name=op.f('fk_trusted_changes_trusted_id_accounts')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_trusted_changes')),
    )
    op.create_index('ix_trusted_changes_account', 'trusted_changes', ['account_id'])


def downgrade() -> None:
    op.drop_index('ix_trusted_changes_account', table_name='trusted_changes')
    op.drop_table('trusted_changes')
