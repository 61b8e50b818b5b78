"""The registry package has no import cycle (issue 11, build point 9): the graph of imports
between its modules — at module level and inside functions, all but ``if TYPE_CHECKING:``
blocks — is acyclic, and the modules at the ends of the chain import on their own."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import carbonlink.registry as pkg
from carbonlink.registry import Registry

ROOT = Path(pkg.__file__).parent
PREFIX = "carbonlink.registry"


def _modules() -> dict[str, Path]:
    out = {}
    for p in sorted(ROOT.rglob("*.py")):
        rel = p.relative_to(ROOT)
        if rel.parts[0] == "migrations":
            continue
        parts = [PREFIX, *rel.with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = p
    return out


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    tree = ast.parse(path.read_text())
    skip: set[int] = set()
    for node in ast.walk(tree):      # if TYPE_CHECKING: blocks import nothing at run time
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip |= {id(n) for b in node.body for n in ast.walk(b)}
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([base] if base else []))
            targets = [base] + [f"{base}.{a.name}" for a in node.names]
        for t in targets:
            # the package that holds the module is imported before it anyway: not an edge
            if t in known and t != name and not name.startswith(t + "."):
                out.add(t)
    return out


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for m in sorted(graph[n]):
            if state.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if m not in state and (c := visit(m)) is not None:
                return c
        stack.pop()
        state[n] = 2
        return None
    for n in sorted(graph):
        if n not in state and (c := visit(n)) is not None:
            return c
    return None


def test_no_import_cycle_between_registry_modules() -> None:
    mods = _modules()
    # the package __init__ re-exports; an edge into it from a submodule is a real edge too
    graph = {n: _imports(n, p, set(mods)) for n, p in mods.items()}
    assert f"{PREFIX}.service" in graph and f"{PREFIX}.verify" in graph
    assert _cycle(graph) is None, " → ".join(_cycle(graph) or [])


def test_cycle_finder_finds_a_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set(), "c": {"a"}}) is None


def test_leaf_modules_import_alone() -> None:
    """The modules that once could be imported only through ``service`` (verify, guard) and
    the bottom and top of the chain, each first in a fresh interpreter (the static graph
    above covers the rest: a fresh interpreter per module costs a minute on a loaded
    machine)."""
    names = [f"{PREFIX}.{m}" for m in ("verify", "custody", "replay", "guard", "store", "service")]
    procs = {n: subprocess.Popen([sys.executable, "-c", f"import {n}"], stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, text=True) for n in names}
    failed = {}
    for n, p in procs.items():
        out, _ = p.communicate(timeout=300)
        if p.returncode:
            failed[n] = out[-2000:]
    assert not failed, failed


def test_facade_keeps_every_operation_and_one_module_per_concern() -> None:
    from carbonlink.registry import OPERATIONS
    for op in OPERATIONS:
        if op == "replay":
            continue
        assert callable(getattr(Registry, op, None)), op
    homes = {getattr(Registry, op).__module__ for op in OPERATIONS if hasattr(Registry, op)}
    assert len(homes) >= 8, homes     # the operations live in their concern's module
    assert len((ROOT / "service.py").read_text().splitlines()) < 200
