"""NDC type (single-year / multi-year, para 7) and the authorisation version of each first
transfer (changes apply only prospectively)

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('ndc_accounting', sa.Column('ndc_type', sa.String(length=16), nullable=False,
                                              server_default='single_year'))
    op.execute("UPDATE ndc_accounting SET ndc_type = 'multi_year' WHERE method = 'multi_year'")
    op.add_column('first_transfers', sa.Column('authorisation_version', sa.Integer(),
                                               nullable=True))
    # existing rows: the newest version in effect when the first transfer happened
    op.execute("UPDATE first_transfers SET authorisation_version = (SELECT MAX(a.version) "
               "FROM authorisations a WHERE a.id = first_transfers.authorisation_id "
               "AND a.effective_from <= first_transfers.at)")


def downgrade() -> None:
    # plain ALTER TABLE … DROP COLUMN (SQLite ≥ 3.35): a batch copy would drop the SQLite
    # overlap triggers of first_transfers
    op.execute("ALTER TABLE first_transfers DROP COLUMN authorisation_version")
    op.execute("ALTER TABLE ndc_accounting DROP COLUMN ndc_type")
