"""PostgreSQL four-eyes fast path in fewer statements: the same checks, codes, rows and
journal entries as revision 0012.

Profiled with ``perf`` on the server, a call of 0012 spent most of its time not in its
statements' work but in starting and ending them (``ExecutorStart`` alone ~16 %: locks,
plan-cache checks, index opening, snapshots), about nine statements per call. Here:

* **proposal** — both accounts are locked by one statement (in id order, ``FOR UPDATE OF``),
  which also counts the transferring account's representatives (was three statements); the
  transaction's id is drawn from its sequence first, and after the journal head is locked one
  statement writes the transaction row, the escrow (the split block and the whole blocks), the
  transaction's blocks, the journal entry and the head (was five statements; the foreign keys
  are checked at the statement's end, when every row exists). Three statements and the
  holdings cursor instead of nine and the cursor;
* **approval** — the account lock also reads both holders and counts the representatives (was
  three statements with the same-holder test); the trusted-account list is read only when the
  holders differ and a delay applies; one statement moves the blocks out of escrow, updates
  the transaction and writes the entries and the head (was four). Five statements instead of
  nine.

The order of the checks, and so which code a failing call returns, is unchanged (the parity
tests of ``tests/registry/test_fastpath.py`` run against this revision on PostgreSQL).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01 23:00:00
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: the acquiring side of an internal transfer is a holding account (A2003), and holding
#: accounts may hold every unit type (``common.ACCOUNT_UNITS``; a test keeps them in step)
HOLDING_TYPES = ("party_holding", "entity_holding")
HOLDING_UNITS = ("allowance", "offset", "a64er", "itmo")


def _array(values: Sequence[str]) -> str:
    return "ARRAY[" + ", ".join(f"'{v}'" for v in values) + "]::text[]"


#: the journal head locked and the time its last entry carries (one read); the entry's time is
#: never before it (the server's clock stepped back: the journal stays monotone)
HEAD = r"""
  SELECT h.seq, h.hash, j.at INTO h_seq, h_hash, h_at
    FROM journal_head h LEFT JOIN journal j ON j.seq = h.seq
    WHERE h.id = 1 FOR UPDATE OF h;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'journal head row missing: the registry database is inconsistent';
  END IF;
  j_at := p_at; j_iso := p_at_iso;
  IF h_at IS NOT NULL AND p_at < h_at THEN
    j_at := h_at; j_iso := registry_iso(h_at);
  END IF;
"""

#: ``journal.entry_hash``: sha256 of prev|seq|iso time|kind|tx|payload
def _hash(prev: str, seq: str, kind: str, tx: str, payload: str) -> str:
    return (f"encode(sha256(convert_to({prev} || '|' || ({seq}) || '|' || j_iso || '|{kind}|' "
            f"|| {tx} || '|' || {payload}, 'UTF8')), 'hex')")


#: the proposal's writes, one statement after the journal head is locked: the transaction row
#: (``WRITE_TX``), with a split the block shrunk and its lower serials inserted in escrow
#: (``WRITE_SPLIT``), then the whole blocks put in escrow, the transaction's blocks, the entry
#: and the head (``WRITE_REST``); two variants, so the common case (no split) opens ``blocks``
#: for writing once, not three times
WRITE_TX = """    WITH t AS (
      INSERT INTO transactions (id, kind, state, created_at, updated_at, from_account,
                                to_account, quantity, unit_type, vintage, proposer, expires_at)
        VALUES (o_tx_id, 'internal_transfer', 'proposed', p_at, p_at, p_from, p_to, p_qty,
                t_ut, t_vin, p_by, p_expires)
"""
WRITE_SPLIT = """    ), sh AS (
      UPDATE blocks SET serial_start = serial_start + sp_take WHERE id = sp_id
      RETURNING issuing_registry, unit_type, vintage, serial_start, account_id,
                authorisation_id, first_transferred
    ), sp AS (
      INSERT INTO blocks (issuing_registry, unit_type, vintage, serial_start, serial_end,
                          account_id, status, authorisation_id, first_transferred, pending_tx)
      SELECT sh.issuing_registry, sh.unit_type, sh.vintage, sh.serial_start - sp_take,
             sh.serial_start - 1, sh.account_id, 'pending_export', sh.authorisation_id,
             sh.first_transferred, o_tx_id
      FROM sh
"""
WRITE_REST = """    ), w AS (
      UPDATE blocks SET status = 'pending_export', pending_tx = o_tx_id WHERE id = ANY(whole)
    ), tb AS (
      INSERT INTO transaction_blocks (tx_id, seq, issuing_registry, unit_type, vintage,
                                      serial_start, serial_end, authorisation_id, first_transfer)
        SELECT o_tx_id, v.n - 1, v.reg, v.ut, v.vin, v.s, v.e, v.auth, false
        FROM unnest(regs, uts, vins, starts, ends, auths) WITH ORDINALITY
             AS v(reg, ut, vin, s, e, auth, n)
    ), e AS (
      INSERT INTO journal (seq, at, kind, tx_id, payload, prev_hash, hash)
        VALUES (h_seq + 1, j_at, 'internal_transfer.proposed', o_tx_id, o_payload, h_hash,
                n_hash)
    )
    UPDATE journal_head SET seq = h_seq + 1, hash = n_hash WHERE id = 1;
