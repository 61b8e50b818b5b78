"""Shared fixtures: a real PostgreSQL (throwaway cluster) and the database URL per backend."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

# CI runs the property tests on a fixed sequence of examples (a red CI must mean a change broke
# something, not that a new random example turned up); locally they explore new examples.
settings.register_profile("ci", derandomize=True, print_blob=True)
settings.register_profile("dev", print_blob=True)
settings.load_profile("ci" if os.environ.get("CI") == "true" else "dev")


def pytest_configure(config: pytest.Config) -> None:
    # argon2id with the production parameters takes most of a second per hash on a loaded 2-CPU
    # machine and the tests create hundreds of users: in this process they hash with the smallest
    # costs (still argon2id). tests/registry/test_hash_parameters.py checks production's.
    from carbonlink.registry import identity

    identity.use_test_hash_parameters()
    _build_the_cli_once()


def _build_the_cli_once() -> None:
    """``carbonlink.cli.main`` called in this process builds typer's click command tree once,
    as the console script does once per process, instead of at every call: typer rebuilds it
    from the function signatures each time the app is called (``Typer.__call__`` →
    ``typer.main.get_command``), 85 ms a call for the ``registry`` group's ~50 commands, most of
    an in-process CLI test's time. The commands, their parsing and their output are the same
    objects typer builds; tests of the tree itself (``tests/markets/test_startup.py``) build
    their own from ``carbonlink.cli.app.app``, which is left as it is."""
    import typer.main

    import carbonlink.cli as cli

    typer_app = cli.app
    built: list[Any] = []

    def once_built(*args: Any, **kwargs: Any) -> Any:
        if not built:
            built.append(typer.main.get_command(typer_app))
        return built[0](*args, **kwargs)

    cli.app = once_built  # type: ignore[assignment]   # what carbonlink.cli._run calls


#: most pytest-xdist workers ``-n auto`` starts: each holds its own registries, template databases
#: and PostgreSQL connections (the session server allows 100), and the suite is CPU-bound
MAX_WORKERS = 4


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """``-n auto``: the CPUs this process may run on (``sched_getaffinity``, which a container's
    cpuset narrows; psutil would count the host's cores), at most :data:`MAX_WORKERS`."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(MAX_WORKERS, cpus or 1))


#: tests that start and kill processes of their own (a PostgreSQL server, Dask worker processes):
#: under ``make test`` (pytest-xdist) at most one of them runs at a time, each beside ordinary
#: tests only. Node ids here, not markers in the files: other branches own the registry tests.
#: (A lock, not ``xdist_group``: ``--dist loadgroup`` stopped grouping with pytest 9.2's node ids,
#: https://github.com/pytest-dev/pytest-xdist/issues/1386.)
ONE_AT_A_TIME = {
    "tests/registry/test_idempotency.py::test_kill_postgres_mid_stream_and_retry_with_references",
    "tests/registry/test_crash.py::test_sigkill_loses_no_acknowledged_transfer",
    "tests/markets/test_batch.py::"
    "test_identical_on_serial_process_and_dask_clusters_even_when_a_worker_dies",
    "tests/markets/test_uncertainty.py::test_cli_samples_on_a_dask_cluster",
}


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[object]:
    """Setup, call and teardown of a test in :data:`ONE_AT_A_TIME` hold an exclusive lock on a
    file in this run's base temporary folder, which every xdist worker of the run shares."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker is None or item.nodeid.split("[")[0] not in ONE_AT_A_TIME:
        return (yield)
    import fcntl

    run_folder = Path(item.config.option.basetemp).parent     # xdist: <basetemp>/<worker>
    with open(run_folder / "one-at-a-time.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)       # released when the file closes
        return (yield)


def _pgbin() -> Path | None:
    if env := os.environ.get("PGBIN"):
        return Path(env)
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin"))
    return found[-1] if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_pg_user(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


def init_cluster(pgbin: Path, prefix: str) -> tuple[Path, Path, int]:
    """A new PostgreSQL data directory (``initdb``, run as ``postgres`` when we are root) in a
    fresh temporary folder, and a free port for it: (folder, data dir, port)."""
    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    if os.geteuid() == 0:
        shutil.chown(tmp, "postgres", "postgres")
    data, port = tmp / "data", _free_port()
    subprocess.run(_as_pg_user([str(pgbin / "initdb"), "-D", str(data), "-U", "postgres", "-A",
                                "trust", "--no-sync", "-E", "UTF8", "--locale=C.UTF-8"]),
                   check=True, capture_output=True)
    return tmp, data, port


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    """URL of a PostgreSQL server: ``TEST_DATABASE_URL`` (set by ``make test``) or a cluster
    started here. Skips when no server programs exist, except under ``CI=true`` (a failure)."""
    if env := os.environ.get("TEST_DATABASE_URL"):
        yield env
        return
    pgbin = _pgbin()
    if pgbin is None or not (pgbin / "initdb").exists():
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but no PostgreSQL server programs are installed")
        pytest.skip("PostgreSQL server programs not installed")
    tmp, data, port = init_cluster(pgbin, "carbonlink-pgtest-")
    opts = (f"-c listen_addresses=127.0.0.1 -p {port} -k {tmp} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off")
    subprocess.run(_as_pg_user([str(pgbin / "pg_ctl"), "-D", str(data), "-l", str(tmp / "log"),
                                "-w", "-t", "30", "-o", opts, "start"]),
                   check=True, capture_output=True)
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(_as_pg_user([str(pgbin / "pg_ctl"), "-D", str(data), "-m", "fast", "-w",
                                    "stop"]), check=False, capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture
def pg_database_url(pg_server_url: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    import sqlalchemy as sa

    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(pg_server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    base = pg_server_url.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Every registry test runs once on a SQLite file and once on a real PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'registry.db'}"
    return str(request.getfixturevalue("pg_database_url"))


#: ``LocalCluster(..., scheduler_kwargs=DASK_FREE_PORT)``: the scheduler serves its HTTP routes
#: (even with no dashboard) on a free port instead of dask's default 8787, which another cluster
#: on the machine (a test in another xdist worker, another checkout's suite) may hold
DASK_FREE_PORT = {"dashboard_address": "127.0.0.1:0"}

CHROMIUM = Path("/usr/bin/chromium")        # Debian's chromium (playwright cannot download one)
#: launch arguments of every browser test (root in a container; no network)
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]


#: Playwright's wait for an action or a navigation (its default is 30 s): generous, since a click
#: may wait for a page the server draws (an assess report's charts) on a loaded 2-CPU machine
BROWSER_TIMEOUT_MS = 240_000


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Debian's chromium for Playwright; skips without it, except under CI=true (a failure)."""
    if not CHROMIUM.exists():
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but /usr/bin/chromium is not installed")
        pytest.skip("Debian chromium not installed (/usr/bin/chromium)")
    pytest.importorskip("playwright.sync_api")
    return CHROMIUM


@dataclass
class WatchedPage:
    """A Playwright page with what it logged as errors and the requests it sent elsewhere."""

    page: Any
    errors: list[str] = field(default_factory=list)
    foreign_requests: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def browser(chromium: Path) -> Iterator[Any]:
    """One chromium (Playwright) for a test module: starting one takes seconds on a loaded
    machine; :func:`watched_page` gives each test a fresh context (cookies, storage) in it."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@contextmanager
def watched_page(chromium: Path | Any, local: tuple[str, ...]) -> Iterator[WatchedPage]:
    """A chromium page (1280×1000) recording console errors, page errors and every request whose
    URL does not start with one of ``local``. ``chromium``: the program (a browser is launched
    and closed afterwards) or the module's :func:`browser` (a new context in it, closed after)."""
    from playwright.sync_api import sync_playwright

    with ExitStack() as stack:
        if isinstance(chromium, Path):
            p = stack.enter_context(sync_playwright())
            browser = p.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
            stack.callback(browser.close)
        else:
            browser = chromium
        context = browser.new_context(viewport={"width": 1280, "height": 1000})
        stack.callback(context.close)
        context.set_default_timeout(BROWSER_TIMEOUT_MS)
        context.set_default_navigation_timeout(BROWSER_TIMEOUT_MS)
        w = WatchedPage(context.new_page())
        w.page.on("console", lambda m: w.errors.append(m.text) if m.type == "error" else None)
        w.page.on("pageerror", lambda e: w.errors.append(str(e)))
        w.page.on("request", lambda r: w.foreign_requests.append(r.url)
                  if not r.url.startswith(local) else None)
        yield w
