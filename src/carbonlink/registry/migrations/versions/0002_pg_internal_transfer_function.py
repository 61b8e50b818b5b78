"""PostgreSQL internal transfer as one server-side function (one round trip)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 22:50:00

``registry_internal_transfer`` runs an internal transfer (inside one registry, completing at
once) as a single statement: lock both accounts in id order, the account-layer checks
(A2001, A2002, A2007, A2004, A2003, A2005), the holdings check (H3001), the unit-type matrix
(A2003), then move the serial blocks (splitting the last one), insert the transaction and its
``transaction_blocks`` and append the hash-chained journal entry with the same formula as
``carbonlink.registry.journal.entry_hash``. Few statements inside: the account lock and reads
(one ``SELECT … INTO``), the holdings read (one per page of 64 blocks), the split when there is
one (one statement), and every other write in one data-modifying CTE (the shape of
``rawsql.tail_pg``); each statement costs executor start-up, and the block move in its own
statement was re-planned on every call. A failed check returns its code, path and detail
and writes nothing. A transfer to another registry (an external transfer) returns the code
``external`` and writes nothing: the caller runs the general path. The Python checks in
``Registry.transfer`` stay the reference; the registry test suite runs on SQLite (Python
checks only) and PostgreSQL (this function) and compares codes.

SQLite: nothing to do (functions are not part of the SQLAlchemy metadata either).
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: Reg. 920/2010-style matrix for the acquiring side of an internal transfer: the acquiring
#: account is a holding account (checked first, A2003), and holding accounts may hold every
#: unit type (``service.ACCOUNT_UNITS``; a test keeps the two in step).
HOLDING_TYPES = ("party_holding", "entity_holding")
HOLDING_UNITS = ("allowance", "offset", "a64er", "itmo")


def _array(values: Sequence[str]) -> str:
    return "ARRAY[" + ", ".join(f"'{v}'" for v in values) + "]::text[]"


FUNCTION = r"""
CREATE OR REPLACE FUNCTION registry_internal_transfer(
    p_from integer, p_to integer, p_qty bigint, p_unit_type text, p_vintage integer,
    p_auth text, p_by text, p_at timestamp, p_at_iso text,
    OUT o_tx_id integer, OUT o_code text, OUT o_path text, OUT o_detail text,
    OUT o_payload text)
LANGUAGE plpgsql VOLATILE AS $fn$
DECLARE
  b record;
  s_found boolean := false; s_reg text; s_type text; s_status text; s_reps bigint;
  s_isrep bigint;
  d_found boolean := false; d_reg text; d_type text; d_status text;
  need bigint := p_qty;
  n_rows integer;
  off integer := 0;
  whole integer[] := '{}';
  regs text[] := '{}'; uts text[] := '{}'; vins integer[] := '{}';
  starts bigint[] := '{}'; ends bigint[] := '{}'; auths text[] := '{}';
  sp_id integer;
  pj text := '';
  sp_take bigint := 0;
  i integer;
