"""CPT rules: compatibility of the linked ETSs' design elements (seed S-7.3; dimensions
CMP-CAP … CMP-A6 of article6-and-agreements.md §7). Each rule rates each linked pair
``aligned | compatible | conflict`` (``unknown`` when the data is missing), adds the row to the
compatibility matrix and reports conflicts as findings; missing data rates ``unknown`` with an
info finding naming the gap (:mod:`carbonlink.agreements.presence`). Offsets, price controls and
borrowing are rated per direction of the link (exporter → importer): spill-overs follow the
units."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from carbonlink.agreements.context import Context
from carbonlink.agreements.findings import CompatibilityRow, Finding, Rating
from carbonlink.agreements.presence import Known, datum, gaps, listed
from carbonlink.agreements.rules import rule
from carbonlink.model.jurisdiction import ETS, Fact, PriceFigure

Level = Literal["MUST", "SHOULD", "MAY"]
Rater = Callable[[Context, ETS, ETS], tuple[Rating, str]]


def _run(ctx: Context, rule_id: str, dimension: str, level: Level, rate: Rater,
         directed: bool = False) -> list[Finding]:
    """Rate each linked pair (``A|B``) or, for a ``directed`` dimension, each (exporter,
    importer) pair (``A->B``: units issued by A are surrendered in B). A conflict is a finding of
    the rule; ``unknown`` is an info finding naming the data gap."""
    out = []
    pairs = ctx.directed_pairs() if directed else ctx.linked_pairs()
    for a, b in pairs:
        rating, reason = rate(ctx, a, b)
        subject = f"{a.id}->{b.id}" if directed else f"{a.id}|{b.id}"
        ctx.compatibility.append(CompatibilityRow(dimension, subject, rating, reason, level))
        if rating == "conflict":
            out.append(ctx.finding(rule_id, f"{dimension} {subject}: {reason}", subject))
        elif rating == "unknown":
            out.append(ctx.gap(rule_id, f"{dimension} {subject}: {reason}", subject))
    return out


def _fact(f: Fact | None, what: str) -> Known:
    return datum(f, what)


def _cap(ctx: Context, a: ETS, b: ETS) -> tuple[Rating, str]:
    if a.cap_type is None or b.cap_type is None:
        return "unknown", "cap type not recorded for " + (a.id if a.cap_type is None else b.id)
    if a.cap_type != b.cap_type:
        inten = a if a.cap_type == "intensity" else b
        return "conflict", (f"{inten.id} has an intensity cap (supply grows with output) linked "
                            "to an absolute cap: total emissions of the linked market are no "
                            "longer bounded")
    if a.cap_type == "intensity":
        return "compatible", "both intensity-based; neither bounds absolute emissions"
    return "aligned", "both absolute caps (compare their reduction trajectories)"


def _cov(ctx: Context, a: ETS, b: ETS) -> tuple[Rating, str]:
    ga, gb = listed(a.gases, f"gases of {a.id}"), listed(b.gases, f"gases of {b.id}")
    sa, sb = listed(a.sectors, f"sectors of {a.id}"), listed(b.sectors, f"sectors of {b.id}")
    if not (ga.known and gb.known):
        return "unknown", "; ".join(gaps(ga, gb))
    if not set(ga.value) & set(gb.value):
        return "conflict", "no gas in common: the units do not represent the same obligations"
    diff = sorted(set(ga.value) ^ set(gb.value))
    if not (sa.known and sb.known):
        return "unknown", (f"gases {'differ: ' + ', '.join(diff) if diff else 'the same'}; "
                           + "; ".join(gaps(sa, sb)))
    if not diff and set(sa.value) == set(sb.value):
        return "aligned", "same sectors and gases"
    return "compatible", ("overlapping coverage" + (f"; gases differ: {', '.join(diff)}" if diff
                                                    else "; sectors differ"))


def _alloc(ctx: Context, a: ETS, b: ETS) -> tuple[Rating, str]:
    fa = datum(a.allocation.free_share if a.allocation else None, f"free share of {a.id}")
    fb = datum(b.allocation.free_share if b.allocation else None, f"free share of {b.id}")
    if fa.known and fb.known and abs(fa.value - fb.value) > 0.5:
        return "conflict", (f"free-allocation shares {fa.text} vs {fb.text}: competitiveness and "
                            "leakage protection differ sharply across the link")
    ma = a.allocation.method if a.allocation else None
    mb = b.allocation.method if b.allocation else None
    if ma is None or mb is None:
        return "unknown", "allocation method not recorded for " + (a.id if ma is None else b.id)
    if ma.split()[0] == mb.split()[0]:
        return "aligned", f"same allocation approach ({ma})"
    return "compatible", f"allocation differs ({ma} vs {mb})"


def _limit(e: ETS) -> Known:
    return datum(e.offsets.limit_share, f"offset usage limit of {e.id}")


def _off(ctx: Context, exp: ETS, imp: ETS) -> tuple[Rating, str]:
    """Offset spill-overs follow the units: offsets surrendered in the exporter free its
    allowances, which flow into the importer."""
    le, li = _limit(exp), _limit(imp)
    if not le.known:
        return "unknown", le.gap or ""
    if le.value == 0:
        return "aligned", f"{exp.id} accepts no offsets ({le.text}): none spill into {imp.id}"
    if not li.known:
        return "unknown", f"{exp.id} accepts offsets ({le.text}); {li.gap}"
    if li.value == 0:
        return "conflict", (f"{exp.id} accepts offsets (limit {le.text}) and {imp.id} accepts "
                            f"none ({li.text}): allowances freed by offsets in {exp.id} flow into "
                            f"{imp.id}, so offsets enter {imp.id} through the link")
    if le.value > li.value:
        return "compatible", (f"{exp.id}'s offset limit {le.text} exceeds {imp.id}'s {li.text}: "
                              f"credits spill into {imp.id} beyond its own limit")
    return "aligned", (f"{exp.id}'s offset limit {le.text} is not above {imp.id}'s {li.text}")


def _same_currency(x: PriceFigure | None, y: PriceFigure | None) -> bool:
    return x is not None and y is not None and x.currency == y.currency


def _none(k: Known) -> str:
    """The provenance of a control recorded as absent: ``(2023)`` from ``none (2023)``."""
    return k.text.removeprefix("none").strip()


def _price(ctx: Context, exp: ETS, imp: ETS) -> tuple[Rating, str]:
    """Price controls follow the units: the exporter's ceiling caps the importer's price
    (units issued at the ceiling flow in); imports can undercut the importer's floor. A control
    recorded as absent (the source says the system has none) is known: no gap."""
    ceil = datum(exp.price_ceiling, f"price ceiling of {exp.id}")
    floor = datum(imp.price_floor, f"price floor of {imp.id}")
    problems: list[str] = []
    fine: list[str] = []
    if ceil.absent:
        fine.append(f"{exp.id} has no price ceiling {_none(ceil)} to cap {imp.id}'s price")
    elif ceil.known:
        own = datum(imp.price_ceiling, f"price ceiling of {imp.id}")
        if own.present and _same_currency(exp.price_ceiling, imp.price_ceiling) \
                and own.value <= ceil.value:
            fine.append(f"{imp.id}'s own ceiling {own.text} is not above {exp.id}'s {ceil.text}")
        else:
            problems.append(f"{exp.id}'s price ceiling {ceil.text} caps {imp.id}'s price: "
                            f"allowances issued at the ceiling in {exp.id} can be surrendered in "
                            f"{imp.id}")
    if floor.absent:
        fine.append(f"{imp.id} has no price floor {_none(floor)} that imports could undercut")
    elif floor.known:
        own = datum(exp.price_floor, f"price floor of {exp.id}")
        if own.present and _same_currency(exp.price_floor, imp.price_floor) \
                and own.value >= floor.value:
            fine.append(f"{exp.id}'s own floor {own.text} is not below {imp.id}'s {floor.text}")
        else:
            why = (f"{exp.id} has no price floor {_none(own)}" if own.absent
                   else f"{exp.id}'s own floor {own.text} is lower" if own.present
                   and _same_currency(exp.price_floor, imp.price_floor)
                   else f"{exp.id}'s own floor {own.text} is in another currency" if own.present
                   else own.gap or "")
            problems.append(f"{imp.id}'s price floor {floor.text} can be undercut: units from "
                            f"{exp.id} enter {imp.id} below it and displace its auctions ({why})")
    missing = gaps(ceil, floor)
    if problems:
        return "conflict", "; ".join(problems + [f"({m})" for m in missing])
    if missing:
        return "unknown", "; ".join(missing + fine)
    return "aligned", "; ".join(fine)


def _bank(ctx: Context, exp: ETS, imp: ETS) -> tuple[Rating, str]:
    """Borrowed allowances flow with the units, from exporter to importer."""
    be = _fact(exp.borrowing, f"borrowing rule of {exp.id}")
    bi = _fact(imp.borrowing, f"borrowing rule of {imp.id}")
    if not (be.known and bi.known):
        return "unknown", "; ".join(gaps(be, bi))
    if be.value is True and bi.value is False:
        return "conflict", (f"{exp.id} allows borrowing and {imp.id} does not: allowances "
                            f"borrowed in {exp.id} flow into {imp.id}")
    se = _fact(exp.banking, f"banking rule of {exp.id}")
    si = _fact(imp.banking, f"banking rule of {imp.id}")
    if not (se.known and si.known):
        return "unknown", "; ".join(gaps(se, si))
    if se.value != si.value:
        return "compatible", "banking rules differ"
    return "aligned", "same banking/borrowing rules"


def _time(ctx: Context, a: ETS, b: ETS) -> tuple[Rating, str]:
    pa = datum(a.compliance_period_years, f"compliance period of {a.id}")
    pb = datum(b.compliance_period_years, f"compliance period of {b.id}")
    if not (pa.known and pb.known):
        return "unknown", "; ".join(gaps(pa, pb))
    if pa.value != pb.value:
        return "conflict", f"compliance periods differ ({pa.text} vs {pb.text})"
    return "aligned", f"{pa.value:g}-year compliance periods"


def _mrv(ctx: Context, a: ETS, b: ETS) -> tuple[Rating, str]:
    ma, mb = _fact(a.mrv, f"MRV regime of {a.id}"), _fact(b.mrv, f"MRV regime of {b.id}")
    if not (ma.known and mb.known):
        return "unknown", "; ".join(gaps(ma, mb))
    verified = [isinstance(m.value, str) and "verif" in m.value.lower() for m in (ma, mb)]
    if ma.value is False or mb.value is False or not all(verified):
        weak = a.id if (ma.value is False or not verified[0]) else b.id
        return "conflict", f"{weak} has no third-party verification of comparable rigour"
    return "aligned", "both require verified emissions reports"


def _enf(ctx: Context, a: ETS, b: ETS) -> tuple[Rating, str]:
    ga = _fact(a.penalty.make_good if a.penalty else None, f"make-good obligation of {a.id}")
    gb = _fact(b.penalty.make_good if b.penalty else None, f"make-good obligation of {b.id}")
    if ga.value is False or gb.value is False:
        weak = a if ga.value is False else b
        return "conflict", (f"{weak.id}'s penalty has no make-good obligation: it acts as an "
                            "implicit price ceiling for the whole linked market")
    if not (ga.known and gb.known):
        return "unknown", "; ".join(gaps(ga, gb))
    return "aligned", "both penalise and require the missing units to be surrendered"


def _reg(ctx: Context, a: ETS, b: ETS) -> tuple[Rating, str]:
    ra, rb = _fact(a.registry, f"registry of {a.id}"), _fact(b.registry, f"registry of {b.id}")
    if not (isinstance(ra.value, str) and isinstance(rb.value, str)):
        if ctx.agreement.has("registry"):
            return "unknown", ("; ".join(gaps(ra, rb)) or "registry not described")
        return "unknown", ("; ".join(gaps(ra, rb)) or "registry not described") \
            + "; and the agreement has no registry-link clause"
    if ra.value.split()[0] == rb.value.split()[0]:
        return "aligned", f"common registry ({ra.value.split()[0]})"
    if ctx.agreement.has("registry"):
        return "compatible", "separate registries joined by the agreement's registry link"
    return "conflict", "separate registries and no registry-link clause: no unit can move"


def _mkt(ctx: Context, a: ETS, b: ETS) -> tuple[Rating, str]:
    if not ctx.agreement.has("oversight"):
        return "conflict", "no clause on market oversight and information exchange"
    oa = _fact(a.market_oversight, f"market oversight regime of {a.id}")
    ob = _fact(b.market_oversight, f"market oversight regime of {b.id}")
    if not (oa.known and ob.known):
        return "unknown", "oversight clause present; " + "; ".join(gaps(oa, ob))
    return "aligned", "oversight clause and both oversight regimes recorded"


def _gov(ctx: Context, a: ETS, b: ETS) -> tuple[Rating, str]:
    cl = ctx.agreement.clauses_for("change_notification")
    if not cl:
        return "conflict", "no notification/consultation on regulatory change"
    if any(c.parameters for c in cl):
        return "aligned", "change notification with stated procedure"
    return "compatible", "change notification without stated deadlines"


def _a6(ctx: Context, a: ETS, b: ETS) -> tuple[Rating, str]:
    from carbonlink.agreements.legal import ca_methods

    pa, pb = ctx.national_party(a.jurisdiction), ctx.national_party(b.jurisdiction)
    if pa.id == pb.id:
        return "aligned", f"same Party ({pa.name}): no international transfer"
    outside = [x for x in (pa, pb) if ctx.paris_party(x.id).value is False]
    a6 = ctx.agreement.article6
    if a6 is None:
        if outside:
            return "compatible", ("no Article 6 overlay, and "
                                  + "; ".join(ctx.paris_text(x.id) for x in outside)
                                  + ": flows to or from it cannot become ITMOs or count "
                                  "towards an NDC under Article 6 on that date")
        return "compatible", ("no Article 6 overlay: flows are not authorised ITMOs; if they are "
                              "to count towards NDCs, authorisation and CAs are needed")
    if outside:
        return "conflict", ("; ".join(ctx.paris_text(x.id) for x in outside)
                            + ": it cannot authorise or adjust ITMOs on that date")
    methods = ca_methods(ctx)
    ma, mb = methods.get(pa.id), methods.get(pb.id)
    if ma is None or mb is None:
        return "conflict", f"CA method missing for {pa.id if ma is None else pb.id}"
    if ma[0] == mb[0]:
        return "aligned", f"both apply {ma[0]}"
    return "compatible", f"CA methods differ ({ma[0]} vs {mb[0]}); net flows reconcile per year"


@rule("CPT-CAP")
def check_cap(ctx: Context) -> list[Finding]:
    return _run(ctx, "CPT-CAP", "CMP-CAP", "MUST", _cap)


@rule("CPT-COV")
def check_coverage(ctx: Context) -> list[Finding]:
    return _run(ctx, "CPT-COV", "CMP-COV", "MAY", _cov)


@rule("CPT-ALLOC")
def check_allocation(ctx: Context) -> list[Finding]:
    return _run(ctx, "CPT-ALLOC", "CMP-ALLOC", "SHOULD", _alloc)


@rule("CPT-OFF")
def check_offsets(ctx: Context) -> list[Finding]:
    return _run(ctx, "CPT-OFF", "CMP-OFF", "MUST", _off, directed=True)


@rule("CPT-PRICE")
def check_price_controls(ctx: Context) -> list[Finding]:
    return _run(ctx, "CPT-PRICE", "CMP-PRICE", "MUST", _price, directed=True)


@rule("CPT-BANK")
def check_banking(ctx: Context) -> list[Finding]:
    return _run(ctx, "CPT-BANK", "CMP-BANK", "SHOULD", _bank, directed=True)


@rule("CPT-TIME")
def check_compliance_period(ctx: Context) -> list[Finding]:
    return _run(ctx, "CPT-TIME", "CMP-TIME", "SHOULD", _time)


@rule("CPT-MRV")
def check_mrv(ctx: Context) -> list[Finding]:
    return _run(ctx, "CPT-MRV", "CMP-MRV", "MUST", _mrv)


@rule("CPT-ENF")
def check_enforcement(ctx: Context) -> list[Finding]:
    return _run(ctx, "CPT-ENF", "CMP-ENF", "MUST", _enf)


@rule("CPT-REG")
def check_registry(ctx: Context) -> list[Finding]:
    return _run(ctx, "CPT-REG", "CMP-REG", "MUST", _reg)


@rule("CPT-MKT")
def check_market_oversight(ctx: Context) -> list[Finding]:
    return _run(ctx, "CPT-MKT", "CMP-MKT", "SHOULD", _mkt)


@rule("CPT-GOV")
def check_governance(ctx: Context) -> list[Finding]:
    return _run(ctx, "CPT-GOV", "CMP-GOV", "SHOULD", _gov)


@rule("CPT-A6")
def check_paris_overlay(ctx: Context) -> list[Finding]:
    out = _run(ctx, "CPT-A6", "CMP-A6", "MUST", _a6)
    if ctx.agreement.article6 is None:
        # context: a Party outside the Paris Agreement on the date (no ITMO can arise)
        for a, b in ctx.linked_pairs():
            for e in (a, b):
                nat = ctx.national_party(e.jurisdiction)
                other = b if e is a else a
                if (ctx.paris_party(nat.id).value is False
                        and ctx.national_party(other.jurisdiction).id != nat.id):
                    out.append(ctx.finding(
                        "CPT-A6", f"{ctx.paris_text(nat.id)}: units flowing between {e.id} and "
                        f"{other.id} cannot become ITMOs or count towards an NDC under Article 6 "
                        "on that date", f"{a.id}|{b.id}", severity="info"))
    return out
