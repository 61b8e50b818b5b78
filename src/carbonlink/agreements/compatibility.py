"""CPT rules: compatibility of the linked ETSs' design elements (seed S-7.3; dimensions
CMP-CAP … CMP-A6 of article6-and-agreements.md §7). Each rule rates each linked pair
``aligned | compatible | conflict`` (``unknown`` when the data is missing), adds the row to the
compatibility matrix and reports conflicts as findings."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from carbonlink.agreements.context import Context
from carbonlink.agreements.findings import CompatibilityRow, Finding, Rating
from carbonlink.agreements.rules import rule
from carbonlink.model.jurisdiction import ETS, Fact

Level = Literal["MUST", "SHOULD", "MAY"]
Rater = Callable[[Context, ETS, ETS], tuple[Rating, str]]


def _run(ctx: Context, rule_id: str, dimension: str, level: Level, rate: Rater) -> list[Finding]:
    out = []
    for a, b in ctx.linked_pairs():
        rating, reason = rate(ctx, a, b)
        subject = f"{a.id}|{b.id}"
        ctx.compatibility.append(CompatibilityRow(dimension, subject, rating, reason, level))
        if rating == "conflict":
            out.append(ctx.finding(rule_id, f"{dimension} {a.id}–{b.id}: {reason}", subject))
    return out


def _fact(f: Fact | None) -> bool | str | None:
    return f.value if f is not None else None


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
    if not (a.gases and b.gases):
        return "unknown", "gas coverage not recorded"
    ga, gb = set(a.gases), set(b.gases)
    if not ga & gb:
        return "conflict", "no gas in common: the units do not represent the same obligations"
    if ga == gb and set(a.sectors) == set(b.sectors):
        return "aligned", "same sectors and gases"
    diff = sorted(ga ^ gb)
    return "compatible", ("overlapping coverage" + (f"; gases differ: {', '.join(diff)}" if diff else
                                                    "; sectors differ"))


def _alloc(ctx: Context, a: ETS, b: ETS) -> tuple[Rating, str]:
    fa = a.allocation.free_share.value if a.allocation and a.allocation.free_share else None
    fb = b.allocation.free_share.value if b.allocation and b.allocation.free_share else None
    if fa is not None and fb is not None and abs(fa - fb) > 0.5:
        return "conflict", (f"free-allocation shares {fa:.0%} vs {fb:.0%}: competitiveness and "
                            "leakage protection differ sharply across the link")
    ma = a.allocation.method if a.allocation else None
    mb = b.allocation.method if b.allocation else None
    if ma is None or mb is None:
        return "unknown", "allocation method not recorded"
    if ma.split()[0] == mb.split()[0]:
        return "aligned", f"same allocation approach ({ma})"
    return "compatible", f"allocation differs ({ma} vs {mb})"


def _off(ctx: Context, a: ETS, b: ETS) -> tuple[Rating, str]:
    la = a.offsets.limit_share.value if a.offsets.limit_share else None
    lb = b.offsets.limit_share.value if b.offsets.limit_share else None
    if la is None or lb is None:
        return "unknown", "offset usage limit not recorded for " + (a.id if la is None else b.id)
    if (la == 0) != (lb == 0):
        open_, closed = (a, b) if la else (b, a)
        return "conflict", (f"{open_.id} accepts offsets (limit {max(la, lb):.0%}) and "
                            f"{closed.id} accepts none: offsets spill over into {closed.id} "
                            "through the link")
    if la == lb:
        return "aligned", f"same offset limit ({la:.0%})"
    return "compatible", f"offset limits differ ({la:.0%} vs {lb:.0%}); credits spill over"


def _price(ctx: Context, a: ETS, b: ETS) -> tuple[Rating, str]:
    ca, cb = a.price_ceiling is not None, b.price_ceiling is not None
    if ca != cb:
        cap, other = (a, b) if ca else (b, a)
        return "conflict", (f"{cap.id}'s price ceiling would cap {other.id}'s price too (extra "
                            "units issued at the ceiling flow across the link)")
    fa, fb = a.price_floor is not None, b.price_floor is not None
    if ca and cb:
        va, vb = a.price_ceiling.value, b.price_ceiling.value  # type: ignore[union-attr]
        if va is not None and vb is not None and va != vb:
            return "compatible", "both have ceilings at different levels; the lower one binds"
        return "aligned", "both have price ceilings / containment reserves"
    if fa != fb:
        return "compatible", "only one system has a price floor; it supports the linked price"
    return "aligned", "same price-control architecture" + (" (floors)" if fa else "")


def _bank(ctx: Context, a: ETS, b: ETS) -> tuple[Rating, str]:
    ba, bb = _fact(a.borrowing), _fact(b.borrowing)
    if ba is None or bb is None:
        return "unknown", "borrowing rules not recorded"
    if ba != bb:
        return "conflict", "borrowing allowed in one system only: borrowed units spill over"
    sa, sb = _fact(a.banking), _fact(b.banking)
    if sa is not None and sb is not None and sa != sb:
        return "compatible", "banking rules differ"
    return "aligned", "same banking/borrowing rules"


def _time(ctx: Context, a: ETS, b: ETS) -> tuple[Rating, str]:
    pa = a.compliance_period_years.value if a.compliance_period_years else None
    pb = b.compliance_period_years.value if b.compliance_period_years else None
    if pa is None or pb is None:
        return "unknown", "compliance period not recorded"
    if pa != pb:
        return "conflict", f"compliance periods differ ({pa:g} vs {pb:g} years)"
    return "aligned", f"{pa:g}-year compliance periods"


def _mrv(ctx: Context, a: ETS, b: ETS) -> tuple[Rating, str]:
    ma, mb = _fact(a.mrv), _fact(b.mrv)
    if ma is None or mb is None:
        return "unknown", "MRV regime not recorded"
    verified = [isinstance(m, str) and "verif" in m.lower() for m in (ma, mb)]
    if ma is False or mb is False or not all(verified):
        weak = a.id if (ma is False or not verified[0]) else b.id
        return "conflict", f"{weak} has no third-party verification of comparable rigour"
    return "aligned", "both require verified emissions reports"


def _enf(ctx: Context, a: ETS, b: ETS) -> tuple[Rating, str]:
    ga = _fact(a.penalty.make_good) if a.penalty else None
    gb = _fact(b.penalty.make_good) if b.penalty else None
    if ga is None or gb is None:
        return "unknown", "penalty regime not recorded"
    if ga is False or gb is False:
        weak = a if ga is False else b
        return "conflict", (f"{weak.id}'s penalty has no make-good obligation: it acts as an "
                            "implicit price ceiling for the whole linked market")
    return "aligned", "both penalise and require the missing units to be surrendered"


def _reg(ctx: Context, a: ETS, b: ETS) -> tuple[Rating, str]:
    ra, rb = _fact(a.registry), _fact(b.registry)
    if not isinstance(ra, str) or not isinstance(rb, str):
        return "unknown", "registry not recorded"
    if ra.split()[0] == rb.split()[0]:
        return "aligned", f"common registry ({ra.split()[0]})"
    if ctx.agreement.has("registry"):
        return "compatible", "separate registries joined by the agreement's registry link"
    return "conflict", "separate registries and no registry-link clause"


def _mkt(ctx: Context, a: ETS, b: ETS) -> tuple[Rating, str]:
    if not ctx.agreement.has("oversight"):
        return "conflict", "no clause on market oversight and information exchange"
    if _fact(a.market_oversight) is None or _fact(b.market_oversight) is None:
        return "compatible", "oversight clause present; one system's oversight regime not recorded"
    return "aligned", "oversight clause and both oversight regimes recorded"


def _gov(ctx: Context, a: ETS, b: ETS) -> tuple[Rating, str]:
    cl = ctx.agreement.clauses_for("change_notification")
    if not cl:
        return "conflict", "no notification/consultation on regulatory change"
    if any(c.parameters for c in cl):
        return "aligned", "change notification with stated procedure"
    return "compatible", "change notification without stated deadlines"


def _a6(ctx: Context, a: ETS, b: ETS) -> tuple[Rating, str]:
    pa, pb = ctx.national_party(a.jurisdiction), ctx.national_party(b.jurisdiction)
    if pa.id == pb.id:
        return "aligned", f"same Party ({pa.name}): no international transfer"
    a6 = ctx.agreement.article6
    if a6 is None:
        return "compatible", ("no Article 6 overlay: flows are not authorised ITMOs; if they are "
                              "to count towards NDCs, authorisation and CAs are needed")
    ma, mb = a6.ca_method.get(pa.id), a6.ca_method.get(pb.id)
    if ma is None or mb is None:
        return "conflict", f"CA method missing for {pa.id if ma is None else pb.id}"
    if ma == mb:
        return "aligned", f"both apply {ma}"
    return "compatible", f"CA methods differ ({ma} vs {mb}); net flows reconcile per year"


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
    return _run(ctx, "CPT-OFF", "CMP-OFF", "MUST", _off)


@rule("CPT-PRICE")
def check_price_controls(ctx: Context) -> list[Finding]:
    return _run(ctx, "CPT-PRICE", "CMP-PRICE", "MUST", _price)


@rule("CPT-BANK")
def check_banking(ctx: Context) -> list[Finding]:
    return _run(ctx, "CPT-BANK", "CMP-BANK", "SHOULD", _bank)


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
    return _run(ctx, "CPT-A6", "CMP-A6", "MUST", _a6)
