"""``carbonlink serve``: the web app (JSON API under /api and the pages) with uvicorn."""

from __future__ import annotations

from typing import Annotated

import typer

from carbonlink.cli.app import app


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="interface to listen on (0.0.0.0 for every "
                                      "interface: there is no authentication)")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port")] = 8000,
    db: Annotated[str | None, typer.Option("--db", help="SQLAlchemy URL of the registry database "
                                           "(default: CARBONLINK_DATABASE_URL); read-only")] = None,
) -> None:
    """Serve the web pages and the JSON API (docs/api.md) until interrupted."""
    import uvicorn

    from carbonlink.api import create_app

    uvicorn.run(create_app(db), host=host, port=port)
