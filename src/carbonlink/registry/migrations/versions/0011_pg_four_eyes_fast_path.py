"""PostgreSQL fast path of the four-eyes internal transfer (issue 11): the proposal and the
approval each run as **one statement** again, as the one-person transfer did until revision
0009 (``registry_internal_transfer``, revisions 0002/0004, whose structure these follow).

* ``registry_propose_internal`` — what ``Transfers.transfer`` does for an internal transfer:
  locks both accounts in id order, runs the same checks in the same order with the same codes,
  paths and details (A2001, A2002, A2007, A2004, A2003, A2005; H3001; the unit-type matrix
  A2003), reads the holdings after the lock (lowest serials first), splits the last block,
  inserts the ``proposed`` transaction (expiring after the registry's proposal lifetime), puts
  its blocks in escrow (``pending_export``), records them, and appends the
  ``internal_transfer.proposed`` journal entry. A transfer to another registry
  (``o_code = 'external'``) or of authorised units (``'general'``: their authorised entities
  are checked, U5005) writes nothing and the caller takes the general path.
* ``registry_approve_internal`` — what ``Transfers._approve_internal`` does: reads the
  transaction, locks both accounts in id order and the transaction row, checks it is proposed
  (R1002), not expired (R1003), approved by someone other than its proposer (A2006) who
  represents the transferring account (A2005); then, to an account on the trusted list in
  force (or of the same holder), or when the registry's delay is zero, completes it (blocks
  out of escrow to the acquiring account; entries ``internal_transfer.approved`` and
  ``.completed``), and otherwise makes it ``delayed`` until now + the delay (Reg. (EU)
  2019/1122 Art 35). A transaction that is not an internal transfer returns ``'general'``.
* ``registry_journal_append`` — ``journal.append`` for an entry of a transaction: the head
  row locked ``FOR UPDATE``, the time kept monotone (never before the previous entry), the
  hash formula of ``journal.entry_hash`` over the canonical payload the caller built.

The approver's role (``approver`` / ``initiator_approver``) is checked by the access check
before either path runs, as for every operation. Checks that fail write nothing.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 18:45:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: the acquiring side of an internal transfer is a holding account (A2003), and holding
#: accounts may hold every unit type (``common.ACCOUNT_UNITS``; a test keeps them in step)
HOLDING_TYPES = ("party_holding", "entity_holding")
HOLDING_UNITS = ("allowance", "offset", "a64er", "itmo")


def _array(values: Sequence[str]) -> str:
    return "ARRAY[" + ", ".join(f"'{v}'" for v in values) + "]::text[]"


#: ``datetime.isoformat()`` of a naive timestamp (microseconds only when not zero)
ISO = r"""
CREATE OR REPLACE FUNCTION registry_iso(t timestamp) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT to_char(t, 'YYYY-MM-DD"T"HH24:MI:SS')
         || CASE WHEN extract(microseconds FROM t)::bigint % 1000000 <> 0
                 THEN to_char(t, '.US') ELSE '' END
$$
"""

#: ``str(datetime)`` of a naive timestamp (as a Python detail prints it)
TEXT = r"""
CREATE OR REPLACE FUNCTION registry_ts_text(t timestamp) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT replace(registry_iso(t), 'T', ' ')
$$
"""

APPEND = r"""
CREATE OR REPLACE FUNCTION registry_journal_append(p_at timestamp, p_kind text, p_tx integer,
                                                   p_payload text)
RETURNS void LANGUAGE plpgsql VOLATILE AS $fn$
DECLARE
  h_seq bigint; h_hash text; prev_at timestamp; t timestamp := p_at; n_hash text;
BEGIN
  SELECT seq, hash INTO h_seq, h_hash FROM journal_head WHERE id = 1 FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'journal head row missing: the registry database is inconsistent';
  END IF;
  SELECT at INTO prev_at FROM journal WHERE seq = h_seq;
  IF prev_at IS NOT NULL AND t < prev_at THEN
    t := prev_at;      -- the server's clock stepped back: keep the journal monotone
  END IF;
  n_hash := encode(sha256(convert_to(h_hash || '|' || (h_seq + 1) || '|' || registry_iso(t)
                   || '|' || p_kind || '|' || coalesce(p_tx::text, '') || '|' || p_payload,
                   'UTF8')), 'hex');
  INSERT INTO journal (seq, at, kind, tx_id, payload, prev_hash, hash)
    VALUES (h_seq + 1, t, p_kind, p_tx, p_payload, h_hash, n_hash);
  UPDATE journal_head SET seq = h_seq + 1, hash = n_hash WHERE id = 1;
END
$fn$
"""

PROPOSE = r"""
CREATE OR REPLACE FUNCTION registry_propose_internal(
    p_from integer, p_to integer, p_qty bigint, p_unit_type text, p_vintage integer,
    p_auth text, p_by text, p_at timestamp, p_expires timestamp,
    OUT o_tx_id integer, OUT o_code text, OUT o_path text, OUT o_detail text,
    OUT o_payload text)
