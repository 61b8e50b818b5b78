"""CMP rules: completeness by form, generation and link type (checklist EL-01 … EL-26, §6 of
article6-and-agreements.md) and the content blocks of the two generations (seed S-2)."""

from __future__ import annotations

from carbonlink.agreements.context import Context
from carbonlink.agreements.findings import Finding
from carbonlink.agreements.rules import rule
from carbonlink.model.agreement import ELEMENTS, Agreement

# element → (T, M, P | E2, E1, CR, IN); "-" = not applicable, "R*"/"Rec*" = only with Article 6
CHECKLIST: dict[str, tuple[str, str, str, str, str, str, str]] = {
    "parties": ("R", "R", "R", "R", "R", "R", "R"),
    "scope": ("R", "R", "Rec", "R", "R", "R", "R"),
    "definitions": ("R", "Rec", "O", "R", "R", "R", "R"),
    "essential_criteria": ("R", "R", "-", "R", "R", "Rec", "Rec"),
    "recognition_of_units": ("R", "R", "-", "R", "R", "-", "-"),
    "registry": ("R", "R", "-", "R", "R", "R", "Rec"),
    "authorisation": ("R", "-", "-", "R*", "R*", "R", "R"),
    "transfer_recognition": ("R", "Rec", "-", "R", "R", "R", "R"),
    "corresponding_adjustment": ("R", "Rec", "-", "R*", "R*", "R", "R"),
    "reporting": ("R", "Rec", "-", "R*", "R*", "R", "R"),
    "environmental_integrity": ("R", "Rec", "Rec", "Rec", "Rec", "R", "R"),
    "sop_omge": ("O", "O", "O", "O", "O", "Rec", "R"),
    "climate_finance": ("Rec", "O", "-", "O", "O", "R", "R"),
    "auctioning": ("O", "O", "-", "Rec", "O", "-", "-"),
    "oversight": ("R", "R", "-", "R", "Rec", "Rec", "O"),
    "change_notification": ("R", "R", "-", "R", "R", "Rec", "O"),
    "joint_body": ("R", "R", "O", "R", "Rec", "R", "O"),
    "dispute_settlement": ("R", "Rec", "-", "R", "R", "R", "O"),
    "suspension": ("R", "Rec", "-", "R", "R", "R", "O"),
    "termination": ("R", "R", "O", "R", "R", "R", "O"),
    "amendment": ("R", "R", "O", "R", "R", "R", "O"),
    "third_party_linking": ("R", "R", "-", "R", "Rec", "O", "-"),
    "entry_into_force": ("R", "Rec", "O", "R", "R", "R", "R"),
    "languages": ("R", "Rec", "O", "R", "R", "R", "R"),
    "sovereignty": ("-", "R", "R", "", "", "", ""),  # form-driven only
    "future_guidance": ("Rec", "Rec", "O", "Rec*", "Rec*", "R", "R"),
}
_FORM_COL = {"T": 0, "M": 1, "P": 2, "U": 2}  # a unilateral regulation is read like a declaration
_TYPE_COL = {"ets_two_way": 3, "ets_one_way": 4, "crediting": 5, "indirect": 6}
_STRENGTH = {"-": -1, "O": 0, "Rec": 1, "R": 2}


def requirement(agreement: Agreement, element: str) -> str:
    """R | Rec | O | - for one element of this agreement (the weaker of form and link type)."""
    row = CHECKLIST[element]
    by_form = row[_FORM_COL[agreement.form_group]]
    by_type = row[_TYPE_COL[agreement.effective_link_type]]
    if not by_type:
        return by_form
    if by_type.endswith("*"):
        by_type = by_type[:-1] if agreement.article6 is not None else "O"
    if "-" in (by_form, by_type):
        return "-"
    return by_form if _STRENGTH[by_form] <= _STRENGTH[by_type] else by_type


def _missing(ctx: Context, rule_id: str, level: str) -> list[Finding]:
    a = ctx.agreement
    kind = f"{a.form.replace('_', ' ')} ({a.effective_link_type.replace('_', ' ')})"
    what = (f"a complete {kind} contains it (a drafting gap, not a breach)" if level == "R"
            else f"recommended for a {kind}")
    return [ctx.finding(rule_id, f"{ELEMENTS[el]} {el.replace('_', ' ')}: {what}, but no clause "
                        "encodes it", f"clauses.{el}")
            for el in CHECKLIST if requirement(a, el) == level and not a.has(el)]


