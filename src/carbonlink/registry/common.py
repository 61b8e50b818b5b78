"""Shared records and constants of the registry service: unit and account types, the
:class:`Piece` a transaction moves, the :class:`Receipt` of a state change, an
:class:`Authorisation` version and :func:`first_transfer_due`."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, NamedTuple

import sqlalchemy as sa

UNIT_TYPES = ("allowance", "offset", "a64er", "itmo")
_ALL = frozenset(UNIT_TYPES)
#: which unit types each account type may hold (Reg. 920/2010 Annex I style matrix)
ACCOUNT_UNITS: dict[str, frozenset[str]] = {
    "party_holding": _ALL,
    "entity_holding": _ALL,
    "compliance": _ALL,
    "ndc_use": frozenset({"itmo", "a64er", "allowance", "offset"}),
    "oimp_cancellation": frozenset({"itmo", "a64er", "allowance", "offset"}),
    "voluntary_cancellation": _ALL,
    "omge_cancellation": frozenset({"itmo", "a64er"}),
    "retirement": _ALL,
    "sop": frozenset({"a64er"}),
}
HOLDING_TYPES = frozenset({"party_holding", "entity_holding"})
#: terminal account type → status the units take there
TERMINAL: dict[str, str] = {
    "compliance": "surrendered",
    "ndc_use": "used",
    "oimp_cancellation": "cancelled",
    "voluntary_cancellation": "cancelled",
    "omge_cancellation": "cancelled",
    "retirement": "retired",
    "sop": "cancelled",
}
CANCEL_ACCOUNT = {"oimp": "oimp_cancellation", "voluntary": "voluntary_cancellation",
                  "omge": "omge_cancellation"}
PURPOSES = ("NDC", "OIMP", "NDC and OIMP")
FIRST_TRANSFER_DEFINITIONS = ("authorisation", "issuance", "use_or_cancellation")
#: transaction states of an external transfer (two-phase, with escrow)
OPEN_STATES = ("proposed", "approved")

_REGISTRY_ID = re.compile(r"^[A-Z]{3}\d{2}$")
_CA_ID = re.compile(r"^CA\d{4}$")


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _naive(at: datetime) -> datetime:
    if at.tzinfo is not None:
        at = at.astimezone(UTC).replace(tzinfo=None)
    return at


@dataclass(frozen=True)
class Piece:
    """A serial block moved by one transaction (after any split)."""

    block_id: int
    issuing_registry: str
    unit_type: str
    vintage: int
    start: int
    end: int
    authorisation_id: str | None
    first_transferred: bool

    @property
    def quantity(self) -> int:
        return self.end - self.start + 1


@dataclass(frozen=True)
class Receipt:
    """What a state-changing call did."""

    tx_id: int
    kind: str
    state: str
    quantity: int
    converted_quantity: int | None = None
    first_transferred: int = 0
    blocks: list[tuple[str, str, int, int, int]] = field(default_factory=list)


#: events at which a unit's first transfer is detected (the others catch up: see below)
PRIMARY_EVENTS = ("issuance", "use_or_cancellation")


def first_transfer_due(purposes: str, ftd: str | None, event: str, *, international: bool,
                       abroad: bool) -> bool:
    """Is a unit **not yet first transferred** first transferred at ``event``, under the
    authorisation version in force on the event date (2/CMA.3 annex paras 2 and 6)?

    A unit takes the terms of the version under which it is first transferred; versions recorded
    after that apply to it only prospectively (U5007). Before its first transfer, each event is
    judged under the version then in force:

    * NDC in the purposes (para 2(a)): the first **international** transfer — an external
      transfer to a registry of another Party (``international``). A unit that already sits
      outside the first-transferring Party (``abroad``: it crossed while its authorisation did
      not cover NDC) has had its international transfer: it is first transferred at its next
      event (acceptance, use, cancellation, surrender, retirement).
    * OIMP with first-transfer definition ``authorisation`` or ``issuance`` (para 2(b)): the
      issuance — for a unit issued before this version took effect the defined event has
      already happened, so it is first transferred at its next event.
    * OIMP with ``use_or_cancellation`` (para 2(b)): its OIMP use or cancellation.

    So no authorised unit leaves the first-transferring Party for NDC purposes, or is used or
    cancelled for OIMP, without a corresponding adjustment (para 6), whatever the order of the
    versions.
    """
    purpose_set = {"NDC", "OIMP"} if purposes == "NDC and OIMP" else {purposes}
    if "NDC" in purpose_set and ((event == "external_transfer" and international) or abroad):
        return True
    if "OIMP" in purpose_set:
        if ftd in ("authorisation", "issuance"):
            return True
        if event == "use_or_cancellation":
            return True
    return False


@dataclass(frozen=True)
class Authorisation:
    id: str
    version: int
    cooperative_approach: str
    party: str
    registry_id: str
    quantity: int
    purposes: str
    vintage_from: int
    vintage_to: int
    valid_from: date
    valid_to: date | None
    first_transfer_definition: str | None
    metric: str
    revoked: bool
    effective_from: date
    entities: frozenset[int]
    terms: str | None = None

    @property
    def purpose_set(self) -> frozenset[str]:
        return frozenset({"NDC", "OIMP"}) if self.purposes == "NDC and OIMP" \
            else frozenset({self.purposes})

    def triggers(self) -> frozenset[str]:
        """Events that count as the first transfer (2/CMA.3 annex para 2(b))."""
        out: set[str] = set()
        if "NDC" in self.purpose_set:
            out.add("external_transfer")
        if "OIMP" in self.purpose_set:
            d = self.first_transfer_definition
            out.add("issuance" if d in ("authorisation", "issuance") else "use_or_cancellation")
        return frozenset(out)

    def first_transfer_due(self, event: str, *, international: bool, abroad: bool) -> bool:
        """See :func:`first_transfer_due`; this version is the one in force on the event."""
        return first_transfer_due(self.purposes, self.first_transfer_definition, event,
                                  international=international, abroad=abroad)

    def in_force(self, on: date) -> bool:
        return not self.revoked and self.valid_from <= on and (
            self.valid_to is None or on <= self.valid_to)


def _retriable(exc: sa.exc.DBAPIError) -> bool:
    code = getattr(exc.orig, "sqlstate", None)
    if code in ("40001", "40P01", "26000"):
        return True
    return "database is locked" in str(exc.orig)


class _RolledBack(Exception):
    """Not an error: carries the result of a dry run out of its rolled-back transaction."""

    def __init__(self, out: Any) -> None:
        self.out = out


class _Kept(NamedTuple):
    """A connection kept checked out of the pool (``pooled``), in autocommit mode, and the
    psycopg cursor one-statement work runs on (its ``connection`` is the driver's); ``epoch``:
    how many times the registry had been closed when it was taken (one taken before the last
    ``close`` is closed, not kept)."""

    pooled: Any
    cursor: Any
    epoch: int = 0


