"""The sentences other modules generate in English (calibration gaps, pipeline notes, sweep
titles, notes and labels) as catalog templates, for a report in another language.

Each entry is a pattern of the English sentence, with named groups for its names and numbers,
and the catalog template (marked ``N_``) the translation fills with the same names. A sentence
that matches no pattern is shown as it came (in English): the tests of
``tests/reporting/test_i18n.py`` read the Chinese report of every shipped example, so a new or
reworded sentence is caught there.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from carbonlink.reporting.i18n import N_

_NUM = r"[^()\s;]+"

#: ``(pattern, template)``: the pattern's named groups fill the template's placeholders; a
#: group that is itself a sentence (``{inner}``) is translated in turn.
SENTENCES: list[tuple[str, str]] = [
    # carbonlink.assess.pipeline notes
    (r"Data gap: (?P<inner>.+)", N_("Data gap: {inner}")),
    (r"Design '(?P<design>[^']*)': the equilibrium is (?P<status>\w+)\.",
     N_("Design '{design}': the equilibrium is {status}.")),
    (r"MAC sensitivity not run: the markets come from the agreement document, not from the "
     r"calibration assumptions\.",
     N_("MAC sensitivity not run: the markets come from the agreement document, not from the "
        "calibration assumptions.")),
    (r"The agreement's link is one-way, so no one-way variants are shown\.",
     N_("The agreement's link is one-way, so no one-way variants are shown.")),
    (r"No market simulation applies: the agreement links no emissions trading systems, so "
     r"prices, flows and gains are not modelled\.",
     N_("No market simulation applies: the agreement links no emissions trading systems, so "
        "prices, flows and gains are not modelled.")),
    (r"No market simulation applies: the agreement links no emissions trading systems "
     r"\(link type: (?P<link_type>\w+)\)\. It is an Article 6\.2 cooperative approach: units "
     r"\(ITMOs\) move under authorisations and corresponding adjustments, not through a link "
     r"between allowance markets\.",
     N_("No market simulation applies: the agreement links no emissions trading systems (link "
        "type: {link_type}). It is an Article 6.2 cooperative approach: units (ITMOs) move under "
        "authorisations and corresponding adjustments, not through a link between allowance "
        "markets.")),
    (r"No market simulation applies: the agreement links no emissions trading systems "
     r"\(link type: (?P<link_type>\w+)\)\. ?",
     N_("No market simulation applies: the agreement links no emissions trading systems (link "
        "type: {link_type}).")),
    (r"No market simulation could be run: the reference data lacks what the calibration needs "
     r"— (?P<field>[\w.]+): .*\. The findings and compatibility matrix below still apply\.",
     N_("No market simulation could be run: the reference data lacks what the calibration needs "
        "({field}). The findings and compatibility matrix below still apply.")),
    # carbonlink.assess.pipeline progress steps (the web's assessment job page)
    (r"checking the agreement", N_("checking the agreement")),
    (r"checked the agreement", N_("checked the agreement")),
    (r"no market simulation", N_("no market simulation")),
    (r"calibrating markets", N_("calibrating markets")),
    (r"calibrated markets", N_("calibrated markets")),
    (r"solving designs", N_("solving designs")),
    (r"solved design: (?P<inner>.+)", N_("solved design: {inner}")),
    (r"sweeping: (?P<inner>.+)", N_("sweeping: {inner}")),
    (r"swept: (?P<inner>.+)", N_("swept: {inner}")),
    (r"One-way (?P<src>\S+) → (?P<dst>\S+)", N_("One-way {src} → {dst}")),
    # carbonlink.assess.calibrate and carbonlink.data.prices gaps
    (r"(?P<market>\S+): the cap is from (?P<cap_year>\d+), the price from (?P<year>\d+) \(no "
     r"pre-link cap for (?P=year) in the reference data\)",
     N_("{market}: the cap is from {cap_year}, the price from {year} (no pre-link cap for "
        "{year} in the reference data)")),
    (r"(?P<market>\S+): no pre-link cap in the reference data; today's cap \((?P<cap_year>[^)]*)"
     r"\) is used with the (?P<year>\S+) price",
     N_("{market}: no pre-link cap in the reference data; today's cap ({cap_year}) is used with "
        "the {year} price")),
    (r"(?P<market>\S+): no cap in the reference data for (?P<date>[\d-]+); the (?P<year>\d+) cap "
     r"is carried forward",
     N_("{market}: no cap in the reference data for {date}; the {year} cap is carried forward")),
    (r"(?P<market>\S+): no observed price in the reference data; derived from the linked "
     r"(?P<partner>\S+) price",
     N_("{market}: no observed price in the reference data; derived from the linked {partner} "
        "price")),
    (r"the pre-link price years differ \((?P<years>[^)]*)\): no year has an observed price for "
     r"every market",
     N_("the pre-link price years differ ({years}): no year has an observed price for every "
        "market")),
    (r"no pre-link observed price for every market in the reference data: calibrated to "
     r"today's \(linked\) prices",
     N_("no pre-link observed price for every market in the reference data: calibrated to "
        "today's (linked) prices")),
    # carbonlink.assess.sensitivity: titles, notes, labels
    (r"Quota on each link, 0 → unrestricted", N_("Quota on each link, 0 → unrestricted")),
    (r"Entity share, 0 → unrestricted", N_("Entity share, 0 → unrestricted")),
    (r"Discount on imports, 0 → 50 %", N_("Discount on imports, 0 → 50 %")),
    (r"Border tax per unit, 0 → beyond the autarky price gap",
     N_("Border tax per unit, 0 → beyond the autarky price gap")),
    (r"Exchange rate, 0\.5 → 1", N_("Exchange rate, 0.5 → 1")),
    (r"Abatement share assumption \(all markets\), 5 % → 40 %",
     N_("Abatement share assumption (all markets), 5 % → 40 %")),
    (r"MAC slope of (?P<market>\S+) ×0\.5 → ×2 \(its autarky price scales alike\)",
     N_("MAC slope of {market} ×0.5 → ×2 (its autarky price scales alike)")),
    (rf"quota levels are 0–100 % of the largest full-link flow \((?P<flow>{_NUM}) "
     r"(?P<unit>\S+)\); the agreement itself sets no quota",
     N_("quota levels are 0–100 % of the largest full-link flow ({flow} {unit}); the agreement "
        "itself sets no quota")),
    (rf"quota levels are 0–100 % of the largest full-link flow \((?P<flow>{_NUM}) "
     r"(?P<unit>\S+)\)",
     N_("quota levels are 0–100 % of the largest full-link flow ({flow} {unit})")),
    (rf"levels are 0–100 % of the largest full-link import share \((?P<share>{_NUM})\)",
     N_("levels are 0–100 % of the largest full-link import share ({share})")),
    (rf"levels are 0–125 % of the largest autarky price gap \((?P<gap>{_NUM})\)",
     N_("levels are 0–125 % of the largest autarky price gap ({gap})")),
    (r"with every market's price observed, the calibrated autarky prices do not depend on this "
     r"share; it sets how much is abated and traded once prices differ",
     N_("with every market's price observed, the calibrated autarky prices do not depend on "
        "this share; it sets how much is abated and traded once prices differ")),
    (r"unrestricted", N_("unrestricted")),
    (r"discount (?P<pct>\S+)", N_("discount {pct}")),
    (r"(?P<pct>\S+) of gap \((?P<tax>[^)]*)\)", N_("{pct} of gap ({tax})")),
    (r"rate (?P<rate>\S+)", N_("rate {rate}")),
]
_COMPILED = [(re.compile(p), t) for p, t in SENTENCES]


def translate_sentence(text: str, tr: Callable[[str], str]) -> str:
    """``text`` in the language of ``tr``: the template of the first pattern that matches it
    whole, filled with its groups; as it came when ``tr`` is English or nothing matches."""
    if getattr(tr, "lang", "en") == "en" or not text:
        return text
    for pattern, template in _COMPILED:
        m = pattern.fullmatch(text)
        if m:
            groups = {k: (_inner(v, tr) if k == "inner" else v)
                      for k, v in m.groupdict().items()}
            return tr(template).format(**groups)
    return text


def _inner(text: str, tr: Callable[[str], str]) -> str:
    """A sentence inside a sentence: its own pattern's template, else its catalog entry (a design
    title such as "Full link" is a plain catalog message)."""
    out = translate_sentence(text, tr)
    return tr(text) if out == text else out


#: The clause elements of an agreement (carbonlink.model.agreement.ELEMENTS), as finding
#: messages name them.
ELEMENT_NAMES = (
    N_("parties"), N_("scope"), N_("definitions"), N_("essential criteria"),
    N_("recognition of units"), N_("registry"), N_("authorisation"), N_("transfer recognition"),
    N_("corresponding adjustment"), N_("reporting"), N_("environmental integrity"),
    N_("sop omge"), N_("climate finance"), N_("auctioning"), N_("oversight"),
    N_("change notification"), N_("joint body"), N_("dispute settlement"), N_("suspension"),
    N_("termination"), N_("amendment"), N_("third party linking"), N_("entry into force"),
    N_("languages"), N_("sovereignty"), N_("future guidance"),
)
_NON_BINDING = (" (non-binding form: to be settled in the implementing agreement or the "
                "authorisations)")

#: Finding messages (carbonlink.agreements) as catalog templates: ``{element}``, ``{elements}``
#: and ``{block}`` are translated names, ``{party}`` a party's name (translated when the catalog
#: has it), other groups are shown as they are (ids, numbers). A message no pattern matches is
#: shown by its rule's Chinese title (rules.yaml ``title_zh``).
FINDINGS: list[tuple[str, str]] = [
    (r"EL-\d+ (?P<element>[a-z ]+): a complete .+ contains it \(a drafting gap, not a breach\), "
     r"but no clause encodes it",
     N_("{element}: a complete agreement of this form and link type contains it (a drafting gap, "
        "not a breach), but no clause encodes it")),
    (r"EL-\d+ (?P<element>[a-z ]+): recommended for a .+, but no clause encodes it",
     N_("{element}: recommended for an agreement of this form and link type, but no clause "
        "encodes it")),
    (r"content block '(?P<block>[^']+)' incomplete: no (?P<elements>[a-z ,]+)",
     N_("content block '{block}' incomplete: no {elements}")),
    (r"(?P<party>[^:()]+?)(?: \(Party for (?P<member>[^)]+)\))?: NDC prepared, communicated and "
     r"maintained — not evidenced in the document",
     N_("{party}: NDC prepared, communicated and maintained — not evidenced in the document")),
    (r"(?P<party>[^:()]+?): arrangements for authorising ITMOs — not evidenced in the document",
     N_("{party}: arrangements for authorising ITMOs — not evidenced in the document")),
    (r"(?P<party>[^:()]+?): arrangements for tracking ITMOs \(registry\) — not evidenced in the "
     r"document",
     N_("{party}: arrangements for tracking ITMOs (registry) — not evidenced in the document")),
    (r"(?P<party>[^:()]+?): most recent national inventory report provided — not evidenced in the "
     r"document",
     N_("{party}: most recent national inventory report provided — not evidenced in the "
        "document")),
    (r"(?P<party>[^:()]+?): participation contributes to the NDC and long-term goals — not "
     r"evidenced in the document",
     N_("{party}: participation contributes to the NDC and long-term goals — not evidenced in "
        "the document")),
    (r"no CA method stated for (?P<party>[^(]+?) \(trajectory, budget, averaging or multi-year\); "
     r"one method applies for the whole NDC period; key it by the Party \((?P<code>[A-Z]+)\)",
     N_("no CA method stated for {party} (trajectory, budget, averaging or multi-year); one "
        "method applies for the whole NDC period; key it by the Party ({code})")),
    (r"ITMO metric not stated \(GHG in tCO2e with GWP values, or a non-GHG metric\)",
     N_("ITMO metric not stated (GHG in tCO2e with GWP values, or a non-GHG metric)")),
    (r"initial report not stated; it must be submitted no later than the authorisation of ITMOs "
     r"from the approach",
     N_("initial report not stated; it must be submitted no later than the authorisation of "
        "ITMOs from the approach")),
    (r"annual information: annual information not provided for",
     N_("annual information: annual information not provided for")),
    (r"no corresponding-adjustment clause: the transferring Party must add ITMOs first "
     r"transferred and the using Party subtract ITMOs used, or the same reduction is counted "
     r"twice",
     N_("no corresponding-adjustment clause: the transferring Party must add ITMOs first "
        "transferred and the using Party subtract ITMOs used, or the same reduction is counted "
        "twice")),
    (r"first transfer not defined in the agreement: for NDC use the CMA definition \(first "
     r"international transfer\) applies; any OIMP authorisation must specify authorisation, "
     r"issuance or use/cancellation",
     N_("first transfer not defined in the agreement: for NDC use the CMA definition (first "
        "international transfer) applies; any OIMP authorisation must specify authorisation, "
        "issuance or use/cancellation")),
]
_FINDINGS = [(re.compile(p), t) for p, t in FINDINGS]
_NAMES = {"element", "elements", "block", "party"}


def translate_finding(message: str, tr: Callable[[str], str]) -> str | None:
    """A finding's message in the language of ``tr`` from its catalog template, or ``None`` when
    no pattern matches it (the caller shows the rule's title instead)."""
    text, tail = message, ""
    if text.endswith(_NON_BINDING):
        text, tail = text.removesuffix(_NON_BINDING), tr(_NON_BINDING.strip())
    for pattern, template in _FINDINGS:
        m = pattern.fullmatch(text)
        if m:
            groups = {k: (", ".join(tr(x.strip()) for x in v.split(",")) if k in _NAMES else v)
                      for k, v in m.groupdict().items() if v is not None}
            return tr(template).format(**groups) + (" " + tail if tail else "")
    return None


N_("(non-binding form: to be settled in the implementing agreement or the authorisations)")
