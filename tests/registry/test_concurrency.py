"""16 concurrent clients race to move overlapping holdings on PostgreSQL: no overspending,
link quota never exceeded, and `verify` is clean afterwards; on SQLite, threads and a second
process race through the driver-level internal transfer."""

from __future__ import annotations

import random
import threading
from collections import defaultdict
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from carbonlink.registry import CheckFailed, Registry
from tests.registry.conftest import acting, make_world

CLIENTS = 16
OPS = 30
T1 = datetime(2026, 3, 1)


class _Tally:
    """What racing clients moved (by account), what was refused (by code) and what failed,
    under one lock."""

    def __init__(self) -> None:
        self.delta: dict[int, int] = defaultdict(int)
        self.exported: list[int] = []
        self.rejected: dict[str, int] = defaultdict(int)
        self.errors: list[BaseException] = []
        self.lock = threading.Lock()

    def attempt(self, op: Any, src: int, dst: int | None, q: int) -> bool:
        """Run ``op()``, which moves ``q`` units from ``src`` to ``dst`` (None: exported, they
        sit in escrow); record its outcome. False after an unexpected error (stop the client)."""
        try:
            op()
        except CheckFailed as exc:
            with self.lock:
                self.rejected[exc.code] += 1
            return True
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            with self.lock:
                self.errors.append(exc)
            return False
        with self.lock:
            self.delta[src] -= q
            if dst is None:
                self.exported.append(q)
            else:
                self.delta[dst] += q
        return True


def test_concurrent_clients_never_overspend(pg_database_url: str) -> None:
    with Registry(pg_database_url, pool_size=CLIENTS, max_overflow=4) as raw:
        raw.init()
        reg = acting(raw)
        w = make_world(reg, quota=300)
        accs = [w.seller, w.gha["party_holding"]]
        accs += [reg.open_account("GHA01", at=T1) for _ in range(2)]
        for a in accs:
            reg.issue(a, 100, vintage=2026, at=T1)
        tally = _Tally()
        start = threading.Barrier(CLIENTS)

        def client(seed: int) -> None:
            rnd = random.Random(seed)
            start.wait()
            for _ in range(OPS):
                src = rnd.choice(accs)
                q = rnd.randint(1, 60)
                by = "alice" if src == w.seller else None
                dst = w.buyer if rnd.random() < 0.2 else \
                    rnd.choice([a for a in accs if a != src])
                if not tally.attempt(partial(reg.transfer, src, dst, q, by=by, at=T1), src,
                                     None if dst == w.buyer else dst, q):
                    return

        threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not tally.errors, tally.errors
        assert set(tally.rejected) <= {"H3001", "L4003"}
        assert tally.rejected["H3001"] > 0  # the race really happened
        for a in accs:
            assert reg.balance(a) == 100 + tally.delta[a] >= 0  # exports sit in escrow
        assert sum(tally.exported) <= 300
        assert reg.verify() == []


def test_sqlite_reads_do_not_wait_for_a_writer(tmp_path: Path) -> None:
    """On SQLite a read (balance, holdings, verify, the web API's pages) begins deferred and
    reads a WAL snapshot: it does not queue behind a writer holding the write lock, as it did
    when every transaction began IMMEDIATE (it then waited up to the 60 s busy timeout)."""
    import sqlite3

    db = tmp_path / "r.db"
    with Registry(f"sqlite:///{db}") as raw:
        raw.init()
        reg = acting(raw)
        w = make_world(reg)
        reg.issue(w.seller, 100, vintage=2026, at=T1)
        writer = sqlite3.connect(db, isolation_level=None)
        writer.execute("BEGIN IMMEDIATE")                     # another process is writing
        writer.execute("UPDATE accounts SET name = name")
        got: list[object] = []
        t = threading.Thread(target=lambda: got.extend(
            [reg.balance(w.seller), len(reg.holdings(w.seller)), reg.verify()]), daemon=True)
        t.start()
        t.join(timeout=10)
        read_while_writing = not t.is_alive()
        writer.execute("ROLLBACK")
        writer.close()
        t.join()
        assert read_while_writing and got == [100, 1, []]


