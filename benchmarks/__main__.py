"""``python -m benchmarks [equilibrium|registry|sweep …]``: run the benchmark modules in turn."""

from __future__ import annotations

import importlib
import sys

MODULES = {"equilibrium": "benchmarks.equilibrium_bench", "registry": "benchmarks.registry_bench",
           "sweep": "benchmarks.sweep_bench"}


def run(names: list[str]) -> None:
    for name in names or list(MODULES):
        if name not in MODULES:
            raise SystemExit(f"unknown benchmark {name!r}; choose from {', '.join(MODULES)}")
        importlib.import_module(MODULES[name]).main()


if __name__ == "__main__":
    run(sys.argv[1:])
