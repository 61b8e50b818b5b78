"""PostgreSQL four-eyes fast path, cheaper per call: the same checks, codes, rows and journal
entries as revision 0011, with less work on the server.

Measured on a throwaway server (``pg_stat_statements`` with nested statements, and
``pg_stat_user_functions``), a proposal and its approval cost ~1.4–1.9 ms of server CPU, of
which the statements themselves were under half. The rest was per-call machinery:

* each journal entry called ``registry_journal_append`` (a PL/pgSQL call of its own) which
  called ``registry_iso`` — a SQL-language function, which PostgreSQL 15 plans afresh on every
  call (~60 us each, three per transfer). The caller now passes the time's ISO text (Python's
  ``datetime.isoformat()``, exactly what ``journal.entry_hash`` hashes); ``registry_iso`` runs
  only when the server's clock stepped back and the entry takes its predecessor's time;
* the entry is written inline: the journal head and its last entry's time in one locking read,
  the entry and the head's new hash in one statement; an approval that completes at once writes
  its two entries (``approved``, ``completed``) with one INSERT, and its transaction row with
  one UPDATE (final state, approver, time) instead of two;
* the approval's access check (the actor represents the transferring account as an approver)
  is made by the statement itself, from the list of accounts the caller passes: the check's
  separate read of the transaction's accounts was one more round trip;
* every statement keeps one generic plan (``plan_cache_mode = force_generic_plan``): the
  escrow of the whole blocks (``id = ANY(array)``) was planned afresh on every call (~70 us;
  ``pg_stat_statements.track_planning``), its generic plan judged costlier than a custom one;
  with sequential scans off (as in 0004) the generic plans read by key;
* the unit type and vintage a proposal's blocks share are tracked while its holdings are read,
  not by two ``count(DISTINCT …)`` queries over arrays.

``registry_journal_append``, ``registry_iso`` and ``registry_ts_text`` stay (the clock-step
case and error details use them).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 20:20:00
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
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
  -- lock both accounts in ascending id order (the service's lock order)
  IF p_from <= p_to THEN
    SELECT registry_id, type, status INTO s_reg, s_type, s_status
      FROM accounts WHERE id = p_from FOR UPDATE;
    s_found := FOUND;
    SELECT registry_id, type, status INTO d_reg, d_type, d_status
      FROM accounts WHERE id = p_to FOR UPDATE;
    d_found := FOUND;
  ELSE
    SELECT registry_id, type, status INTO d_reg, d_type, d_status
      FROM accounts WHERE id = p_to FOR UPDATE;
    d_found := FOUND;
    SELECT registry_id, type, status INTO s_reg, s_type, s_status
      FROM accounts WHERE id = p_from FOR UPDATE;
    s_found := FOUND;
  END IF;
  SELECT count(*), count(*) FILTER (WHERE name = coalesce(p_by, '')) INTO s_reps, s_isrep
    FROM representatives WHERE account_id = p_from;
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
  INSERT INTO transactions (kind, state, created_at, updated_at, from_account, to_account,
                            quantity, unit_type, vintage, proposer, expires_at)
    VALUES ('internal_transfer', 'proposed', p_at, p_at, p_from, p_to, p_qty, t_ut, t_vin,
            p_by, p_expires)
    RETURNING id INTO o_tx_id;
  -- the split: shrink the block, then insert its lower serials, in escrow already
  IF sp_take > 0 THEN
    WITH sh AS (
      UPDATE blocks SET serial_start = serial_start + sp_take WHERE id = sp_id
      RETURNING issuing_registry, unit_type, vintage, serial_start, account_id,
                authorisation_id, first_transferred
    )
    INSERT INTO blocks (issuing_registry, unit_type, vintage, serial_start, serial_end,
                        account_id, status, authorisation_id, first_transferred, pending_tx)
    SELECT sh.issuing_registry, sh.unit_type, sh.vintage, sh.serial_start - sp_take,
           sh.serial_start - 1, sh.account_id, 'pending_export', sh.authorisation_id,
           sh.first_transferred, o_tx_id
    FROM sh;
  END IF;
  IF n_rows > 1 OR sp_take = 0 THEN
    UPDATE blocks SET status = 'pending_export', pending_tx = o_tx_id WHERE id = ANY(whole);
  END IF;
  INSERT INTO transaction_blocks (tx_id, seq, issuing_registry, unit_type, vintage,
                                  serial_start, serial_end, authorisation_id, first_transfer)
    SELECT o_tx_id, v.n - 1, v.reg, v.ut, v.vin, v.s, v.e, v.auth, false
    FROM unnest(regs, uts, vins, starts, ends, auths) WITH ORDINALITY
         AS v(reg, ut, vin, s, e, auth, n);
  @HEAD@
  n_hash := @HASH_PROPOSED@;
  WITH e AS (
    INSERT INTO journal (seq, at, kind, tx_id, payload, prev_hash, hash)
      VALUES (h_seq + 1, j_at, 'internal_transfer.proposed', o_tx_id, o_payload, h_hash, n_hash)
  )
  UPDATE journal_head SET seq = h_seq + 1, hash = n_hash WHERE id = 1;
END
$fn$
""".replace("@HOLDING_TYPES@", _array(HOLDING_TYPES)).replace(
    "@HOLDING_UNITS@", _array(HOLDING_UNITS)).replace("@HEAD@", HEAD).replace(
    "@HASH_PROPOSED@", _hash("h_hash", "h_seq + 1", "internal_transfer.proposed", "o_tx_id",
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
  s_reps bigint; s_isrep bigint;
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
  -- both accounts locked in id order, then the transaction row (Transfers._locked_tx)
  PERFORM 1 FROM accounts WHERE id IN (t.from_account, t.to_account) ORDER BY id FOR UPDATE;
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
  SELECT count(*), count(*) FILTER (WHERE name = p_by) INTO s_reps, s_isrep
    FROM representatives WHERE account_id = t.from_account;
  IF s_reps > 0 AND coalesce(s_isrep, 0) = 0 THEN
    o_code := 'A2005'; o_path := 'by';
    o_detail := format('%s is not a representative of account %s',
                       CASE WHEN p_by IS NULL THEN 'None' ELSE '''' || p_by || '''' END,
                       t.from_account);
    RETURN;
  END IF;
  -- the trusted-account list in force, or an account of the same holder (Art 23(2))
  trusted := p_delay <= interval '0'
    OR EXISTS (SELECT 1 FROM trusted_accounts WHERE account_id = t.from_account
               AND trusted_id = t.to_account AND added_at <= p_at)
    OR EXISTS (SELECT 1 FROM accounts s, accounts d WHERE s.id = t.from_account
               AND d.id = t.to_account AND s.holder_id IS NOT NULL
               AND s.holder_id = d.holder_id);
  p1 := '{"by":' || CASE WHEN p_by IS NULL THEN 'null' ELSE to_json(p_by)::text END
        || ',"completes_at":'
        || CASE WHEN trusted THEN 'null' ELSE to_json(p_due_iso)::text END || '}';
  IF trusted THEN
    UPDATE blocks SET account_id = t.to_account, status = 'held', pending_tx = NULL
      WHERE pending_tx = p_tx;
    UPDATE transactions SET state = 'completed', approver = p_by, updated_at = p_at
      WHERE id = p_tx;
    o_state := 'completed';
  ELSE
    UPDATE transactions SET state = 'delayed', approver = p_by, updated_at = p_at,
                            completes_at = p_at + p_delay WHERE id = p_tx;
    o_state := 'delayed';
  END IF;
  @HEAD@
  h1 := @HASH_APPROVED@;
  IF trusted THEN     -- the approval and the completion: two entries, one INSERT
    h2 := @HASH_COMPLETED@;
    WITH e AS (
      INSERT INTO journal (seq, at, kind, tx_id, payload, prev_hash, hash)
        VALUES (h_seq + 1, j_at, 'internal_transfer.approved', p_tx, p1, h_hash, h1),
               (h_seq + 2, j_at, 'internal_transfer.completed', p_tx, p2, h1, h2)
    )
    UPDATE journal_head SET seq = h_seq + 2, hash = h2 WHERE id = 1;
  ELSE
    WITH e AS (
      INSERT INTO journal (seq, at, kind, tx_id, payload, prev_hash, hash)
        VALUES (h_seq + 1, j_at, 'internal_transfer.approved', p_tx, p1, h_hash, h1)
    )
    UPDATE journal_head SET seq = h_seq + 1, hash = h1 WHERE id = 1;
  END IF;
END
$fn$
""".replace("@HEAD@", HEAD).replace(
    "@HASH_APPROVED@", _hash("h_hash", "h_seq + 1", "internal_transfer.approved", "p_tx",
                             "p1")).replace(
    "@HASH_COMPLETED@", _hash("h1", "h_seq + 2", "internal_transfer.completed", "p_tx", "p2"))

FUNCTIONS = (PROPOSE, APPROVE)
_OLD = ("DROP FUNCTION IF EXISTS registry_propose_internal(integer, integer, bigint, text, "
        "integer, text, text, timestamp, timestamp)",
        "DROP FUNCTION IF EXISTS registry_approve_internal(integer, text, timestamp, interval)")
_NEW = ("DROP FUNCTION IF EXISTS registry_propose_internal(integer, integer, bigint, text, "
        "integer, text, text, timestamp, text, timestamp)",
        "DROP FUNCTION IF EXISTS registry_approve_internal(integer, text, timestamp, text, "
        "interval, text, integer[])")


def _revision_0011() -> ModuleType:
    path = Path(__file__).with_name("0011_pg_four_eyes_fast_path.py")
    spec = importlib.util.spec_from_file_location("carbonlink_migration_0011", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for drop in _OLD:
            op.execute(drop)
        for f in FUNCTIONS:
            op.execute(f)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for drop in _NEW:
            op.execute(drop)
        for f in _revision_0011().FUNCTIONS:
            op.execute(f)
