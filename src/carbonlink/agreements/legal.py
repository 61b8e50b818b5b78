"""LEG (legal capacity of the parties, seed S-5) and A62 (Article 6.2 content, seed S-6) rules."""

from __future__ import annotations

import datetime as dt
from typing import Any

from carbonlink.agreements.context import Context
from carbonlink.agreements.findings import Finding
from carbonlink.agreements.presence import datum
from carbonlink.agreements.rules import rule
from carbonlink.model.agreement import Article6, Clause, Party

_BINDING = ("treaty", "implementing_agreement")
_RECOGNITION = ("recognition_of_units", "transfer_recognition", "authorisation")


def _label(ctx: Context, party: Party) -> str:
    j = ctx.jurisdiction(party.jurisdiction)
    return f"party {party.jurisdiction} ({j.name}, {j.level})"


# ---------------------------------------------------------------------------- LEG
@rule("LEG-01")
def check_subnational_binding(ctx: Context) -> list[Finding]:
    out = []
    for p in ctx.agreement.parties:
        if not ctx.is_subnational(p):
            continue
        na = p.national_authorisation
        if na is None or not na.granted:
            nat = ctx.national_party(p.jurisdiction)
            out.append(ctx.finding(
                "LEG-01",
                f"{_label(ctx, p)} concludes a binding {ctx.agreement.form} without national "
                f"authorisation from {nat.name}; a sub-national body cannot bind itself under "
                "international law on its own (make it non-binding or obtain the authorisation)",
                f"parties.{p.jurisdiction}.national_authorisation"))
    return out


@rule("LEG-02")
def check_subnational_legal_basis(ctx: Context) -> list[Finding]:
    out = []
    for p in ctx.agreement.parties:
        if ctx.is_subnational(p):
            na = p.national_authorisation
            if na is None or not (na.instrument or na.granted):
                out.append(ctx.finding(
                    "LEG-02",
                    f"{_label(ctx, p)}: no domestic legal basis documented for entering a "
                    "cross-border arrangement (record the statute or national consent in "
                    "national_authorisation.instrument)",
                    f"parties.{p.jurisdiction}.national_authorisation"))
            elif not na.granted:
                out.append(ctx.finding(
                    "LEG-02",
                    f"{_label(ctx, p)} acts on its own legal basis ({na.instrument}) without "
                    "national consent: lawful only while the arrangement stays non-binding and "
                    "reversible (a binding one would need national authorisation, e.g. "
                    "congressional consent under the US Compact Clause)",
                    f"parties.{p.jurisdiction}.national_authorisation", severity="info"))
    return out


@rule("LEG-03")
def check_only_parties_authorise(ctx: Context) -> list[Finding]:
    a6 = ctx.agreement.article6
    out = []
    for k, auth in enumerate(a6.authorisations if a6 else []):
        j = ctx.jurisdiction(auth.party)
        subject = f"article6.authorisations[{k}].party"
        pp = ctx.paris_party(auth.party)
        if j.level in ("subnational", "city"):
            nat = ctx.national_party(auth.party)
            if pp.value is False:
                tail = (f"nor can its own Party: {ctx.paris_text(auth.party)}, so no authority "
                        f"can authorise ITMOs from {j.name} on that date")
            elif pp.value is None:
                tail = (f"the authorisation must come from {nat.name}, whose Paris Agreement "
                        f"status on {ctx.on.isoformat()} is unknown")
            else:
                tail = f"the authorisation must come from {nat.name}"
            out.append(ctx.finding(
                "LEG-03", f"authorisation by {j.name} ({j.level}): only a Party can authorise "
                f"ITMOs; {tail}", subject))
            continue
        if pp.value is False:
            out.append(ctx.finding(
                "LEG-03", f"{ctx.paris_text(auth.party)} and cannot authorise ITMOs", subject))
        elif pp.value is None:
            out.append(ctx.gap("LEG-03", f"Paris Agreement status of {j.name} on "
                               f"{ctx.on.isoformat()}", subject))
    return out