"""


PROPOSE = r"""
CREATE OR REPLACE FUNCTION registry_propose_internal(
    p_from integer, p_to integer, p_qty bigint, p_unit_type text, p_vintage integer,
    p_auth text, p_by text, p_at timestamp, p_at_iso text, p_expires timestamp,
    OUT o_tx_id integer, OUT o_code text, OUT o_path text, OUT o_detail text,
    OUT o_payload text)
LANGUAGE plpgsql VOLATILE
SET enable_seqscan = off
SET plan_cache_mode = force_generic_plan
AS $fn$
DECLARE
  b record;
  r record;
  cur refcursor;
  s_found boolean := false; s_reg text; s_type text; s_status text; s_reps bigint;
  s_isrep bigint;
  d_found boolean := false; d_reg text; d_type text; d_status text;
  need bigint := p_qty;
  n_rows integer := 0;
  whole integer[] := '{}';
  regs text[] := '{}'; uts text[] := '{}'; vins integer[] := '{}';
  starts bigint[] := '{}'; ends bigint[] := '{}'; auths text[] := '{}';
  sp_id integer;
  pj text := '';
  sp_take bigint := 0;
  t_ut text; t_vin integer; same_ut boolean := true; same_vin boolean := true;
  any_auth boolean := false; bad_ut text;
  h_seq bigint; h_hash text; h_at timestamp; j_at timestamp; j_iso text; n_hash text;
