"""Client references: the first result of each state-changing call made with a reference,
written in the call's own database transaction, so a retry (after a lost acknowledgement or a
crash) returns it and changes nothing

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 12:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'client_refs',
        sa.Column('username', sa.String(length=64), nullable=False),
        sa.Column('reference', sa.String(length=100), nullable=False),
        sa.Column('operation', sa.String(length=32), nullable=False),
        sa.Column('result', sa.Text(), nullable=False),
        sa.Column('at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('username', 'reference', name=op.f('pk_client_refs')),
    )


def downgrade() -> None:
    op.drop_table('client_refs')
