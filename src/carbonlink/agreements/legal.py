"""LEG (legal capacity of the parties, seed S-5) and A62 (Article 6.2 content, seed S-6) rules."""

from __future__ import annotations

from carbonlink.agreements.context import Context
from carbonlink.agreements.findings import Finding
from carbonlink.agreements.rules import rule
from carbonlink.model.agreement import Article6, Party

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
        if j.level in ("subnational", "city"):
            nat = ctx.national_party(auth.party)
            out.append(ctx.finding(
                "LEG-03", f"authorisation by {j.name} ({j.level}): only a Party can authorise "
                f"ITMOs; the authorisation must come from {nat.name}", subject))
            continue
        pp = ctx.paris_party(auth.party)
        if pp.value is False:
            out.append(ctx.finding(
                "LEG-03", f"{j.name} is not a Party to the Paris Agreement ({pp.note or pp.source}) "
                "and cannot authorise ITMOs", subject))
        elif pp.value is None:
            out.append(ctx.finding("LEG-03", f"Paris Agreement status of {j.name} unknown",
                                   subject, severity="warning"))
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
        mand = e.mandatory.value if e.mandatory else None
        if mand is False:
            out.append(ctx.finding("LEG-08", f"{e.name} is not mandatory; the EU may link only "
                                   "with mandatory systems", f"parties.{p.jurisdiction}.ets"))
        elif mand is None:
            out.append(ctx.finding("LEG-08", f"whether {e.name} is mandatory is unknown",
                                   f"parties.{p.jurisdiction}.ets", severity="warning"))
        if e.cap_type == "intensity":
            out.append(ctx.finding("LEG-08", f"{e.name} has an intensity cap; the EU may link "
                                   "only with systems with an absolute cap",
                                   f"parties.{p.jurisdiction}.ets"))
        elif e.cap_type is None:
            out.append(ctx.finding("LEG-08", f"cap type of {e.name} unknown",
                                   f"parties.{p.jurisdiction}.ets", severity="warning"))
    return out


# ---------------------------------------------------------------------------- A62
def _national_parties(ctx: Context) -> list[Party]:
    """Parties that are (or act for) a Party: national and supranational ones."""
    return [p for p in ctx.agreement.parties if not ctx.is_subnational(p)]


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
                out.append(ctx.finding(rule_id, f"{who} is not a Party to the Paris Agreement "
                                       f"({fact.note or fact.source}); it cannot participate in a "
                                       "cooperative approach", subject))
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


@rule("A62-CAM")
def check_ca_method(ctx: Context) -> list[Finding]:
    methods = _a6(ctx).ca_method
    return [ctx.finding("A62-CAM", f"no CA method stated for {p.jurisdiction} (trajectory, "
                        "budget, averaging or multi-year); one method applies for the whole NDC "
                        "period", f"article6.ca_method.{p.jurisdiction}")
            for p in _national_parties(ctx) if p.jurisdiction not in methods]


@rule("A62-AVG")
def check_averaging(ctx: Context) -> list[Finding]:
    a6 = _a6(ctx)
    if "averaging" in a6.ca_method.values() and a6.averaging_denominator == "implementation_period_years":
        return [ctx.finding("A62-AVG", "the agreement averages first-transferred ITMOs over all "
                            "years of the implementation period, while the CMA guidance divides "
                            "by the elapsed years; report under both readings",
                            "article6.averaging_denominator")]
    return []


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
    if not a6.authorisations and a6.first_transfer is None:
        return [ctx.finding("A62-FT", "first transfer not defined in the agreement: for NDC use "
                            "the CMA definition (first international transfer) applies; any OIMP "
                            "authorisation must specify authorisation, issuance or "
                            "use/cancellation", "article6.first_transfer", severity="warning")]
    for k, auth in enumerate(a6.authorisations):
        ft = auth.first_transfer or a6.first_transfer
        subject = f"article6.authorisations[{k}].first_transfer"
        if ft is None:
            out.append(ctx.finding("A62-FT", "first transfer not defined for this authorisation",
                                   subject))
        elif "OIMP" in auth.purposes and ft == "international_transfer":
            out.append(ctx.finding("A62-FT", "authorised for OIMP: the first-transferring Party "
                                   "must specify authorisation, issuance or use/cancellation",
                                   subject))
        elif "OIMP" not in auth.purposes and ft != "international_transfer":
            out.append(ctx.finding("A62-FT", f"authorised for NDC use only: the first transfer "
                                   f"is the first international transfer, not '{ft}'", subject))
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
