"""Four eyes on every outgoing internal transfer (issue 11, build point 2): the per-account
opt-in (``account_policies``) goes, and with it the PostgreSQL one-statement internal transfer
``registry_internal_transfer`` (revisions 0002, 0004), which completed a transfer proposed by
one person. Historical ``account.four_eyes`` journal entries stay in the journal and replay
(``verify`` reads them as history, there being no table left to compare them with).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 17:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS registry_internal_transfer(integer, integer, "
                   "bigint, text, integer, text, text, timestamp, text)")
    op.drop_table('account_policies')


def downgrade() -> None:
    import importlib.util
    from pathlib import Path

    op.create_table(
        'account_policies',
        sa.Column('account_id', sa.Integer(), nullable=False),
        sa.Column('four_eyes', sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(['account_id'], ['accounts.id'],
                                name=op.f('fk_account_policies_account_id_accounts')),
        sa.PrimaryKeyConstraint('account_id', name=op.f('pk_account_policies')),
    )
    if op.get_bind().dialect.name == "postgresql":    # the function of revision 0004 returns
        path = Path(__file__).with_name("0004_hot_path_indexes.py")
        spec = importlib.util.spec_from_file_location("m0004", path)
        assert spec is not None and spec.loader is not None
        m0004 = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(m0004)
        op.execute(m0004.FUNCTION)
