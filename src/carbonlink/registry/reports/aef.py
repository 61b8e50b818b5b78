"""Annual information in the agreed electronic format (AEF) — Decision 2/CMA.3 annex para 20;
format of Decision 6/CMA.4 annex, in its five-table version (Submission, Authorizations,
Actions, Holdings as of 31 December, Authorized entities).

ITMO unique identifiers follow 6/CMA.4 annex I para 5:
``<cooperative approach>-<registry>-<first-transferring Party>-<serial>-<vintage>``; a block is
reported as First ID / Last ID.
"""

from __future__ import annotations

import csv
import re
from collections import defaultdict
from datetime import date, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from carbonlink.registry.db import (
    accounts,
    authorisations,
    authorised_entities,
    holders,
    ndc_accounting,
    registries,
    reports_submitted,
    transaction_blocks,
    transactions,
)

AEF_COLUMNS: dict[str, list[str]] = {
    "Submission": [
        "Party", "Version", "Reported year", "Submission date",
        "Review status of the initial report", "First year of NDC implementation period",
        "Last year of NDC implementation period", "Reference to the A6TER report"],
    "Authorizations": [
        "Authorization ID", "Authorization date", "Cooperative approach ID", "Version",
        "Authorized quantity", "Metric", "Applicable GWP value(s)", "Applicable non-GHG metric",
        "Sectors", "Activity types", "Purposes for authorization", "Authorized Parties",
        "Authorized entities", "OIMP authorized", "Authorized timeframe",
        "Terms and conditions", "Documentation", "First transfer definition for OIMP"],
    "Actions": [
        "Action date", "Action type", "Action subtype", "Cooperative approach ID",
        "Authorization ID", "First transferring Party", "Registry ID", "First ID", "Last ID",
        "Underlying unit registry", "First underlying unit ID", "Last underlying unit ID",
        "Metric", "Applicable GWP value(s)", "Quantity (t CO2 eq)", "Quantity (non-GHG metric)",
        "Mitigation type", "Vintage", "Transferring Party", "Acquiring Party",
        "Purposes for cancellation", "Using or cancelling Party or entity",
        "Calendar year of NDC use", "Result of the consistency checks", "Notes"],
    "Holdings": [
        "Cooperative approach ID", "Authorization ID", "First transferring Party",
        "Registry ID", "First ID", "Last ID", "Metric", "Quantity (t CO2 eq)",
        "Quantity (non-GHG metric)", "Vintage"],
    "Authorized entities": [
        "Date", "Name", "Country of incorporation", "Identification number",
        "Cooperative approach ID", "Conditions", "Change and revocation conditions"],
}
GWP = "IPCC AR5 GWP100"
ITMO_ID = re.compile(r"^CA\d{4}-[A-Z]{3}\d{2}-[A-Z]{3}-\d+-\d{4}$")
_TERMINAL = {"use": ("Use", "NDC"), "oimp_cancellation": ("Use", "OIMP"),
             "voluntary_cancellation": ("Cancellation", "Voluntary cancellation"),
             "omge_cancellation": ("Cancellation", "OMGE")}


def itmo_id(approach: str, registry: str, party: str, serial: int, vintage: int) -> str:
    return f"{approach}-{registry}-{party}-{serial}-{vintage}"


def _auths(conn: Connection) -> dict[str, Any]:
    """Newest version of each authorisation."""
    out: dict[str, Any] = {}
    for r in conn.execute(sa.select(authorisations).order_by(authorisations.c.version)):
        out[r.id] = r
    return out


def _quantities(metric: str, q: int) -> tuple[Any, Any]:
    return (q, "") if metric == "tCO2e" else ("", q)


def holdings_at(conn: Connection, as_of: datetime) -> dict[int, list[tuple[str, str, int, int,
                                                                            int, str | None]]]:
    """Replay completed transactions up to ``as_of``: ranges held per account (units pending
    export stay with the transferring account). Range = (registry, type, vintage, start, end,
    auth)."""
    held: dict[tuple[str, str, int], list[list[Any]]] = defaultdict(list)  # [s, e, acc, auth]
    tx_rows = conn.execute(sa.select(transactions).where(
        transactions.c.state == "completed", transactions.c.updated_at <= as_of)
        .order_by(transactions.c.updated_at, transactions.c.id)).all()
    pieces: dict[int, list[Any]] = defaultdict(list)
    for b in conn.execute(sa.select(transaction_blocks).order_by(transaction_blocks.c.tx_id,
                                                                 transaction_blocks.c.seq)):
        pieces[int(b.tx_id)].append(b)
    for t in tx_rows:
        for p in pieces[int(t.id)]:
            key = (p.issuing_registry, p.unit_type, int(p.vintage))
            s, e = int(p.serial_start), int(p.serial_end)
            if t.kind == "issuance":
                held[key].append([s, e, t.to_account, p.authorisation_id])
                continue
            # cut [s, e] out of the interval that holds it, then give it to the new account
            for iv in list(held[key]):
                if iv[0] <= s and e <= iv[1]:
                    held[key].remove(iv)
                    if iv[0] < s:
                        held[key].append([iv[0], s - 1, iv[2], iv[3]])
                    if e < iv[1]:
                        held[key].append([e + 1, iv[1], iv[2], iv[3]])
                    break
            held[key].append([s, e, t.to_account, p.authorisation_id])
    out: dict[int, list[tuple[str, str, int, int, int, str | None]]] = defaultdict(list)
    for key, ivs in held.items():
        for s, e, acc, auth in sorted(ivs):
            out[int(acc)].append((key[0], key[1], key[2], s, e, auth))
    return out


