"""``carbonlink login`` / ``logout``: the CLI acts as a logged-in registry user.

``login`` checks the password (and TOTP code) against the registry database and stores a
scoped API token — only the token, never the password — in the token file (``$CARBONLINK_TOKEN_FILE``,
default ``~/.config/carbonlink/tokens.json``, mode 0600), one per database URL. Every
``carbonlink registry`` command then acts as that user; ``$CARBONLINK_TOKEN`` overrides the file
(for scripts and CI).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from carbonlink.cli.app import app
from carbonlink.errors import DocumentError

out = Console(highlight=False, soft_wrap=True)
Db = Annotated[str | None, typer.Option("--db", help="SQLAlchemy URL of the registry database "
                                        "(default: CARBONLINK_DATABASE_URL)")]


def token_file() -> Path:
    env = os.environ.get("CARBONLINK_TOKEN_FILE")
    return Path(env) if env else Path.home() / ".config" / "carbonlink" / "tokens.json"


def _key(url: str) -> str:
    import sqlalchemy as sa  # only when a registry command runs (not on --help)

    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return url


def _load() -> dict[str, str]:
    f = token_file()
    if not f.exists():
        return {}
    try:
        data = json.loads(f.read_text())
    except (OSError, ValueError):
        raise DocumentError(str(f), "token file is not readable JSON; delete it and log in "
                            "again") from None
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def _save(data: dict[str, str]) -> None:
    f = token_file()
    f.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(f, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh, indent=1, sort_keys=True)


def stored_token(url: str) -> str | None:
    """The token the CLI acts with for database ``url``: $CARBONLINK_TOKEN, else the file."""
    return os.environ.get("CARBONLINK_TOKEN") or _load().get(_key(url))


def _url(db: str | None) -> str:
    if db is not None:
        return db
    from carbonlink.config import get_settings
    return get_settings().database_url


@app.command("login")
def login(user: Annotated[str, typer.Option("--user", help="user name")],
          totp: Annotated[str | None, typer.Option("--totp", help="current TOTP code, when a "
                                                   "second factor is enrolled")] = None,
          password_stdin: Annotated[bool, typer.Option(
              "--password-stdin", help="read the password from the first line of stdin")]
          = False,
          read_only: Annotated[bool, typer.Option("--read-only", help="a token that can only "
                                                  "read")] = False,
          db: Db = None) -> None:
    """Log in to a registry database; later registry commands act as this user. After a
    one-time password a new password is asked for (with --password-stdin: the second line)."""
    import dataclasses

    from carbonlink.registry import Registry
    url = _url(db)
    password = sys.stdin.readline().rstrip("\n") if password_stdin else \
        typer.prompt("password", hide_input=True)
    with Registry(url) as r:
        actor = r.login(user, password, totp)
        if actor.must_change_password:
            new = sys.stdin.readline().rstrip("\n") if password_stdin else \
                typer.prompt("new password (the one-time password must be changed)",
                             hide_input=True, confirmation_prompt=True)
            if not new:
                raise DocumentError("new password", "the one-time password must be changed "
                                    "at first login: give a new password (with "
                                    "--password-stdin, on the second line)")
            r.as_user(actor).change_password(password, new, totp)
            actor = dataclasses.replace(actor, must_change_password=False)
            out.print("password changed")
        token = r.as_user(actor).issue_token("read" if read_only else "write", name="cli")
    data = _load()
    data[_key(url)] = token
    _save(data)
    out.print(f"logged in as {actor.username} ({_key(url)}); token stored in {token_file()}")


@app.command("logout")
def logout(db: Db = None) -> None:
    """Revoke and forget the stored token of a registry database."""
    from carbonlink.registry import Registry
    url = _url(db)
    data = _load()
    token = data.pop(_key(url), None)
    if token is not None:
        with Registry(url) as r:
            r.as_user(r.authenticate(token)).revoke_token(token)
        _save(data)
    out.print("logged out" if token else "not logged in")
