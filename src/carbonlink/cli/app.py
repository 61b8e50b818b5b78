"""The typer application object; command modules attach themselves to it.

Start-up (issue 13): typer builds a click command — signature introspection, annotations
evaluated, one parameter object per option — for every command of the tree before it dispatches,
and the command modules import their own dependencies. The root group here is lazy instead: it
imports the module of the one command being run (:data:`COMMANDS`) and builds that command alone;
``carbonlink --help`` lists the commands from their registered help texts without building their
parameters. An unknown name loads them all, so the "No such command … Did you mean" message is
unchanged.
"""

from __future__ import annotations

import importlib
import inspect
from typing import TYPE_CHECKING

import typer
from typer.core import TyperCommand, TyperGroup
from typer.main import (
    get_command_from_info,
    get_command_name,
    get_group_from_info,
    solve_typer_info_defaults,
)
from typer.models import CommandInfo, TyperInfo

if TYPE_CHECKING:
    from typer._click import Command, Context, HelpFormatter
    from typer.core import MarkupMode

#: top-level command → the module that registers it on :data:`app`, in the order ``--help`` lists
#: them (typer's order: commands, then groups, each in registration order).
#: ``tests/markets/test_startup.py`` checks this against the commands the modules register.
COMMANDS: dict[str, str] = {
    "assess": "carbonlink.cli.assess",
    "check": "carbonlink.cli.check",
    "login": "carbonlink.cli.login",
    "logout": "carbonlink.cli.login",
    "serve": "carbonlink.cli.serve",
    "simulate": "carbonlink.cli.simulate",
    "sweep": "carbonlink.cli.sweep",
    "data": "carbonlink.cli.data",
    "registry": "carbonlink.cli.registry",
}


class LazyGroup(TyperGroup):
    """The root ``carbonlink`` group: commands are imported and built when first asked for."""

    _listing = False

    def list_commands(self, ctx: Context) -> list[str]:
        return list(COMMANDS) + [n for n in self.commands if n not in COMMANDS]

    def format_help(self, ctx: Context, formatter: HelpFormatter) -> None:
        self._listing = True  # the listing needs each command's help text, not its parameters
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False

    def get_command(self, ctx: Context, cmd_name: str) -> Command | None:
        if cmd_name in self.commands:
            return self.commands[cmd_name]
        if cmd_name not in COMMANDS:
            self.load_all()  # so that typer's suggestions see every name
            return self.commands.get(cmd_name)
        importlib.import_module(COMMANDS[cmd_name])
        info = _registered(cmd_name)
        if info is None:  # pragma: no cover - COMMANDS out of step (a test guards it)
            return None
        if self._listing:
            return _summary(cmd_name, info, self.rich_markup_mode)
        command = _build(info, self.rich_markup_mode)
        self.commands[cmd_name] = command
        return command

    def load_all(self) -> None:
        """Import every command module and build every command (as typer does eagerly)."""
        for name in COMMANDS:
            if name not in self.commands:
                self.get_command(typer.Context(self), name)


def _registered(name: str) -> CommandInfo | TyperInfo | None:
    for info in app.registered_commands:
        if (info.name or get_command_name(info.callback.__name__)) == name:  # type: ignore[union-attr]
            return info
    for group in app.registered_groups:
        if solve_typer_info_defaults(group).name == name:
            return group
    return None


def _build(info: CommandInfo | TyperInfo, markup: MarkupMode) -> Command:
    if isinstance(info, CommandInfo):
        return get_command_from_info(info, pretty_exceptions_short=app.pretty_exceptions_short,
                                     rich_markup_mode=markup)
    return get_group_from_info(info, pretty_exceptions_short=app.pretty_exceptions_short,
                               rich_markup_mode=markup, suggest_commands=app.suggest_commands)


def _summary(name: str, info: CommandInfo | TyperInfo, markup: MarkupMode) -> TyperCommand:
    """A parameterless stand-in carrying what the root ``--help`` shows of a command: the same
    help text, short help, hidden and deprecated flags and panel typer would give the built one."""
    if isinstance(info, CommandInfo):
        text = inspect.cleandoc(info.help) if info.help is not None else inspect.getdoc(info.callback)
        return TyperCommand(name=name, help=text, short_help=info.short_help, hidden=info.hidden,
                            deprecated=info.deprecated, rich_markup_mode=markup,
                            rich_help_panel=info.rich_help_panel)
    solved = solve_typer_info_defaults(info)
    return TyperCommand(name=name, help=solved.help, short_help=solved.short_help,
                        hidden=solved.hidden, deprecated=solved.deprecated, rich_markup_mode=markup,
                        rich_help_panel=solved.rich_help_panel)


app = typer.Typer(
    name="carbonlink",
    help="Linking carbon markets: simulate linked ETSs, check linkage agreements, assess a link, "
    "keep an Article 6.2 registry.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    cls=LazyGroup,
)


@app.callback()
def _root() -> None:
    """Linking carbon markets: simulate · check · assess · sweep · data · registry · serve."""
