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


def test_help_imports_no_markdown_and_no_command_module_deps() -> None:
    """``--help`` renders with typer's rich help but without markdown-it (typer imports it for a
    markup mode carbonlink does not use) and without any pydantic model."""
    mods = imported_after(
        "import sys\nsys.argv = ['carbonlink', '--help']\nimport carbonlink.cli\n"
        "try:\n    carbonlink.cli.main()\nexcept SystemExit:\n    pass")
    assert not mods & {"markdown_it", "pydantic", "yaml"}, sorted(mods & {"markdown_it", "pydantic", "yaml"})


def test_a_command_imports_only_its_own_module() -> None:
    """``carbonlink check`` builds and imports the check command, not the registry's commands."""
    code = ("import sys\nsys.argv = ['carbonlink', 'check', '--help']\nimport carbonlink.cli\n"
            "try:\n    carbonlink.cli.main()\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in sys.modules if m.startswith('carbonlink.cli.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         timeout=120)
    loaded = out.stdout.strip().splitlines()[-1]
    assert "carbonlink.cli.check" in loaded and "carbonlink.cli.registry" not in loaded, loaded


def test_lazy_root_group_matches_the_registered_commands() -> None:
    """The lazy root group lists exactly the commands the modules register, in typer's order
    (commands, then groups; modules in the order the eager imports had), and its ``--help``
    stand-ins carry the built commands' help."""
    import importlib

    import typer.main

    from carbonlink.cli.app import COMMANDS, _registered, _summary, app

    for module in set(COMMANDS.values()):
        importlib.import_module(module)
    commands = [c.name or typer.main.get_command_name(c.callback.__name__)  # type: ignore[union-attr]
                for c in app.registered_commands]
    groups = [typer.main.solve_typer_info_defaults(g).name for g in app.registered_groups]
    assert sorted(commands + groups) == sorted(COMMANDS)  # type: ignore[type-var]
    assert set(list(COMMANDS)[:len(commands)]) == set(commands)
    assert [COMMANDS[n] for n in COMMANDS if n in commands] == sorted(
        COMMANDS[n] for n in commands)
    group = typer.main.get_command(app)
    assert isinstance(group, typer.main.TyperGroup)
    ctx = typer.Context(group)
    assert group.list_commands(ctx) == list(COMMANDS)
    for name in COMMANDS:
        built = group.get_command(ctx, name)
        info = _registered(name)
        assert built is not None and info is not None
        stand_in = _summary(name, info, group.rich_markup_mode)
        assert (stand_in.help, stand_in.short_help, stand_in.hidden, stand_in.deprecated) == (
            built.help, built.short_help, built.hidden, built.deprecated), name


def test_root_help_and_unknown_command_unchanged() -> None:
    """The lazy listing prints every command; a typo still gets typer's suggestion."""
    from typer.testing import CliRunner

    from carbonlink.cli.app import COMMANDS, app

    out = CliRunner().invoke(app, ["--help"])
    assert out.exit_code == 0
    for name in COMMANDS:
        assert f" {name} " in out.output, name
    bad = CliRunner().invoke(app, ["chek"])
    assert bad.exit_code == 2 and "No such command 'chek'" in bad.output
    assert "Did you mean 'check'?" in bad.output
