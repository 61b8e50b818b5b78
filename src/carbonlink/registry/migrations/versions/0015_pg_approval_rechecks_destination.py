"""PostgreSQL's approval of an internal transfer re-checks that the acquiring account is open
(A2002), as the Python path and SQLite's fast path now do: the account may have been blocked
or closed between the proposal (which checked it) and the approval that executes the transfer.

``registry_approve_internal`` is revision 0014's function with two changes, made by exact
replacements of its frozen text (each must match once): the account-locking statement also
reads each account's status, and after the representative check (A2005) a destination that is
not open is refused with A2002 — code, path and detail as ``Transfers._check_still_open``
writes them — before anything is written. The proposal function is unchanged.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02 01:45:00
"""

from __future__ import annotations

from collections.abc import Sequence
from types import ModuleType

from alembic import op

from carbonlink.registry.migrations import revision_module

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _revision_0014() -> ModuleType:
    return revision_module("0014_pg_fast_path_fewer_statements.py")


#: (0014's text, this revision's text): each occurs exactly once in 0014's approval function
EDITS = (
    ("  s_holder integer; d_holder integer;\n",
     "  s_holder integer; d_holder integer; d_status text; d_found boolean := false;\n"),
    ("  FOR r IN SELECT a.id, a.holder_id,\n",
     "  FOR r IN SELECT a.id, a.holder_id, a.status,\n"),
    ("    IF r.id = t.to_account THEN d_holder := r.holder_id; END IF;\n",
     "    IF r.id = t.to_account THEN\n"
     "      d_holder := r.holder_id; d_status := r.status; d_found := true;\n"
     "    END IF;\n"),
    ("                       t.from_account);\n    RETURN;\n  END IF;\n"
     "  -- an account of the same holder",
     "                       t.from_account);\n    RETURN;\n  END IF;\n"
     "  -- the acquiring account is still open when the transfer executes "
     "(Transfers._check_still_open)\n"
     "  IF NOT d_found OR d_status <> 'open' THEN\n"
     "    o_code := 'A2002'; o_path := 'to_account';\n"
     "    o_detail := format('account %s is %s', t.to_account,\n"
     "                       CASE WHEN d_found THEN d_status ELSE 'None' END);\n"
     "    RETURN;\n  END IF;\n"
     "  -- an account of the same holder"),
)


def approve_function() -> str:
    text: str = _revision_0014().APPROVE
    for old, new in EDITS:
        if text.count(old) != 1:
            raise RuntimeError(f"revision 0014's approval function has {text.count(old)} "
                               f"copies of {old!r}; expected one")
        text = text.replace(old, new)
    return text


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(approve_function())


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_revision_0014().APPROVE)
