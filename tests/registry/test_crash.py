"""A process killed with SIGKILL in the middle of a stream of transfers on SQLite loses no
acknowledged transfer and leaves none half-applied."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from carbonlink.registry import Registry
from tests.registry.conftest import acting

CHILD = textwrap.dedent("""
    import random, sys
    from carbonlink.registry import Registry, CheckFailed
    raw = Registry(sys.argv[1])
    reg = raw.as_user(raw.trusted_actor("rep"))   # representatives of the three accounts:
    second = raw.as_user(raw.trusted_actor("rep2"))   # one proposes, the other approves
    a, b, c = (int(x) for x in sys.argv[2:5])
    rnd = random.Random(7)
    while True:
        src, dst = rnd.sample([a, b, c], 2)
        q = rnd.randint(1, 30)
        try:
            if rnd.random() < 0.1:
                r = reg.surrender(src, 1, year=2026)
            else:
                r = second.approve(reg.transfer(src, dst, q).tx_id)
        except CheckFailed:
            continue
        print("ack", r.tx_id, r.kind, r.quantity, flush=True)
""")


def test_sigkill_loses_no_acknowledged_transfer(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'crash.db'}"
    with Registry(url) as raw:
        raw.init()
        reg = acting(raw)
        reg.add_registry("GHA01")
        h = reg.add_holder("GHA01", "Crash Ltd")   # one holder: trusted, no delay (Art 23(2))
        accs = [reg.open_account("GHA01", holder=h) for _ in range(3)]
        for a in accs:
            reg.issue(a, 1000, vintage=2026)
    # the child imports this tree's carbonlink (and whatever the parent's path adds)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        p for p in (str(Path(__file__).resolve().parents[2]), os.environ.get("PYTHONPATH"))
        if p))
    proc = subprocess.Popen([sys.executable, "-c", CHILD, url, *map(str, accs)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    acked: list[tuple[int, str, int]] = []
    assert proc.stdout is not None
    try:
        for line in proc.stdout:
            _, tx, kind, q = line.split()
            acked.append((int(tx), kind, int(q)))
            if len(acked) >= 300:
                break
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        assert proc.stderr is not None
        proc.stderr.close()
    assert len(acked) >= 300
    with Registry(url) as raw:
        reg = acting(raw)
        for tx, kind, q in acked:
            t = reg.transaction(tx)
            assert (t["state"], t["kind"], t["quantity"]) == ("completed", kind, q)
        assert reg.verify() == []
        total = sum(reg.balance(a) for a in accs)
        held_apart = sum(b["serial_end"] - b["serial_start"] + 1 for b in reg.holdings()
                         if b["status"] in ("surrendered", "pending_export"))
        assert total + held_apart == 3000       # a proposal killed before its approval: escrow
