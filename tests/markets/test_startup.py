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


EU_CH = "examples/agreements/eu-switzerland.yaml"


def _cli_probe(args: list[str], after: str, env: dict[str, str] | None = None) -> str:
    """Run ``carbonlink ARGS`` as the console script does (``main()``, no argv) in a fresh
    interpreter; ``after`` runs in an ``atexit`` handler (after ``main`` and its ``sys.exit``)
    and prints its answer on stderr's last line."""
    import os
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    code = ("import atexit, sys\n"
            f"def _probe():\n    {after}\n"
            "atexit.register(_probe)\n"
            f"sys.argv = ['carbonlink', *{args!r}]\n"
            "from carbonlink.cli import main\nmain()\n")
    full_env = {**os.environ, **(env or {})}
    if env is not None and not env:  # an empty mapping: the variable unset
        full_env.pop("PYDANTIC_DISABLE_PLUGINS", None)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=180, cwd=root, env=full_env)
    assert out.returncode in (0, 1, 2), out.stderr
    return out.stderr.strip().splitlines()[-1]


def test_check_imports_no_package_metadata() -> None:
    """``carbonlink check`` validates with pydantic's plugins disabled, so pydantic's plugin
    loader (which imports ``importlib.metadata``, ``email``, ``zipfile`` …) stands aside."""
    mods = _cli_probe(["check", EU_CH], "import json; print(json.dumps(sorted(sys.modules)), "
                      "file=sys.stderr)")
    loaded = set(json.loads(mods))
    assert not loaded & {"importlib.metadata", "email", "zipfile", "csv"}, sorted(
        loaded & {"importlib.metadata", "email", "zipfile", "csv"})
    assert "pydantic.plugin._schema_validator" in loaded  # validators were built


def test_plugin_loader_stand_in_hands_over_when_plugins_are_enabled() -> None:
    """The stand-in answers "no plugins" only while the variable disables them; once it does not,
    pydantic's real loader answers; and ``main`` leaves the real module to later imports."""
    import os

    import carbonlink.cli as cli

    saved = {k: sys.modules.pop(k) for k in [cli._PLUGIN_LOADER] if k in sys.modules}
    before = os.environ.get(cli.PYDANTIC_PLUGINS_VAR)
    try:
        stub = cli._plugin_loader_without_metadata()
        assert stub is not None and sys.modules[cli._PLUGIN_LOADER] is stub
        os.environ[cli.PYDANTIC_PLUGINS_VAR] = "__all__"
        assert tuple(stub.get_plugins()) == ()
        os.environ[cli.PYDANTIC_PLUGINS_VAR] = "some-plugin-name"  # not "disable all"
        plugins = stub.get_plugins()
        real = sys.modules[cli._PLUGIN_LOADER]
        assert real is not stub and hasattr(real, "entry_points")  # the real loader, imported
        assert list(plugins) == list(real.get_plugins())
        assert cli._plugin_loader_without_metadata() is None  # never over the real one
    finally:
        if before is None:
            os.environ.pop(cli.PYDANTIC_PLUGINS_VAR, None)
        else:
            os.environ[cli.PYDANTIC_PLUGINS_VAR] = before
        sys.modules.update(saved)


def test_in_process_main_leaves_no_stand_in_and_no_frozen_objects(capsys: pytest.CaptureFixture[str]) -> None:
    """Called with arguments (tests, notebooks), ``main`` restores what it changed: no stand-in
    module left in ``sys.modules`` and the collector's generations untouched (``gc.freeze`` is
    for the console script's process, which ends right after)."""
    import gc

    import carbonlink.cli as cli

    frozen = gc.get_freeze_count()
    with pytest.raises(SystemExit):
        cli.main(["check", EU_CH])
    capsys.readouterr()
    stand_in = sys.modules.get(cli._PLUGIN_LOADER)
    assert stand_in is None or hasattr(stand_in, "entry_points")  # absent, or pydantic's own
    assert gc.get_freeze_count() == frozen


def test_console_script_freezes_its_objects_before_shutdown() -> None:
    """The console script's ``main()`` moves its objects to the permanent generation before the
    interpreter shuts down (a shorter shutdown), and ``atexit`` handlers still run after it."""
    count = _cli_probe(["check", EU_CH], "import gc; print(gc.get_freeze_count(), file=sys.stderr)")
    assert int(count) > 10_000


@pytest.mark.parametrize("args", [["check", EU_CH], ["check", "no-such-file.yaml"],
                                  ["check", EU_CH, "--format", "bogus"],
                                  ["simulate", "--help"]])
def test_console_script_leaves_the_collector_on(args: list[str]) -> None:
    """``check`` imports its modules with the collector paused and resumes it (also when the
    command fails before it resumed it); other commands never pause it."""
    state = _cli_probe(args, "import gc; print(gc.isenabled(), file=sys.stderr)")
    assert state == "True"


def test_modules_loaded_resumes_a_paused_collector() -> None:
    import gc

    import carbonlink.cli as cli

    assert gc.isenabled()
    gc.disable()
    cli._gc_paused = True
    try:
        cli.modules_loaded()
        assert gc.isenabled() and not cli._gc_paused and gc.get_freeze_count() > 0
        cli.modules_loaded()  # idempotent: nothing paused, nothing done
        assert gc.isenabled()
    finally:
        gc.unfreeze()
        gc.enable()
        cli._gc_paused = False


def test_check_summary_highlighted_only_in_colour(capsys: pytest.CaptureFixture[str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a colour system the summary line is printed without the highlighter (a large
    regular expression that changes no byte there); in colour its numbers are highlighted as
    before."""
    from pathlib import Path

    from carbonlink.cli.check import check

    root = Path(__file__).resolve().parents[2]
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.setenv("NO_COLOR", "1")
    check(root / EU_CH)
    plain = capsys.readouterr().out.splitlines()[-1]
    monkeypatch.delenv("NO_COLOR")
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.setenv("TERM", "xterm-256color")
    check(root / EU_CH)
    colour = capsys.readouterr().out.splitlines()[-1]
    assert plain.startswith("0 errors, ") and "\x1b[" not in plain
    assert "\x1b[1;36m0\x1b[0m errors" in colour  # the highlighter's number style
