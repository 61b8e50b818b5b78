"""The floor of a persisted four-eyes transfer on PostgreSQL: skeletal designs, each with more
of what the registry's internal transfer needs, beside pgbench's tpcb-like rate in the same run.

A four-eyes transfer is two database transactions: a *proposal* stored by one person and its
*approval* by another. Every variant keeps that, with each phase one PL/pgSQL function call
(one round trip, autocommit), two accounts moving 10 units back and forth, one client:

* **F1 bare two-phase** — proposal: insert a row (id from a sequence, from, to, quantity,
  proposer, state); approval: mark it completed by a different person and move the balances;
* **F2 = F1 + hash-chained journal** — each phase also locks a journal head row, appends an
  entry whose hash is ``sha256`` of the previous hash and the entry, and moves the head; the
  approval writes two entries (approved, completed) like the registry's;
* **F3 = F2 + escrow and account locks** — the proposal locks both accounts (id order),
  checks the balance and moves the quantity into escrow; the approval locks both accounts and
  moves it from escrow to the destination;
* **F4 = F3 with the registry's keys** — the proposal row's foreign keys to both accounts (as
  ``transactions.from_account``/``to_account``) and the partial index of open transactions
  (``ix_transactions_open``, migration 0004).

The writes after the locks are one statement each (CTEs), as migration 0014 writes them: a
floor, not a straw man. Not in any variant: serial-range blocks (the registry moves blocks,
splitting one when needed, and records ``transaction_blocks``), representatives and account
status checks, the access check, timestamps, expiry, payload JSON of the real shape.

Each variant is driven twice: (a) by pgbench itself (``-M prepared``, two transfers per
script run: no client cost beyond libpq in C); (b) from Python with psycopg 3 directly (one
autocommit connection, prepared statements, two ``execute`` + ``fetchone`` per transfer: the
least client code Python can have). Per condition (idle, busy: see
``registry_bench._condition``), rounds are interleaved (tpcb-like, then every variant and
driver) and the ratio reported is the median of the per-round ratios. Afterwards every
variant's ledger is checked: all proposals completed, balances conserved, the journal's hash
chain recomputes.

``python -m benchmarks floor`` (not part of the plain ``make bench``: it takes ~5 minutes);
needs ``TEST_DATABASE_URL`` and pgbench, e.g. ``bash scripts/with-postgres.sh .venv/bin/python
-m benchmarks floor``.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime

import sqlalchemy as sa
from rich.console import Console
from rich.table import Table

from benchmarks.registry_bench import (
    CONDITIONS,
    QUICK,
    ROUND_SECONDS,
    _condition,
    _pg_database,
    _pgbench,
    _rate,
    _server_script,
    _transfers,
    _verified,
)
from carbonlink.registry import Registry

ROUNDS = 2 if QUICK else 5
START = 10_000_000          # each account's opening balance
QTY = 10

#: the journal entry's hash: sha256 of prev|seq|time|kind|tx|payload (as ``journal.entry_hash``)
_HASH = ("encode(sha256(convert_to({prev} || '|' || ({seq}) || '|' || {at}::text || '|{kind}|' "
         "|| {tx} || '|' || {payload}, 'UTF8')), 'hex')")

#: every variant's tables: accounts and proposals (F2 on: the journal and its head)
_TABLES = """
CREATE SCHEMA @s;
CREATE TABLE @s.accounts (id integer PRIMARY KEY, balance bigint NOT NULL,
                          escrow bigint NOT NULL DEFAULT 0);
CREATE SEQUENCE @s.proposals_id_seq;
CREATE TABLE @s.proposals (id bigint PRIMARY KEY, from_account integer NOT NULL,
                           to_account integer NOT NULL, quantity bigint NOT NULL,
                           proposer text NOT NULL, approver text, state text NOT NULL);
CREATE TABLE @s.journal (seq bigint PRIMARY KEY, at timestamp NOT NULL, kind text NOT NULL,
                         tx_id bigint, payload text NOT NULL, prev_hash text NOT NULL,
                         hash text NOT NULL);
