"""``python -m benchmarks [equilibrium|registry|sweep|floor …]``: run the benchmark modules in
turn; without names, those of ``MODULES`` (``make bench``), not the opt-in ones."""

from __future__ import annotations

import importlib
import sys

MODULES = {"equilibrium": "benchmarks.equilibrium_bench", "registry": "benchmarks.registry_bench",
           "sweep": "benchmarks.sweep_bench"}
#: run only when named: ``floor`` (the four-eyes floor on PostgreSQL, ~5 minutes)
OPT_IN = {"floor": "benchmarks.floor_bench"}


def run(names: list[str]) -> None:
    known = MODULES | OPT_IN
    for name in names or list(MODULES):
        if name not in known:
            raise SystemExit(f"unknown benchmark {name!r}; choose from {', '.join(known)}")
        importlib.import_module(known[name]).main()


if __name__ == "__main__":
    run(sys.argv[1:])
