"""Alembic migrations (pytest-alembic): single head, upgrade from empty, up/down, models = DDL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from pytest_alembic import MigrationContext, create_alembic_fixture, tests

from carbonlink.registry.db import make_engine
from carbonlink.registry.migrations import HERE

alembic = create_alembic_fixture({"script_location": str(HERE)})


@pytest.fixture
def alembic_engine(database_url: str) -> Iterator[sa.Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


def test_single_head_revision(alembic: MigrationContext) -> None:
    tests.test_single_head_revision(alembic)


def test_upgrade(alembic: MigrationContext) -> None:
    tests.test_upgrade(alembic)


def test_model_definitions_match_ddl(alembic: MigrationContext) -> None:
    tests.test_model_definitions_match_ddl(alembic)


def test_up_down_consistency(alembic: MigrationContext) -> None:
    tests.test_up_down_consistency(alembic)
