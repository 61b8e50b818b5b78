"""Initial report (Decision 2/CMA.3 annex para 18) and regular information (paras 21–23)
outlines, filled from the ledger as Markdown. Sections the registry cannot know (NDC
quantification, environmental integrity, sustainable development) are left as prompts."""

from __future__ import annotations

from collections import defaultdict

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from carbonlink.registry.accounting import corresponding_adjustments, fmt
from carbonlink.registry.db import (
    authorisations,
    authorised_entities,
    ca_entries,
    emissions,
    holders,
    links,
    ndc_accounting,
    registries,
)

TODO = "_to be completed by the Party_"


def _auths(conn: Connection, party: str) -> list[sa.Row[tuple[object, ...]]]:
    latest: dict[str, sa.Row[tuple[object, ...]]] = {}
    for r in conn.execute(sa.select(authorisations).where(authorisations.c.party == party)
                          .order_by(authorisations.c.version)):
        latest[str(r.id)] = r
    return [latest[k] for k in sorted(latest)]


def initial_report(conn: Connection, party: str) -> str:
    ndc = conn.execute(sa.select(ndc_accounting).where(ndc_accounting.c.party == party)).first()
    regs = conn.execute(sa.select(registries).where(registries.c.party == party)).all()
    lines = [f"# Initial report of {party} (Decision 2/CMA.3 annex para 18)", "",
             "## (a) Participation requirements (para 4)", "",
             f"- registry / arrangements for tracking (4(d)): "
             f"{', '.join(r.id for r in regs) or 'none recorded'}",
             f"- authorisation arrangements (4(c)): {len(_auths(conn, party))} authorisations "
             "recorded", f"- Party to the Paris Agreement, NDC, inventory (4(a),(b),(e)): {TODO}",
             "", "## (b)–(c) NDC quantification", "",
             f"- NDC implementation period: {f'{ndc.first_year}–{ndc.last_year}' if ndc else TODO}",
             f"- metric: {ndc.metric if ndc else TODO}", "",
             "## (d)–(e) Method for corresponding adjustments (para 7)", "",
             f"- method: {ndc.method if ndc else TODO}", "",
             "## (f)–(g) Cooperative approaches", ""]
    by_ca: dict[str, list[sa.Row[tuple[object, ...]]]] = defaultdict(list)
    for a in _auths(conn, party):
        by_ca[str(a.cooperative_approach)].append(a)
    for ca, auths in sorted(by_ca.items()):
        lines += [f"### {ca}", ""]
        for a in auths:
            ents = conn.execute(sa.select(holders.c.name).join(
                authorised_entities, authorised_entities.c.holder_id == holders.c.id).where(
                authorised_entities.c.authorisation_id == a.id,
                authorised_entities.c.version == a.version)).scalars().all()
            lines += [f"- authorisation {a.id} (version {a.version}): {a.quantity} {a.metric}, "
                      f"purposes {a.purposes}, vintages {a.vintage_from}–{a.vintage_to}, "
                      f"valid from {a.valid_from}"
                      + (f" to {a.valid_to}" if a.valid_to else "")
                      + (f", first transfer for OIMP at {a.first_transfer_definition}"
                         if a.first_transfer_definition else "")
                      + (" — REVOKED from " + str(a.effective_from) if a.revoked else ""),
                      f"  - authorised entities: {', '.join(ents) or 'none named'}"]
        lines.append("")
    partners = conn.execute(sa.select(links.c.from_registry, links.c.to_registry)).all()
    mine = {r.id for r in regs}
    lines += ["- participating registries linked: " + (", ".join(
        sorted({f'{f} → {t}' for f, t in partners if f in mine or t in mine})) or "none"), "",
        "## (h) Environmental integrity", "", TODO, "",
        "## (i) Sustainable development, safeguards, Paris Agreement preamble", "", TODO, ""]
    return "\n".join(lines)


def regular_information(conn: Connection, party: str) -> str:
    ndc = conn.execute(sa.select(ndc_accounting).where(ndc_accounting.c.party == party)).first()
    lines = [f"# Regular information of {party} (Decision 2/CMA.3 annex paras 21–23)", "",
             "## Updates to the initial report and authorisations (para 22)", ""]
    for a in _auths(conn, party):
        lines.append(f"- {a.id} version {a.version} ({a.cooperative_approach}), effective "
                     f"{a.effective_from}" + (" — revoked" if a.revoked else ""))
    lines += ["", "## Structured summary (para 23)", ""]
    # per metric: adjustments are kept in their metric, never summed across (para 9)
    by_metric: dict[str, tuple[dict[int, int], dict[int, int]]] = defaultdict(
        lambda: (defaultdict(int), defaultdict(int)))
    for m, y, k, q in conn.execute(sa.select(ca_entries.c.metric, ca_entries.c.year,
                                             ca_entries.c.kind,
                                             sa.func.sum(ca_entries.c.quantity))
                                   .where(ca_entries.c.party == party)
                                   .group_by(ca_entries.c.metric, ca_entries.c.year,
                                             ca_entries.c.kind)):
        ft_m, used_m = by_metric[str(m)]
        (ft_m if k == "first_transfer" else used_m)[int(y)] += int(q)
    if ndc is None:
        lines.append(f"NDC accounting method not recorded: {TODO}")
        return "\n".join(lines)
    ft, used = by_metric.get(str(ndc.metric), ({}, {}))
    em = {int(r.year): int(r.emissions) for r in conn.execute(
        sa.select(emissions).where(emissions.c.party == party))}
    res = corresponding_adjustments(party, ndc.method, ndc.first_year, ndc.last_year, ft, used,
                                    em, ndc_type=ndc.ndc_type)
    lines += [f"NDC ({ndc.ndc_type.replace('_', '-')}), metric {ndc.metric}.", ""]
    lines += [f"Method: {res.method} ({res.source}).", "",
              "| year | emissions | first transferred (+) | used (−) | adjustment | "
              "adjusted emissions balance |", "|---|---|---|---|---|---|"]
    for y in res.years:
        lines.append(f"| {y.year} | {fmt(y.emissions)} | {y.first_transferred} | {y.used} | "
                     f"{fmt(y.adjustment)} | {fmt(y.adjusted_balance)} |")
    lines += [f"| cumulative | | {res.cumulative_first_transferred} | {res.cumulative_used} "
              f"| {fmt(res.cumulative_adjustment)} | |", ""]
    if res.end_of_period_adjustment is not None:
        lines += [f"End of the period (para 7(b)): cumulative adjustment "
                  f"{fmt(res.end_of_period_adjustment)}; adjusted period emissions "
                  f"{fmt(res.adjusted_period_emissions)}.", ""]
    for yr, k, q in res.outside_period:
        lines.append(f"- outside the NDC period {res.first_year}–{res.last_year}: {yr} "
                     f"{k.replace('_', ' ')} {q} {ndc.metric}")
    for m, (ft_m, used_m) in sorted(by_metric.items()):
        if m == ndc.metric:
            continue
        lines.append(f"- in metric {m} (not in the {ndc.metric} balance, para 9): first "
                     f"transferred {dict(sorted(ft_m.items()))}, used "
                     f"{dict(sorted(used_m.items()))}")
    lines += ["",
              "## How double counting is avoided", "",
              "Each unit is a serial block in one registry; each ITMO is first transferred at "
              "most once (database-enforced); corresponding adjustments are booked in the same "
              "database transaction as the first transfer or use; `carbonlink registry verify` "
              "recomputes the journal hash chain and every invariant.", ""]
    return "\n".join(lines)