def aef_tables(conn: Connection, party: str, year: int, *, version: str = "1.0",
               submitted: date | None = None) -> dict[str, list[dict[str, Any]]]:
    """The five AEF tables of ``party`` for the calendar year ``year``."""
    auths = _auths(conn)
    reg_party = {r.id: r.party for r in conn.execute(sa.select(registries))}
    acc = {int(r.id): r for r in conn.execute(sa.select(accounts))}
    hold = {int(r.id): r for r in conn.execute(sa.select(holders))}
    ndc = conn.execute(sa.select(ndc_accounting).where(ndc_accounting.c.party == party)).first()
    initial = conn.execute(sa.select(reports_submitted).where(
        reports_submitted.c.party == party, reports_submitted.c.kind == "initial")).first()
    tables: dict[str, list[dict[str, Any]]] = {k: [] for k in AEF_COLUMNS}
    tables["Submission"].append({
        "Party": party, "Version": version, "Reported year": year,
        "Submission date": (submitted or date.today()).isoformat(),
        "Review status of the initial report": "Submitted" if initial else "Not submitted",
        "First year of NDC implementation period": ndc.first_year if ndc else "",
        "Last year of NDC implementation period": ndc.last_year if ndc else "",
        "Reference to the A6TER report": ""})
    mine = {a: r for a, r in auths.items() if r.party == party}
    # "Authorized Parties" (Decision 6/CMA.4 annex, AEF Authorizations table; 2/CMA.3 annex
    # para 20): every Party that authorised ITMOs under the cooperative approach, not only
    # the reporting one (interpretation: the registry records no other list of authorising
    # Parties per approach)
    approach_parties: dict[str, set[str]] = defaultdict(set)
    for r in auths.values():
        approach_parties[r.cooperative_approach].add(r.party)
    for a, r in sorted(mine.items()):
        ents = conn.execute(sa.select(authorised_entities.c.holder_id).where(
            authorised_entities.c.authorisation_id == a,
            authorised_entities.c.version == r.version)).scalars().all()
        tables["Authorizations"].append({
            "Authorization ID": a, "Authorization date": r.recorded_at.date().isoformat(),
            "Cooperative approach ID": r.cooperative_approach, "Version": r.version,
            "Authorized quantity": r.quantity, "Metric": "GHG" if r.metric == "tCO2e"
            else "non-GHG", "Applicable GWP value(s)": GWP if r.metric == "tCO2e" else "",
            "Applicable non-GHG metric": "" if r.metric == "tCO2e" else r.metric,
            "Sectors": "", "Activity types": "", "Purposes for authorization": r.purposes,
            "Authorized Parties": "; ".join(sorted(approach_parties[r.cooperative_approach])),
            "Authorized entities": "; ".join(hold[int(h)].name for h in ents),
            "OIMP authorized": "Yes" if "OIMP" in r.purposes else "No",
            "Authorized timeframe": f"{r.valid_from.isoformat()} – "
            f"{r.valid_to.isoformat() if r.valid_to else 'open'}"
            + (f" (revoked from {r.effective_from.isoformat()})" if r.revoked else ""),
            "Terms and conditions": r.terms or "", "Documentation": "",
            "First transfer definition for OIMP": r.first_transfer_definition or ""})
        for h in ents:
            tables["Authorized entities"].append({
                "Date": r.recorded_at.date().isoformat(), "Name": hold[int(h)].name,
                "Country of incorporation": hold[int(h)].country or "",
                "Identification number": hold[int(h)].identifier or "",
                "Cooperative approach ID": r.cooperative_approach,
                "Conditions": r.terms or "", "Change and revocation conditions": ""})
    # Actions in the calendar year
    lo, hi = datetime(year, 1, 1), datetime(year + 1, 1, 1)
    txs = conn.execute(sa.select(transactions).where(
        transactions.c.state == "completed", transactions.c.updated_at >= lo,
        transactions.c.updated_at < hi).order_by(transactions.c.updated_at,
                                                 transactions.c.id)).all()
    for t in txs:
        src = acc.get(t.from_account) if t.from_account else None
        dst = acc.get(t.to_account) if t.to_account else None
        src_party = reg_party[src.registry_id] if src is not None else None
        dst_party = reg_party[dst.registry_id] if dst is not None else None
        for p in conn.execute(sa.select(transaction_blocks).where(
                transaction_blocks.c.tx_id == t.id).order_by(transaction_blocks.c.seq)):
            if p.authorisation_id is None:
                continue
            au = auths[p.authorisation_id]
            rows: list[tuple[str, str]] = []
            first = bool(p.first_transfer) and au.party == party
            if first:
                rows.append(("First transfer", au.purposes))
            if t.kind == "external_transfer":
                # a first transfer is reported once, as the action "First transfer" (Decision
                # 2/CMA.3 annex para 20; 6/CMA.4 annex, AEF Actions table: one row per action
                # and block), not again as a "Transfer" of the same ITMOs
                if src_party == party and not first:
                    rows.append(("Transfer", ""))
                if dst_party == party:
                    rows.append(("Acquisition", ""))
            if t.kind in _TERMINAL and src_party == party:
                rows.append(_TERMINAL[t.kind])
            q = int(p.serial_end) - int(p.serial_start) + 1
            tco2, other = _quantities(au.metric, q)
            user = ""
            if t.kind in _TERMINAL and src is not None:
                user = hold[int(src.holder_id)].name if src.holder_id else party
            for typ, sub in rows:
                tables["Actions"].append({
                    "Action date": t.updated_at.date().isoformat(), "Action type": typ,
                    "Action subtype": sub, "Cooperative approach ID": au.cooperative_approach,
                    "Authorization ID": au.id, "First transferring Party": au.party,
                    "Registry ID": p.issuing_registry,
                    "First ID": itmo_id(au.cooperative_approach, p.issuing_registry, au.party,
                                        int(p.serial_start), int(p.vintage)),
                    "Last ID": itmo_id(au.cooperative_approach, p.issuing_registry, au.party,
                                       int(p.serial_end), int(p.vintage)),
                    "Underlying unit registry": p.issuing_registry if p.unit_type != "itmo"
                    else "", "First underlying unit ID": p.serial_start
                    if p.unit_type != "itmo" else "",
                    "Last underlying unit ID": p.serial_end if p.unit_type != "itmo" else "",
                    "Metric": "GHG" if au.metric == "tCO2e" else "non-GHG",
                    "Applicable GWP value(s)": GWP if au.metric == "tCO2e" else "",
                    "Quantity (t CO2 eq)": tco2, "Quantity (non-GHG metric)": other,
                    "Mitigation type": "", "Vintage": p.vintage,
                    "Transferring Party": src_party if t.kind == "external_transfer" else "",
                    "Acquiring Party": dst_party if t.kind == "external_transfer" else "",
                    "Purposes for cancellation": sub if t.kind in _TERMINAL else "",
                    "Using or cancelling Party or entity": user,
                    "Calendar year of NDC use": t.year if t.kind == "use" else "",
                    "Result of the consistency checks": "", "Notes": ""})
    # Holdings as of 31 December
    party_accounts = {n for n, r in acc.items()
                      if reg_party[r.registry_id] == party
                      and r.type in ("party_holding", "entity_holding")}
    snap = holdings_at(conn, datetime(year, 12, 31, 23, 59, 59, 999999))
    merged: dict[tuple[str, str, int, str], list[list[int]]] = defaultdict(list)
    for n in sorted(party_accounts):
        for reg_id, _ut, vin, s, e, auth in snap.get(n, []):
            if auth is None:
                continue
            merged[(auth, reg_id, vin, _ut)].append([s, e])
    for (auth, reg_id, vin, _ut), ivs in sorted(merged.items()):
        au = auths[auth]
        ivs.sort()
        runs: list[list[int]] = []
        for s, e in ivs:
            if runs and runs[-1][1] + 1 == s:
                runs[-1][1] = e
            else:
                runs.append([s, e])
        for s, e in runs:
            tco2, other = _quantities(au.metric, e - s + 1)
            tables["Holdings"].append({
                "Cooperative approach ID": au.cooperative_approach, "Authorization ID": auth,
                "First transferring Party": au.party, "Registry ID": reg_id,
                "First ID": itmo_id(au.cooperative_approach, reg_id, au.party, s, vin),
                "Last ID": itmo_id(au.cooperative_approach, reg_id, au.party, e, vin),
                "Metric": "GHG" if au.metric == "tCO2e" else "non-GHG",
                "Quantity (t CO2 eq)": tco2, "Quantity (non-GHG metric)": other,
                "Vintage": vin})
    return tables


