"""Hot-path statements as plain driver SQL (built once per dialect, cached).

Building and compiling a SQLAlchemy expression costs more than executing it on a local
database, and a transfer runs about a dozen statements. These helpers send fixed SQL strings
straight to the driver (``%s`` placeholders, rewritten to ``?`` for SQLite); psycopg then
prepares them server-side after a few executions. Row locks (``FOR UPDATE``) are emitted on
PostgreSQL only — SQLite already holds the database write lock (``BEGIN IMMEDIATE``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Connection, Row

_CACHE: dict[tuple[str, str], str] = {}
BLOCK_COLS = ("id, issuing_registry, unit_type, vintage, serial_start, serial_end, account_id, "
              "status, authorisation_id, first_transferred, pending_tx")


def _pg(conn: Connection) -> bool:
    return conn.dialect.name == "postgresql"


def sql(conn: Connection, text: str) -> str:
    """``text`` with ``{fu}`` → ``FOR UPDATE`` (PostgreSQL) and ``%s`` → ``?`` (SQLite)."""
    key = (conn.dialect.name, text)
    s = _CACHE.get(key)
    if s is None:
        s = text.replace("{fu}", " FOR UPDATE") if conn.dialect.name == "postgresql" \
            else for_sqlite(text)
        _CACHE[key] = s
    return s


def for_sqlite(text: str) -> str:
    """``text`` as SQLite runs it: ``?`` placeholders, and no row locks (SQLite holds the
    database write lock from ``BEGIN IMMEDIATE``)."""
    return text.replace("{fu}", "").replace("%s", "?")


def ts(conn: Connection, at: datetime) -> Any:
    """A timestamp parameter stored exactly as SQLAlchemy's SQLite ``DateTime`` stores it."""
    if _pg(conn):
        return at
    return ts_text(at)


def ts_text(at: datetime) -> str:
    """SQLAlchemy's SQLite ``DateTime`` text of ``at`` (what :func:`ts` binds on SQLite):
    ``YYYY-MM-DD HH:MM:SS.ffffff``, the year zero-padded as SQLAlchemy pads it, any time zone
    dropped as SQLAlchemy drops it (``isoformat``: a third of ``strftime``'s time)."""
    if at.tzinfo is not None:
        at = at.replace(tzinfo=None)
    return at.isoformat(" ", "microseconds")


def run(conn: Connection, text: str, params: Sequence[Any] = ()) -> Any:
    return conn.exec_driver_sql(sql(conn, text), tuple(params))


def lock_query(ids: Sequence[int], who: str | None = None) -> tuple[str, list[Any]]:
    """PostgreSQL text and parameters of :func:`lock_accounts` (``%s`` placeholders)."""
    uniq = sorted(set(ids))
    marks = ", ".join(["%s"] * len(uniq))
    return ("SELECT id, registry_id, holder_id, type, status, name, "
            "(SELECT COUNT(*) FROM representatives r WHERE r.account_id = accounts.id) "
            "AS n_reps, (SELECT COUNT(*) FROM representatives r WHERE r.account_id = "
            "accounts.id AND r.name = %s) AS is_rep FROM accounts "
            f"WHERE id IN ({marks}) ORDER BY id{{fu}}", [who or "", *uniq])


def lock_accounts(conn: Connection, ids: Sequence[int],
                  who: str | None = None) -> dict[int, Row[Any]]:
    """Lock accounts in id order; each row also says whether it lists representatives
    (``n_reps``) and whether ``who`` is one of them (``is_rep``)."""
    text, params = lock_query(ids, who)
    return {int(r.id): r for r in run(conn, text, params).all()}


def representatives(conn: Connection, account: int) -> list[str]:
    return [str(r[0]) for r in run(
        conn, "SELECT name FROM representatives WHERE account_id = %s", (account,))]


def held_query(account: int, unit_type: str | None, vintage: int | None,
               authorisation: str | None, limit: int, offset: int) -> tuple[str, list[Any]]:
    """Text (``%s`` placeholders) and parameters of :func:`held_page`."""
    where: list[str] = ["account_id = %s", "status = 'held'"]
    params: list[Any] = [account]
    for col, val in (("unit_type", unit_type), ("vintage", vintage),
                     ("authorisation_id", authorisation)):
        if val is not None:
            where.append(f"{col} = %s")
            params.append(val)
    params += [limit, offset]
    return (f"SELECT {BLOCK_COLS} FROM blocks WHERE {' AND '.join(where)} "
            "ORDER BY issuing_registry, unit_type, vintage, serial_start "
            "LIMIT %s OFFSET %s", params)


