"""Password hashing parameters: production keeps argon2-cffi's argon2id defaults (RFC 9106's
second recommended option); only the test suite lowers them, explicitly, in its own process."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import argon2

from carbonlink.registry import identity

SRC = Path(identity.__file__).resolve().parents[1]


def test_a_fresh_interpreter_hashes_with_the_production_parameters() -> None:
    code = ("import json, argon2\nfrom carbonlink.registry import identity\n"
            "p = argon2.extract_parameters(identity.new_password_hash('a long enough password')[0])\n"
            "print(json.dumps([p.type.name, p.time_cost, p.memory_cost, p.parallelism, "
            "p.hash_len, p.salt_len]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         timeout=120)
    assert json.loads(out.stdout) == ["ID", 3, 65536, 4, 32, 16]
    h = identity.PRODUCTION_HASHER
    assert (h.time_cost, h.memory_cost, h.parallelism, h.type) == (3, 65536, 4, argon2.Type.ID)


def test_only_tests_lower_the_parameters() -> None:
    """No module of carbonlink calls the test-only switch."""
    callers = []
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and "use_test_hash_parameters" in ast.unparse(node.func):
                callers.append(str(path))
    assert callers == []


def test_test_hashes_and_production_hashes_both_verify() -> None:
    """This process hashes cheaply (tests/conftest.py); a production hash still verifies, and a
    cheap hash is still argon2id."""
    cheap = identity.hash_password("a long enough password")
    assert argon2.extract_parameters(cheap).type is argon2.Type.ID
    prod = identity.PRODUCTION_HASHER.hash("a long enough password")
    assert identity._hasher.verify(prod, "a long enough password")
    assert identity.PRODUCTION_HASHER.verify(cheap, "a long enough password")