SQLITE_CHILD = """
import random, sys
from carbonlink.registry import Registry, CheckFailed
raw = Registry(sys.argv[1])
reg, second = raw.as_user(raw.trusted_actor("rep")), raw.as_user(raw.trusted_actor("rep2"))
accs = [int(x) for x in sys.argv[3:]]
rnd = random.Random(int(sys.argv[2]))
for _ in range(60):
    src, dst = rnd.sample(accs, 2)
    q = rnd.randint(1, 40)
    try:
        r = second.approve(reg.transfer(src, dst, q).tx_id)
    except CheckFailed as exc:
        print("refused", exc.code, flush=True)
        continue
    print("ack", src, dst, r.quantity, r.state, flush=True)
raw.close()
"""


def test_sqlite_fast_path_threads_and_a_process_never_overspend(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """SQLite's driver-level internal transfer (:mod:`carbonlink.registry.sqlite_fast`) under
    contention: threads sharing one registry (its kept connections change threads, as in the
    web server's threadpool) and a second process, on one file. Every acknowledged transfer
    completed, balances are exactly the acknowledged moves, nothing overspent, ``verify``
    clean."""
    import os
    import subprocess
    import sys

    from carbonlink.registry.transfers import Transfers
    url = f"sqlite:///{tmp_path / 'race.db'}"
    calls: list[int] = []
    real = Transfers._propose_lite

    def counted(self: Transfers, *a: Any, **k: Any) -> Any:
        calls.append(1)
        return real(self, *a, **k)
    monkeypatch.setattr(Transfers, "_propose_lite", counted)
    with Registry(url) as raw:
        raw.init()
        reg = acting(raw)
        reg.add_registry("GHA01")
        h = reg.add_holder("GHA01", "Race Ltd")      # one holder: completes at once (Art 23(2))
        accs = [reg.open_account("GHA01", holder=h) for _ in range(3)]
        for a in accs:
            reg.issue(a, 100, vintage=2026)
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(
            p for p in (str(Path(__file__).resolve().parents[2]), os.environ.get("PYTHONPATH"))
            if p))
        # stderr to a file: with two pipes, communicate() reads the descriptors directly and
        # would lose the lines readline() below has already buffered
        err_file = (tmp_path / "child.err").open("w")
        child = subprocess.Popen([sys.executable, "-c", SQLITE_CHILD, url, "11",
                                  *map(str, accs)], stdout=subprocess.PIPE,
                                 stderr=err_file, text=True, env=env)
        first, second = (raw.as_user(raw.trusted_actor(u)) for u in ("rep", "rep2"))
        tally = _Tally()

        def both_eyes(src: int, dst: int, q: int) -> None:
            got = second.approve(first.transfer(src, dst, q).tx_id)
            assert got.state == "completed"

        def client(seed: int) -> None:
            rnd = random.Random(seed)
            for _ in range(25):
                src, dst = rnd.sample(accs, 2)
                q = rnd.randint(1, 40)
                if not tally.attempt(partial(both_eyes, src, dst, q), src, dst, q):
                    return

        assert child.stdout is not None
        head = child.stdout.readline()             # the process is writing: start the threads
        threads = [threading.Thread(target=client, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        out = head + child.stdout.read()           # the same buffered reader: no line lost
        child.stdout.close()
        child.wait(timeout=600)
        err_file.close()
        assert child.returncode == 0, (tmp_path / "child.err").read_text()
        assert not tally.errors, tally.errors
        for line in out.splitlines():
            word, *rest = line.split()
            if word == "ack":
                src, dst, q = (int(x) for x in rest[:3])
                assert rest[3] == "completed"
                tally.delta[src] -= q
                tally.delta[dst] += q
            else:
                tally.rejected[rest[0]] += 1
        assert set(tally.rejected) <= {"H3001"}
        for a in accs:
            assert reg.balance(a) == 100 + tally.delta[a] >= 0
        assert reg.verify() == []
        assert len(calls) > 0                       # the fast path answered in this process