def held_page(conn: Connection, account: int, unit_type: str | None, vintage: int | None,
              authorisation: str | None, limit: int, offset: int) -> list[Row[Any]]:
    text, params = held_query(account, unit_type, vintage, authorisation, limit, offset)
    return list(run(conn, text, params).all())


def set_block_range(conn: Connection, block_id: int, start: int | None = None,
                    end: int | None = None) -> None:
    if start is not None:
        run(conn, "UPDATE blocks SET serial_start = %s WHERE id = %s", (start, block_id))
    if end is not None:
        run(conn, "UPDATE blocks SET serial_end = %s WHERE id = %s", (end, block_id))


INSERT_BLOCK = ("INSERT INTO blocks (issuing_registry, unit_type, vintage, serial_start, "
                "serial_end, account_id, status, authorisation_id, first_transferred, "
                "pending_tx) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id")


def insert_block(conn: Connection, issuing_registry: str, unit_type: str, vintage: int,
                 start: int, end: int, account_id: int, status: str,
                 authorisation_id: str | None, first_transferred: bool,
                 pending_tx: int | None) -> int:
    return int(run(conn, INSERT_BLOCK,
                   (issuing_registry, unit_type, vintage, start, end, account_id, status,
                    authorisation_id, bool(first_transferred), pending_tx)).scalar_one())


def move_blocks(conn: Connection, ids: Sequence[int], values: dict[str, Any]) -> None:
    cols = sorted(values)
    sets = ", ".join(f"{c} = %s" for c in cols)
    vals = [bool(values[c]) if c == "first_transferred" else values[c] for c in cols]
    for i in range(0, len(ids), 200):
        chunk = list(ids[i:i + 200])
        marks = ", ".join(["%s"] * len(chunk))
        run(conn, f"UPDATE blocks SET {sets} WHERE id IN ({marks})", [*vals, *chunk])


def insert_tx(conn: Connection, at: datetime, values: dict[str, Any]) -> int:
    values = {**values, "created_at": ts(conn, at), "updated_at": ts(conn, at)}
    for k in ("expires_at",):
        if isinstance(values.get(k), datetime):
            values[k] = ts(conn, values[k])
    cols = sorted(values)
    marks = ", ".join(["%s"] * len(cols))
    return int(run(conn, f"INSERT INTO transactions ({', '.join(cols)}) VALUES ({marks}) "
                   "RETURNING id", [values[c] for c in cols]).scalar_one())


def insert_tx_blocks(conn: Connection, rows: Sequence[tuple[Any, ...]]) -> None:
    """rows: (tx_id, seq, issuing_registry, unit_type, vintage, start, end, auth, first)."""
    if rows:
        conn.exec_driver_sql(sql(conn, "INSERT INTO transaction_blocks (tx_id, seq, "
                                 "issuing_registry, unit_type, vintage, serial_start, "
                                 "serial_end, authorisation_id, first_transfer) VALUES "
                                 "(%s, %s, %s, %s, %s, %s, %s, %s, %s)"), list(rows))


#: PostgreSQL proposal of an internal transfer in one statement (migrations 0011, 0012, 0014): returns
#: ``(tx_id, code, path, detail, payload)``; ``code`` is ``None`` on success, a check code when
#: a check failed (nothing written), ``'external'`` (another registry) or ``'general'``
#: (authorised units) for the general path
PG_PROPOSE_INTERNAL = ("SELECT * FROM registry_propose_internal(%s::integer, %s::integer, "
                       "%s::bigint, %s::text, %s::integer, %s::text, %s::text, "
                       "%s::timestamp, %s::text, %s::timestamp)")
#: PostgreSQL approval of an internal transfer in one statement (migrations 0011, 0012, 0014): returns
#: ``(state, quantity, code, path, detail, account)``; ``code`` ``'general'`` for a transaction
#: that is not an internal transfer (the general path answers), ``'denied'`` when the actor does
#: not represent its transferring account (``account``; None: no such transaction)
#: the accounts of a transaction (the access check of approve, accept, reject, cancel)
PG_TX_ACCOUNTS = "SELECT from_account, to_account FROM transactions WHERE id = %s::integer"
PG_APPROVE_INTERNAL = ("SELECT * FROM registry_approve_internal(%s::integer, %s::text, "
                       "%s::timestamp, %s::text, %s::interval, %s::text, %s::integer[])")


def plain_name(name: str | None) -> bool:
    """``name`` prints the same in a PL/pgSQL detail (quoted with ``'``) and JSON payload
    (``to_json``) as Python's ``repr`` and ``json.dumps`` print it: printable ASCII without
    quotes or backslashes (or None). Other names take the general path."""
    return name is None or (name.isascii() and name.isprintable()
                            and not any(c in name for c in "'\"\\"))
