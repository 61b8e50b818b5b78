"""``carbonlink registry verify``: recompute the journal chain and the ledger invariants.

Reconciliation in the spirit of the Kyoto ITL (totals, then unit blocks, then the audit trail):

1. journal: every hash recomputes and points at its predecessor;
2. totals: per issuing registry and unit type, units in blocks = issued, and held + pending =
   issued − surrendered − used − cancelled − retired (each from the transactions table);
3. blocks: no two serial blocks overlap; escrowed blocks belong to an open external transfer
   whose quantity they match;
4. first transfers: no ITMO first transferred twice; per authorisation the total equals the
   authorisation's running total;
5. corresponding adjustments: the CA ledger equals the sum of its transactions (first transfers
   by Party and vintage; uses — and surrenders of authorised NDC ITMOs first transferred by
   another Party — by Party and year of use); no authorised unit left its first-transferring
   Party when its first transfer was due, or was used or cancelled for OIMP, without a first
   transfer (para 6); no CA entry lies outside the Party's NDC implementation period;
6. links: each link's used quota equals its open and completed external transfers;
7.–9. custody (:mod:`carbonlink.registry.custody`): representatives, roles and approvals
   replayed from the journal;
10. history (:mod:`carbonlink.registry.replay`): every block's owner and status and every
    transaction's row replayed from the journal.
"""

from __future__ import annotations

from collections import defaultdict

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from carbonlink.registry.common import first_transfer_due
from carbonlink.registry.db import (
    accounts,
    authorisation_totals,
    authorisations,
    blocks,
    ca_entries,
    first_transfers,
    links,
    ndc_accounting,
    registries,
    transaction_blocks,
    transactions,
)
from carbonlink.registry.journal import verify_chain

_TERMINAL_KIND = {"surrender": "surrendered", "use": "used", "oimp_cancellation": "cancelled",
                  "voluntary_cancellation": "cancelled", "omge_cancellation": "cancelled",
                  "retirement": "retired"}


def _overlaps(rows: list[tuple[str, str, int, int, int]], what: str) -> list[str]:
    out: list[str] = []
    prev: tuple[str, str, int, int, int] | None = None
    for r in sorted(rows):
        if prev is not None and prev[:3] == r[:3] and r[3] <= prev[4]:
            out.append(f"{what}: {r[0]}-{r[1]}-{r[2]} [{prev[3]}, {prev[4]}] overlaps "
                       f"[{r[3]}, {r[4]}]")
        if prev is None or prev[:3] != r[:3] or r[4] > prev[4]:
            prev = r
    return out


