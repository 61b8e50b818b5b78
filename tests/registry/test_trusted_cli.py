"""``carbonlink registry trusted add / approve / remove / reject / list`` as two representatives (CLI in process,
each with their own token): the proposer cannot approve (exit 2, A2006), the second
representative can, the list shows the addition with the time it is in force from."""

from __future__ import annotations

import pytest

from carbonlink.registry import Registry
from tests.registry.conftest import acting, make_world


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    from carbonlink.cli import main

    with pytest.raises(SystemExit) as e:
        main(list(args))
    cap = capsys.readouterr()
    return int(e.value.code or 0), cap.out, cap.err


def test_trusted_list_from_the_cli(database_url: str, capsys: pytest.CaptureFixture[str],
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    with Registry(database_url) as raw:
        raw.init()
        reg = acting(raw)
        w = make_world(reg)
        reg.balance(w.seller)              # the harness's clock back to the real one
        tokens = {u: reg.as_(u).issue_token("write", name="cli") for u in ("alice", "bob")}
    db = ["--db", database_url]
    party = str(w.gha["party_holding"])
    monkeypatch.setenv("CARBONLINK_TOKEN", tokens["alice"])
    code, out, err = _run(capsys, "registry", "trusted", "add", str(w.seller), party, *db)
    assert code == 0 and "proposed" in out and "by alice" in out, out + err
    change = out.split("trusted-list change ")[1].split()[0]
    code, out, err = _run(capsys, "registry", "trusted", "approve", change, *db)
    assert code == 2 and "A2006" in out + err
    monkeypatch.setenv("CARBONLINK_TOKEN", tokens["bob"])
    code, out, _ = _run(capsys, "registry", "trusted", "approve", change, *db)
    assert code == 0 and "approved by bob" in out and "in force from" in out
    code, out, _ = _run(capsys, "registry", "trusted", "list", str(w.seller), *db)
    assert code == 0 and f"trusts: {party} (from " in out
    # a removal proposed by bob and withdrawn by him never takes effect
    code, out, _ = _run(capsys, "registry", "trusted", "remove", str(w.seller), party, *db)
    change = out.split("trusted-list change ")[1].split()[0]
    code, out, _ = _run(capsys, "registry", "trusted", "reject", change, *db)
    assert code == 0 and f"trusted-list change {change} rejected by bob" in out
    code, out, err = _run(capsys, "registry", "trusted", "reject", change, *db)
    assert code == 2 and "R1002" in out + err
    code, out, _ = _run(capsys, "registry", "trusted", "list", str(w.seller), *db)
    assert f"trusts: {party} (from " in out