@rule("CMP-R")
def check_required_elements(ctx: Context) -> list[Finding]:
    return _missing(ctx, "CMP-R", "R")


@rule("CMP-OP")
def check_operable(ctx: Context) -> list[Finding]:
    """Units recognised (a recognition or transfer-recognition clause, or links) with no
    registry-link clause and no registry the systems share: no unit can move."""
    a = ctx.agreement
    moves = [el for el in ("recognition_of_units", "transfer_recognition") if a.has(el)]
    if a.links:
        moves.append("links")
    if not moves or a.has("registry"):
        return []
    systems = [e for _, e in ctx.party_systems()]
    names = {str(e.registry.value).split()[0] for e in systems
             if e.registry is not None and isinstance(e.registry.value, str)}
    if len(systems) >= 2 and len(names) == 1 and all(
            e.registry is not None and isinstance(e.registry.value, str) for e in systems):
        return []  # one registry shared by every system (e.g. CITSS)
    return [ctx.finding("CMP-OP", f"the agreement recognises units ({', '.join(moves)}) but has "
                        "no registry clause linking the parties' registries and they share none: "
                        "no unit can be transferred, so the recognition cannot operate as "
                        "written (add a registry-link clause, EL-06)", "clauses.registry")]


@rule("CMP-REC")
def check_recommended_elements(ctx: Context) -> list[Finding]:
    return _missing(ctx, "CMP-REC", "Rec")


def _blocks(ctx: Context, rule_id: str, blocks: dict[str, list[str]]) -> list[Finding]:
    out = []
    for block, elements in blocks.items():
        missing = [e for e in elements if not ctx.agreement.has(e)]
        if missing:
            out.append(ctx.finding(rule_id, f"content block '{block}' incomplete: no "
                                   + ", ".join(e.replace("_", " ") for e in missing),
                                   f"block.{block}"))
    return out


FIRST_GENERATION = {
    "operating procedures": ["oversight", "registry"],
    "joint body": ["joint_body"],
    "change management": ["change_notification"],
    "amendment, enlargement, withdrawal": ["amendment", "third_party_linking", "termination"],
    "dispute settlement": ["dispute_settlement"],
}
MOU_BLOCKS = {
    "cooperation": ["scope"],
    "environmental integrity and sustainable development": ["environmental_integrity"],
    "MRV": ["reporting"],
    "corresponding adjustments": ["corresponding_adjustment"],
    "confidential information": ["oversight"],
    "duration": ["termination"],
}
IMPLEMENTING_BLOCKS = {
    **MOU_BLOCKS,
    "authorisation procedure": ["authorisation"],
    "recognition of transfers": ["transfer_recognition"],
    "institutions": ["joint_body"],
    "entry into force and amendment": ["entry_into_force", "amendment"],
    "dispute settlement": ["dispute_settlement"],
    "suspension": ["suspension"],
}


@rule("CMP-G1")
def check_first_generation_blocks(ctx: Context) -> list[Finding]:
    return _blocks(ctx, "CMP-G1", FIRST_GENERATION)


@rule("CMP-G2")
def check_mou_blocks(ctx: Context) -> list[Finding]:
    return _blocks(ctx, "CMP-G2", MOU_BLOCKS)


@rule("CMP-G3")
def check_implementing_blocks(ctx: Context) -> list[Finding]:
    return _blocks(ctx, "CMP-G3", IMPLEMENTING_BLOCKS)


@rule("CMP-NOT")
def check_notice_period(ctx: Context) -> list[Finding]:
    return [ctx.finding("CMP-NOT", f"termination/withdrawal clause ({c.article or 'unnumbered'}) "
                        "states no notice period or effective date (parameters.notice_months or "
                        "parameters.effect)", "clauses.termination")
            for c in ctx.agreement.clauses_for("termination")
            if not ({"notice_months", "effect"} & c.parameters.keys())]


@rule("CMP-SUS")
def check_suspension_terms(ctx: Context) -> list[Finding]:
    out = []
    for c in ctx.agreement.clauses_for("suspension"):
        missing = [k for k in ("grounds", "notice") if not any(p.startswith(k) for p in c.parameters)]
        if missing:
            out.append(ctx.finding("CMP-SUS", f"suspension clause ({c.article or 'unnumbered'}) "
                                   f"does not state its {' and '.join(missing)}",
                                   "clauses.suspension"))
    return out