CREATE TABLE @s.journal_head (id integer PRIMARY KEY, seq bigint NOT NULL, hash text NOT NULL);
INSERT INTO @s.accounts (id, balance) VALUES (1, @START), (2, @START);
INSERT INTO @s.journal VALUES (1, now() AT TIME ZONE 'UTC', 'genesis', NULL, '{}', '', 'g');
INSERT INTO @s.journal_head VALUES (1, 1, 'g');
"""

F1 = """
CREATE FUNCTION @s.propose(p_from integer, p_to integer, p_qty bigint, p_by text)
RETURNS bigint LANGUAGE plpgsql AS $fn$
DECLARE v bigint;
BEGIN
  INSERT INTO @s.proposals (id, from_account, to_account, quantity, proposer, state)
    VALUES (nextval('@s.proposals_id_seq'), p_from, p_to, p_qty, p_by, 'proposed')
    RETURNING id INTO v;
  RETURN v;
END $fn$;

CREATE FUNCTION @s.approve(p_tx bigint, p_by text)
RETURNS text LANGUAGE plpgsql AS $fn$
DECLARE n integer;
BEGIN
  -- a second person approves a stored proposal: state, approver and both balances at once
  WITH p AS (
    UPDATE @s.proposals SET state = 'completed', approver = p_by
      WHERE id = p_tx AND state = 'proposed' AND proposer <> p_by
      RETURNING from_account, to_account, quantity
  ), a AS (
    UPDATE @s.accounts a SET balance = a.balance + CASE WHEN a.id = p.to_account
                                                     THEN p.quantity ELSE -p.quantity END
      FROM p WHERE a.id IN (p.from_account, p.to_account) RETURNING 1
  )
  SELECT count(*) INTO n FROM a;
  RETURN CASE WHEN n = 2 THEN 'completed' ELSE 'refused' END;
END $fn$;
"""

#: a proposal's journal entry (F2, F3, F5): the id drawn and the head locked in one read, the
#: canonical payload and its hash
PROPOSAL_ENTRY = """  SELECT nextval('@s.proposals_id_seq'), seq, hash INTO v, h_seq, h_hash
    FROM @s.journal_head WHERE id = 1 FOR UPDATE;
  pl := '{"by":' || to_json(p_by)::text || ',"from":' || p_from || ',"quantity":' || p_qty
        || ',"to":' || p_to || '}';
  n_hash := @HASH_PROPOSED;"""

#: F2: the journal. The proposal: one statement locks the head and draws the id, one writes
#: the proposal, the entry and the head. The approval: the proposal row updated (refused if
#: not proposed or approved by its proposer), the head locked, one statement moves the
#: balances and writes two entries and the head.
F2 = """
CREATE FUNCTION @s.propose(p_from integer, p_to integer, p_qty bigint, p_by text)
RETURNS bigint LANGUAGE plpgsql AS $fn$
DECLARE v bigint; h_seq bigint; h_hash text; pl text; n_hash text;
  t timestamp := now() AT TIME ZONE 'UTC';
BEGIN
@PROPOSAL_ENTRY
  WITH p AS (
    INSERT INTO @s.proposals (id, from_account, to_account, quantity, proposer, state)
      VALUES (v, p_from, p_to, p_qty, p_by, 'proposed')
  ), e AS (
    INSERT INTO @s.journal VALUES (h_seq + 1, t, 'proposed', v, pl, h_hash, n_hash)
  )
  UPDATE @s.journal_head SET seq = h_seq + 1, hash = n_hash WHERE id = 1;
  RETURN v;
END $fn$;

CREATE FUNCTION @s.approve(p_tx bigint, p_by text)
RETURNS text LANGUAGE plpgsql AS $fn$
DECLARE p record; h_seq bigint; h_hash text; pl text; h1 text; h2 text;
  t timestamp := now() AT TIME ZONE 'UTC';