def verify(conn: Connection) -> list[str]:
    problems = verify_chain(conn)
    size = blocks.c.serial_end - blocks.c.serial_start + 1
    tsize = transaction_blocks.c.serial_end - transaction_blocks.c.serial_start + 1

    # 2. totals per (issuing registry, unit type)
    in_blocks: dict[tuple[str, str, str], int] = defaultdict(int)
    for reg, ut, st, q in conn.execute(sa.select(
            blocks.c.issuing_registry, blocks.c.unit_type, blocks.c.status, sa.func.sum(size))
            .group_by(blocks.c.issuing_registry, blocks.c.unit_type, blocks.c.status)):
        in_blocks[(reg, ut, st)] = int(q)
    by_kind: dict[tuple[str, str, str], int] = defaultdict(int)
    for reg, ut, kind, q in conn.execute(sa.select(
            transaction_blocks.c.issuing_registry, transaction_blocks.c.unit_type,
            transactions.c.kind, sa.func.sum(tsize))
            .select_from(transaction_blocks.join(transactions,
                                                 transactions.c.id == transaction_blocks.c.tx_id))
            .where(transactions.c.state == "completed")
            .group_by(transaction_blocks.c.issuing_registry, transaction_blocks.c.unit_type,
                      transactions.c.kind)):
        by_kind[(reg, ut, kind)] = int(q)
    keys = {k[:2] for k in in_blocks} | {k[:2] for k in by_kind}
    for reg, ut in sorted(keys):
        issued = by_kind[(reg, ut, "issuance")]
        total = sum(v for k, v in in_blocks.items() if k[:2] == (reg, ut))
        if total != issued:
            problems.append(f"totals: {reg} {ut}: {total} units in blocks but {issued} issued")
        for status in sorted(set(_TERMINAL_KIND.values())):
            want = sum(by_kind[(reg, ut, k)] for k, s in _TERMINAL_KIND.items() if s == status)
            if in_blocks[(reg, ut, status)] != want:
                problems.append(f"totals: {reg} {ut}: {in_blocks[(reg, ut, status)]} units "
                                f"{status} in blocks but transactions say {want}")
        held = in_blocks[(reg, ut, "held")] + in_blocks[(reg, ut, "pending_export")]
        gone = sum(by_kind[(reg, ut, k)] for k in _TERMINAL_KIND)
        if held != issued - gone:
            problems.append(f"totals: {reg} {ut}: holdings {held} ≠ issued {issued} − "
                            f"cancelled/used/surrendered/retired {gone}")

    # 3. blocks
    rows = [(r[0], r[1], int(r[2]), int(r[3]), int(r[4])) for r in conn.execute(sa.select(
        blocks.c.issuing_registry, blocks.c.unit_type, blocks.c.vintage, blocks.c.serial_start,
        blocks.c.serial_end))]
    problems += _overlaps(rows, "blocks")
    for r in rows:
        if r[3] > r[4] or r[3] < 1:
            problems.append(f"blocks: {r[0]}-{r[1]}-{r[2]} [{r[3]}, {r[4]}] is not a range")
    pend = {int(t): int(q) for t, q in conn.execute(
        sa.select(blocks.c.pending_tx, sa.func.sum(size)).where(blocks.c.pending_tx.is_not(None))
        .group_by(blocks.c.pending_tx))}
    open_tx = {int(r.id): int(r.quantity) for r in conn.execute(sa.select(
        transactions.c.id, transactions.c.quantity).where(
        transactions.c.state.in_(("proposed", "approved", "delayed"))))}
    for t in sorted(set(pend) | set(open_tx)):
        if pend.get(t) != open_tx.get(t):
            problems.append(f"escrow: transfer {t} holds {pend.get(t, 0)} units pending export "
                            f"but its open quantity is {open_tx.get(t, 0)}")
    n_bad = conn.execute(sa.select(sa.func.count()).select_from(blocks).where(
        (blocks.c.status == "pending_export") != blocks.c.pending_tx.is_not(None))).scalar_one()
    if n_bad:
        problems.append(f"escrow: {n_bad} blocks disagree between status and pending transfer")

    # 4. first transfers
    ft_rows = [(r[0], r[1], int(r[2]), int(r[3]), int(r[4])) for r in conn.execute(sa.select(
        first_transfers.c.issuing_registry, first_transfers.c.unit_type,
        first_transfers.c.vintage, first_transfers.c.serial_start,
        first_transfers.c.serial_end))]
    problems += [p.replace("first transfers:", "first transfers: first transferred twice:")
                 for p in _overlaps(ft_rows, "first transfers")]
    fsize = first_transfers.c.serial_end - first_transfers.c.serial_start + 1
    ft_auth = {a: int(q) for a, q in conn.execute(sa.select(
        first_transfers.c.authorisation_id, sa.func.sum(fsize))
        .group_by(first_transfers.c.authorisation_id))}
    for a, q in conn.execute(sa.select(authorisation_totals.c.authorisation_id,
                                       authorisation_totals.c.first_transferred)):
        if ft_auth.get(a, 0) != int(q):
            problems.append(f"authorisation {a}: running total {q} first transferred but "
                            f"{ft_auth.get(a, 0)} recorded")

    # 5. CA ledger equals the sum of its transactions
    ledger: dict[tuple[str, int, str], int] = defaultdict(int)
    for p, y, k, q in conn.execute(sa.select(
            ca_entries.c.party, ca_entries.c.year, ca_entries.c.kind,
            sa.func.sum(ca_entries.c.quantity))
            .group_by(ca_entries.c.party, ca_entries.c.year, ca_entries.c.kind)):
        ledger[(p, int(y), k)] = int(q)
    expect: dict[tuple[str, int, str], int] = defaultdict(int)
    for p, y, q in conn.execute(sa.select(first_transfers.c.party, first_transfers.c.vintage,
                                          sa.func.sum(fsize))
                                .group_by(first_transfers.c.party, first_transfers.c.vintage)):
        expect[(p, int(y), "first_transfer")] = int(q)
    # first transfers per serial key (start, end, tx, authorisation version) and the versions
    ft_by_key: dict[tuple[str, str, int], list[tuple[int, int, int, int | None]]] = \
        defaultdict(list)
    for r in conn.execute(sa.select(first_transfers)):
        ft_by_key[(r.issuing_registry, r.unit_type, int(r.vintage))].append(
            (int(r.serial_start), int(r.serial_end), int(r.tx_id),
             None if r.authorisation_version is None else int(r.authorisation_version)))
    versions: dict[str, list[sa.Row[tuple[object, ...]]]] = defaultdict(list)
    for r in conn.execute(sa.select(authorisations).order_by(authorisations.c.version)):
        versions[str(r.id)].append(r)
    party_of = {str(r.id): str(r.party) for r in conn.execute(sa.select(registries))}

    def covered(reg: str, ut: str, vin: int, s: int, e: int, upto: int
                ) -> list[tuple[int, int | None]]:
        return [(min(e, fe) - max(s, fs) + 1, v) for fs, fe, t, v in ft_by_key[(reg, ut, vin)]
                if fs <= e and fe >= s and t <= upto]

    def version(aid: str, v: int | None, on: object) -> sa.Row[tuple[object, ...]] | None:
        rows = versions.get(aid, [])
        if v is not None:
            return next((r for r in rows if r.version == v), None)
        ok = [r for r in rows if str(r.effective_from) <= str(on)[:10]]
        return ok[-1] if ok else None

    txb = conn.execute(
        sa.select(transactions.c.id, transactions.c.kind, transactions.c.year,
                  transactions.c.updated_at, transactions.c.from_account,
                  transactions.c.to_account, transaction_blocks.c.issuing_registry,
                  transaction_blocks.c.unit_type, transaction_blocks.c.vintage,
                  transaction_blocks.c.serial_start, transaction_blocks.c.serial_end,
                  transaction_blocks.c.authorisation_id)
        .select_from(transaction_blocks.join(transactions,
                                             transactions.c.id == transaction_blocks.c.tx_id))
        .where(transactions.c.state == "completed",
               transactions.c.kind.in_(("use", "surrender", "oimp_cancellation",
                                        "external_transfer")))
        .order_by(transactions.c.id, transaction_blocks.c.seq)).all()
    acc_reg = {int(r.id): str(r.registry_id) for r in conn.execute(
        sa.select(accounts.c.id, accounts.c.registry_id))}
    for tb in txb:
        src = party_of[acc_reg[int(tb.from_account)]]
        dst = party_of[acc_reg[int(tb.to_account)]]
        s, e = int(tb.serial_start), int(tb.serial_end)
        where = f"{tb.issuing_registry}-{tb.unit_type}-{tb.vintage} [{s}, {e}]"
        if tb.authorisation_id is None:
            if tb.kind == "use":
                expect[(src, int(tb.year), "use")] += e - s + 1
            continue
        aid = str(tb.authorisation_id)
        cov = covered(tb.issuing_registry, tb.unit_type, int(tb.vintage), s, e, int(tb.id))
        missing = e - s + 1 - sum(q for q, _ in cov)
        if tb.kind == "use":
            expect[(src, int(tb.year), "use")] += e - s + 1
        elif tb.kind == "surrender":
            for q, v in cov:
                a = version(aid, v, tb.updated_at)
                if a is not None and "NDC" in str(a.purposes) and a.party != src:
                    expect[(src, int(tb.year), "use")] += q
        if not missing:
            continue
        if tb.kind in ("use", "oimp_cancellation"):
            problems.append(f"first transfers: {where} of {aid} were "
                            f"{'used' if tb.kind == 'use' else 'cancelled for OIMP'} "
                            f"(transaction {tb.id}) without a first transfer")
        elif tb.kind == "external_transfer" and src != dst:
            a = version(aid, None, tb.updated_at)
            if a is not None and first_transfer_due(
                    str(a.purposes), a.first_transfer_definition, "external_transfer",
                    international=True, abroad=src != a.party):
                problems.append(f"first transfers: {where} of {aid} left {src} for {dst} "
                                f"(transaction {tb.id}) without a first transfer although "
                                f"version {a.version} ({a.purposes}) made it one")
    for key in sorted(set(ledger) | set(expect)):
        if ledger.get(key, 0) != expect.get(key, 0):
            p, y, k = key
            problems.append(f"CA ledger: {p} {y} {k.replace('_', ' ')}: ledger "
                            f"{ledger.get(key, 0)} but transactions give {expect.get(key, 0)}")

    # entries outside the Party's NDC implementation period are in no balance (para 7)
    for ndc in conn.execute(sa.select(ndc_accounting)):
        for (p, y, k), q in sorted(ledger.items()):
            if p == ndc.party and q and not ndc.first_year <= y <= ndc.last_year:
                problems.append(f"CA ledger: {p} {y} {k.replace('_', ' ')} {q} lies outside "
                                f"its NDC implementation period {ndc.first_year}–"
                                f"{ndc.last_year}")

    # 6. links
    moved = {int(lid): int(q) for lid, q in conn.execute(sa.select(
        transactions.c.link_id, sa.func.sum(transactions.c.quantity))
        .where(transactions.c.kind == "external_transfer",
               transactions.c.state.in_(("proposed", "approved", "completed")))
        .group_by(transactions.c.link_id))}
    for lid, m in conn.execute(sa.select(links.c.id, links.c.moved)):
        if int(m) != moved.get(int(lid), 0):
            problems.append(f"link {lid}: quota used {m} but transfers give "
                            f"{moved.get(int(lid), 0)}")

    # 7.-9. custody
    from carbonlink.registry.custody import verify_custody
    from carbonlink.registry.replay import replay
    problems += verify_custody(conn)
    # 10. the transaction history replayed from the journal: blocks' owners and statuses,
    # transactions' kinds, accounts, quantities, states and people
    problems += replay(conn)
    return problems
