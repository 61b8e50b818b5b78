"""Registries, account holders, accounts and links (the structure units move in)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from carbonlink.errors import DocumentError
from carbonlink.registry import bounds
from carbonlink.registry import journal as jr
from carbonlink.registry.checks import fail
from carbonlink.registry.common import (
    _REGISTRY_ID,
    ACCOUNT_UNITS,
    TERMINAL,
    UNIT_TYPES,
)
from carbonlink.registry.db import (
    accounts,
    holders,
    links,
    registries,
)
from carbonlink.registry.guard import operation
from carbonlink.registry.users import Users


class Accounts(Users):
    """Part of :class:`carbonlink.registry.service.Registry` (see the module)."""

    # ------------------------------------------------------------------ set-up
    @operation("add_registry")
    def add_registry(self, id: str, party: str | None = None, *, system: str | None = None,
                     name: str | None = None, at: datetime | None = None) -> dict[str, int]:
        """A registry (one per participating system/Party) with its Party holding account and
        one account of each terminal type; returns ``{account type: account id}``."""
        if not _REGISTRY_ID.match(id):
            fail("R1004", "registry", f"registry id must be ISO alpha-3 + 2 digits, got {id!r}")
        party = party or id[:3]
        if not re.match(r"^[A-Z]{3}$", party):
            fail("R1004", "party", f"party must be ISO alpha-3, got {party!r}")
        when = self._when(at)

        def go(conn: Connection) -> dict[str, int]:
            if conn.execute(sa.select(registries.c.id).where(registries.c.id == id)).first():
                raise DocumentError("registry", f"registry {id!r} already exists")
            conn.execute(registries.insert().values(id=id, party=party, system=system or id,
                                                    name=name or id, created_at=when))
            out: dict[str, int] = {}
            for t in ["party_holding", *TERMINAL]:
                out[t] = conn.execute(accounts.insert().values(
                    registry_id=id, holder_id=None, type=t, status="open",
                    name=f"{id} {t.replace('_', ' ')}").returning(accounts.c.id)).scalar_one()
            jr.append(conn, when, "registry.add", None,
                      {"registry": id, "party": party, "system": system or id, "accounts": out})
            return out
        return self._run(go)

    @operation("add_holder")
    def add_holder(self, registry: str, name: str, *, country: str | None = None,
                   identifier: str | None = None, at: datetime | None = None) -> int:
        when = self._when(at)

        def go(conn: Connection) -> int:
            self._registry(conn, registry, "registry")
            hid = conn.execute(holders.insert().values(
                registry_id=registry, name=name, country=country, identifier=identifier
            ).returning(holders.c.id)).scalar_one()
            jr.append(conn, when, "holder.add", None,
                      {"holder": hid, "registry": registry, "name": name})
            return int(hid)
        return self._run(go)

    @operation("open_account")
    def open_account(self, registry: str, type: str = "entity_holding", *,
                     holder: int | None = None, name: str | None = None,
                     representatives_: Sequence[str | tuple[str, str]] = (),
                     at: datetime | None = None) -> int:
        if type not in ACCOUNT_UNITS:
            raise DocumentError("type", f"unknown account type {type!r} "
                                f"(one of {', '.join(ACCOUNT_UNITS)})")
        when = self._when(at)

        def go(conn: Connection) -> int:
            self._registry(conn, registry, "registry")
            if holder is not None:
                h = conn.execute(sa.select(holders).where(holders.c.id == holder)).first()
                if h is None or h.registry_id != registry:
                    fail("R1005", "holder", f"holder {holder} is not in registry {registry}")
            aid = conn.execute(accounts.insert().values(
                registry_id=registry, holder_id=holder, type=type, status="open",
                name=name or f"{registry} {type}").returning(accounts.c.id)).scalar_one()
            reps = self._add_reps(conn, aid, representatives_)
            jr.append(conn, when, "account.open", None,
                      {"account": aid, "registry": registry, "type": type, "holder": holder,
                       "representatives": reps})
            return int(aid)
        return self._run(go)

    @operation("set_account_status")
    def set_account_status(self, account: int, status: str, *, at: datetime | None = None) -> None:
        """Open, block (freeze) or close an account."""
        if status not in ("open", "blocked", "closed"):
            raise DocumentError("status", f"must be open, blocked or closed, got {status!r}")
        when = self._when(at)

        def go(conn: Connection) -> None:
            n = conn.execute(accounts.update().where(accounts.c.id == account)
                             .values(status=status)).rowcount
            if not n:
                fail("R1005", "account", f"no account {account}")
            jr.append(conn, when, "account.status", None, {"account": account, "status": status})
        self._run(go)

    @operation("add_link")
    def add_link(self, from_registry: str, to_registry: str, *, exchange_rate: float = 1.0,
                 discount: float = 0.0, quota: int | None = None,
                 entity_share: float | None = None,
                 unit_types: Iterable[str] = ("allowance",),
                 suspended_from: date | None = None, at: datetime | None = None) -> int:
        """Record the link terms of a linkage agreement for one direction ``from → to``
        (replaces earlier terms of the same direction, keeping the quota already used)."""
        ut = sorted(set(unit_types))
        for i, u in enumerate(ut):
            if u not in UNIT_TYPES:
                raise DocumentError(f"unit_types[{i}]", f"unknown unit type {u!r}")
        if not exchange_rate > 0:
            raise DocumentError("exchange_rate", f"must be > 0, got {exchange_rate}")
        if not 0 <= discount < 1:
            raise DocumentError("discount", f"must be in [0, 1), got {discount}")
        if quota is not None and quota < 0:
            raise DocumentError("quota", f"must be >= 0, got {quota}")
        if quota is not None:
            bounds.quantity(quota, "quota", zero=True)
        if entity_share is not None and not 0 <= entity_share <= 1:
            raise DocumentError("entity_share", f"must be in [0, 1], got {entity_share}")
        if from_registry == to_registry:
            raise DocumentError("to", "a link cannot go from a registry to itself")
        when = self._when(at)

        def go(conn: Connection) -> int:
            self._registry(conn, from_registry, "from")
            self._registry(conn, to_registry, "to")
            values = dict(exchange_rate=exchange_rate, discount=discount, quota=quota,
                          entity_share=entity_share, unit_types=",".join(ut),
                          suspended_from=suspended_from)
            old = conn.execute(sa.select(links.c.id).where(
                links.c.from_registry == from_registry, links.c.to_registry == to_registry)
                .with_for_update()).first()
            if old:
                lid = int(old.id)
                conn.execute(links.update().where(links.c.id == lid).values(**values))
            else:
                lid = int(conn.execute(links.insert().values(
                    from_registry=from_registry, to_registry=to_registry, moved=0, **values)
                    .returning(links.c.id)).scalar_one())
            jr.append(conn, when, "link.set", None,
                      {"link": lid, "from": from_registry, "to": to_registry, **values})
            return lid
        return self._run(go)

    @operation("load_links")
    def load_links(self, path: str | Path, *, at: datetime | None = None) -> list[int]:
        """Load ``links:`` from YAML (the simulator's Link format plus ``unit_types`` and an
        optional ``suspended_from`` date); ``from``/``to`` name registry ids or systems."""
        from carbonlink.registry.links import read_links
        specs = read_links(path)
        ids: list[int] = []
        for s in specs:
            f = self._resolve_system(s.from_registry, s.path + ".from")
            t = self._resolve_system(s.to_registry, s.path + ".to")
            ids.append(self.add_link(f, t, exchange_rate=s.exchange_rate, discount=s.discount,
                                     quota=s.quota, entity_share=s.entity_share,
                                     unit_types=s.unit_types, suspended_from=s.suspended_from,
                                     at=at))
        return ids

    def _resolve_system(self, key: str, path: str) -> str:
        def go(conn: Connection) -> str:
            r = conn.execute(sa.select(registries.c.id).where(
                sa.or_(registries.c.id == key, registries.c.system == key))).first()
            if r is None:
                raise DocumentError(path, f"no registry with id or system {key!r}")
            return str(r.id)
        return self._read(go)

    def _registry(self, conn: Connection, id: str, path: str, lock: bool = False) -> Any:
        q = sa.select(registries).where(registries.c.id == id)
        r = conn.execute(q.with_for_update() if lock else q).first()
        if r is None:
            fail("R1005", path, f"no registry {id!r}")
        return r