BEGIN
  IF p_qty IS NULL OR p_qty <= 0 THEN
    o_code := 'R1001'; o_path := 'quantity';
    o_detail := format('must be a positive whole number, got %s', p_qty);
    RETURN;
  END IF;
  -- both accounts locked in ascending id order (the service's lock order) by one statement,
  -- which also counts the transferring account's representatives
  s_reps := 0; s_isrep := 0;
  FOR r IN SELECT a.id, a.registry_id, a.type, a.status,
                  CASE WHEN a.id = p_from THEN (SELECT count(*) FROM representatives x
                                                WHERE x.account_id = a.id) END AS n_reps,
                  CASE WHEN a.id = p_from THEN (SELECT count(*) FROM representatives x
                                                WHERE x.account_id = a.id
                                                  AND x.name = coalesce(p_by, '')) END AS n_is
             FROM accounts a WHERE a.id IN (p_from, p_to) ORDER BY a.id FOR UPDATE OF a
  LOOP
    IF r.id = p_from THEN
      s_found := true; s_reg := r.registry_id; s_type := r.type; s_status := r.status;
      s_reps := r.n_reps; s_isrep := r.n_is;
    END IF;
    IF r.id = p_to THEN
      d_found := true; d_reg := r.registry_id; d_type := r.type; d_status := r.status;
    END IF;
  END LOOP;
  IF NOT s_found OR s_status <> 'open' THEN
    o_code := 'A2001'; o_path := 'from_account';
    o_detail := format('account %s ', p_from) ||
                CASE WHEN s_found THEN 'is ' || s_status ELSE 'does not exist' END;
    RETURN;
  END IF;
  IF NOT d_found OR d_status <> 'open' THEN
    o_code := 'A2002'; o_path := 'to_account';
    o_detail := format('account %s ', p_to) ||
                CASE WHEN d_found THEN 'is ' || d_status ELSE 'does not exist' END;
    RETURN;
  END IF;
  IF p_from = p_to THEN
    o_code := 'A2007'; o_path := 'to_account'; o_detail := 'transfer to the same account';
    RETURN;
  END IF;
  IF s_type <> ALL(@HOLDING_TYPES@) THEN
    o_code := 'A2004'; o_path := 'from_account';
    o_detail := format('units never leave a %s account', s_type);
    RETURN;
  END IF;
  IF d_type <> ALL(@HOLDING_TYPES@) THEN
    o_code := 'A2003'; o_path := 'to_account';
    o_detail := format('transfers go to holding accounts; use surrender, use, cancel or '
                       'retire for %s', d_type);
    RETURN;
  END IF;
  IF s_reps > 0 AND s_isrep = 0 THEN
    o_code := 'A2005'; o_path := 'by';
    o_detail := format('%s is not a representative of account %s',
                       CASE WHEN p_by IS NULL THEN 'None' ELSE '''' || p_by || '''' END,
                       p_from);
    RETURN;
  END IF;
  IF s_reg <> d_reg THEN
    o_code := 'external';   -- an external transfer: the general path handles it
    RETURN;
  END IF;
  -- holdings, lowest serials first, through a cursor on one of two static queries (one
  -- generic plan for the unfiltered case), read after the lock
  IF p_unit_type IS NULL AND p_vintage IS NULL AND p_auth IS NULL THEN
    OPEN cur FOR
      SELECT id, issuing_registry, unit_type, vintage, serial_start, serial_end,
             authorisation_id
      FROM blocks
      WHERE account_id = p_from AND status = 'held'
      ORDER BY issuing_registry, unit_type, vintage, serial_start;
  ELSE
    OPEN cur FOR
      SELECT id, issuing_registry, unit_type, vintage, serial_start, serial_end,
             authorisation_id
      FROM blocks
      WHERE account_id = p_from AND status = 'held'
        AND (p_unit_type IS NULL OR unit_type = p_unit_type)
        AND (p_vintage IS NULL OR vintage = p_vintage)
        AND (p_auth IS NULL OR authorisation_id = p_auth)
      ORDER BY issuing_registry, unit_type, vintage, serial_start;
  END IF;
  LOOP
    FETCH cur INTO b;
    EXIT WHEN NOT FOUND;
    n_rows := n_rows + 1;
    IF n_rows = 1 THEN
      t_ut := b.unit_type; t_vin := b.vintage;
    ELSE
      same_ut := same_ut AND b.unit_type = t_ut; same_vin := same_vin AND b.vintage = t_vin;
    END IF;
    IF bad_ut IS NULL AND b.unit_type <> ALL(@HOLDING_UNITS@) THEN
      bad_ut := b.unit_type;
    END IF;
    any_auth := any_auth OR b.authorisation_id IS NOT NULL;
    regs := regs || b.issuing_registry::text; uts := uts || b.unit_type::text;
    vins := vins || b.vintage; starts := starts || b.serial_start;
    auths := auths || b.authorisation_id::text;
    IF b.serial_end - b.serial_start + 1 <= need THEN
      whole := whole || b.id;
      ends := ends || b.serial_end;
      need := need - (b.serial_end - b.serial_start + 1);
    ELSE
      sp_id := b.id; sp_take := need;
      ends := ends || (b.serial_start + need - 1);
      need := 0;
    END IF;
    -- the payload's blocks, in canonical JSON as journal.canonical writes them
    pj := pj || CASE WHEN n_rows > 1 THEN ',' ELSE '' END || '['
          || to_json(b.issuing_registry::text)::text || ',' || to_json(b.unit_type::text)::text
          || ',' || b.vintage || ',' || b.serial_start || ',' || ends[n_rows] || ']';
    EXIT WHEN need = 0;
  END LOOP;
  CLOSE cur;
  IF need > 0 THEN
    o_code := 'H3001'; o_path := 'quantity';
    o_detail := format('account %s holds %s matching units, %s requested',
                       p_from, p_qty - need, p_qty);
    RETURN;
  END IF;
  IF bad_ut IS NOT NULL THEN
    o_code := 'A2003'; o_path := 'to_account';
    o_detail := format('%s accounts cannot hold %s', d_type, bad_ut);
    RETURN;
  END IF;
  IF any_auth THEN
    o_code := 'general';    -- authorised units: the general path checks authorised entities
    RETURN;
  END IF;
  o_payload := '{"blocks":[' || pj || '],"by":'
               || CASE WHEN p_by IS NULL THEN 'null' ELSE to_json(p_by)::text END
               || ',"from":' || p_from || ',"quantity":' || p_qty || ',"to":' || p_to || '}';
  -- the row names the unit type and vintage its blocks share (Ledger._record_pieces)
  IF NOT same_ut THEN t_ut := p_unit_type; END IF;
  IF NOT same_vin THEN t_vin := p_vintage; END IF;
  o_tx_id := nextval('transactions_id_seq');
  @HEAD@
  n_hash := @HASH_PROPOSED@;
  -- one statement writes the transaction, the escrow (the split: the block shrunk, its lower
  -- serials inserted in escrow already; whole blocks put in escrow), the transaction's blocks
  -- and the journal entry (the foreign keys are checked at its end, when all rows exist)
  IF sp_take > 0 THEN
@WRITE_TX@@WRITE_SPLIT@@WRITE_REST@  ELSE
@WRITE_TX@@WRITE_REST@  END IF;
END
$fn$
""".replace("@HOLDING_TYPES@", _array(HOLDING_TYPES)).replace(
    "@HOLDING_UNITS@", _array(HOLDING_UNITS)).replace("@WRITE_TX@", WRITE_TX).replace(
    "@WRITE_SPLIT@", WRITE_SPLIT).replace("@WRITE_REST@", WRITE_REST).replace(
    "@HEAD@", HEAD).replace("@HASH_PROPOSED@", _hash("h_hash", "h_seq + 1", "internal_transfer.proposed", "o_tx_id",
                             "o_payload"))

APPROVE = r"""
CREATE OR REPLACE FUNCTION registry_approve_internal(
    p_tx integer, p_by text, p_at timestamp, p_at_iso text, p_delay interval,
    p_due_iso text, p_allowed integer[],
    OUT o_state text, OUT o_qty bigint, OUT o_code text, OUT o_path text, OUT o_detail text,
    OUT o_account integer)
LANGUAGE plpgsql VOLATILE
SET enable_seqscan = off
SET plan_cache_mode = force_generic_plan
AS $fn$
DECLARE
  t record;
  r record;
  s_reps bigint := 0; s_isrep bigint := 0;
  s_holder integer; d_holder integer;
  trusted boolean;
  p1 text; p2 text := '{}';
  h1 text; h2 text;
  h_seq bigint; h_hash text; h_at timestamp; j_at timestamp; j_iso text;
BEGIN
  SELECT kind, from_account, to_account INTO t FROM transactions WHERE id = p_tx;
  -- the access check (guard.check, deferred to this statement): the actor represents the
  -- transferring account as an approver; refused before any lock, nothing written
  IF p_allowed IS NOT NULL AND (NOT FOUND OR t.from_account IS NULL
                                OR t.from_account <> ALL(p_allowed)) THEN
    o_code := 'denied'; o_account := t.from_account;
    RETURN;
  END IF;
  IF t.kind IS DISTINCT FROM 'internal_transfer' THEN
    o_code := 'general';    -- not an internal transfer: the general path answers
    RETURN;
  END IF;
  -- both accounts locked in id order (one statement, which also reads their holders and
  -- counts the transferring account's representatives), then the transaction row
  -- (Transfers._locked_tx)
  FOR r IN SELECT a.id, a.holder_id,
                  CASE WHEN a.id = t.from_account THEN (SELECT count(*) FROM representatives x
                                                       WHERE x.account_id = a.id) END AS n_reps,
                  CASE WHEN a.id = t.from_account THEN (SELECT count(*) FROM representatives x
                                                       WHERE x.account_id = a.id
                                                         AND x.name = p_by) END AS n_is
             FROM accounts a WHERE a.id IN (t.from_account, t.to_account)
             ORDER BY a.id FOR UPDATE OF a
  LOOP
    IF r.id = t.from_account THEN
      s_holder := r.holder_id; s_reps := r.n_reps; s_isrep := r.n_is;
    END IF;
    IF r.id = t.to_account THEN d_holder := r.holder_id; END IF;
  END LOOP;
  SELECT * INTO t FROM transactions WHERE id = p_tx FOR UPDATE;
  o_qty := t.quantity;
  IF t.state <> 'proposed' THEN
    o_code := 'R1002'; o_path := 'tx';
    o_detail := format('transfer %s is %s; expected proposed', p_tx, t.state);
    RETURN;
  END IF;
  IF t.expires_at IS NOT NULL AND p_at >= t.expires_at THEN
    o_code := 'R1003'; o_path := 'tx';
    o_detail := format('transfer %s expired at %s', p_tx, registry_ts_text(t.expires_at));
    RETURN;
  END IF;
  IF p_by IS NOT DISTINCT FROM t.proposer THEN
    o_code := 'A2006'; o_path := 'by';
    o_detail := format('%s proposed transfer %s; a second representative must approve',
                       CASE WHEN p_by IS NULL THEN 'None' ELSE '''' || p_by || '''' END, p_tx);
    RETURN;
  END IF;
  IF s_reps > 0 AND coalesce(s_isrep, 0) = 0 THEN
    o_code := 'A2005'; o_path := 'by';
    o_detail := format('%s is not a representative of account %s',
                       CASE WHEN p_by IS NULL THEN 'None' ELSE '''' || p_by || '''' END,
                       t.from_account);
    RETURN;
  END IF;
  -- an account of the same holder (Art 23(2)), or the trusted-account list in force (read
  -- only when needed)
  trusted := p_delay <= interval '0' OR coalesce(s_holder = d_holder, false);
  IF NOT trusted THEN
    trusted := EXISTS (SELECT 1 FROM trusted_accounts WHERE account_id = t.from_account
                       AND trusted_id = t.to_account AND added_at <= p_at);
  END IF;
  p1 := '{"by":' || CASE WHEN p_by IS NULL THEN 'null' ELSE to_json(p_by)::text END
        || ',"completes_at":'
        || CASE WHEN trusted THEN 'null' ELSE to_json(p_due_iso)::text END || '}';
  @HEAD@
  h1 := @HASH_APPROVED@;
  -- one statement: the blocks out of escrow, the transaction row, the journal entries (the
  -- approval and the completion: two entries) and the head
  IF trusted THEN
    h2 := @HASH_COMPLETED@;
    WITH b AS (
      UPDATE blocks SET account_id = t.to_account, status = 'held', pending_tx = NULL
        WHERE pending_tx = p_tx
    ), u AS (
      UPDATE transactions SET state = 'completed', approver = p_by, updated_at = p_at
        WHERE id = p_tx
    ), e AS (
      INSERT INTO journal (seq, at, kind, tx_id, payload, prev_hash, hash)
        VALUES (h_seq + 1, j_at, 'internal_transfer.approved', p_tx, p1, h_hash, h1),
               (h_seq + 2, j_at, 'internal_transfer.completed', p_tx, p2, h1, h2)
    )
    UPDATE journal_head SET seq = h_seq + 2, hash = h2 WHERE id = 1;
    o_state := 'completed';
  ELSE
    WITH u AS (
      UPDATE transactions SET state = 'delayed', approver = p_by, updated_at = p_at,
                              completes_at = p_at + p_delay WHERE id = p_tx
    ), e AS (
      INSERT INTO journal (seq, at, kind, tx_id, payload, prev_hash, hash)
        VALUES (h_seq + 1, j_at, 'internal_transfer.approved', p_tx, p1, h_hash, h1)
    )
    UPDATE journal_head SET seq = h_seq + 1, hash = h1 WHERE id = 1;
    o_state := 'delayed';
  END IF;
END
$fn$
""".replace("@HEAD@", HEAD).replace(
    "@HASH_APPROVED@", _hash("h_hash", "h_seq + 1", "internal_transfer.approved", "p_tx",
                             "p1")).replace(
    "@HASH_COMPLETED@", _hash("h1", "h_seq + 2", "internal_transfer.completed", "p_tx", "p2"))

FUNCTIONS = (PROPOSE, APPROVE)


def _revision_0012() -> ModuleType:
    path = Path(__file__).with_name("0012_pg_fast_path_one_pass.py")
    spec = importlib.util.spec_from_file_location("carbonlink_migration_0012", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def upgrade() -> None:
    # the same signatures as 0012: replaced in place
    if op.get_bind().dialect.name == "postgresql":
        for f in FUNCTIONS:
            op.execute(f)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for f in _revision_0012().FUNCTIONS:
            op.execute(f)
