"""The ranges every number a caller gives the registry must lie in (check ``R1008``).

They keep every stored value far inside its column (``BigInteger``: 2^63 − 1) so no sum or
serial can overflow, whatever the order of calls:

* a **quantity** (units, tonnes) is at most :data:`MAX_QUANTITY` = 10^12 t — twenty times the
  world's annual greenhouse-gas emissions (about 5.3 × 10^10 t CO2e in 2023, UNEP Emissions Gap
  Report 2024, Table ES.1); an assumption of this registry, not a legal limit;
* a **serial number** is at most :data:`MAX_SERIAL` = 2^53 (exact in IEEE doubles, so JSON
  readers keep it exact); an issuance that would pass it is refused, so a serial block can
  never overflow by construction (2^53 + 10^12 < 2^63);
* a **vintage** or reporting **year** lies in [:data:`MIN_YEAR`, :data:`MAX_YEAR`] = [1990,
  2100]: 1990 is the base year of the UNFCCC inventories (Decision 24/CP.19), 2100 the horizon
  of the Paris Agreement's long-term goal (Art 4.1); an assumption beyond those sources;
* a Party's **emissions** covered by its NDC lie in [−MAX_EMISSIONS, MAX_EMISSIONS] (net
  emissions with removals can be negative: Bhutan and Suriname report net removals), an
  entity's verified emissions in [0, MAX_EMISSIONS]; MAX_EMISSIONS = 10^11 t.
"""

from __future__ import annotations

from carbonlink.registry.checks import fail

MAX_QUANTITY = 10**12
MAX_SERIAL = 2**53
MIN_YEAR, MAX_YEAR = 1990, 2100
MAX_EMISSIONS = 10**11
#: transaction ids are the ``transactions.id`` column's (``Integer``: 32 bits on PostgreSQL)
MAX_TX_ID = 2**31 - 1


def _whole(value: object, path: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        fail("R1008", path, f"must be a whole number, got {value!r}")
    return value


def quantity(value: object, path: str = "quantity", *, zero: bool = False) -> None:
    v = _whole(value, path)
    low = 0 if zero else 1
    if not low <= v <= MAX_QUANTITY:
        fail("R1008", path, f"must be between {low} and {MAX_QUANTITY:,} units, got {v:,}")


def year(value: object, path: str = "year") -> None:
    v = _whole(value, path)
    if not MIN_YEAR <= v <= MAX_YEAR:
        fail("R1008", path, f"must be a year from {MIN_YEAR} to {MAX_YEAR}, got {v}")


def emissions(value: object, path: str = "tonnes", *, net: bool) -> None:
    v = _whole(value, path)
    low = -MAX_EMISSIONS if net else 0
    if not low <= v <= MAX_EMISSIONS:
        fail("R1008", path, f"must be between {low:,} and {MAX_EMISSIONS:,} t, got {v:,}")


def serial(value: object, path: str = "serials") -> None:
    v = _whole(value, path)
    if not 1 <= v <= MAX_SERIAL:
        fail("R1008", path, f"serial numbers run from 1 to {MAX_SERIAL:,}, got {v:,}")


def tx_id(value: object, path: str = "tx") -> None:
    """A transaction id: a whole number from 1 to :data:`MAX_TX_ID` (a string, float or bool
    is refused, not coerced by the database into some other transaction's id)."""
    v = _whole(value, path)
    if not 1 <= v <= MAX_TX_ID:
        fail("R1008", path, f"a transaction id runs from 1 to {MAX_TX_ID:,}, got {v:,}")
