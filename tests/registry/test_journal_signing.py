"""Journal entries signed with Ed25519 by a key file outside the database; signed checkpoints;
on PostgreSQL a journal no UPDATE or DELETE can change (trigger, and the documented grants)."""

from __future__ import annotations

import json
import re
import stat
from pathlib import Path

import pytest
import sqlalchemy as sa

from carbonlink.registry import Registry
from carbonlink.registry.db import journal, journal_head, journal_signatures
from carbonlink.registry.journal import JournalKey, entry_hash
from tests.registry.conftest import Acting, tampering
from tests.registry.test_cli_reports import run

DOCS = Path(__file__).resolve().parents[2] / "docs" / "registry.md"



def _rewrite(engine: sa.Engine, user: str) -> None:
    """Edit ``user``'s ``user.create`` entry (roles added) and recompute every later hash and
    the head, as someone with SQL access but without the key would."""
    with tampering(engine) as c:
        rows = c.execute(sa.select(journal).order_by(journal.c.seq)).all()
        prev = None
        for r in rows:
            payload = r.payload
            if r.kind == "user.create" and f'"user":"{user}"' in payload:
                payload = payload.replace('"roles":[]', '"roles":[["administrator","*"]]')
                assert payload != r.payload
            if prev is None:
                prev = r.prev_hash
            h = entry_hash(prev, r.seq, r.at, r.kind, r.tx_id, payload)
            c.execute(journal.update().where(journal.c.seq == r.seq).values(
                payload=payload, prev_hash=prev, hash=h))
            prev = h
        c.execute(journal_head.update().values(hash=prev))


def test_a_row_edited_with_a_recomputed_chain_fails_its_signature(signed: Acting) -> None:
    signed.as_("admin").create_user("mallory")
    n = signed.registry._read(lambda c: c.execute(
        sa.select(sa.func.count()).select_from(journal)).scalar())
    sigs = signed.registry._read(lambda c: c.execute(
        sa.select(sa.func.count()).select_from(journal_signatures)).scalar())
    assert n and sigs == n and signed.verify() == []
    _rewrite(signed.engine, "mallory")
    found = signed.verify()
    assert not any("hash mismatch" in p or "does not point" in p for p in found), found
    assert any("(user.create) signature invalid" in p for p in found), found


def test_a_missing_or_foreign_signature_is_named(signed: Acting, tmp_path: Path) -> None:
    signed.as_("admin").create_user("x")
    last = signed.checkpoint()["seq"]
    with tampering(signed.engine) as c:      # the entry's signature deleted
        c.execute(journal_signatures.delete().where(journal_signatures.c.seq == last))
    assert any(f"entry {last} (user.create) is not signed" in p for p in signed.verify())
    other = JournalKey(tmp_path / "other.key")
    other.create()
    with tampering(signed.engine) as c:      # signed again, by another key
        h = c.execute(sa.select(journal.c.hash).where(journal.c.seq == last)).scalar_one()
        c.execute(journal_signatures.insert().values(seq=last, signature=other.sign(h)))
    assert any(f"entry {last} (user.create) signature invalid" in p for p in signed.verify())


def test_entries_before_signing_are_unsigned_not_tampered(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    key = tmp_path / "journal.key"
    monkeypatch.setenv("CARBONLINK_JOURNAL_KEY", str(key))
    with Registry(url) as r:                 # a registry from before signing: no key file
        r.init()
        key.unlink()
        Acting(r)
    assert not key.exists()
    with Registry(url) as r:                 # signing enabled: the key file made by init
        r.init()
        reg = Acting(r)
        reg.as_("admin").create_user("late")
        before = r._read(lambda c: c.execute(sa.select(sa.func.min(
            journal_signatures.c.seq))).scalar())
        assert before and before > 1
        assert reg.verify() == []
        # the unsigned prefix is still under the chain: an edit there breaks the signed rest
        _rewrite(r.engine, "officer")
        assert any("signature invalid" in p for p in reg.verify())


def test_cli_init_makes_the_key_0600_and_never_shows_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
        ) -> None:
    key = tmp_path / "k" / "journal.key"
    monkeypatch.setenv("CARBONLINK_JOURNAL_KEY", str(key))
    url = f"sqlite:///{tmp_path / 'r.db'}"
    code, out, err = run(capsys, "registry", "init", "--db", url)
    assert code == 0 and key.exists()
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    pem = key.read_text()
    body = "".join(pem.splitlines()[1:-1])
    assert "PRIVATE KEY" in pem and body not in out + err and "PRIVATE" not in out + err
    assert str(key) in out
    code, _, _ = run(capsys, "registry", "init", "--db", url)   # kept, not replaced
    assert code == 0 and key.read_text() == pem


