"""Authorisations of ITMOs (2/CMA.3 annex para 18(b)) and their versions."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from carbonlink.errors import DocumentError
from carbonlink.registry import bounds
from carbonlink.registry import journal as jr
from carbonlink.registry.accounts import Accounts
from carbonlink.registry.checks import fail
from carbonlink.registry.common import (
    _CA_ID,
    FIRST_TRANSFER_DEFINITIONS,
    PURPOSES,
    Authorisation,
)
from carbonlink.registry.db import (
    authorisation_totals,
    authorisations,
    authorised_entities,
    holders,
)
from carbonlink.registry.guard import operation


class Authorisations(Accounts):
    """Part of :class:`carbonlink.registry.service.Registry` (see the module)."""

    # ------------------------------------------------------------------ authorisations
    @operation("authorise")
    def authorise(self, id: str, *, cooperative_approach: str, registry: str, quantity: int,
                  purposes: str = "NDC", vintage_from: int, vintage_to: int,
                  valid_from: date, valid_to: date | None = None,
                  first_transfer_definition: str | None = None,
                  entities: Iterable[int] = (), metric: str = "tCO2e",
                  terms: str | None = None, effective_from: date | None = None,
                  revoked: bool = False, at: datetime | None = None) -> int:
        """Record an authorisation (Art 6.3) or a new version of one; returns the version.

        A change applies only prospectively: ``effective_from`` may not lie before the date
        of the change (U5007), and the cap may not fall below what is already first
        transferred.
        """
        when = self._when(at)
        if not _CA_ID.match(cooperative_approach):
            fail("R1004", "cooperative_approach",
                 f"must be CA followed by four digits, got {cooperative_approach!r}")
        if purposes not in PURPOSES:
            raise DocumentError("purposes", f"must be one of {', '.join(PURPOSES)}, "
                                f"got {purposes!r}")
        if "OIMP" in purposes and first_transfer_definition not in FIRST_TRANSFER_DEFINITIONS:
            raise DocumentError("first_transfer_definition",
                                "required for OIMP (para 2(b)): one of "
                                f"{', '.join(FIRST_TRANSFER_DEFINITIONS)}")
        if quantity < 0:
            fail("R1001", "quantity", f"must be >= 0, got {quantity}")
        bounds.quantity(quantity, zero=True)
        bounds.year(vintage_from, "vintage_from")
        bounds.year(vintage_to, "vintage_to")
        if vintage_to < vintage_from:
            fail("R1006", "vintage_to", f"{vintage_to} is before vintage_from {vintage_from}")
        if valid_to is not None and valid_to < valid_from:
            fail("R1006", "valid_to", f"{valid_to} is before valid_from {valid_from}")
        ents = sorted(set(entities))

        def go(conn: Connection) -> int:
            reg = self._registry(conn, registry, "registry")
            latest = conn.execute(sa.select(authorisations).where(
                authorisations.c.id == id).order_by(authorisations.c.version.desc())).first()
            eff = effective_from or (when.date() if latest else min(valid_from, when.date()))
            if latest is not None:
                if eff < when.date():
                    fail("U5007", "effective_from", f"a change to {id} must take effect on or "
                         f"after {when.date()}, got {eff}")
                if latest.registry_id != registry or latest.cooperative_approach != \
                        cooperative_approach:
                    fail("U5007", "registry", "a new version may not move the authorisation "
                         "to another registry or cooperative approach")
                version = int(latest.version) + 1
                tot = conn.execute(sa.select(authorisation_totals).where(
                    authorisation_totals.c.authorisation_id == id).with_for_update()).one()
                if quantity < tot.first_transferred:
                    fail("U5007", "quantity", f"{tot.first_transferred} units of {id} are "
                         f"already first transferred; the cap cannot drop to {quantity}")
            else:
                version = 1
                conn.execute(authorisation_totals.insert().values(
                    authorisation_id=id, issued=0, first_transferred=0))
            for h in ents:
                if conn.execute(sa.select(holders.c.id).where(holders.c.id == h)).first() is None:
                    fail("R1005", "entities", f"no holder {h}")
            conn.execute(authorisations.insert().values(
                id=id, version=version, cooperative_approach=cooperative_approach,
                party=reg.party, registry_id=registry, quantity=quantity, purposes=purposes,
                vintage_from=vintage_from, vintage_to=vintage_to, valid_from=valid_from,
                valid_to=valid_to, first_transfer_definition=first_transfer_definition,
                metric=metric, revoked=revoked, effective_from=eff, recorded_at=when,
                terms=terms))
            for h in ents:
                conn.execute(authorised_entities.insert().values(
                    authorisation_id=id, version=version, holder_id=h))
            jr.append(conn, when, "authorisation", None, {
                "id": id, "version": version, "approach": cooperative_approach,
                "party": reg.party, "registry": registry, "quantity": quantity,
                "purposes": purposes, "vintages": [vintage_from, vintage_to],
                "valid": [valid_from, valid_to], "ftd": first_transfer_definition,
                "metric": metric, "revoked": revoked, "effective_from": eff, "entities": ents})
            return version
        return self._run(go)

    @operation("revoke")
    def revoke(self, id: str, effective_from: date, *, at: datetime | None = None) -> int:
        """Revoke an authorisation from ``effective_from`` (prospective; ITMOs already first
        transferred keep their status)."""
        a = self.authorisation(id)
        return self.authorise(
            id, cooperative_approach=a.cooperative_approach, registry=a.registry_id,
            quantity=a.quantity, purposes=a.purposes, vintage_from=a.vintage_from,
            vintage_to=a.vintage_to, valid_from=a.valid_from, valid_to=a.valid_to,
            first_transfer_definition=a.first_transfer_definition, entities=a.entities,
            metric=a.metric, terms=a.terms, effective_from=effective_from, revoked=True, at=at)

    @operation("authorisation")
    def authorisation(self, id: str, on: date | None = None) -> Authorisation:
        """The version of authorisation ``id`` in effect on ``on`` (default: the newest)."""
        return self._read(lambda c: self._auth(c, id, on, "authorisation"))

    def _auth(self, conn: Connection, id: str, on: date | None, path: str,
              version: int | None = None) -> Authorisation:
        q = sa.select(authorisations).where(authorisations.c.id == id)
        if version is not None:
            q = q.where(authorisations.c.version == version)
        elif on is not None:
            q = q.where(authorisations.c.effective_from <= on)
        r = conn.execute(q.order_by(authorisations.c.version.desc())).first()
        if r is None:
            fail("U5001", path, f"no authorisation {id!r}" + (f" in effect on {on}" if on else ""))
        ents = conn.execute(sa.select(authorised_entities.c.holder_id).where(
            authorised_entities.c.authorisation_id == id,
            authorised_entities.c.version == r.version)).scalars().all()
        return Authorisation(
            r.id, r.version, r.cooperative_approach, r.party, r.registry_id, int(r.quantity),
            r.purposes, r.vintage_from, r.vintage_to, r.valid_from, r.valid_to,
            r.first_transfer_definition, r.metric, bool(r.revoked), r.effective_from,
            frozenset(int(e) for e in ents), r.terms)
