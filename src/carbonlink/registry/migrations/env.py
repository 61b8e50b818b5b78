"""Alembic environment: uses a connection handed over in ``config.attributes`` (the
:class:`~carbonlink.registry.Registry` and the tests do that) or ``sqlalchemy.url``."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Engine

from carbonlink.registry.db import make_engine, metadata

config = context.config
target_metadata = metadata


def _run(connection: object) -> None:
    context.configure(connection=connection, target_metadata=target_metadata,  # type: ignore[arg-type]
                      render_as_batch=True, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    conn = config.attributes.get("connection")
    if isinstance(conn, Engine):  # pytest-alembic hands over an engine
        with conn.begin() as connection:
            _run(connection)
        return
    if conn is not None:
        _run(conn)
        return
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        from carbonlink.config import get_settings
        url = get_settings().database_url
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            _run(connection)
    finally:
        engine.dispose()


def run_migrations_offline() -> None:
    context.configure(url=config.get_main_option("sqlalchemy.url"),
                      target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
