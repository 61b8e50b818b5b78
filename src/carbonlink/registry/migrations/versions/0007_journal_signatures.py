"""Journal signatures and an append-only journal: one Ed25519 signature per journal entry (the
key is a file outside the database), and on PostgreSQL triggers refusing UPDATE, DELETE and
TRUNCATE of ``journal`` and ``journal_signatures`` (docs/registry.md: the GRANT recipe for a
separate application role)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 13:15:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_FN = """
CREATE OR REPLACE FUNCTION registry_journal_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'the registry journal is append-only: % on % refused', TG_OP, TG_TABLE_NAME
    USING ERRCODE = 'insufficient_privilege';
END $$;
"""


def upgrade() -> None:
    op.create_table(
        'journal_signatures',
        sa.Column('seq', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('signature', sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint('seq', name=op.f('pk_journal_signatures')),
    )
    if op.get_bind().dialect.name != 'postgresql':
        return
    op.execute(_FN)
    for table in ('journal', 'journal_signatures'):   # per statement: even when no row matches
        op.execute(f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE OR TRUNCATE "
                   f"ON {table} FOR EACH STATEMENT EXECUTE FUNCTION "
                   "registry_journal_append_only()")


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        for table in ('journal', 'journal_signatures'):
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
        op.execute("DROP FUNCTION IF EXISTS registry_journal_append_only()")
    op.drop_table('journal_signatures')