BEGIN
  IF p_qty IS NULL OR p_qty <= 0 THEN
    o_code := 'R1001'; o_path := 'quantity';
    o_detail := format('must be a positive whole number, got %s', p_qty);
    RETURN;
  END IF;
  -- lock both accounts in ascending id order (the service's lock order) and read them in ONE
  -- statement (a plain SELECT INTO, no cursor); the source row also says whether it lists
  -- representatives and whether p_by is one of them
  SELECT count(*) FILTER (WHERE x.id = p_from) > 0, max(x.registry_id) FILTER (WHERE x.id = p_from),
         max(x.type) FILTER (WHERE x.id = p_from), max(x.status) FILTER (WHERE x.id = p_from),
         max(x.n_reps), max(x.is_rep),
         count(*) FILTER (WHERE x.id = p_to) > 0, max(x.registry_id) FILTER (WHERE x.id = p_to),
         max(x.type) FILTER (WHERE x.id = p_to), max(x.status) FILTER (WHERE x.id = p_to)
  INTO s_found, s_reg, s_type, s_status, s_reps, s_isrep, d_found, d_reg, d_type, d_status
  FROM (SELECT a.id, a.registry_id, a.type, a.status,
               CASE WHEN a.id = p_from THEN
                 (SELECT count(*) FROM representatives r WHERE r.account_id = a.id) END AS n_reps,
               CASE WHEN a.id = p_from THEN
                 (SELECT count(*) FROM representatives r
                   WHERE r.account_id = a.id AND r.name = coalesce(p_by, '')) END AS is_rep
        FROM accounts a WHERE a.id IN (p_from, p_to) ORDER BY a.id FOR UPDATE) x;
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
  -- holdings, lowest serials first, in pages like the general path; a separate statement
  -- after the lock, so it sees every transfer committed before the lock was granted
  <<pages>>
  LOOP
    n_rows := 0;
    FOR b IN
      SELECT id, issuing_registry, unit_type, vintage, serial_start, serial_end,
             authorisation_id, first_transferred, pending_tx
      FROM blocks
      WHERE account_id = p_from AND status = 'held'
        AND (p_unit_type IS NULL OR unit_type = p_unit_type)
        AND (p_vintage IS NULL OR vintage = p_vintage)
        AND (p_auth IS NULL OR authorisation_id = p_auth)
      ORDER BY issuing_registry, unit_type, vintage, serial_start
      LIMIT 64 OFFSET off
    LOOP
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
      pj := pj || CASE WHEN n_rows + off > 1 THEN ',' ELSE '' END || '['
            || to_json(b.issuing_registry::text)::text || ',' || to_json(b.unit_type::text)::text
            || ',' || b.vintage || ',' || b.serial_start || ',' || ends[cardinality(ends)] || ']';
      EXIT pages WHEN need = 0;
    END LOOP;
    EXIT WHEN n_rows < 64;
    off := off + 64;
  END LOOP;
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
    o_code := 'general';    -- authorised units: the general path checks authorised entities (U5005)
    RETURN;
  END IF;
  o_payload := '{"blocks":[' || pj || '],"from":' || p_from || ',"quantity":' || p_qty
               || ',"to":' || p_to || '}';
  -- writes. A split first, when there is one (one statement: shrink the block, then insert
  -- its lower serials into the acquiring account; the insert reads the shrink's RETURNING, so
  -- it runs after it and the GiST exclusion sees the shrunk range). It is a statement of its
  -- own because most transfers move whole blocks only, and every data-modifying CTE costs
  -- executor start-up (opening the blocks indexes) whether or not it writes a row.
  IF sp_take > 0 THEN
    WITH sh AS (
      UPDATE blocks SET serial_start = serial_start + sp_take WHERE id = sp_id
      RETURNING issuing_registry, unit_type, vintage, serial_start, authorisation_id,
                first_transferred, pending_tx
    )
    INSERT INTO blocks (issuing_registry, unit_type, vintage, serial_start, serial_end,
                        account_id, status, authorisation_id, first_transferred, pending_tx)
    SELECT sh.issuing_registry, sh.unit_type, sh.vintage, sh.serial_start - sp_take,
           sh.serial_start - 1, p_to, 'held', sh.authorisation_id, sh.first_transferred,
           sh.pending_tx
    FROM sh;
  END IF;
  -- then every other write in ONE statement (a data-modifying CTE like rawsql's tail_pg):
  -- move the whole blocks, insert the transaction and its blocks, append the journal entry
  -- (head row locked FOR UPDATE; the hash formula of journal.entry_hash over the payload
  -- built while reading the holdings) and advance the head
  WITH m AS (
    UPDATE blocks SET account_id = p_to WHERE id = ANY(whole)
  ), t AS (
    INSERT INTO transactions (kind, state, created_at, updated_at, from_account, to_account,
                              quantity, unit_type, vintage, proposer)
    VALUES ('internal_transfer', 'completed', p_at, p_at, p_from, p_to, p_qty, p_unit_type,
            p_vintage, p_by)
    RETURNING id
  ), tb AS (
    INSERT INTO transaction_blocks (tx_id, seq, issuing_registry, unit_type, vintage,
                                    serial_start, serial_end, authorisation_id, first_transfer)
    SELECT t.id, v.n - 1, v.reg, v.ut, v.vin, v.s, v.e, v.auth, false
    FROM t, unnest(regs, uts, vins, starts, ends, auths) WITH ORDINALITY
            AS v(reg, ut, vin, s, e, auth, n)
  ), h AS (
    SELECT seq, hash FROM journal_head WHERE id = 1 FOR UPDATE
  ), n AS (
    SELECT h.seq + 1 AS seq, h.hash AS prev, t.id AS tx_id,
           encode(sha256(convert_to(h.hash || '|' || (h.seq + 1) || '|' || p_at_iso
                  || '|internal_transfer|' || t.id || '|' || o_payload, 'UTF8')), 'hex')
           AS hash
    FROM h, t
  ), j AS (
    INSERT INTO journal (seq, at, kind, tx_id, payload, prev_hash, hash)
    SELECT n.seq, p_at, 'internal_transfer', n.tx_id, o_payload, n.prev, n.hash FROM n
  )
  UPDATE journal_head SET seq = n.seq, hash = n.hash FROM n WHERE journal_head.id = 1
  RETURNING n.tx_id INTO o_tx_id;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'journal head row missing: the registry database is inconsistent';
  END IF;
END
$fn$
""".replace("@HOLDING_TYPES@", _array(HOLDING_TYPES)).replace("@HOLDING_UNITS@",
                                                              _array(HOLDING_UNITS))


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(FUNCTION)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS registry_internal_transfer(integer, integer, "
                   "bigint, text, integer, text, text, timestamp, text)")
