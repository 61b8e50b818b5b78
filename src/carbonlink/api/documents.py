"""What the web API adds to document validation, and nothing more.

* Firm files: a scenario's ``mac: {firms: PATH}`` names a file on the machine that reads it. Over
  HTTP that would let a client make the server read any CSV or Parquet file it can reach, so the
  API refuses it (422); options are given inline as ``steps``.
* Non-finite numbers: JSON (as Python reads it) and YAML can spell NaN and infinity
  (``NaN``, ``Infinity``, ``.nan``, ``1e999``). Scenario numbers already refuse them; agreement
  fields such as ``ndc.headroom`` or clause ``parameters`` do not, and a NaN would reach the checks
  or cannot be written back as JSON. The API refuses them anywhere in a document, naming the path.
* Finite numbers whose products are not (a slope of 1e307 times emissions of 1e70): the solve
  runs with floating-point overflow raised, and such a document is refused as out of range
  instead of reaching HiGHS with infinite costs.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
from pydantic import BaseModel

from carbonlink.errors import DocumentError, format_loc
from carbonlink.model.agreement import Agreement
from carbonlink.model.scenario import FirmsSpec, Market, Offset, Scenario

FIRMS_REFUSED = ("firm files are not read over HTTP (the server would open a file the client "
                 "names); give the options inline: steps: [[quantity, unit_cost], …]")


def non_finite_numbers(data: Any) -> list[tuple[str, str]]:
    """``(path, reason)`` for every NaN or infinite float in a document: parsed data (mappings,
    lists) or validated models. Each container is visited once — YAML aliases can make a small
    document a very wide tree, and this walk must stay linear in what was actually parsed."""
    problems: list[tuple[str, str]] = []
    seen: set[int] = set()
    stack: list[tuple[Any, tuple[int | str, ...]]] = [(data, ())]
    while stack:
        value, loc = stack.pop()
        if isinstance(value, float):
            if not math.isfinite(value):
                problems.append((format_loc(loc) or "<document>",
                                 f"must be a finite number, got {value!r}"))
            continue
        if not isinstance(value, dict | list | tuple | BaseModel) or id(value) in seen:
            continue
        seen.add(id(value))
        items: Iterable[tuple[int | str, Any]]
        if isinstance(value, BaseModel):
            fields = type(value).model_fields
            items = [(f.alias or name, getattr(value, name)) for name, f in fields.items()]
        elif isinstance(value, dict):
            items = [(str(k), v) for k, v in value.items()]
        else:
            items = enumerate(value)
        stack.extend((v, (*loc, k)) for k, v in items)
    return sorted(problems)


def _firm_files(markets: Iterable[Market], offsets: Iterable[Offset]) -> list[tuple[str, str]]:
    out = [(f"markets[{i}].mac.firms", FIRMS_REFUSED)
           for i, m in enumerate(markets) if isinstance(m.mac, FirmsSpec)]
    out += [(f"offsets[{k}].supply.firms", FIRMS_REFUSED)
            for k, o in enumerate(offsets) if isinstance(o.supply, FirmsSpec)]
    return out


def admit_scenario(scenario: Scenario) -> Scenario:
    """The scenario, if the API may solve it (no firm files, finite numbers)."""
    problems = _firm_files(scenario.markets, scenario.offsets) + non_finite_numbers(scenario)
    if problems:
        raise DocumentError(problems)
    return scenario


def admit_agreement(agreement: Agreement) -> Agreement:
    """The agreement, if the API may check it (no firm files in its markets, finite numbers)."""
    problems = (_firm_files(agreement.markets or [], agreement.offsets)
                + non_finite_numbers(agreement))
    if problems:
        raise DocumentError(problems)
    return agreement


@contextmanager
def finite_arithmetic() -> Iterator[None]:
    """Run an engine with floating-point overflow, invalid results and division by zero raised
    (the engines' tested paths produce none), as a 422: the document's magnitudes are out of
    range. The numpy error state is per thread, so this affects only the request it guards."""
    try:
        with np.errstate(over="raise", invalid="raise", divide="raise"):
            yield
    except FloatingPointError as exc:
        reason = (f"numbers out of range: the arithmetic of the solve is not finite ({exc}); "
                  "state quantities and costs in larger units")
        raise DocumentError("<document>", reason) from None
