"""Start-up: the command line imports only what a command uses (issue 13).

Checked in a fresh interpreter (``sys.modules``), so nothing imported by other tests counts.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("sqlalchemy", "alembic", "pandas", "scipy", "plotly", "matplotlib", "highspy")


def imported_after(code: str) -> set[str]:
    probe = code + "\nimport json, sys\nprint(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                         timeout=120)
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def test_help_imports_neither_sqlalchemy_nor_pandas() -> None:
    """``carbonlink --help`` loads the command modules and typer, not the registry's database
    layer, the simulator's numerics or the report's plotting."""
    mods = imported_after(
        "import sys\nsys.argv = ['carbonlink', '--help']\nimport carbonlink.cli\n"
        "try:\n    carbonlink.cli.main()\nexcept SystemExit:\n    pass")
    assert not mods & set(HEAVY), sorted(mods & set(HEAVY))


def test_import_carbonlink_is_lazy_and_complete() -> None:
    """``import carbonlink`` loads nothing heavy; every public name still resolves."""
    assert not imported_after("import carbonlink") & set(HEAVY)
    mods = imported_after("import carbonlink\nassert callable(carbonlink.simulate)\n"
                          "assert carbonlink.Scenario.__name__ == 'Scenario'")
    assert {"pandas", "highspy"} <= mods and "sqlalchemy" not in mods


@pytest.mark.parametrize("name", ["Curve", "Engine", "Network", "SimulationResult", "SolveStatus",
                                  "build_curve", "compile_network", "integrity_cycles", "simulate",
                                  "solve_network"])
def test_markets_names_resolve(name: str) -> None:
    import carbonlink.markets as markets

    assert getattr(markets, name).__name__ == name


def test_unknown_name_is_an_attribute_error() -> None:
    import carbonlink
    import carbonlink.markets

    with pytest.raises(AttributeError):
        _ = carbonlink.markets.nothing  # type: ignore[attr-defined]
    with pytest.raises(AttributeError):
        _ = carbonlink.nothing  # type: ignore[attr-defined]
