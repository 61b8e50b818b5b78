"""One exception tree for carbonlink.

Every error a user can cause names *where* (a document path such as ``markets[1].mac.slope``)
and *why* (``must be > 0, got -2``). The CLI maps :class:`CarbonlinkError` subclasses to exit
codes: :class:`DocumentError` → 2 (bad input, nothing written).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pydantic import ValidationError


_EMBEDDED_PATH = re.compile(r"^([A-Za-z_][\w.\[\]-]*(?:\[\d+\])?): (.+)$", re.S)


class CarbonlinkError(Exception):
    """Base of every error carbonlink raises on purpose."""

    exit_code: int = 1


class DocumentError(CarbonlinkError):
    """A document (scenario, agreement, firm file, CLI argument) is invalid.

    ``problems`` is a list of ``(path, reason)`` pairs; ``source`` names the file when known.
    """

    exit_code = 2

    def __init__(
        self, problems: Sequence[tuple[str, str]] | str, reason: str | None = None,
        *, source: str | None = None,
    ) -> None:
        if isinstance(problems, str):
            problems = [(problems, reason or "invalid")]
        self.problems: list[tuple[str, str]] = list(problems)
        self.source = source
        super().__init__(self.message)

    @property
    def message(self) -> str:
        head = f"{self.source}: " if self.source else ""
        lines = [r if p == "<file>" else f"{p or '<document>'}: {r}" for p, r in self.problems]
        if len(lines) == 1:
            return head + lines[0]
        return head + "invalid document\n" + "\n".join(f"  - {line}" for line in lines)


class SolverError(CarbonlinkError):
    """The numerical solver failed in a way that is not the user's fault."""


def format_loc(loc: Iterable[int | str]) -> str:
    """Render a pydantic location tuple as ``markets[1].mac.slope``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def problems_from_errors(errors: Iterable[Mapping[str, Any]], *,
                         prefix: str = "") -> list[tuple[str, str]]:
    """``(path, reason)`` pairs from pydantic error dicts (``ValidationError.errors()``, or the
    same dicts as a web framework reports them): ``markets[1].mac.slope``, ``must be > 0, got -2``."""
    problems: list[tuple[str, str]] = []
    for e in errors:
        loc = [p for p in e["loc"]
               if not (isinstance(p, str) and p.startswith(("function-", "kind:")))]
        path = format_loc(loc)
        msg = str(e["msg"])
        msg = msg.removeprefix("Value error, ")
        m = _EMBEDDED_PATH.match(msg)
        if m:  # a model-level validator that names the field itself: "links[0].to: unknown …"
            path = f"{path}.{m.group(1)}" if path else m.group(1)
            msg = m.group(2)
        if prefix:
            path = f"{prefix}.{path}" if path and not path.startswith("[") else prefix + path
        if e["type"] not in ("value_error", "assertion_error") and "input" in e:
            inp = e["input"]
            if not isinstance(inp, dict | list):
                msg = f"{msg}, got {inp!r}"
        problems.append((path, msg))
    return problems


def from_validation_error(err: ValidationError, *, source: str | None = None,
                          prefix: str = "") -> DocumentError:
    """Turn a pydantic ``ValidationError`` into a :class:`DocumentError` with field paths."""
    return DocumentError(problems_from_errors(err.errors(include_url=False), prefix=prefix),
                         source=source)
