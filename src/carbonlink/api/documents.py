"""What the web API adds to document validation, and nothing more.

* Firm files: a scenario's ``mac: {firms: PATH}`` names a file on the machine that reads it. Over
  HTTP that would let a client make the server read any CSV or Parquet file it can reach, so the
  API refuses it (422); options are given inline as ``steps``.
* Non-finite numbers (JSON ``NaN``, ``Infinity``, ``1e999``; YAML ``.nan``) are refused by the
  document models themselves, for the command line as for the API.
* Finite numbers whose products are not (a slope of 1e307 times emissions of 1e70) are refused
  by the engine (``carbonlink.simulate``), for the command line as for the API.
"""

from __future__ import annotations

from collections.abc import Iterable

from carbonlink.errors import DocumentError
from carbonlink.model.agreement import Agreement
from carbonlink.model.scenario import FirmsSpec, Market, Offset, Scenario

FIRMS_REFUSED = ("firm files are not read over HTTP (the server would open a file the client "
                 "names); give the options inline: steps: [[quantity, unit_cost], …]")


def _firm_files(markets: Iterable[Market], offsets: Iterable[Offset]) -> list[tuple[str, str]]:
    out = [(f"markets[{i}].mac.firms", FIRMS_REFUSED)
           for i, m in enumerate(markets) if isinstance(m.mac, FirmsSpec)]
    out += [(f"offsets[{k}].supply.firms", FIRMS_REFUSED)
            for k, o in enumerate(offsets) if isinstance(o.supply, FirmsSpec)]
    return out


def admit_scenario(scenario: Scenario) -> Scenario:
    """The scenario, if the API may solve it (no firm files)."""
    problems = _firm_files(scenario.markets, scenario.offsets)
    if problems:
        raise DocumentError(problems)
    return scenario


def admit_agreement(agreement: Agreement) -> Agreement:
    """The agreement, if the API may check it (no firm files in its markets)."""
    problems = _firm_files(agreement.markets or [], agreement.offsets)
    if problems:
        raise DocumentError(problems)
    return agreement
