"""``carbonlink`` command line: simulate · check · assess · sweep · data · registry · serve.

Errors a user causes (a bad document, an unknown id) print one clear message on stderr and exit
with code 2; nothing is written. Each command module registers itself on :data:`app`.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import typer
from rich.console import Console

# command modules register themselves on `app` when imported (one line each)
import carbonlink.cli.assess  # noqa: F401
import carbonlink.cli.check  # noqa: F401
import carbonlink.cli.data  # noqa: F401
import carbonlink.cli.login  # noqa: F401
import carbonlink.cli.registry  # noqa: F401
import carbonlink.cli.serve  # noqa: F401
import carbonlink.cli.simulate  # noqa: F401
import carbonlink.cli.sweep  # noqa: F401
from carbonlink.cli.app import app
from carbonlink.errors import CarbonlinkError

__all__ = ["app", "main"]


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``carbonlink`` console script."""
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    try:
        rv = app(args=list(argv) if argv is not None else None, standalone_mode=False)
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
