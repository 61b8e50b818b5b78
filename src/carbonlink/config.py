"""Settings read from the environment (prefix ``CARBONLINK_``)."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Runtime settings; every field can be set as ``CARBONLINK_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="CARBONLINK_", extra="ignore")

    #: SQLAlchemy URL of the registry database (SQLite file by default, PostgreSQL by URL).
    database_url: str = "sqlite:///carbonlink-registry.db"
    #: Default equilibrium engine of the CLI: ``fast`` (merit-order aggregation + windowed HiGHS) or ``plain``
    #: (every option its own HiGHS variable, the reference formulation).
    engine: str = "fast"
    #: Ed25519 private key file signing the registry journal, kept outside the database
    #: (``registry init`` creates it, mode 0600). Default for a SQLite file: ``<db>.journal-key``
    #: beside it; for PostgreSQL there is no default (the journal is then unsigned).
    journal_key: str | None = None
    #: Seconds between the web server's own runs of ``settle`` (completing delayed internal
    #: transfers whose delay has passed, on the server's clock) as the system actor
    #: ``system:scheduler``; 0 turns the timer off (then run ``carbonlink registry settle
    #: --watch SECONDS``). An assumption, not a rule: one minute.
    settle_seconds: float = 60.0


def get_settings() -> Settings:
    """Fresh settings (reads the environment each call, so tests can monkeypatch it)."""
    return Settings()
