"""Stability mechanisms as documented rules: the EU Market Stability Reserve (MSR), RGGI's cost
and emissions containment reserves, California's reserve tiers and price ceiling.

Price-triggered supply (RGGI CCR/ECR, California/Québec reserve tiers and price ceiling, floors
and ceilings that change over time) enters a multi-period scenario as ``reserves`` of a market
(:class:`carbonlink.model.scenario.ReserveTier`): a ``release`` tier sells up to ``quantity``
extra allowances at its trigger price of each period, a ``withhold`` tier keeps up to
``quantity`` allowances back while the price would fall below its trigger. The multi-period
program (:mod:`carbonlink.markets.multiperiod`) gives each tier one column per period.

The MSR is a *quantity* rule on the bank: the intake of year ``t+1`` is a function of the total
number of allowances in circulation (TNAC) at the end of year ``t``, which is the market's bank
in the model. :func:`msr_step` is the rule for one year; the multi-period program solves it as a
fixed point (:func:`carbonlink.markets.multiperiod.simulate_periods`): solve with the supply
adjustments of the previous round, compute the TNAC path, apply the rule, and repeat until the
adjustments no longer change — so entities foresee the intakes their own banking causes.

Sources (checked on 2026-12-01, pages listed with each constant):

* Decision (EU) 2015/1814 (ELI http://data.europa.eu/eli/dec/2015/1814/oj), Art. 1(4) (TNAC
  published by 1 June), Art. 1(5) (intake 24 % of the TNAC above 833 million; release of 100
  million below 400 million; the 24 % rate doubled from 12 % for 2019–2023 by Directive (EU)
  2018/410, and extended to 2030 by Decision (EU) 2023/852), Art. 1(5a) (from 2023 holdings
  above the previous year's auction volume are no longer valid; from 2024, as amended by
  Decision (EU) 2023/852, holdings above 400 million).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


# ------------------------------------------------------------------------------------------
# EU Market Stability Reserve
# ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MSRRule:
    """The parameters of the MSR rule (allowances, not model units).

    ``band_upper``: from 2024 (Decision (EU) 2023/852), a TNAC between ``upper`` and
    ``band_upper`` puts ``TNAC − upper`` into the reserve instead of ``rate × TNAC``; ``None``
    for the 2019–2023 rule. ``holding_limit``: holdings above it are no longer valid
    (invalidated) at the start of each year; ``None`` for none.
    """

    rate: float = 0.24
    upper: float = 833e6
    lower: float = 400e6
    release: float = 100e6
    band_upper: float | None = None
    holding_limit: float | None = None
    source: str = ""
    verified: bool = True


#: The rule applied from the 2019 publication to the 2023 one (Decision (EU) 2015/1814 Art. 1(5)
#: as amended by Directive (EU) 2018/410: 24 % for 2019–2023). Checked against the European
#: Commission's statements of 15 May 2019 and 15 May 2023 (tests/markets/test_reserves.py).
#: Not represented: the 2023 invalidation of holdings above the previous year's auction volume
#: (Art. 1(5a) as then in force; 2,515,135,787 allowances on 1 January 2023) — the rule carries
#: no holding limit; give ``holding_limit`` explicitly to model it.
EU_MSR_2019 = MSRRule(
    rate=0.24, upper=833e6, lower=400e6, release=100e6, band_upper=None, holding_limit=None,
    source="Decision (EU) 2015/1814 Art. 1(5) as amended by Directive (EU) 2018/410 "
           "(ELI http://data.europa.eu/eli/dir/2018/410/oj); European Commission, 'ETS Market "
           "Stability Reserve to reduce auction volume by over 272 million allowances between "
           "September 2023 and August 2024' (15 May 2023), https://climate.ec.europa.eu/"
           "news-your-voice/news/ets-market-stability-reserve-reduce-auction-volume-over-272-"
           "million-allowances-between-september-2023-05-15_en",
)

#: The rule from 2024 (Decision (EU) 2023/852 amending Decision (EU) 2015/1814 Art. 1(5) and
#: (5a)): 24 % to 2030, the band 833–1,096 million where the intake is TNAC − 833 million, and
#: holdings above 400 million invalid. The 1,096 million band limit was not read in the
#: instrument's text here (``verified: False``); the Commission's 2026 figure (TNAC
#: 1,023,494,202 → 190,494,202 = TNAC − 833 million) is consistent with it.
EU_MSR_2024 = MSRRule(
    rate=0.24, upper=833e6, lower=400e6, release=100e6, band_upper=1096e6, holding_limit=400e6,
    source="Decision (EU) 2015/1814 Art. 1(5), (5a) as amended by Decision (EU) 2023/852 "
           "(ELI http://data.europa.eu/eli/dec/2023/852/oj); TNAC 2025 and intake reported in "
           "'EU carbon market surplus triggers permit reduction', The Brussels Times, "
           "https://www.brusselstimes.com/2165722/eu-carbon-market-surplus-triggers-permit-"
           "reduction-cutting-auction-volumes",
    verified=False,
)


def msr_rule(publication_year: int) -> MSRRule:
    """The rule that turns the TNAC published in ``publication_year`` into an intake."""
    if publication_year < 2018:
        raise ValueError(f"the MSR places allowances from 2019 (first TNAC publication used: "
                         f"2018), got {publication_year}")
    return EU_MSR_2019 if publication_year <= 2023 else EU_MSR_2024


def msr_intake(tnac: float, rule: MSRRule = EU_MSR_2024) -> float:
    """Allowances placed in the reserve over the 12 months from 1 September after a TNAC
    publication (not rounded; the Commission publishes whole allowances)."""
    if not tnac >= 0:
        raise ValueError(f"tnac must be >= 0, got {tnac}")
    if tnac <= rule.upper:
        return 0.0
    if rule.band_upper is not None and tnac <= rule.band_upper:
        return tnac - rule.upper
    return rule.rate * tnac


@dataclass(frozen=True)
class MSRStep:
    """One year of the reserve: what goes in (reduces the auctions), what comes out (added to
    the auctions), what is invalidated, and the holdings at the end."""

    intake: float
    release: float
    invalidated: float
    holdings: float


def msr_step(tnac: float, holdings: float, rule: MSRRule = EU_MSR_2024, *,
             auction_volume: float = math.inf) -> MSRStep:
    """The reserve's year after a TNAC of ``tnac``: intake (at most ``auction_volume``, the
    auctions it reduces), or a release of ``rule.release`` (at most the holdings) when the TNAC
    is below ``rule.lower``; then the holdings above ``rule.holding_limit`` are invalidated."""
    intake = min(msr_intake(tnac, rule), max(auction_volume, 0.0))
    release = min(rule.release, holdings) if tnac < rule.lower else 0.0
    h = holdings + intake - release
    invalid = max(h - rule.holding_limit, 0.0) if rule.holding_limit is not None else 0.0
    return MSRStep(intake=intake, release=release, invalidated=invalid, holdings=h - invalid)


def msr_path(tnac: FloatArray, holdings0: float, rule: MSRRule, *, scale: float = 1.0,
             auction: FloatArray | None = None, tnac0: float | None = None,
             ) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Per period ``t``: the supply adjustment (``release − intake``) of period ``t`` from the
    TNAC at the end of ``t − 1``, the holdings at the end of ``t`` and what was invalidated, in
    model units. ``tnac`` and ``auction`` are in model units; ``holdings0`` (the reserve before
    the first period) and ``tnac0`` (the TNAC of the year before the first period; none: no
    adjustment in the first period) in allowances, as the rule states them; ``scale``:
    allowances per model unit."""
    n = tnac.size
    adjust = np.zeros(n)
    held = np.zeros(n)
    invalid = np.zeros(n)
    h = holdings0
    for t in range(n):
        before = (tnac0 if t == 0 else float(tnac[t - 1]) * scale)
        if before is not None:
            vol = math.inf if auction is None else float(auction[t]) * scale
            s = msr_step(max(before, 0.0), h, rule, auction_volume=vol)
            adjust[t] = (s.release - s.intake) / scale
            invalid[t] = s.invalidated / scale
            h = s.holdings
        held[t] = h / scale
    return adjust, held, invalid