def _split_id(x: str) -> tuple[str, str, str, int, int]:
    a, r, p, s, v = x.split("-")
    return a, r, p, int(s), int(v)


def consistency_checks(tables: dict[str, list[dict[str, Any]]],
                       counterparts: list[list[dict[str, Any]]] | None = None) -> list[str]:
    """Pre-consistency checks before export: internal (identifiers, ranges, quantities,
    references, overlapping holdings) and, given counterpart Parties' AEF Holdings rows, units
    present in two registries (D6002). Returns one message per problem."""
    problems: list[str] = []
    known_auth = {r["Authorization ID"] for r in tables["Authorizations"]}
    for name in ("Actions", "Holdings"):
        for i, row in enumerate(tables[name], start=1):
            where = f"{name} row {i}"
            f, last = str(row["First ID"]), str(row["Last ID"])
            if not (ITMO_ID.match(f) and ITMO_ID.match(last)):
                problems.append(f"{where}: malformed ITMO identifier {f!r} / {last!r}")
                continue
            a1, a2 = _split_id(f), _split_id(last)
            if a1[:3] != a2[:3] or a1[4] != a2[4] or a2[3] < a1[3]:
                problems.append(f"{where}: First ID and Last ID do not form one block")
                continue
            q = row["Quantity (t CO2 eq)"] or row["Quantity (non-GHG metric)"]
            if int(q) != a2[3] - a1[3] + 1:
                problems.append(f"{where}: quantity {q} ≠ block size {a2[3] - a1[3] + 1}")
            if int(row["Vintage"]) != a1[4]:
                problems.append(f"{where}: vintage {row['Vintage']} ≠ identifier vintage")
            if name == "Actions" and row["Action type"] == "First transfer" and \
                    row["Authorization ID"] not in known_auth:
                problems.append(f"{where}: first transfer under {row['Authorization ID']} "
                                "which is not in the Authorizations table")
    ours = _ranges(tables["Holdings"])
    problems += [f"Holdings: {m}" for m in _overlap_messages(ours, ours, same=True)]
    for k, other in enumerate(counterparts or []):
        problems += [f"[D6002] counterpart file {k + 1}: {m}"
                     for m in _overlap_messages(ours, _ranges(other), same=False)]
    return problems