def test_a_checkpoint_is_signed_and_an_altered_one_refused(signed: Acting,
                                                           tmp_path: Path) -> None:
    cp = signed.checkpoint()
    assert set(cp) == {"seq", "hash", "at", "public_key", "signature"}
    assert cp["public_key"] == signed.registry.journal_key.public_hex()  # type: ignore[union-attr]
    assert signed.verify(cp) == []
    bad = {**cp, "seq": cp["seq"] - 1}
    assert "checkpoint: signature invalid: the checkpoint was altered" in signed.verify(bad)
    other = JournalKey(tmp_path / "other.key")
    other.create()
    forged = {**cp, "public_key": other.public_hex(),
              "signature": other.sign(json.dumps({k: cp[k] for k in ("at", "hash", "seq")},
                                                 sort_keys=True, separators=(",", ":")))}
    assert any("signed by another key" in p for p in signed.verify(forged))


def test_verify_without_the_key_file_says_it_cannot_check(signed: Acting) -> None:
    key = signed.registry.journal_key
    assert key is not None
    key.path.unlink()
    with Registry(signed.url) as again:
        assert any("signatures cannot be checked" in p for p in Acting(again).verify())


# ---------------------------------------------------------------- PostgreSQL: append-only
def _recipe() -> list[str]:
    text = DOCS.read_text(encoding="utf-8")
    block = re.search(r"<!-- grant-recipe[^>]*-->\s*```sql\n(.*?)```", text, re.S)
    assert block, "docs/registry.md lost its grant recipe"
    sql = re.sub(r"--[^\n]*", "", block.group(1))
    return [s.strip() for s in sql.split(";") if s.strip()]


def test_postgresql_journal_refuses_update_delete_and_truncate(pg_database_url: str) -> None:
    with Registry(pg_database_url) as r:
        r.init()
        reg = Acting(r)
        for stmt in ("UPDATE journal SET payload = '{}' WHERE seq = 1",
                     "DELETE FROM journal WHERE seq = 1", "TRUNCATE journal",
                     "DELETE FROM journal_signatures"):
            with pytest.raises(sa.exc.ProgrammingError, match="append-only"), \
                    r.engine.begin() as c:
                c.exec_driver_sql(stmt)
        assert reg.verify() == []


def test_postgresql_application_role_cannot_change_the_journal(pg_database_url: str,
                                                               tmp_path: Path) -> None:
    """The documented GRANT recipe: the application role writes through the registry (its
    entries are appended) but an UPDATE or DELETE of a journal row is refused."""
    with Registry(pg_database_url) as owner:
        owner.init()
        Acting(owner)
        with owner.engine.begin() as c:
            if c.exec_driver_sql("SELECT 1 FROM pg_roles WHERE rolname = 'carbonlink_app'"
                                 ).first() is None:
                for stmt in _recipe():
                    c.exec_driver_sql(stmt)
            else:                          # the role is cluster-wide: grant in this database
                for stmt in _recipe()[1:]:
                    c.exec_driver_sql(stmt)
    app_url = sa.engine.make_url(pg_database_url).set(username="carbonlink_app",
                                                      password=None)
    with Registry(app_url.render_as_string(hide_password=False)) as app:
        reg = Acting(app)
        before = reg.checkpoint()["seq"]
        reg.as_("admin").create_user("via_app_role")
        assert reg.checkpoint()["seq"] == before + 1
        for stmt in ("UPDATE journal SET payload = '{}' WHERE seq = 1",
                     "DELETE FROM journal WHERE seq = 1"):
            with pytest.raises(sa.exc.ProgrammingError, match="permission denied"), \
                    app.engine.begin() as c:
                c.exec_driver_sql(stmt)
        with pytest.raises(sa.exc.ProgrammingError, match="permission denied"), \
                app.engine.begin() as c:   # nor bypass the trigger as a superuser can
            c.exec_driver_sql("SET LOCAL session_replication_role = replica")
        assert reg.verify() == []
