"""Registry tables (SQLAlchemy Core) and the engine factory.

Quantities are whole tonnes (``BigInteger``) and serial numbers are integers, so no arithmetic
ever touches a float. Units live in **serial blocks** ``[serial_start, serial_end]`` per
(issuing registry, unit type, vintage); blocks never overlap. The database enforces it too:
an ``EXCLUDE USING gist`` constraint on PostgreSQL and ``BEFORE INSERT/UPDATE`` triggers on
SQLite (both created by the Alembic migration).

Concurrency: on SQLite every write transaction starts with ``BEGIN IMMEDIATE`` (one writer at a time,
WAL journal so readers never block); on PostgreSQL the service takes row locks
(``SELECT … FOR UPDATE``) on accounts, links, authorisation totals and the journal head, always
in that order, so two transfers cannot spend the same block and cannot deadlock.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

registries = sa.Table(
    "registries", metadata,
    sa.Column("id", sa.String(16), primary_key=True),          # e.g. CHE01 (ISO alpha-3 + 2 digits)
    sa.Column("party", sa.String(3), nullable=False),           # ISO alpha-3 of the Party
    sa.Column("system", sa.String(64), nullable=False, unique=True),  # market id used by links
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("created_at", sa.DateTime(), nullable=False),
)

holders = sa.Table(
    "holders", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("registry_id", sa.String(16), sa.ForeignKey("registries.id"), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("country", sa.String(3), nullable=True),
    sa.Column("identifier", sa.String(64), nullable=True),
    sa.UniqueConstraint("registry_id", "name", name="uq_holders_registry_name"),
)

accounts = sa.Table(
    "accounts", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("registry_id", sa.String(16), sa.ForeignKey("registries.id"), nullable=False,
              index=True),
    sa.Column("holder_id", sa.Integer, sa.ForeignKey("holders.id"), nullable=True),
    sa.Column("type", sa.String(32), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
)

representatives = sa.Table(
    "representatives", metadata,
    sa.Column("account_id", sa.Integer, sa.ForeignKey("accounts.id"), primary_key=True),
    sa.Column("name", sa.String(100), primary_key=True),      # a user's username
    # initiator | approver | initiator_approver (Reg. (EU) 2019/1122 Art 20-21: authorised and
    # additional authorised representatives)
    sa.Column("role", sa.String(24), nullable=False,
              server_default=sa.text("'initiator_approver'")),
    # every authenticated request reads the accounts its user represents by name
    # (identity.ACTOR_BY_TOKEN); the primary key leads with the account
    sa.Index("ix_representatives_name", "name"),
)

links = sa.Table(
    "links", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("from_registry", sa.String(16), sa.ForeignKey("registries.id"), nullable=False),
    sa.Column("to_registry", sa.String(16), sa.ForeignKey("registries.id"), nullable=False),
    sa.Column("exchange_rate", sa.Float, nullable=False),
    sa.Column("discount", sa.Float, nullable=False),
    sa.Column("quota", sa.BigInteger, nullable=True),
    sa.Column("entity_share", sa.Float, nullable=True),
    sa.Column("unit_types", sa.String(200), nullable=False),   # comma separated
    sa.Column("suspended_from", sa.Date, nullable=True),
    sa.Column("moved", sa.BigInteger, nullable=False),         # from-units exported (incl. escrow)
    sa.UniqueConstraint("from_registry", "to_registry", name="uq_links_from_to"),
)

authorisations = sa.Table(
    "authorisations", metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("cooperative_approach", sa.String(6), nullable=False),
    sa.Column("party", sa.String(3), nullable=False),
    sa.Column("registry_id", sa.String(16), sa.ForeignKey("registries.id"), nullable=False),
    sa.Column("quantity", sa.BigInteger, nullable=False),
    sa.Column("purposes", sa.String(16), nullable=False),      # NDC | OIMP | NDC and OIMP
    sa.Column("vintage_from", sa.Integer, nullable=False),
    sa.Column("vintage_to", sa.Integer, nullable=False),
    sa.Column("valid_from", sa.Date, nullable=False),
    sa.Column("valid_to", sa.Date, nullable=True),
    sa.Column("first_transfer_definition", sa.String(32), nullable=True),
    sa.Column("metric", sa.String(32), nullable=False),
    sa.Column("revoked", sa.Boolean, nullable=False),
    sa.Column("effective_from", sa.Date, nullable=False),
    sa.Column("recorded_at", sa.DateTime, nullable=False),
    sa.Column("terms", sa.Text, nullable=True),
)

authorised_entities = sa.Table(
    "authorised_entities", metadata,
    sa.Column("authorisation_id", sa.String(64), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("holder_id", sa.Integer, sa.ForeignKey("holders.id"), primary_key=True),
)

authorisation_totals = sa.Table(
    "authorisation_totals", metadata,
    sa.Column("authorisation_id", sa.String(64), primary_key=True),
    sa.Column("issued", sa.BigInteger, nullable=False),
    sa.Column("first_transferred", sa.BigInteger, nullable=False),
)

blocks = sa.Table(
    "blocks", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("issuing_registry", sa.String(16), sa.ForeignKey("registries.id"), nullable=False),
    sa.Column("unit_type", sa.String(16), nullable=False),
    sa.Column("vintage", sa.Integer, nullable=False),
    sa.Column("serial_start", sa.BigInteger, nullable=False),
    sa.Column("serial_end", sa.BigInteger, nullable=False),
    sa.Column("account_id", sa.Integer, sa.ForeignKey("accounts.id"), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("authorisation_id", sa.String(64), nullable=True),
    sa.Column("first_transferred", sa.Boolean, nullable=False),
    sa.Column("pending_tx", sa.Integer, nullable=True),
    sa.CheckConstraint("serial_start >= 1 AND serial_end >= serial_start", name="serial_range"),
    sa.Index("ix_blocks_key_start", "issuing_registry", "unit_type", "vintage", "serial_start",
             unique=True),
    # migration 0004: partial indexes, so a move between holding accounts writes only the
    # entries it must, and dead versions of often-moved blocks can be marked and removed
    sa.Index("ix_blocks_holdings", "account_id", "issuing_registry", "unit_type", "vintage",
             "serial_start", postgresql_where=sa.text("status = 'held'"),
             sqlite_where=sa.text("status = 'held'"),
             postgresql_with={"deduplicate_items": "off"}),
    sa.Index("ix_blocks_account_other", "account_id", "status",
             postgresql_where=sa.text("status <> 'held'"),
             sqlite_where=sa.text("status <> 'held'")),
    sa.Index("ix_blocks_pending_tx", "pending_tx", postgresql_where=sa.text("pending_tx IS NOT NULL"),
             sqlite_where=sa.text("pending_tx IS NOT NULL")),
)

transactions = sa.Table(
    "transactions", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(24), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
    sa.Column("expires_at", sa.DateTime, nullable=True),
    sa.Column("from_account", sa.Integer, sa.ForeignKey("accounts.id"), nullable=True),
    sa.Column("to_account", sa.Integer, sa.ForeignKey("accounts.id"), nullable=True),
    sa.Column("quantity", sa.BigInteger, nullable=False),
    sa.Column("converted_quantity", sa.BigInteger, nullable=True),
    sa.Column("unit_type", sa.String(16), nullable=True),
    sa.Column("vintage", sa.Integer, nullable=True),
    sa.Column("link_id", sa.Integer, sa.ForeignKey("links.id"), nullable=True),
    sa.Column("authorisation_id", sa.String(64), nullable=True),
    sa.Column("purpose", sa.String(16), nullable=True),
    sa.Column("year", sa.Integer, nullable=True),
    sa.Column("proposer", sa.String(100), nullable=True),
    sa.Column("approver", sa.String(100), nullable=True),
    sa.Column("acceptor", sa.String(100), nullable=True),
    sa.Column("reason", sa.Text, nullable=True),
    # a delayed internal transfer (to an account off the trusted list) completes then: 0008
    sa.Column("completes_at", sa.DateTime, nullable=True),
    # only open external transfers are looked up by state (expiry): migration 0004
    sa.Index("ix_transactions_open", "state",
             postgresql_where=sa.text("state IN ('proposed', 'approved')"),
             sqlite_where=sa.text("state IN ('proposed', 'approved')")),
)

#: trusted-account lists (0008; Reg. (EU) 2019/1122 Art 23)
trusted_accounts = sa.Table(
    "trusted_accounts", metadata,
    sa.Column("account_id", sa.Integer, sa.ForeignKey("accounts.id"), primary_key=True),
    sa.Column("trusted_id", sa.Integer, sa.ForeignKey("accounts.id"), primary_key=True),
    sa.Column("added_at", sa.DateTime, nullable=False),
)

#: proposed changes of trusted-account lists (0010; Reg. (EU) 2019/1122 Art 23(4)): proposed by
#: one representative of the account, approved by another; an addition is in force from
#: ``effective_at`` (trusted_accounts.added_at), a removal at approval
trusted_changes = sa.Table(
    "trusted_changes", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("account_id", sa.Integer, sa.ForeignKey("accounts.id"), nullable=False),
    sa.Column("trusted_id", sa.Integer, sa.ForeignKey("accounts.id"), nullable=False),
    sa.Column("action", sa.String(8), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("proposer", sa.String(100), nullable=False),
    sa.Column("proposed_at", sa.DateTime, nullable=False),
    sa.Column("approver", sa.String(100), nullable=True),
    sa.Column("decided_at", sa.DateTime, nullable=True),
    sa.Column("effective_at", sa.DateTime, nullable=True),
    sa.Index("ix_trusted_changes_account", "account_id"),
)

transaction_blocks = sa.Table(
    "transaction_blocks", metadata,
    sa.Column("tx_id", sa.Integer, sa.ForeignKey("transactions.id"), primary_key=True),
    sa.Column("seq", sa.Integer, primary_key=True),
    sa.Column("issuing_registry", sa.String(16), nullable=False),
    sa.Column("unit_type", sa.String(16), nullable=False),
    sa.Column("vintage", sa.Integer, nullable=False),
    sa.Column("serial_start", sa.BigInteger, nullable=False),
    sa.Column("serial_end", sa.BigInteger, nullable=False),
    sa.Column("authorisation_id", sa.String(64), nullable=True),
    sa.Column("first_transfer", sa.Boolean, nullable=False),
)

first_transfers = sa.Table(
    "first_transfers", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("authorisation_id", sa.String(64), nullable=False),
    sa.Column("issuing_registry", sa.String(16), nullable=False),
    sa.Column("unit_type", sa.String(16), nullable=False),
    sa.Column("vintage", sa.Integer, nullable=False),
    sa.Column("serial_start", sa.BigInteger, nullable=False),
    sa.Column("serial_end", sa.BigInteger, nullable=False),
    sa.Column("tx_id", sa.Integer, sa.ForeignKey("transactions.id"), nullable=False),
    sa.Column("party", sa.String(3), nullable=False),
    sa.Column("at", sa.DateTime, nullable=False),
    #: the authorisation version the units were first transferred under: its terms (purposes,
    #: entities, metric) stay with them, later versions apply only prospectively (U5007)
    sa.Column("authorisation_version", sa.Integer, nullable=True),
    sa.Index("ix_first_transfers_key_start", "issuing_registry", "unit_type", "vintage",
             "serial_start", unique=True),
)

ca_entries = sa.Table(
    "ca_entries", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("party", sa.String(3), nullable=False),
    sa.Column("year", sa.Integer, nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),           # first_transfer (+) | use (−)
    sa.Column("quantity", sa.BigInteger, nullable=False),
    sa.Column("tx_id", sa.Integer, sa.ForeignKey("transactions.id"), nullable=False),
    sa.Column("authorisation_id", sa.String(64), nullable=True),
    sa.Column("metric", sa.String(32), nullable=False),
    sa.Index("ix_ca_entries_party_year", "party", "year"),
)

ndc_accounting = sa.Table(
    "ndc_accounting", metadata,
    sa.Column("party", sa.String(3), primary_key=True),
    sa.Column("method", sa.String(16), nullable=False),         # trajectory | averaging | multi_year
    sa.Column("first_year", sa.Integer, nullable=False),
    sa.Column("last_year", sa.Integer, nullable=False),
    sa.Column("metric", sa.String(32), nullable=False),
    sa.Column("ndc_type", sa.String(16), nullable=False,        # single_year | multi_year
              server_default="single_year"),
)

emissions = sa.Table(
    "emissions", metadata,
    sa.Column("party", sa.String(3), primary_key=True),
    sa.Column("year", sa.Integer, primary_key=True),
    sa.Column("emissions", sa.BigInteger, nullable=False),
)

entity_emissions = sa.Table(
    "entity_emissions", metadata,
    sa.Column("holder_id", sa.Integer, sa.ForeignKey("holders.id"), primary_key=True),
    sa.Column("year", sa.Integer, primary_key=True),
    sa.Column("emissions", sa.BigInteger, nullable=False),
)

finalisations = sa.Table(
    "finalisations", metadata,
    sa.Column("party", sa.String(3), primary_key=True),
    sa.Column("first_year", sa.Integer, primary_key=True),
    sa.Column("last_year", sa.Integer, nullable=False),
    sa.Column("at", sa.DateTime, nullable=False),
)

reports_submitted = sa.Table(
    "reports_submitted", metadata,
    sa.Column("party", sa.String(3), primary_key=True),
    sa.Column("kind", sa.String(16), primary_key=True),         # initial | annual | regular
    sa.Column("year", sa.Integer, primary_key=True),            # reported year (0 for initial)
    sa.Column("at", sa.DateTime, nullable=False),
)

journal = sa.Table(
    "journal", metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("at", sa.DateTime, nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("tx_id", sa.Integer, nullable=True),
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
)

journal_head = sa.Table(
    "journal_head", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
)

#: Ed25519 signature (hex) of each journal entry's hash, by the key file outside the database
#: (revision 0007; on PostgreSQL ``journal`` and this table refuse UPDATE and DELETE)
journal_signatures = sa.Table(
    "journal_signatures", metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("signature", sa.String(128), nullable=False),
)

# ---------------------------------------------------------------- identities (revision 0005)
users = sa.Table(
    "users", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("username", sa.String(64), nullable=False, unique=True),
    sa.Column("password_hash", sa.String(200), nullable=False),   # argon2id (argon2-cffi)
    sa.Column("totp_secret", sa.String(64), nullable=True),       # RFC 6238 second factor
    sa.Column("must_change_password", sa.Boolean, nullable=False),
    sa.Column("failed_logins", sa.Integer, nullable=False),
    sa.Column("locked_until", sa.DateTime, nullable=True),
    sa.Column("active", sa.Boolean, nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
)

user_roles = sa.Table(
    "user_roles", metadata,
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), primary_key=True),
    # administrator | authorising_official | auditor (account representatives: representatives)
    sa.Column("role", sa.String(32), primary_key=True),
    sa.Column("scope", sa.String(16), primary_key=True),   # '*', a registry id or a Party
)

api_tokens = sa.Table(
    "api_tokens", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),   # sha256 hex
    sa.Column("scope", sa.String(16), nullable=False),                    # read | write
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("expires_at", sa.DateTime, nullable=False),
    sa.Column("revoked", sa.Boolean, nullable=False),
)

pending_actions = sa.Table(
    "pending_actions", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("operation", sa.String(32), nullable=False),
    sa.Column("args", sa.Text, nullable=False),               # canonical JSON
    sa.Column("scope", sa.String(16), nullable=False),
    sa.Column("proposer", sa.String(64), nullable=False),
    sa.Column("proposed_at", sa.DateTime, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),       # proposed | approved | rejected
    sa.Column("approver", sa.String(64), nullable=True),
    sa.Column("decided_at", sa.DateTime, nullable=True),
    sa.Column("result", sa.Text, nullable=True),
)

client_refs = sa.Table(
    "client_refs", metadata,
    sa.Column("username", sa.String(64), primary_key=True),
    sa.Column("reference", sa.String(100), primary_key=True),   # chosen by the client
    sa.Column("operation", sa.String(32), nullable=False),
    sa.Column("result", sa.Text, nullable=False),               # the first result, JSON
    sa.Column("at", sa.DateTime, nullable=False),
)


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine configured for the registry's locking discipline.

    SQLite: WAL journal, ``synchronous=NORMAL`` (durable against a killed process), foreign keys
    on, a generous busy timeout, and ``BEGIN IMMEDIATE`` so a transaction takes the write lock
    before it reads the holdings it is about to change (read-only work, marked with the
    execution option ``carbonlink_read``, begins deferred and never waits for a writer).
    """
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, **kwargs)

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _rec: Any) -> None:
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=60000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: sa.Connection) -> None:
            # reads (Registry._read) take no write lock: a deferred BEGIN reads one WAL snapshot
            # while a writer works
            read = conn.get_execution_options().get("carbonlink_read", False)
            conn.exec_driver_sql("BEGIN" if read else "BEGIN IMMEDIATE")

        return engine
    kwargs.setdefault("pool_size", 5)
    kwargs.setdefault("max_overflow", 30)
    return sa.create_engine(url, **kwargs)