# ------------------------------------------------------------------------------------------
# price-triggered reserves: trigger price paths
# ------------------------------------------------------------------------------------------
def rggi_ccr_trigger(year: int) -> float:
    """RGGI cost containment reserve trigger price (USD per short ton): $13.00 in 2021, then
    1.07 × the previous year's, rounded to the nearest cent (N.H. Code Admin. R. Env-A 4602.37,
    the 2017 Model Rule as adopted by New Hampshire, https://casetext.com/regulation/new-
    hampshire-administrative-code/title-env-department-of-environmental-services/subtitle-env-a-
    air-related-programs-formerly-designated-as-rules-of-division-of-air-resources/chapter-env-
    a-4600-carbon-dioxide-co2-budget-trading-program/part-env-a-4602-definitions/section-env-a-
    460237-cost-containment-reserve-trigger-price-ccr-trigger-price). 2023: $14.88."""
    if year < 2021:
        raise ValueError(f"the post-2020 CCR trigger starts in 2021, got {year}")
    p = 13.00
    for _ in range(2021, year):
        p = round(p * 1.07 + 1e-9, 2)
    return p


def rggi_ecr_trigger(year: int) -> float:
    """RGGI emissions containment reserve trigger price (USD per short ton): $6.00 in 2021,
    rising 7 % a year (ICAP, 'RGGI Releases Updated 2017 Model Rule', 19 Dec 2017,
    https://icapcarbonaction.com/en/news/rggi-releases-updated-2017-model-rule). Rounded to the
    cent each year like the CCR trigger — an assumption, the rounding was not read for the ECR."""
    if year < 2021:
        raise ValueError(f"the ECR starts in 2021, got {year}")
    p = 6.00
    for _ in range(2021, year):
        p = round(p * 1.07 + 1e-9, 2)
    return p


#: RGGI reserve sizes as a share of the regional cap: CCR 10 % of the cap each year (rggi.org
#: 'The RGGI CO2 Cap', http://www.rggi.org/design/overview/cap), ECR withholding at most 10 % of
#: the budgets of the states implementing it (ICAP 19 Dec 2017, above).
RGGI_CCR_SHARE = 0.10
RGGI_ECR_SHARE = 0.10


def california_ceiling(year: int, inflation: dict[int, float] | None = None) -> float:
    """California's price ceiling (USD): $65 in 2021, then + 5 % + the CPI-U inflation of each
    year (17 CCR § 95915(f)(1), https://regulations.justia.com/states/california/title-17/
    division-3/chapter-1/subchapter-10/article-5/subarticle-10/section-95915). ``inflation``
    maps a year to its CPI-U rate (e.g. 0.03); a year without one raises (no guessed CPI)."""
    if year < 2021:
        raise ValueError(f"the price ceiling starts in 2021, got {year}")
    p = 65.0
    for y in range(2022, year + 1):
        if inflation is None or y not in inflation:
            raise ValueError(f"california_ceiling: no CPI-U rate given for {y}")
        p *= 1.05 + inflation[y]
    return p
