"""Registry fixtures: a migrated registry per backend, acting as users with roles, and a small
two-Party world."""

from __future__ import annotations

import copy
import dataclasses
import inspect
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from carbonlink.registry import OPERATIONS, PendingAction, Receipt, Registry

T0 = datetime(2026, 1, 5, 9, 0)
#: users the tests act as: two administrators (scope *), two authorising officials (granted the
#: Party of every registry added), and "rep"/"rep2", representatives of every account opened
#: without named representatives (and of each registry's Party holding account)
ADMINS = ("admin", "admin2")
OFFICIALS = ("officer", "officer2")
DEFAULT_REPS = ("rep", "rep2")


class Acting:
    """The registry as the tests' users. ``reg.transfer(..., by="alice")`` runs as user alice
    (created on first use); a call without ``by`` runs as the role its rule needs (an
    administrator, an authorising official, or the default representative); a four-eyes
    action is proposed by the first administrator/official and approved by the second, and its
    result returned; likewise an internal transfer (always under four eyes) is approved by
    another representative of the account with the approver role, if it has one. The tests'
    registries run without the delay to accounts off the trusted list (``untrusted_delay``
    zero) unless a test sets it. ``at=…`` sets the **server's clock** for the call (the tests' fake clock;
    a caller cannot pass a time, S7004); without it the clock is the real one. Everything else
    (``url``, ``engine``, …) is the registry's."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        registry.untrusted_delay = timedelta(0)
        if registry.create_first_administrator("admin") is not None:   # a new registry
            self.as_("admin").create_user("admin2", roles=[("administrator", "*")])
            self.as_("admin").create_user("auditor", roles=[("auditor", "*")])
            for u in (*OFFICIALS, *DEFAULT_REPS):
                self.as_("admin").create_user(u)
        self._known = {u["username"] for u in self.as_("admin").users()}

    def user(self, name: str) -> None:
        """Create user ``name`` if missing (no role)."""
        if name not in self._known:
            self.as_("admin").create_user(name)
            self._known.add(name)

    def as_(self, name: str) -> Registry:
        """The registry acting as ``name`` (roles read afresh: they change during a test)."""
        return self.registry.as_user(self.registry.trusted_actor(name))

    def grant_party(self, party: str) -> None:
        for u in OFFICIALS:
            self.as_("admin").grant_role(u, "authorising_official", party)

    def __getattr__(self, name: str) -> Any:
        if name not in OPERATIONS:
            return getattr(self.registry, name)
        rule = OPERATIONS[name]
        method = getattr(Registry, name)
        sig = inspect.signature(method)

        def call(*args: Any, **kwargs: Any) -> Any:
            by = kwargs.pop("by", None)
            at = kwargs.pop("at", None)
            ref = kwargs.pop("client_ref", None)
            self.registry.clock = (lambda: at) if at is not None else _real_clock
            a = sig.bind(self.registry, *args, **kwargs).arguments
            if name == "open_account":
                reps = list(a.get("representatives_") or ())
                for spec in reps:
                    self.user(spec.split(":")[0] if isinstance(spec, str) else spec[0])
                if not reps:
                    kwargs["representatives_"] = list(DEFAULT_REPS)
            if name in ("add_registry",):
                self.grant_party(a.get("party") or a["id"][:3])
            elif isinstance(a.get("party"), str) and rule.scope == "party":
                self.grant_party(a["party"])
            if by is not None:
                self.user(by)
                who = by
            elif "administrator" in rule.roles or not rule.write:
                who = "admin"
            elif "authorising_official" in rule.roles:
                who = "officer"
            else:
                who = DEFAULT_REPS[0]
            if ref is not None:
                kwargs["client_ref"] = ref
            out = getattr(self.as_(who), name)(*args, **kwargs)
            kwargs.pop("client_ref", None)
            if name == "add_registry":       # the default representatives act for each account
                adm = self.as_("admin")
                for acc in out.values():
                    for u in DEFAULT_REPS:
                        adm.add_representative(acc, u)
            if isinstance(out, Receipt) and (out.kind, out.state) == ("internal_transfer",
                                                                     "proposed"):
                return self._second_rep(out, who)
            return self._approve(out, who)
        return call

    def _second_rep(self, out: Receipt, who: str) -> Receipt:
        with self.registry.engine.connect() as c:
            src, state = c.execute(sa.text("SELECT from_account, state FROM transactions "
                                           "WHERE id = :t"), {"t": out.tx_id}).one()
            if state != "proposed":     # a retry's receipt (client reference): approved before
                return dataclasses.replace(out, state=state)
            names = [str(n) for n, r in c.execute(sa.text(
                "SELECT name, role FROM representatives WHERE account_id = :a ORDER BY name"),
                {"a": src}) if n != who and r in ("approver", "initiator_approver")]
        if not names:
            return out
        second = min(names, key=lambda n: (n not in DEFAULT_REPS, n))
        done = self.as_(second).approve(out.tx_id)
        return dataclasses.replace(out, state=done.state)

    def _approve(self, out: Any, who: str) -> Any:
        if isinstance(out, PendingAction):
            second = {"admin": "admin2", "officer": "officer2"}.get(who, "admin2")
            return self.as_(second).approve_action(out.id)
        if isinstance(out, list):
            return [self._approve(o, who) for o in out]
        return out


def _real_clock() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def acting(registry: Registry) -> Acting:
    return Acting(registry)


@contextmanager
def tampering(engine: sa.Engine) -> Iterator[sa.Connection]:
    """A transaction editing the tables by SQL as an attacker with the database owner's rights
    would: on PostgreSQL the append-only triggers of the journal (revision 0007) are
    bypassed as a superuser can (``session_replication_role = replica``)."""
    with engine.begin() as c:
        if c.dialect.name == "postgresql":
            c.exec_driver_sql("SET LOCAL session_replication_role = replica")
        yield c


@dataclass
class _Template:
    """A registry built once per session, backend and kind (migrated, the tests' users
    created): a SQLite file or a PostgreSQL database name, and its journal key file."""

    where: str
    key: Path | None
    admin: str | None = None    # PostgreSQL: the server's maintenance URL (pg_server_url)
    world: World | None = None  # kind "world": the two-Party world built in it (make_world)


def copy_sqlite(source: Path | str, target: Path) -> None:
    """``source`` copied to ``target`` through SQLite's backup API (a consistent copy)."""
    import sqlite3

    src, dst = sqlite3.connect(source), sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()


