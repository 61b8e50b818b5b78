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
    # carbonlink.assess.calibrate and carbonlink.data.prices gaps
    (r"(?P<market>\S+): the cap is from (?P<cap_year>\d+), the price from (?P<year>\d+) \(no "
     r"pre-link cap for (?P=year) in the reference data\)",
     N_("{market}: the cap is from {cap_year}, the price from {year} (no pre-link cap for "
        "{year} in the reference data)")),
    (r"(?P<market>\S+): no pre-link cap in the reference data; today's cap \((?P<cap_year>[^)]*)"
     r"\) is used with the (?P<year>\S+) price",
     N_("{market}: no pre-link cap in the reference data; today's cap ({cap_year}) is used with "
        "the {year} price")),
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
            groups = {k: (translate_sentence(v, tr) if k == "inner" else v)
                      for k, v in m.groupdict().items()}
            return tr(template).format(**groups)
    return text
