"""An index on representatives.name: every authenticated request (token or session) reads the
accounts its user represents by the user's name in the one-statement actor query
(``identity.ACTOR_BY_TOKEN``), and the primary key (account_id, name) leads with the account,
so the read scanned every representative of every account.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01 20:45:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_representatives_name", "representatives", ["name"])


def downgrade() -> None:
    op.drop_index("ix_representatives_name", table_name="representatives")