BEGIN
  UPDATE @s.proposals SET state = 'completed', approver = p_by
    WHERE id = p_tx AND state = 'proposed' AND proposer <> p_by
    RETURNING from_account, to_account, quantity INTO p;
  IF NOT FOUND THEN RETURN 'refused'; END IF;
  SELECT seq, hash INTO h_seq, h_hash FROM @s.journal_head WHERE id = 1 FOR UPDATE;
  pl := '{"by":' || to_json(p_by)::text || '}';
  h1 := @HASH_APPROVED;
  h2 := @HASH_COMPLETED;
  WITH a AS (
    UPDATE @s.accounts a SET balance = a.balance + CASE WHEN a.id = p.to_account
                                                     THEN p.quantity ELSE -p.quantity END
      WHERE a.id IN (p.from_account, p.to_account)
  ), e AS (
    INSERT INTO @s.journal VALUES (h_seq + 1, t, 'approved', p_tx, pl, h_hash, h1),
                                  (h_seq + 2, t, 'completed', p_tx, '{}', h1, h2)
  )
  UPDATE @s.journal_head SET seq = h_seq + 2, hash = h2 WHERE id = 1;
  RETURN 'completed';
END $fn$;
"""

#: the approval of F3 and F5: the proposal read, both accounts locked (id order), the
#: proposal completed by someone other than its proposer, the head locked, then one
#: statement moving the units (``@MOVE``: balances or blocks) and writing both entries
APPROVE_LOCKED = """CREATE FUNCTION @s.approve(p_tx bigint, p_by text)
RETURNS text LANGUAGE plpgsql AS $fn$
DECLARE p record; h_seq bigint; h_hash text; pl text; h1 text; h2 text;
  t timestamp := now() AT TIME ZONE 'UTC';
BEGIN
  SELECT from_account, to_account INTO p FROM @s.proposals WHERE id = p_tx;
  IF NOT FOUND THEN RETURN 'refused'; END IF;
  PERFORM 1 FROM @s.accounts WHERE id IN (p.from_account, p.to_account) ORDER BY id
    FOR UPDATE;
  UPDATE @s.proposals SET state = 'completed', approver = p_by
    WHERE id = p_tx AND state = 'proposed' AND proposer <> p_by
    RETURNING from_account, to_account, quantity INTO p;
  IF NOT FOUND THEN RETURN 'refused'; END IF;
  SELECT seq, hash INTO h_seq, h_hash FROM @s.journal_head WHERE id = 1 FOR UPDATE;
  pl := '{"by":' || to_json(p_by)::text || '}';
  h1 := @HASH_APPROVED;
  h2 := @HASH_COMPLETED;
@MOVE  ), e AS (
    INSERT INTO @s.journal VALUES (h_seq + 1, t, 'approved', p_tx, pl, h_hash, h1),
                                  (h_seq + 2, t, 'completed', p_tx, '{}', h1, h2)
  )
  UPDATE @s.journal_head SET seq = h_seq + 2, hash = h2 WHERE id = 1;
  RETURN 'completed';