def _ranges(rows: list[dict[str, Any]]) -> list[tuple[tuple[str, str, str, int], int, int]]:
    out = []
    for r in rows:
        try:
            a, reg, p, s, v = _split_id(str(r["First ID"]))
            e = _split_id(str(r["Last ID"]))[3]
        except ValueError:
            continue
        out.append(((a, reg, p, v), s, e))
    return sorted(out)


def _overlap_messages(a: list[tuple[tuple[str, str, str, int], int, int]],
                      b: list[tuple[tuple[str, str, str, int], int, int]],
                      same: bool) -> list[str]:
    out = []
    for i, (k1, s1, e1) in enumerate(a):
        for j, (k2, s2, e2) in enumerate(b):
            if same and j <= i:
                continue
            if k1 == k2 and s1 <= e2 and s2 <= e1:
                out.append(f"units {'-'.join(map(str, k1))} [{max(s1, s2)}, {min(e1, e2)}] "
                           "are held in two places")
    return out


def read_holdings_csv(path: str | Path) -> list[dict[str, Any]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def write_aef(tables: dict[str, list[dict[str, Any]]], out_dir: str | Path, *,
              stem: str = "aef", formats: tuple[str, ...] = ("xlsx", "csv")) -> list[Path]:
    """Write the tables as one XLSX workbook (a sheet per table) and/or one CSV per table."""
    from openpyxl import Workbook

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    if "csv" in formats:
        for name, cols in AEF_COLUMNS.items():
            p = out / f"{stem}-{name.lower().replace(' ', '-')}.csv"
            with open(p, "w", newline="", encoding="utf-8") as fh:
                w = csv.DictWriter(fh, fieldnames=cols)
                w.writeheader()
                w.writerows(tables[name])
            written.append(p)
    if "xlsx" in formats:
        wb = Workbook()
        wb.remove(wb.active)  # type: ignore[arg-type]
        for name, cols in AEF_COLUMNS.items():
            ws = wb.create_sheet(name)
            ws.append(cols)
            for row in tables[name]:
                ws.append([row.get(c, "") for c in cols])
        p = out / f"{stem}.xlsx"
        wb.save(p)
        written.append(p)
    return written