@rule("LEG-04")
def check_subnational_authorised_entity(ctx: Context) -> list[Finding]:
    out = []
    for p in ctx.agreement.parties:
        if ctx.is_subnational(p):
            na = p.national_authorisation
            if na is None or not na.authorised_entity:
                nat = ctx.national_party(p.jurisdiction)
                out.append(ctx.finding(
                    "LEG-04",
                    f"{_label(ctx, p)} cannot be a participating Party under Article 6.2; it must "
                    f"be named by {nat.name} as an authorised entity, and {nat.name} bears the "
                    "authorisation, CA and reporting duties",
                    f"parties.{p.jurisdiction}.national_authorisation.authorised_entity"))
    return out


@rule("LEG-05")
def check_private_actors(ctx: Context) -> list[Finding]:
    a6 = ctx.agreement.article6
    out = []
    for k, ent in enumerate(a6.authorised_entities if a6 else []):
        subject = f"article6.authorised_entities[{k}]"
        if not ent.authorised_by or not ent.authorisation_ref:
            out.append(ctx.finding(
                "LEG-05", f"{ent.name} ({ent.kind}) acts under the agreement without a recorded "
                "Article 6.3 authorisation (authorised_by and authorisation_ref)", subject))
            continue
        j = ctx.jurisdiction(ent.authorised_by)
        if j.level in ("subnational", "city") or ctx.paris_party(ent.authorised_by).value is False:
            out.append(ctx.finding(
                "LEG-05", f"{ent.name} is authorised by {j.name}, which is not a Paris Party able "
                "to authorise under Art. 6.3", subject + ".authorised_by"))
    return out


@rule("LEG-06")
def check_declaration_no_obligations(ctx: Context) -> list[Finding]:
    a = ctx.agreement
    out = [ctx.finding("LEG-06", f"a political declaration contains a '{c.element}' clause "
                       f"({c.article or 'unnumbered'}); it cannot create an obligation to "
                       "recognise units — use a treaty or implement it in domestic law",
                       f"clauses.{c.element}")
           for c in a.clauses if c.element in _RECOGNITION]
    if a.links:
        out.append(ctx.finding("LEG-06", "a political declaration defines links (unit recognition "
                               "between systems); it cannot make them binding", "links"))
    return out


@rule("LEG-07")
def check_mou_enforceability(ctx: Context) -> list[Finding]:
    a = ctx.agreement
    if (a.has("recognition_of_units") or a.links) and not a.has("sovereignty"):
        return [ctx.finding(
            "LEG-07", "the MoU recognises units but has no sovereignty / non-binding clause: the "
            "recognition is enforceable only through each party's domestic regulation, and the "
            "form's status is ambiguous", "clauses.sovereignty")]
    return []


@rule("LEG-08")
def check_eu_partner(ctx: Context) -> list[Finding]:
    systems = ctx.party_systems()
    if not any(e.id == "EU_ETS" for _, e in systems):
        return []
    out = []
    for p, e in systems:
        if e.id == "EU_ETS":
            continue
        mand = datum(e.mandatory, f"mandatory participation in {e.id}").value
        if mand is False:
            out.append(ctx.finding("LEG-08", f"{e.name} is not mandatory; the EU may link only "
                                   "with mandatory systems", f"parties.{p.jurisdiction}.ets"))
        elif mand is None:
            out.append(ctx.gap("LEG-08", f"whether {e.name} is mandatory",
                               f"parties.{p.jurisdiction}.ets"))
        if e.cap_type == "intensity":
            out.append(ctx.finding("LEG-08", f"{e.name} has an intensity cap; the EU may link "
                                   "only with systems with an absolute cap",
                                   f"parties.{p.jurisdiction}.ets"))
        elif e.cap_type is None:
            out.append(ctx.gap("LEG-08", f"cap type of {e.name}", f"parties.{p.jurisdiction}.ets"))
    return out