END $fn$;
"""
F3_MOVE = """  WITH a AS (
    UPDATE @s.accounts a
      SET escrow = a.escrow - CASE WHEN a.id = p.from_account THEN p.quantity ELSE 0 END,
          balance = a.balance + CASE WHEN a.id = p.to_account THEN p.quantity ELSE 0 END
      WHERE a.id IN (p.from_account, p.to_account)
"""
F5_MOVE = """  WITH b AS (
    UPDATE @s.blocks SET account_id = p.to_account, status = 'held', pending_tx = NULL
      WHERE pending_tx = p_tx
"""

#: F3: F2 with both accounts locked first (id order) in either phase, the balance checked, the
#: quantity held in escrow between the phases
F3 = """
CREATE FUNCTION @s.propose(p_from integer, p_to integer, p_qty bigint, p_by text)
RETURNS bigint LANGUAGE plpgsql AS $fn$
DECLARE v bigint; h_seq bigint; h_hash text; pl text; n_hash text; r record;
  s_bal bigint; n integer := 0;
  t timestamp := now() AT TIME ZONE 'UTC';
BEGIN
  FOR r IN SELECT id, balance FROM @s.accounts WHERE id IN (p_from, p_to) ORDER BY id
           FOR UPDATE LOOP
    n := n + 1;
    IF r.id = p_from THEN s_bal := r.balance; END IF;
  END LOOP;
  IF n <> 2 OR p_from = p_to THEN RAISE EXCEPTION 'no such pair of accounts'; END IF;
  IF s_bal < p_qty THEN RAISE EXCEPTION 'account % holds % units, % requested',
                                        p_from, s_bal, p_qty; END IF;
@PROPOSAL_ENTRY
  WITH x AS (
    UPDATE @s.accounts SET balance = balance - p_qty, escrow = escrow + p_qty
      WHERE id = p_from
  ), p AS (
    INSERT INTO @s.proposals (id, from_account, to_account, quantity, proposer, state)
      VALUES (v, p_from, p_to, p_qty, p_by, 'proposed')
  ), e AS (
    INSERT INTO @s.journal VALUES (h_seq + 1, t, 'proposed', v, pl, h_hash, n_hash)
  )
  UPDATE @s.journal_head SET seq = h_seq + 1, hash = n_hash WHERE id = 1;
  RETURN v;
END $fn$;

@APPROVE_LOCKED""".replace("@APPROVE_LOCKED", APPROVE_LOCKED.replace("@MOVE", F3_MOVE))

#: F4: F3's functions on F3's tables with the registry's keys on the proposal row
F4_KEYS = """
ALTER TABLE @s.proposals ADD FOREIGN KEY (from_account) REFERENCES @s.accounts (id),
                         ADD FOREIGN KEY (to_account) REFERENCES @s.accounts (id);
CREATE INDEX ON @s.proposals (state) WHERE state IN ('proposed', 'approved');
"""

#: F5: F4 with the units as serial-range blocks instead of balances (as the registry holds
#: them): the proposal reads the source's held blocks lowest serial first, puts whole blocks
#: in escrow or splits one, and records the transaction's blocks; the approval moves the
#: escrowed blocks to the destination. The blocks have the registry's check, no-overlap
#: exclusion constraint (on the serial range only: one registry, type and vintage here) and
#: partial indexes (migration 0004); the balance columns stay as opened.
F5_TABLES = """
CREATE TABLE @s.blocks (id serial PRIMARY KEY,
                        account_id integer NOT NULL REFERENCES @s.accounts (id),
                        serial_start bigint NOT NULL, serial_end bigint NOT NULL,
                        status text NOT NULL, pending_tx bigint,
                        CHECK (serial_start >= 1 AND serial_end >= serial_start),
                        EXCLUDE USING gist (int8range(serial_start, serial_end, '[]') WITH &&));
CREATE INDEX ON @s.blocks (account_id, serial_start) WHERE status = 'held';
CREATE INDEX ON @s.blocks (pending_tx) WHERE pending_tx IS NOT NULL;
CREATE TABLE @s.transaction_blocks (tx_id bigint NOT NULL REFERENCES @s.proposals (id),
                                    seq integer NOT NULL, serial_start bigint NOT NULL,
                                    serial_end bigint NOT NULL, PRIMARY KEY (tx_id, seq));
INSERT INTO @s.blocks (account_id, serial_start, serial_end, status)
  VALUES (1, 1, @START, 'held'), (2, @START + 1, 2 * @START, 'held');
"""

F5_WRITE = """    ), w AS (
      UPDATE @s.blocks SET status = 'escrow', pending_tx = v WHERE id = ANY(whole)
    ), tb AS (
      INSERT INTO @s.transaction_blocks
        SELECT v, x.n - 1, x.s, x.e FROM unnest(starts, ends) WITH ORDINALITY AS x(s, e, n)
    ), e AS (
      INSERT INTO @s.journal VALUES (h_seq + 1, t, 'proposed', v, pl, h_hash, n_hash)
    )
    UPDATE @s.journal_head SET seq = h_seq + 1, hash = n_hash WHERE id = 1;
"""

F5 = """
CREATE FUNCTION @s.propose(p_from integer, p_to integer, p_qty bigint, p_by text)
RETURNS bigint LANGUAGE plpgsql AS $fn$
DECLARE v bigint; h_seq bigint; h_hash text; pl text; n_hash text; r record; b record;
  n integer := 0; need bigint := p_qty; whole integer[] := '{}'; sp_id integer;
  sp_take bigint := 0; starts bigint[] := '{}'; ends bigint[] := '{}';
  t timestamp := now() AT TIME ZONE 'UTC';
BEGIN
  FOR r IN SELECT id FROM @s.accounts WHERE id IN (p_from, p_to) ORDER BY id FOR UPDATE LOOP
    n := n + 1;
  END LOOP;
  IF n <> 2 OR p_from = p_to THEN RAISE EXCEPTION 'no such pair of accounts'; END IF;
  FOR b IN SELECT id, serial_start, serial_end FROM @s.blocks
           WHERE account_id = p_from AND status = 'held' ORDER BY serial_start LOOP
    starts := starts || b.serial_start;
    IF b.serial_end - b.serial_start + 1 <= need THEN
      whole := whole || b.id; ends := ends || b.serial_end;
      need := need - (b.serial_end - b.serial_start + 1);
    ELSE
      sp_id := b.id; sp_take := need; ends := ends || (b.serial_start + need - 1); need := 0;
    END IF;
    EXIT WHEN need = 0;
  END LOOP;
  IF need > 0 THEN RAISE EXCEPTION 'account % holds % units, % requested',
                                   p_from, p_qty - need, p_qty; END IF;
@PROPOSAL_ENTRY
  IF sp_take > 0 THEN
    WITH p AS (
      INSERT INTO @s.proposals (id, from_account, to_account, quantity, proposer, state)
        VALUES (v, p_from, p_to, p_qty, p_by, 'proposed')
    ), sh AS (
      UPDATE @s.blocks SET serial_start = serial_start + sp_take WHERE id = sp_id
        RETURNING serial_start
    ), sp AS (
      INSERT INTO @s.blocks (account_id, serial_start, serial_end, status, pending_tx)
        SELECT p_from, sh.serial_start - sp_take, sh.serial_start - 1, 'escrow', v FROM sh
@F5_WRITE  ELSE
    WITH p AS (
      INSERT INTO @s.proposals (id, from_account, to_account, quantity, proposer, state)
        VALUES (v, p_from, p_to, p_qty, p_by, 'proposed')
@F5_WRITE  END IF;
  RETURN v;
END $fn$;

@APPROVE_LOCKED""".replace("@F5_WRITE", F5_WRITE).replace(
    "@APPROVE_LOCKED", APPROVE_LOCKED.replace("@MOVE", F5_MOVE))

VARIANTS: dict[str, tuple[str, str]] = {
    "F1": ("bare two-phase", F1),
    "F2": ("F1 + hash-chained journal", F2),
    "F3": ("F2 + escrow, account locks", F3),
    "F4": ("F3 + registry's FKs and index", F3 + F4_KEYS),
    "F5": ("F4 + serial-range blocks", F4_KEYS + F5_TABLES + F5),
}


def _ddl(schema: str, functions: str) -> str:
    hashes = {k: _HASH.format(prev=prev, seq=seq, at="t", kind=kind, tx=tx, payload=pl)
              for k, (prev, seq, kind, tx, pl) in {
                  "@HASH_PROPOSED": ("h_hash", "h_seq + 1", "proposed", "v", "pl"),
                  "@HASH_APPROVED": ("h_hash", "h_seq + 1", "approved", "p_tx", "pl"),
                  "@HASH_COMPLETED": ("h1", "h_seq + 2", "completed", "p_tx", "'{}'"),
              }.items()}
    text = (_TABLES + functions).replace("@PROPOSAL_ENTRY", PROPOSAL_ENTRY)
    for k, v in hashes.items():
        text = text.replace(k, v)
    return text.replace("@START", str(START)).replace("@s", schema)


def _script(schema: str) -> str:
    """One pgbench run: two complete transfers (1 → 2 proposed by alice, 2 → 1 by treasury,
    each approved by bob)."""
    return "".join(f"SELECT {schema}.propose({a}, {b}, {QTY}, '{by}') AS tx \\gset\n"
                   f"SELECT {schema}.approve(:tx, 'bob');\n"
                   for a, b, by in ((1, 2, "alice"), (2, 1, "treasury")))


PROPOSE_SQL = "SELECT {s}.propose(%s::integer, %s::integer, %s::bigint, %s::text)"
APPROVE_SQL = "SELECT {s}.approve(%s::bigint, %s::text)"


def _python_rate(conninfo: str, schema: str, seconds: float) -> float:
    """Complete transfers/s from Python: one autocommit psycopg connection, prepared."""
    import psycopg

    propose, approve = PROPOSE_SQL.format(s=schema), APPROVE_SQL.format(s=schema)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        def transfer(i: int) -> None:
            src, dst, by = (1, 2, "alice") if i % 2 == 0 else (2, 1, "treasury")
            row = conn.execute(propose, (src, dst, QTY, by), prepare=True).fetchone()
            assert row is not None
            done = conn.execute(approve, (row[0], "bob"), prepare=True).fetchone()
            if done is None or done[0] != "completed":
                raise RuntimeError(f"{schema}: approval of {row[0]} returned {done}")

        for i in range(50):     # plans cached, statements prepared
            transfer(i)
        n, start = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - start) < seconds:
            transfer(n)
            n += 1
    return n / elapsed


def _check(conn: sa.Connection, schema: str) -> int:
    """The variant's ledger after the run: every proposal completed, the units conserved, the
    journal's hash chain recomputing from its genesis entry; returns the transfers made."""
    s = schema
    open_, done = conn.execute(sa.text(
        f"SELECT count(*) FILTER (WHERE state <> 'completed'), count(*) FROM {s}.proposals")).one()
    total, escrow = conn.execute(sa.text(
        f"SELECT sum(balance), sum(escrow) FROM {s}.accounts")).one()
    bad_links = conn.execute(sa.text(f"""
        SELECT count(*) FROM (
          SELECT seq, hash, prev_hash, lag(hash) OVER (ORDER BY seq) AS prev,
                 encode(sha256(convert_to(prev_hash || '|' || seq || '|' || at::text || '|'
                        || kind || '|' || tx_id || '|' || payload, 'UTF8')), 'hex') AS again
          FROM {s}.journal) j
        WHERE seq > 1 AND (prev_hash <> prev OR hash <> again)""")).scalar_one()
    entries, head = conn.execute(sa.text(
        f"SELECT (SELECT count(*) FROM {s}.journal), (SELECT seq FROM {s}.journal_head)")).one()
    journalled = schema != "f1"
    problems = []
    if open_:
        problems.append(f"{open_} proposals not completed")
    if total != 2 * START or escrow != 0:
        problems.append(f"balances sum to {total}, escrow {escrow}")
    if journalled and (bad_links or entries != head or entries != 1 + 3 * done):
        problems.append(f"journal: {bad_links} broken links, {entries} entries, head {head}, "
                        f"{done} transfers")
    if schema == "f5":
        moving, units = conn.execute(sa.text(
            f"SELECT count(*) FILTER (WHERE status <> 'held' OR pending_tx IS NOT NULL), "
            f"sum(serial_end - serial_start + 1) FROM {s}.blocks")).one()
        tb = conn.execute(sa.text(f"SELECT count(DISTINCT tx_id) FROM {s}.transaction_blocks")
                          ).scalar_one()
        if moving or units != 2 * START or tb != done:
            problems.append(f"blocks: {moving} not held, {units} units, {tb} transactions")
    if problems:
        raise RuntimeError(f"{schema} ledger is inconsistent: " + "; ".join(problems))
    return int(done)


Cell = dict[str, list[float]]   # per condition: per-round rates


#: the registry itself (migration 0014's functions, on its own ledger): the anchor
REAL = "R"


def _measure(server: str, tpcb: Callable[[], float],
             script: Callable[[str, str], float], console: Console) -> tuple[
        Cell, dict[tuple[str, str], Cell], dict[str, int]]:
    """Per condition, tpcb-like tps and per (variant, driver) complete transfers/s, round by
    round; and the transfers each variant's ledger holds, checked. The registry's own
    transfers (pgbench-driven: ``registry_bench._server_script``; Python: the service path)
    run in the same rounds on a registry ledger in a second database."""
    import psycopg

    tps: Cell = {c: [] for c in CONDITIONS}
    rates: dict[tuple[str, str], Cell] = {(v, d): {c: [] for c in CONDITIONS}
                                          for v in (*VARIANTS, REAL) for d in ("pgbench", "python")}
    with _pg_database(server) as db, _pg_database(server) as rdb, \
            Registry(f"{server.rsplit('/', 1)[0]}/{rdb}") as reg:
        internal, _, (a, b) = _transfers(reg)
        _rate(internal, 0.5)  # warm-up
        real_script = _server_script(reg, a, b)
        url = sa.engine.make_url(server).set(database=db)
        conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
        engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
        try:
            with psycopg.connect(conninfo, autocommit=True) as raw:   # no parameters: '%'
                for v, (_, fns) in VARIANTS.items():                   # stays as written
                    raw.execute(_ddl(v.lower(), fns).encode())
            scripts = {v: _script(v.lower()) for v in VARIANTS}
            for cond in CONDITIONS:
                with _condition(cond):
                    for r in range(ROUNDS):
                        t = time.perf_counter()
                        tps[cond].append(tpcb())
                        line = [f"tpcb-like {tps[cond][-1]:,.0f}"]
                        for v in (*VARIANTS, REAL):
                            if v == REAL:
                                pg = 2 * script(rdb, real_script)
                                py = _rate(internal, ROUND_SECONDS)
                            else:
                                pg = 2 * script(db, scripts[v])   # two transfers per script run
                                py = _python_rate(conninfo, v.lower(), ROUND_SECONDS)
                            rates[v, "pgbench"][cond].append(pg)
                            rates[v, "python"][cond].append(py)
                            line.append(f"{v} {pg / tps[cond][-1]:.2f}/{py / tps[cond][-1]:.2f}")
                        console.print(f"({cond} {r + 1}/{ROUNDS}, {time.perf_counter() - t:.0f} s,"
                                      f" load {os.getloadavg()[0]:.2f}) " + "  ".join(line)
                                      + "  (× tpcb-like: pgbench-/Python-driven)",
                                      markup=False, highlight=False)
            with engine.connect() as conn:
                made = {v: _check(conn, v.lower()) for v in VARIANTS}
            _verified(reg)
        finally:
            engine.dispose()
    return tps, rates, made


def main() -> None:
    console = Console(width=150)
    server = os.environ.get("TEST_DATABASE_URL")
    if not server:
        console.print("TEST_DATABASE_URL not set: run under scripts/with-postgres.sh")
        return
    started = datetime.now(UTC)
    load0 = os.getloadavg()
    with _pgbench(server) as pgb:
        if isinstance(pgb, str):
            console.print(pgb)
            return
        tps, rates, made = _measure(server, *pgb, console=console)
    load1 = os.getloadavg()
    table = Table(title=(
        f"Four-eyes floor: complete transfers (proposal + approval, two transactions) ÷ "
        f"pgbench tpcb-like, 1 client; median of {ROUNDS} interleaved rounds of "
        f"{ROUND_SECONDS:g} s (range); {started:%Y-%m-%d %H:%M} UTC, load "
        f"{load0[0]:.2f} → {load1[0]:.2f}"))
    for col in ("variant", "driven by", *(f"{c}: × tpcb-like" for c in CONDITIONS),
                *(f"{c}: µs/transfer" for c in CONDITIONS)):
        table.add_column(col, justify="left" if col in ("variant", "driven by") else "right")
    table.add_row("tpcb-like", "pgbench", *("1.00" for _ in CONDITIONS),
                  *(f"{1e6 / statistics.median(tps[c]):,.0f} (per tx)" for c in CONDITIONS))
    for (v, d), cell in rates.items():
        ratios = {c: [x / t for x, t in zip(cell[c], tps[c], strict=True)] for c in CONDITIONS}
        name = f"{v} {VARIANTS[v][0]}" if v in VARIANTS else f"{v} the registry (0014)"
        driver = "Registry API" if (v, d) == (REAL, "python") else \
            "psycopg" if d == "python" else d
        table.add_row(name, driver,
                      *(f"{statistics.median(ratios[c]):.2f} ({min(ratios[c]):.2f}–"
                        f"{max(ratios[c]):.2f})" for c in CONDITIONS),
                      *(f"{1e6 / statistics.median(cell[c]):,.0f}" for c in CONDITIONS))
    console.print(table)
    console.print("tpcb-like tps per round: " + "; ".join(
        f"{c} " + ", ".join(f"{t:,.0f}" for t in tps[c]) for c in CONDITIONS))
    console.print("ledgers checked (all completed, units conserved, hash chains recompute): "
                  + ", ".join(f"{v} {n:,} transfers" for v, n in made.items()))


if __name__ == "__main__":
    main()
