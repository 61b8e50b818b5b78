"""``carbonlink`` command line: simulate · check · assess · sweep · data · registry · serve.

Errors a user causes (a bad document, an unknown id) print one clear message on stderr and exit
with code 2; nothing is written. Each command module registers itself on :data:`app`; the root
group imports a command's module when that command is run or listed (``carbonlink.cli.app``).
"""

from __future__ import annotations

import os
import sys
import types
from collections.abc import Sequence
from typing import Any

import typer
from rich.console import Console

from carbonlink.cli.app import app
from carbonlink.errors import CarbonlinkError

__all__ = ["app", "main"]


class _Deferred:
    """Stands in for a rich class that typer's help module imports but carbonlink never uses;
    constructing it (or calling one of its class methods) imports the real class."""

    _module = ""

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        return cls._real()(*args, **kwargs)

    @classmethod
    def _real(cls) -> Any:
        import importlib

        return getattr(importlib.import_module(cls._module), cls.__name__)


class _Markdown(_Deferred):
    _module = "rich.markdown"


class _Traceback(_Deferred):
    _module = "rich.traceback"

    @classmethod
    def from_exception(cls, *args: Any, **kwargs: Any) -> Any:
        return cls._real().from_exception(*args, **kwargs)


_Markdown.__name__, _Traceback.__name__ = "Markdown", "Traceback"


def _help_module_without_markdown() -> None:
    """Import ``typer.rich_utils`` (help and usage-error rendering) without ``rich.markdown`` and
    ``rich.traceback``: the first pulls markdown-it (about a third of ``carbonlink --help``) for
    typer's ``rich_markup_mode="markdown"``, the second serves pretty exceptions; carbonlink uses
    neither (markup mode "rich", pretty exceptions off). The real modules stay importable: the
    stand-ins are removed from ``sys.modules`` once typer holds its names, and would import the real
    classes if ever used."""
    if "typer.rich_utils" in sys.modules:
        return
    stubs = []
    for name, cls in (("rich.markdown", _Markdown), ("rich.traceback", _Traceback)):
        if name not in sys.modules:
            module = types.ModuleType(name)
            setattr(module, cls.__name__, cls)
            sys.modules[name] = module
            stubs.append(name)
    try:
        import typer.rich_utils  # noqa: F401
    finally:
        for name in stubs:
            del sys.modules[name]


#: pydantic looks for third-party plugins (observability hooks) by scanning every installed
#: distribution's entry points when it builds its first validator: 10-25 ms of ``carbonlink
#: check``. The commands use none; ``serve`` (a long-running service, where an observability
#: plugin may be wanted) and a variable you set yourself (any value) keep pydantic's behaviour.
PYDANTIC_PLUGINS_VAR = "PYDANTIC_DISABLE_PLUGINS"


#: the values of :data:`PYDANTIC_PLUGINS_VAR` with which pydantic loads no plugin at all
_NO_PLUGINS = ("__all__", "1", "true")
_PLUGIN_LOADER = "pydantic.plugin._loader"


def _plugin_loader_without_metadata() -> types.ModuleType | None:
    """Stand in for pydantic's plugin loader while plugins are disabled: the real module imports
    ``importlib.metadata`` (with ``email``, ``zipfile``, ``csv``, ``socket``, ``tempfile``: about
    a twentieth of ``carbonlink check``) at its top only to scan entry points, which pydantic
    skips when :data:`PYDANTIC_PLUGINS_VAR` disables every plugin. The stand-in answers "no
    plugins" while the variable says so and hands over to the real loader otherwise; :func:`main`
    removes it when the command ends. ``None`` when the real loader is already imported."""
    if _PLUGIN_LOADER in sys.modules:
        return None
    stub = types.ModuleType(_PLUGIN_LOADER)

    def get_plugins() -> Any:
        if os.getenv(PYDANTIC_PLUGINS_VAR) in _NO_PLUGINS:
            return ()
        if sys.modules.get(_PLUGIN_LOADER) is stub:
            del sys.modules[_PLUGIN_LOADER]
        import importlib

        return importlib.import_module(_PLUGIN_LOADER).get_plugins()

    stub.get_plugins = get_plugins  # type: ignore[attr-defined]
    sys.modules[_PLUGIN_LOADER] = stub
    return stub


#: commands whose console-script run imports its modules with the cyclic garbage collector
#: paused: importing creates ~40,000 long-lived objects (pydantic's models and schemas, rich,
#: pandas) that the collector traverses again and again while they pile up, none of them garbage
#: — 5-10 % of ``carbonlink check`` (paired runs). The command resumes it once its modules are
#: loaded (:func:`modules_loaded`), with those objects frozen out of later collections.
GC_PAUSED_COMMANDS = frozenset({"check", "assess"})
_gc_paused = False


def modules_loaded() -> None:
    """A command's modules are imported: if :func:`main` paused the garbage collector for them,
    move what is loaded to the permanent generation and resume collecting (the command's own
    work runs with the collector on, as any program)."""
    global _gc_paused
    if _gc_paused:
        import gc

        _gc_paused = False
        gc.freeze()
        gc.enable()


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``carbonlink`` console script."""
    global _gc_paused
    args = list(argv) if argv is not None else sys.argv[1:]
    if argv is None and args[:1] and args[0] in GC_PAUSED_COMMANDS and "--help" not in args:
        import gc

        if gc.isenabled():
            gc.disable()
            _gc_paused = True
    if not args or "--help" in args:
        _help_module_without_markdown()
    set_here = PYDANTIC_PLUGINS_VAR not in os.environ and args[:1] != ["serve"]
    if set_here:
        os.environ[PYDANTIC_PLUGINS_VAR] = "__all__"
    stub = (_plugin_loader_without_metadata()
            if os.environ.get(PYDANTIC_PLUGINS_VAR) in _NO_PLUGINS else None)
    try:
        _run(args if argv is not None else None)
    finally:  # in-process callers (tests, notebooks) get their environment back
        if set_here:
            os.environ.pop(PYDANTIC_PLUGINS_VAR, None)
        if stub is not None and sys.modules.get(_PLUGIN_LOADER) is stub:
            del sys.modules[_PLUGIN_LOADER]
        modules_loaded()  # never left paused (an error before the command resumed it)
        if argv is None:
            _exiting()


def _exiting() -> None:
    """The console script's process ends right after the command: move every object to the
    collector's permanent generation (``gc.freeze``), so that the interpreter's shutdown does not
    traverse them again in the collections it runs while it tears the modules down — 50-70 ms
    of ``carbonlink check`` for its ~40,000 objects, measured beside ``os._exit``. Shutdown
    itself is unchanged: ``atexit`` handlers, threads, buffered streams; an object still in a
    reference cycle is left to the operating system, as the process ends."""
    import gc

    gc.freeze()


def _run(argv: list[str] | None) -> None:
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    try:
        rv = app(args=argv, standalone_mode=False)
    except CarbonlinkError as exc:
        err.print(f"[bold red]error:[/] {exc}", markup=True)
        sys.exit(exc.exit_code)
    except typer.Abort:
        err.print("aborted")
        sys.exit(1)
    except typer.TyperException as exc:  # usage errors (click vendored by typer): exit 2
        show = getattr(exc, "show", None)
        if callable(show):
            show()
        else:
            err.print(str(exc))
        sys.exit(int(getattr(exc, "exit_code", 2)))
    sys.exit(rv if isinstance(rv, int) else 0)
