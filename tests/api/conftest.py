"""Fixtures of the web API tests: a TestClient on an app, and a registry with a few operations
on each backend (``database_url`` runs every registry test on SQLite and on PostgreSQL)."""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from carbonlink.api import create_app
from carbonlink.registry import Registry
from tests.registry.conftest import (
    World,
    acting,
    copy_sqlite_registry,
    full_transfer,
    make_world,
)

if TYPE_CHECKING:
    from fastapi.testclient import TestClient

REPO = Path(__file__).resolve().parents[2]
T_ISSUE = datetime(2026, 6, 1)
T_USE = datetime(2026, 12, 1)
#: a user with a known password (an auditor), for the login forms
VIEWER, VIEWER_PASSWORD = "viewer", "viewer password 2026"


def _test_client_class() -> type[TestClient]:
    # starlette >= 1.0 warns (StarletteDeprecationWarning) once, when starlette.testclient is
    # first imported, that it runs on `httpx` rather than `httpx2`. The project declares httpx
    # and adds no dependency for a test client, so this one message is ignored, around this one
    # import (pytest runs with warnings as errors everywhere else).
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message=r"Using `httpx` with `starlette.testclient` is deprecated")
        from fastapi.testclient import TestClient
    return TestClient


@pytest.fixture(scope="session")
def client_factory() -> Callable[..., TestClient]:
    return _test_client_class()


@pytest.fixture
def unused_db(tmp_path: Path) -> str:
    """A registry URL whose database was never created (the app must not need it)."""
    return f"sqlite:///{tmp_path / 'never-created.db'}"


@pytest.fixture
def client(client_factory: Callable[..., TestClient], unused_db: str) -> Iterator[TestClient]:
    """The app on a registry that does not exist: simulate, check, data and pages work."""
    with client_factory(create_app(unused_db)) as c:
        yield c


@dataclass
class Ledger:
    """The registry the registry tests read: make_world (GHA01 → CHE01, authorisation GHA-A1),
    100 ITMOs issued to the seller, 40 first transferred to the buyer, 10 used by CHE in 2026,
    GHA's NDC accounting (trajectory, 2026–2030) with 2026 emissions of 1000."""

    url: str
    world: World
    issuance_tx: int
    transfer_tx: int
    use_tx: int
    token: str = ""          # an API token of the auditor (reads everything, acts never)

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def build_ledger(url: str) -> Ledger:
    with Registry(url) as raw:
        raw.init()
        reg = acting(raw)
        w = make_world(reg)
        issued = reg.issue(w.seller, 100, unit_type="itmo", vintage=2026, authorisation="GHA-A1",
                           at=T_ISSUE)
        tx = full_transfer(reg, w.seller, w.buyer, 40, T_ISSUE, vintage=2026)
        used = reg.use(w.buyer, 10, year=2026, by="carol", at=T_USE)
        reg.set_ndc("GHA", "trajectory", 2026, 2030, at=T_ISSUE)
        reg.report_emissions("GHA", 2026, 1000, at=T_USE)
        assert reg.verify() == []
        token = reg.as_("auditor").issue_token("read", name="tests")
        reg.as_("admin").create_user(VIEWER, VIEWER_PASSWORD, roles=[("auditor", "*")])
    return Ledger(url, w, issued.tx_id, tx, used.tx_id, token)


@pytest.fixture(scope="session")
def ledger_templates() -> dict[str, tuple[str, Ledger]]:
    """Per backend, a registry built once by :func:`build_ledger` (its URL and ledger), from
    which :func:`ledger_copy` makes each test's fresh registry: building one (migrations, users,
    the transactions) takes seconds, copying a database a fraction of that."""
    return {}


def ledger_copy(request: pytest.FixtureRequest, database_url: str) -> Ledger:
    """A fresh registry at ``database_url`` equal to :func:`build_ledger`'s: a copy of the
    session's template for the backend (built on first use). SQLite: the file through SQLite's
    backup API, with its journal-signing key file; PostgreSQL: ``CREATE DATABASE … TEMPLATE``."""
    import uuid

    import sqlalchemy as sa

    templates: dict[str, tuple[str, Ledger]] = request.getfixturevalue("ledger_templates")
    backend = "sqlite" if database_url.startswith("sqlite") else "postgresql"
    if backend == "sqlite":
        target = Path(database_url.removeprefix("sqlite:///"))
        if backend not in templates:
            folder = request.getfixturevalue("tmp_path_factory").mktemp("ledger-template")
            templates[backend] = (str(folder / "registry.db"),
                                  build_ledger(f"sqlite:///{folder / 'registry.db'}"))
        copy_sqlite_registry(Path(templates[backend][0]), target)
    else:
        server = request.getfixturevalue("pg_server_url")
        admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
        try:
            if backend not in templates:
                name = f"tpl_{uuid.uuid4().hex[:12]}"
                with admin.connect() as conn:
                    conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
                templates[backend] = (name, build_ledger(f"{server.rsplit('/', 1)[0]}/{name}"))
            target_name = database_url.rsplit("/", 1)[1]
            with admin.connect() as conn:  # the test's empty database, remade from the template
                conn.execute(sa.text(f'DROP DATABASE "{target_name}" WITH (FORCE)'))
                conn.execute(sa.text(f'CREATE DATABASE "{target_name}" TEMPLATE '
                                     f'"{templates[backend][0]}"'))
        finally:
            admin.dispose()
    return dataclasses.replace(templates[backend][1], url=database_url)


@pytest.fixture
def ledger(request: pytest.FixtureRequest, database_url: str) -> Ledger:
    return ledger_copy(request, database_url)


@pytest.fixture
def registry_client(client_factory: Callable[..., TestClient],
                    ledger: Ledger) -> Iterator[TestClient]:
    with client_factory(create_app(ledger.url)) as c:
        c.headers.update(ledger.auth)
        yield c


AS_OF = date(2027, 5, 1)