LANGUAGE plpgsql VOLATILE
SET enable_seqscan = off
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
  t_ut text; t_vin integer;
  i integer;
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
          || ',' || b.vintage || ',' || b.serial_start || ',' || ends[cardinality(ends)] || ']';
    EXIT WHEN need = 0;
  END LOOP;
  CLOSE cur;
  IF need > 0 THEN
    o_code := 'H3001'; o_path := 'quantity';
    o_detail := format('account %s holds %s matching units, %s requested',
                       p_from, p_qty - need, p_qty);
    RETURN;
  END IF;
  FOR i IN 1 .. cardinality(uts) LOOP
    IF uts[i] <> ALL(@HOLDING_UNITS@) THEN
      o_code := 'A2003'; o_path := 'to_account';
      o_detail := format('%s accounts cannot hold %s', d_type, uts[i]);
      RETURN;
    END IF;
  END LOOP;
  IF cardinality(array_remove(auths, NULL)) > 0 THEN
    o_code := 'general';    -- authorised units: the general path checks authorised entities
    RETURN;
  END IF;
  o_payload := '{"blocks":[' || pj || '],"by":'
               || CASE WHEN p_by IS NULL THEN 'null' ELSE to_json(p_by)::text END
               || ',"from":' || p_from || ',"quantity":' || p_qty || ',"to":' || p_to || '}';
  -- the row names the unit type and vintage its blocks share (Ledger._record_pieces)
  t_ut := CASE WHEN (SELECT count(DISTINCT x) FROM unnest(uts) x) = 1 THEN uts[1]
               ELSE p_unit_type END;
  t_vin := CASE WHEN (SELECT count(DISTINCT x) FROM unnest(vins) x) = 1 THEN vins[1]
                ELSE p_vintage END;
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
  UPDATE blocks SET status = 'pending_export', pending_tx = o_tx_id WHERE id = ANY(whole);
  INSERT INTO transaction_blocks (tx_id, seq, issuing_registry, unit_type, vintage,
                                  serial_start, serial_end, authorisation_id, first_transfer)
    SELECT o_tx_id, v.n - 1, v.reg, v.ut, v.vin, v.s, v.e, v.auth, false
    FROM unnest(regs, uts, vins, starts, ends, auths) WITH ORDINALITY
         AS v(reg, ut, vin, s, e, auth, n);
  PERFORM registry_journal_append(p_at, 'internal_transfer.proposed', o_tx_id, o_payload);
END
$fn$
""".replace("@HOLDING_TYPES@", _array(HOLDING_TYPES)).replace("@HOLDING_UNITS@",
                                                              _array(HOLDING_UNITS))

APPROVE = r"""
CREATE OR REPLACE FUNCTION registry_approve_internal(
    p_tx integer, p_by text, p_at timestamp, p_delay interval,
    OUT o_state text, OUT o_qty bigint, OUT o_code text, OUT o_path text, OUT o_detail text)
LANGUAGE plpgsql VOLATILE
SET enable_seqscan = off
AS $fn$
DECLARE
  t record;
  s_reps bigint; s_isrep bigint;
  trusted boolean;
  due timestamp;
BEGIN
  SELECT kind, from_account, to_account INTO t FROM transactions WHERE id = p_tx;
  IF NOT FOUND OR t.kind <> 'internal_transfer' THEN
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
  IF trusted THEN
    UPDATE transactions SET approver = p_by, updated_at = p_at WHERE id = p_tx;
    PERFORM registry_journal_append(p_at, 'internal_transfer.approved', p_tx,
      '{"by":' || CASE WHEN p_by IS NULL THEN 'null' ELSE to_json(p_by)::text END
      || ',"completes_at":' || 'null}');   -- apart: op.execute binds a colon-word
    UPDATE blocks SET account_id = t.to_account, status = 'held', pending_tx = NULL
      WHERE pending_tx = p_tx;
    UPDATE transactions SET state = 'completed', updated_at = p_at WHERE id = p_tx;
    PERFORM registry_journal_append(p_at, 'internal_transfer.completed', p_tx, '{}');
    o_state := 'completed';
    RETURN;
  END IF;
  due := p_at + p_delay;
  UPDATE transactions SET state = 'delayed', approver = p_by, updated_at = p_at,
                          completes_at = due WHERE id = p_tx;
  PERFORM registry_journal_append(p_at, 'internal_transfer.approved', p_tx,
    '{"by":' || CASE WHEN p_by IS NULL THEN 'null' ELSE to_json(p_by)::text END
    || ',"completes_at":' || to_json(registry_iso(due))::text || '}');
  o_state := 'delayed';
END
$fn$
"""

FUNCTIONS = (ISO, TEXT, APPEND, PROPOSE, APPROVE)


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for f in FUNCTIONS:
            op.execute(f)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS registry_approve_internal(integer, text, "
                   "timestamp, interval)")
        op.execute("DROP FUNCTION IF EXISTS registry_propose_internal(integer, integer, "
                   "bigint, text, integer, text, text, timestamp, timestamp)")
        op.execute("DROP FUNCTION IF EXISTS registry_journal_append(timestamp, text, "
                   "integer, text)")
        op.execute("DROP FUNCTION IF EXISTS registry_ts_text(timestamp)")
        op.execute("DROP FUNCTION IF EXISTS registry_iso(timestamp)")
