"""The typer application object; command modules attach themselves to it."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="carbonlink",
    help="Linking carbon markets: simulate linked ETSs, check linkage agreements, assess a link, "
    "keep an Article 6.2 registry.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _root() -> None:
    """Linking carbon markets: simulate · check · assess · sweep · data · registry · serve."""
