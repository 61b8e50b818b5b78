"""Idempotency by client reference: a retry returns the first result and moves nothing — also
when the PostgreSQL server was killed before the client heard the answer."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from carbonlink.errors import DocumentError
from carbonlink.registry import Registry
from tests.conftest import _as_pg_user, _pgbin, init_cluster
from tests.registry.conftest import Acting, World, acting

T1 = datetime(2026, 3, 1)


def test_a_retry_returns_the_first_receipt_and_moves_nothing(reg: Acting, world: World) -> None:
    reg.issue(world.seller, 100, vintage=2026, at=T1)
    other = reg.open_account("GHA01", representatives_=["alice"])
    first = reg.transfer(world.seller, other, 7, by="alice", client_ref="order-1")
    again = reg.transfer(world.seller, other, 7, by="alice", client_ref="order-1")
    assert again == first and reg.balance(other) == 7 and reg.balance(world.seller) == 93
    p = reg.transfer(world.seller, world.buyer, 5, by="alice", client_ref="x-1")
    assert reg.transfer(world.seller, world.buyer, 5, by="alice", client_ref="x-1") == p
    a1 = reg.approve(p.tx_id, by="bob", client_ref="ok-1")
    assert reg.approve(p.tx_id, by="bob", client_ref="ok-1") == a1          # not R1002
    # a reference is the user's: bob's "order-1" is not alice's
    assert reg.transfer(world.seller, other, 1, by="bob", client_ref="order-1").quantity == 1
    with pytest.raises(DocumentError, match="was used for transfer"):
        reg.retire(world.seller, 1, by="alice", client_ref="order-1")
    with pytest.raises(DocumentError, match="client_ref"):
        reg.transfer(world.seller, other, 1, by="alice", client_ref="")
    assert reg.balance(other) == 8
    assert reg.verify() == []


CHILD = textwrap.dedent("""
    import sys
    from carbonlink.registry import Registry
    raw = Registry(sys.argv[1])
    alice = raw.as_user(raw.trusted_actor("alice"))
    a, b = int(sys.argv[2]), int(sys.argv[3])
    for i in range(100000):
        print("sent", i, flush=True)
        r = alice.transfer(a, b, 1 + i % 3, client_ref=f"t{i}")
        print("ack", i, r.tx_id, flush=True)
""")


@pytest.fixture
def own_pg_server() -> Iterator[tuple[str, Path, Path]]:
    """A PostgreSQL server of this test only (it gets killed): (url, data dir, bin dir)."""
    pgbin = _pgbin()
    if pgbin is None or not (pgbin / "initdb").exists():
        pytest.skip("PostgreSQL server programs not installed")
    tmp, data, port = init_cluster(pgbin, "carbonlink-pgkill-")
    (tmp / "opts").write_text(f"-c listen_addresses=127.0.0.1 -p {port} -k {tmp}")
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres", data, pgbin
    finally:
        subprocess.run(_as_pg_user([str(pgbin / "pg_ctl"), "-D", str(data), "-m", "immediate",
                                    "-w", "stop"]), check=False, capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)


def _start(data: Path, pgbin: Path) -> None:
    opts = (data.parent / "opts").read_text()
    subprocess.run(_as_pg_user([str(pgbin / "pg_ctl"), "-D", str(data), "-l",
                                str(data.parent / "log"), "-w", "-t", "60", "-o", opts,
                                "start"]), check=True, capture_output=True)


@pytest.mark.postgres
def test_kill_postgres_mid_stream_and_retry_with_references(
        own_pg_server: tuple[str, Path, Path]) -> None:
    url, data, pgbin = own_pg_server
    _start(data, pgbin)
    with Registry(url) as raw:
        raw.init()
        reg = acting(raw)
        reg.add_registry("GHA01")
        a = reg.open_account("GHA01", representatives_=["alice"])
        b = reg.open_account("GHA01", representatives_=["alice"])
        reg.issue(a, 100_000, vintage=2026)
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    proc = subprocess.Popen([sys.executable, "-c", CHILD, url, str(a), str(b)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    sent: set[int] = set()
    acked: dict[int, int] = {}
    assert proc.stdout is not None and proc.stderr is not None
    try:
        for line in proc.stdout:
            word, i, *tx = line.split()
            (sent.add(int(i)) if word == "sent" else acked.__setitem__(int(i), int(tx[0])))
            if len(acked) == 150:      # the server dies mid-stream, the client mid-call
                pid = int((data / "postmaster.pid").read_text().split()[0])
                os.kill(pid, signal.SIGKILL)
                break
        proc.wait(timeout=120)
        # what the child printed between the 150th acknowledgement and the kill: a call it
        # sent (and that may have committed) after the parent stopped reading
        for line in proc.stdout.read().splitlines():
            word, i, *tx = line.split()
            (sent.add(int(i)) if word == "sent" else acked.__setitem__(int(i), int(tx[0])))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    assert len(acked) >= 150 and max(sent) >= 149
    # the server restarts (crash recovery); every call is retried with its reference
    subprocess.run(_as_pg_user([str(pgbin / "pg_ctl"), "-D", str(data), "-m", "immediate",
                                "-w", "stop"]), check=False, capture_output=True)
    _start(data, pgbin)
    with Registry(url) as raw:
        alice = raw.as_user(raw.trusted_actor("alice"))
        for i in sorted(sent):
            r = alice.transfer(a, b, 1 + i % 3, client_ref=f"t{i}")
            if i in acked:
                assert r.tx_id == acked[i]          # the first receipt, nothing moved again
        assert alice.transfer(a, b, 1 + max(sent) % 3, client_ref=f"t{max(sent)}").tx_id == \
            r.tx_id
        moved = sum(1 + i % 3 for i in sent)
        reg = acting(raw)
        # each proposed exactly once: its units wait in escrow for a second representative
        escrow = sum(x["serial_end"] - x["serial_start"] + 1 for x in reg.holdings(a)
                     if x["status"] == "pending_export")
        assert (reg.balance(a), escrow, reg.balance(b)) == (100_000 - moved, moved, 0)
        n = raw._read(lambda c: c.exec_driver_sql(
            "SELECT count(*) FROM transactions WHERE kind = 'internal_transfer'").scalar())
        assert n == len(sent)
        assert reg.verify() == []
