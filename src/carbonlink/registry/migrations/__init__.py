"""Alembic migrations of the registry schema, configured in code so they work from the
installed package (no ``alembic.ini`` needed; ``registry/alembic.ini`` is shipped for the
``alembic`` command line)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Engine

HERE = Path(__file__).parent


def revision_module(filename: str) -> ModuleType:
    """The migration script ``versions/<filename>`` as a module (a later revision reusing an
    earlier one's frozen SQL, e.g. for its downgrade)."""
    path = HERE / "versions" / filename
    spec = importlib.util.spec_from_file_location(f"carbonlink_migration_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def alembic_config(url: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    if url is not None:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Upgrade the database behind ``engine`` to ``revision`` in one transaction."""
    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