def copy_sqlite_registry(source: Path, target: Path) -> str:
    """A copy of the SQLite registry ``source`` at ``target``, with its journal-signing key
    file (``<file>.journal-key``) when it has one; the copy's URL."""
    import shutil

    copy_sqlite(source, target)
    key = source.with_name(source.name + ".journal-key")
    if key.exists():
        shutil.copy2(key, target.with_name(target.name + ".journal-key"))
    return f"sqlite:///{target}"


@pytest.fixture(scope="session")
def _registry_templates() -> Iterator[dict[tuple[str, str], _Template]]:
    """The session's templates (see :func:`_fresh_registry`), by (backend, kind); the
    PostgreSQL ones are dropped at the end (when the server is still up)."""
    made: dict[tuple[str, str], _Template] = {}
    yield made
    for t in made.values():
        if t.admin is None:
            continue
        admin = sa.create_engine(t.admin, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                conn.execute(sa.text(
                    f'DROP DATABASE IF EXISTS "{t.where.rsplit("/", 1)[1]}" WITH (FORCE)'))
        except sa.exc.OperationalError:
            pass               # the session's own server has stopped already, with them
        finally:
            admin.dispose()


def _build_template(url: str, kind: str) -> World | None:
    with Registry(url) as r:
        r.init()
        a = Acting(r)
        return make_world(a) if kind == "world" else None


def _fresh_registry(request: pytest.FixtureRequest, database_url: str,
                    key: Path | None = None, world: bool = False) -> World | None:
    """Make the (empty) database at ``database_url`` a newly initialised registry with the
    tests' users (:class:`Acting`) — a copy of a template built once per session and backend,
    since migrating and creating the users for every test took most of a registry test's
    time. ``key``: the path ``CARBONLINK_JOURNAL_KEY`` names (set by the caller), where the
    copy of the template's journal key goes (None: the SQLite file's own key, ``<file>.journal-
    key``; PostgreSQL has none). Each test gets its own copy — its own file, or its own
    database (``CREATE DATABASE … TEMPLATE``, under the name the test's fixture made unique),
    so tests stay isolated, also across xdist workers (each builds its own templates).
    ``world``: the template also holds :func:`make_world`'s world (unsigned registries only),
    returned (a copy) for the test's ``world`` fixture."""
    import os
    import shutil
    import uuid

    templates: dict[tuple[str, str], _Template] = request.getfixturevalue(
        "_registry_templates")
    backend = "sqlite" if database_url.startswith("sqlite") else "postgresql"
    kind = "signed" if key is not None else "world" if world else "plain"
    tpl = templates.get((backend, kind))
    if tpl is None:
        folder = request.getfixturevalue("tmp_path_factory").mktemp(f"registry-{kind}")
        tpl_key = None if key is None else folder / "journal.key"
        old = os.environ.get("CARBONLINK_JOURNAL_KEY")
        if tpl_key is not None:        # the template signs with its own key, copied per test
            os.environ["CARBONLINK_JOURNAL_KEY"] = str(tpl_key)
        try:
            if backend == "sqlite":
                tpl = _Template(str(folder / "registry.db"), tpl_key or
                                folder / "registry.db.journal-key")
                tpl.world = _build_template(f"sqlite:///{tpl.where}", kind)
            else:
                server = request.getfixturevalue("pg_server_url")
                name = f"rtpl_{uuid.uuid4().hex[:12]}"
                admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
                try:
                    with admin.connect() as conn:
                        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
                finally:
                    admin.dispose()
                tpl = _Template(f"{server.rsplit('/', 1)[0]}/{name}", tpl_key, server)
                templates[(backend, kind)] = tpl      # dropped at the end even if building fails
                tpl.world = _build_template(tpl.where, kind)
        finally:
            if tpl_key is not None:
                if old is None:
                    del os.environ["CARBONLINK_JOURNAL_KEY"]
                else:
                    os.environ["CARBONLINK_JOURNAL_KEY"] = old
        templates[(backend, kind)] = tpl
    if backend == "sqlite":
        target = Path(database_url.removeprefix("sqlite:///"))
        copy_sqlite(tpl.where, target)
        own_key = key or target.with_name(target.name + ".journal-key")
    else:
        target_name = database_url.rsplit("/", 1)[1]
        admin = sa.create_engine(str(tpl.admin), isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:   # the test's empty database, remade from the template
                conn.execute(sa.text(f'DROP DATABASE "{target_name}" WITH (FORCE)'))
                conn.execute(sa.text(f'CREATE DATABASE "{target_name}" TEMPLATE '
                                     f'"{tpl.where.rsplit("/", 1)[1]}"'))
        finally:
            admin.dispose()
        own_key = key
    if tpl.key is not None and own_key is not None and tpl.key.exists():
        own_key.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(tpl.key, own_key)
    return copy.deepcopy(tpl.world)


_WORLD = pytest.StashKey["World | None"]()


@pytest.fixture
def reg(request: pytest.FixtureRequest, database_url: str) -> Iterator[Acting]:
    """A new registry (SQLite and PostgreSQL), migrated, with the tests' users. When the test
    also asks for ``world``, the registry is a copy of a template holding that world already
    (building it took a third of such a test's time); :func:`world` returns it."""
    request.node.stash[_WORLD] = _fresh_registry(request, database_url,
                                                 world="world" in request.fixturenames)
    with Registry(database_url) as r:
        yield Acting(r)


@pytest.fixture
def signed(request: pytest.FixtureRequest, database_url: str, tmp_path: Path,
           monkeypatch: pytest.MonkeyPatch) -> Iterator[Acting]:
    """A registry (SQLite and PostgreSQL) whose journal key is ``tmp_path/keys/journal.key``."""
    key = tmp_path / "keys" / "journal.key"
    monkeypatch.setenv("CARBONLINK_JOURNAL_KEY", str(key))
    _fresh_registry(request, database_url, key)
    with Registry(database_url) as r:
        yield Acting(r)


@dataclass
class World:
    """GHA01 (Ghana, transferring Party) linked to CHE01 (Switzerland, acquiring Party)."""

    gha: dict[str, int]
    che: dict[str, int]
    seller: int          # entity holding in GHA01 (representatives alice, bob)
    buyer: int           # entity holding in CHE01 (representative carol)
    buyer_holder: int
    buyer2: int          # second CHE entity (representative dave)
    seller_holder: int


def make_world(r: Any, *, quota: int | None = None, discount: float = 0.0,
               unit_types: tuple[str, ...] = ("allowance", "itmo")) -> World:
    gha = r.add_registry("GHA01", system="gh", at=T0)
    che = r.add_registry("CHE01", system="ch", at=T0)
    sh = r.add_holder("GHA01", "Cookstoves Ltd", at=T0)
    bh = r.add_holder("CHE01", "KliK Foundation", at=T0)
    bh2 = r.add_holder("CHE01", "Other AG", at=T0)
    seller = r.open_account("GHA01", holder=sh, representatives_=["alice", "bob"], at=T0)
    buyer = r.open_account("CHE01", holder=bh, representatives_=["carol", "cyril"], at=T0)
    buyer2 = r.open_account("CHE01", holder=bh2, representatives_=["dave", "dora"], at=T0)
    r.add_link("GHA01", "CHE01", unit_types=unit_types, quota=quota, discount=discount, at=T0)
    r.authorise("GHA-A1", cooperative_approach="CA0002", registry="GHA01", quantity=10_000,
                purposes="NDC", vintage_from=2025, vintage_to=2030, valid_from=date(2026, 1, 1),
                at=T0)
    return World(gha, che, seller, buyer, bh, buyer2, sh)


def full_transfer(r: Any, src: int, dst: int, q: int, at: datetime, **kw: object) -> int:
    """Propose (alice), approve (bob), accept (carol) an external transfer."""
    p = r.transfer(src, dst, q, by="alice", at=at, **kw)  # type: ignore[arg-type]
    r.approve(p.tx_id, by="bob", at=at)
    r.accept(p.tx_id, by="carol", at=at)
    return p.tx_id


@pytest.fixture
def world(request: pytest.FixtureRequest, reg: Acting) -> World:
    """:func:`make_world`'s world in ``reg`` (built in its template: :func:`reg`)."""
    w = request.node.stash.get(_WORLD, None)
    return w if w is not None else make_world(reg)


def pytest_configure(config: pytest.Config) -> None:
    # pytest-alembic's built-in tests carry this marker; strict markers would reject it
    config.addinivalue_line("markers", "alembic: pytest-alembic migration tests")
