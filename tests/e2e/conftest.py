"""Fixtures of the end-to-end tests: ``carbonlink assess`` run in this process, and each distinct
report made once per session for the tests that only read it (an HTML report with its charts
takes seconds to draw; several modules read the same ones)."""

from __future__ import annotations

import io
from collections.abc import Callable
from contextlib import redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import pytest

from carbonlink.cli import main


def run_cli(*args: str) -> tuple[int, str]:
    """``carbonlink ARGS``: (exit code, what it printed)."""
    buf = io.StringIO()
    with redirect_stdout(buf), pytest.raises(SystemExit) as exc:
        main(list(args))
    code = exc.value.code
    return int(code) if isinstance(code, int) else 1, buf.getvalue()


@dataclass(frozen=True)
class Assessed:
    """One ``carbonlink assess`` run: its exit code, what it printed, the report it wrote (alone
    in a folder of its own)."""

    code: int
    stdout: str
    out: Path


@pytest.fixture(scope="session")
def assess_once(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Assessed]:
    """``assess_once(agreement, ext, *args)`` runs ``carbonlink assess AGREEMENT --out
    <new folder>/r.EXT --quiet ARGS`` the first time the session asks for those arguments and
    returns that run afterwards. For tests that read the report and never change it."""
    runs: dict[tuple[str, str, tuple[str, ...]], Assessed] = {}

    def once(agreement: Path, ext: str, *args: str) -> Assessed:
        key = (str(agreement), ext, args)
        if key not in runs:
            out = tmp_path_factory.mktemp("assessed") / f"r.{ext}"
            code, stdout = run_cli("assess", str(agreement), "--out", str(out), "--quiet", *args)
            runs[key] = Assessed(code, stdout, out)
        return runs[key]

    return once