@rule("LEG-09")
def check_system_operating(ctx: Context) -> list[Finding]:
    out = []
    day = ctx.on.isoformat()
    for p, e in ctx.party_systems():
        subject = f"parties.{p.jurisdiction}.ets"
        end = getattr(e, "end", None)
        start = getattr(e, "start", None)
        if e.status == "ended":
            when = f" on {end.isoformat()}" if end else ""
            out.append(ctx.finding(
                "LEG-09", f"{e.name} ({e.id}) ended{when}; on {day} it issues no units and "
                "recognition of its units cannot operate (take the party out of the link or "
                "judge the agreement at an earlier date)", subject))
        elif e.status == "under_development":
            since = f" (starts {start.isoformat()})" if start else ""
            out.append(ctx.finding(
                "LEG-09", f"{e.name} ({e.id}) has not started on {day}{since}: the link takes "
                "effect only once it operates", subject, severity="info"))
    return out


def _parse_day(text: str | None) -> tuple[dt.date, dt.date] | None:
    """The first and last day a ``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD`` string can mean."""
    if not text:
        return None
    try:
        parts = [int(x) for x in text.strip().split("-")]
        if len(parts) == 1:
            return dt.date(parts[0], 1, 1), dt.date(parts[0], 12, 31)
        if len(parts) == 2:
            first = dt.date(parts[0], parts[1], 1)
            nxt = dt.date(parts[0] + parts[1] // 12, parts[1] % 12 + 1, 1)
            return first, nxt - dt.timedelta(days=1)
        if len(parts) == 3:
            d = dt.date(parts[0], parts[1], parts[2])
            return d, d
    except ValueError:
        return None
    return None


@rule("LEG-10")
def check_agreement_dates(ctx: Context) -> list[Finding]:
    """Context on the reference date: not yet signed, signed but not yet in force, or dates
    that cannot be read. An agreement in force on the date draws no finding."""
    a = ctx.agreement
    day = ctx.on.isoformat()
    if a.signed is None and a.in_force is None:
        return [ctx.gap("LEG-10", "neither the date of signature (signed) nor of entry into "
                        "force (in_force) is recorded", "signed")]
    out = []
    for key, what in (("signed", "signed"), ("in_force", "in force")):
        raw = getattr(a, key)
        if raw is None:
            continue
        span = _parse_day(raw)
        if span is None:
            out.append(ctx.gap("LEG-10", f"{key} {raw!r} is not a date (YYYY, YYYY-MM or "
                               "YYYY-MM-DD)", key))
        elif ctx.on < span[0]:
            out.append(ctx.finding("LEG-10", f"on {day} the agreement is not yet {what} "
                                   f"({key}: {raw}); findings describe it as it would apply",
                                   key))
            break
    return out


# ---------------------------------------------------------------------------- A62
def _participation(ctx: Context, rule_id: str, attr: str, what: str) -> list[Finding]:
    out = []
    for p in ctx.agreement.parties:
        nat = ctx.national_party(p.jurisdiction)
        who = nat.name if nat.id == p.jurisdiction else f"{nat.name} (Party for {p.jurisdiction})"
        subject = f"parties.{p.jurisdiction}.participation.{attr}"
        value = getattr(p.participation, attr) if p.participation else None
        if attr == "paris_party" and value is None:
            fact = ctx.paris_party(p.jurisdiction)
            value = fact.value if isinstance(fact.value, bool) else None
            if value is False:
                out.append(ctx.finding(rule_id, f"{ctx.paris_text(p.jurisdiction)}; "
                                       f"{'it' if nat.id == p.jurisdiction else p.jurisdiction} "
                                       "cannot participate in a cooperative approach", subject))
                continue
        if attr == "ndc" and value is None:
            ndc = ctx.jurisdiction(nat.id).ndc
            if ndc and ndc.submitted and isinstance(ndc.submitted.value, bool):
                value = ndc.submitted.value
        if value is False:
            out.append(ctx.finding(rule_id, f"{who}: {what} — not met", subject))
        elif value is None:
            out.append(ctx.finding(rule_id, f"{who}: {what} — not evidenced in the document",
                                   subject, severity="info"))
    return out


@rule("A62-4A")
def check_paris_party(ctx: Context) -> list[Finding]:
    return _participation(ctx, "A62-4A", "paris_party", "Party to the Paris Agreement")


@rule("A62-4B")
def check_ndc(ctx: Context) -> list[Finding]:
    return _participation(ctx, "A62-4B", "ndc", "NDC prepared, communicated and maintained")


@rule("A62-4C")
def check_authorisation_arrangements(ctx: Context) -> list[Finding]:
    return _participation(ctx, "A62-4C", "authorisation_arrangements",
                          "arrangements for authorising ITMOs")


@rule("A62-4D")
def check_tracking_arrangements(ctx: Context) -> list[Finding]:
    return _participation(ctx, "A62-4D", "tracking_arrangements",
                          "arrangements for tracking ITMOs (registry)")


@rule("A62-4E")
def check_inventory_report(ctx: Context) -> list[Finding]:
    return _participation(ctx, "A62-4E", "inventory_report",
                          "most recent national inventory report provided")


@rule("A62-4F")
def check_contributes(ctx: Context) -> list[Finding]:
    return _participation(ctx, "A62-4F", "contributes_to_ndc",
                          "participation contributes to the NDC and long-term goals")


@rule("A62-CA")
def check_ca_clause(ctx: Context) -> list[Finding]:
    if ctx.agreement.has("corresponding_adjustment"):
        return []
    return [ctx.finding("A62-CA", "no corresponding-adjustment clause: the transferring Party "
                        "must add ITMOs first transferred and the using Party subtract ITMOs "
                        "used, or the same reduction is counted twice",
                        "clauses.corresponding_adjustment")]


def _a6(ctx: Context) -> Article6:
    return ctx.agreement.article6 or Article6()


def ca_methods(ctx: Context) -> dict[str, tuple[str, str]]:
    """CA method by Party id: ``{party_id: (method, key as written)}``. ``ca_method`` is keyed by
    the Party; a key naming a sub-national participant is read as its national Party's."""
    out: dict[str, tuple[str, str]] = {}
    for key, method in _a6(ctx).ca_method.items():
        out.setdefault(ctx.national_party(key).id, (method, key))
    return out


def _parties(ctx: Context) -> list[tuple[str, list[str]]]:
    """Each Party behind the participants, with the participants it acts for, in order."""
    out: dict[str, list[str]] = {}
    for p in ctx.agreement.parties:
        out.setdefault(ctx.national_party(p.jurisdiction).id, []).append(p.jurisdiction)
    return list(out.items())


def _ndc_type(ctx: Context, party_id: str) -> str | None:
    for p in ctx.agreement.parties:
        if p.jurisdiction == party_id and p.ndc is not None and p.ndc.type is not None:
            return p.ndc.type
    ndc = ctx.jurisdiction(party_id).ndc
    return ndc.type if ndc is not None else None


@rule("A62-CAM")
def check_ca_method(ctx: Context) -> list[Finding]:
    methods = ca_methods(ctx)
    out = []
    for party_id, members in _parties(ctx):
        if party_id in methods:
            continue
        nat = ctx.jurisdiction(party_id)
        acting = "" if members == [party_id] else f" (the Party for {', '.join(members)})"
        pp = ctx.paris_party(party_id)
        status = (f"; moreover {ctx.paris_text(party_id)}, so it cannot apply corresponding "
                  "adjustments on that date" if pp.value is False else "")
        out.append(ctx.finding(
            "A62-CAM", f"no CA method stated for {nat.name}{acting} (trajectory, budget, "
            "averaging or multi-year); one method applies for the whole NDC period; key it by "
            f"the Party ({party_id}){status}", f"article6.ca_method.{party_id}"))
    return out


@rule("A62-NDC")
def check_method_fits_ndc(ctx: Context) -> list[Finding]:
    out = []
    for party_id, (method, key) in ca_methods(ctx).items():
        subject = f"article6.ca_method.{key}"
        ndc = _ndc_type(ctx, party_id)
        name = ctx.jurisdiction(party_id).name
        if ndc is None:
            if method == "averaging" or method.startswith("multi_year"):
                out.append(ctx.gap("A62-NDC", f"NDC type (single- or multi-year) of {name}, "
                                   f"needed to check its CA method '{method}'", subject))
        elif ndc == "multi_year" and method == "averaging":
            out.append(ctx.finding(
                "A62-NDC", f"{name} has a multi-year NDC but the agreement applies averaging: "
                "averaging (Decision 2/CMA.3, annex, para 7(a)(ii)) is open only to a Party with a "
                "single-year NDC; a multi-year NDC is adjusted under para 7(b) (multi-year "
                "trajectory or budget, annually and cumulatively at the end of the period)",
                subject))
    return out


DIVISOR_KEYS = ("averaging_divisor", "averaging_denominator", "divisor", "denominator")
FIRST_TRANSFER_KEYS = ("first_transfer", "first_transfer_definition")


def clause_parameter(ctx: Context, keys: tuple[str, ...],
                     elements: tuple[str, ...] | None = None) -> tuple[Any, Clause] | None:
    """The first clause parameter named one of ``keys`` (in clauses of ``elements``, else any
    clause), with its clause — where a rule reads what the agreement itself says."""
    for c in ctx.agreement.clauses:
        if elements is not None and c.element not in elements:
            continue
        for k in keys:
            if k in c.parameters:
                return c.parameters[k], c
    return None


def clause_label(c: Clause) -> str:
    """``Art. 10(2) of the agreement`` or ``the agreement's corresponding adjustment clause``."""
    if c.article:
        return f"{c.article} of the agreement"
    return f"the agreement's {c.element.replace('_', ' ')} clause (unnumbered)"


def _divisor(value: Any) -> str | None:
    text = str(value).lower()
    if "elapsed" in text:
        return "elapsed_years"
    if "period" in text or "implementation" in text or "all years" in text:
        return "implementation_period_years"
    return None


@rule("A62-AVG")
def check_averaging(ctx: Context) -> list[Finding]:
    a6 = _a6(ctx)
    averaging = [party for party, (m, _) in ca_methods(ctx).items() if m == "averaging"]
    found = clause_parameter(ctx, DIVISOR_KEYS, ("corresponding_adjustment",)) \
        or clause_parameter(ctx, DIVISOR_KEYS)
    if found is not None:
        value, clause = found
        divisor, where, subject = _divisor(value), clause_label(clause), \
            f"clauses.{clause.element}.parameters"
    else:
        divisor, where, subject = a6.averaging_denominator, "the agreement", \
            "article6.averaging_denominator"
    if divisor != "implementation_period_years":
        return []
    who = (", ".join(ctx.jurisdiction(x).name for x in averaging) if averaging
           else "a Party with a single-year NDC")
    return [ctx.finding(
        "A62-AVG", f"{where} divides the ITMOs first transferred and used by the number of years "
        "of the whole implementation period, while Decision 2/CMA.3, annex, para 7(a)(ii) divides "
        f"by the number of elapsed years: for {who} the averages differ until the end of the "
        "period; report under both readings", subject)]


@rule("A62-REP1")
def check_initial_report(ctx: Context) -> list[Finding]:
    rep = _a6(ctx).reporting
    timing = rep.initial_report if rep else None
    if timing in ("before_first_transfer", "with_first_transfer", "with_btr"):
        return []
    why = "not stated" if timing is None else "due only after the first transfer"
    return [ctx.finding("A62-REP1", f"initial report {why}; it must be submitted no later than "
                        "the authorisation of ITMOs from the approach",
                        "article6.reporting.initial_report")]


@rule("A62-REP2")
def check_annual_information(ctx: Context) -> list[Finding]:
    rep = _a6(ctx).reporting
    problems = []
    if rep is None or not rep.annual_information:
        problems.append("annual information not provided for")
    else:
        if rep.annual_deadline is None or rep.annual_deadline > "04-15":
            problems.append(f"deadline {rep.annual_deadline or 'not stated'} (due by 15 April)")
        if (rep.annual_format or "").upper() != "AEF":
            problems.append("format is not the agreed electronic format (AEF)")
    return [ctx.finding("A62-REP2", "annual information: " + "; ".join(problems),
                        "article6.reporting")] if problems else []


@rule("A62-REP3")
def check_regular_information(ctx: Context) -> list[Finding]:
    rep = _a6(ctx).reporting
    if rep is not None and rep.regular_information:
        return []
    return [ctx.finding("A62-REP3", "no regular information with the biennial transparency "
                        "report (authorisations, CAs applied, avoidance of double counting)",
                        "article6.reporting.regular_information")]


@rule("A62-FT")
def check_first_transfer(ctx: Context) -> list[Finding]:
    a6 = _a6(ctx)
    out = []
    found = clause_parameter(ctx, FIRST_TRANSFER_KEYS)
    clause_ft, where = (str(found[0]), clause_label(found[1])) if found else (None, None)
    default_ft = a6.first_transfer or clause_ft
    if not a6.authorisations and default_ft is None:
        return [ctx.finding("A62-FT", "first transfer not defined in the agreement: for NDC use "
                            "the CMA definition (first international transfer) applies; any OIMP "
                            "authorisation must specify authorisation, issuance or "
                            "use/cancellation", "article6.first_transfer", severity="warning")]
    for k, auth in enumerate(a6.authorisations):
        ft = auth.first_transfer or default_ft
        subject = f"article6.authorisations[{k}].first_transfer"
        said = (f" ({where} defines it as '{ft}')"
                if where and auth.first_transfer is None and a6.first_transfer is None else "")
        if ft is None:
            out.append(ctx.finding("A62-FT", "first transfer not defined for this authorisation",
                                   subject))
        elif "OIMP" in auth.purposes and ft == "international_transfer":
            out.append(ctx.finding("A62-FT", "authorised for OIMP: the first-transferring Party "
                                   "must specify authorisation, issuance or use/cancellation"
                                   + said, subject))
        elif "OIMP" not in auth.purposes and ft != "international_transfer":
            out.append(ctx.finding("A62-FT", f"authorised for NDC use only: the first transfer "
                                   f"is the first international transfer, not '{ft}'" + said,
                                   subject))
    return out


@rule("A62-AUTH")
def check_authorisation_content(ctx: Context) -> list[Finding]:
    a6 = _a6(ctx)
    if not a6.authorisations:
        if ctx.agreement.has("authorisation"):
            return [ctx.finding("A62-AUTH", "the agreement sets an authorisation procedure; no "
                                "authorisation has been recorded yet (check each one when issued)",
                                "article6.authorisations", severity="info")]
        return [ctx.finding("A62-AUTH", "no authorisation of ITMOs and no authorisation "
                            "procedure", "article6.authorisations")]
    out = []
    for k, auth in enumerate(a6.authorisations):
        missing = [name for name, ok in (
            ("purposes (NDC / OIMP)", bool(auth.purposes)),
            ("cumulative volume cap", auth.volume is not None),
            ("NDC period", bool(auth.ndc_period)),
            ("activity or authorised entities", bool(auth.activity or auth.entities)),
        ) if not ok]
        if missing:
            out.append(ctx.finding("A62-AUTH", f"authorisation by {auth.party} lacks: "
                                   + ", ".join(missing), f"article6.authorisations[{k}]"))
    return out


@rule("A62-MET")
def check_metric(ctx: Context) -> list[Finding]:
    a6 = _a6(ctx)
    if a6.metric is None:
        msg = "ITMO metric not stated (GHG in tCO2e with GWP values, or a non-GHG metric)"
    elif a6.metric == "GHG" and not a6.gwp:
        msg = "GHG metric without the applicable GWP values"
    elif a6.metric == "non-GHG" and not a6.non_ghg_metric:
        msg = "non-GHG metric not named"
    else:
        return []
    return [ctx.finding("A62-MET", msg, "article6.metric")]


@rule("A62-OVS")
def check_overselling(ctx: Context) -> list[Finding]:
    out = []
    for k, auth in enumerate(_a6(ctx).authorisations):
        p = ctx.agreement.party(auth.party)
        headroom = p.ndc.headroom if p.ndc else None
        if auth.volume is not None and headroom is not None and auth.volume > headroom:
            out.append(ctx.finding(
                "A62-OVS", f"{auth.party} authorises {auth.volume:,.0f} tCO2e but states NDC "
                f"headroom of {headroom:,.0f} tCO2e: transferring it all would put its own NDC "
                "out of reach (overselling)", f"article6.authorisations[{k}].volume"))
    return out
