"""Reporting calendar (Decision 2/CMA.3 annex chapter IV).

* initial report — no later than the first authorisation of ITMOs from a cooperative approach
  (para 18), and in any case before the first authorised transfer;
* annual information in the AEF — by 15 April of the year after each year with authorisations
  in force (para 20);
* regular information — with each biennial transparency report, due 31 December of every
  second year (para 21; BTRs are due in even years from 2024).

Every *participating Party* reports (paras 18, 20, 21 speak of "each participating Party"): the
Party that authorises ITMOs and also the Party that acquires them in an ITMO transfer. An
acquiring Party's obligations start with its first acquisition (its participation in the
cooperative approach; assumption: the registry knows no earlier participation date).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from carbonlink.errors import DocumentError
from carbonlink.registry.db import (
    accounts,
    authorisations,
    first_transfers,
    registries,
    reports_submitted,
    transaction_blocks,
    transactions,
)


@dataclass(frozen=True)
class CalendarItem:
    party: str
    report: str          # initial | annual | regular
    year: int            # reported year (0 for the initial report)
    due: date
    status: str          # submitted | overdue | due
    source: str


#: the calendar lists the annual information due the following April and the regular
#: information of the following year, both of which must still be a date (year <= 9999)
LAST_DAY = date(9998, 12, 31)


def reporting_calendar(conn: Connection, as_of: date,
                       party: str | None = None) -> list[CalendarItem]:
    """The items due as of ``as_of`` (the reference date statuses refer to), per Party."""
    if as_of > LAST_DAY:
        raise DocumentError("as_of", f"must be on or before {LAST_DAY}, got {as_of}")
    parties: dict[str, date] = {}
    for p, d in conn.execute(sa.select(authorisations.c.party,
                                       sa.func.min(authorisations.c.recorded_at))
                             .group_by(authorisations.c.party)):
        parties[p] = d.date()
    # acquiring Parties of completed ITMO transfers (units under an authorisation received in an
    # account of another Party's registry): participating Parties too (2/CMA.3 annex paras 18, 20)
    acquired = (sa.select(registries.c.party, sa.func.min(transactions.c.updated_at))
                .select_from(transactions
                             .join(accounts, accounts.c.id == transactions.c.to_account)
                             .join(registries, registries.c.id == accounts.c.registry_id))
                .where(transactions.c.state == "completed",
                       transactions.c.kind == "external_transfer",
                       sa.exists().where(transaction_blocks.c.tx_id == transactions.c.id,
                                         transaction_blocks.c.authorisation_id.is_not(None)))
                .group_by(registries.c.party))
    for p, d in conn.execute(acquired):
        parties[p] = min(parties.get(p, d.date()), d.date())
    first_ft = {p: d.date() for p, d in conn.execute(sa.select(
        first_transfers.c.party, sa.func.min(first_transfers.c.at))
        .group_by(first_transfers.c.party))}
    done = {(r.party, r.kind, int(r.year)) for r in conn.execute(sa.select(reports_submitted))}
    out: list[CalendarItem] = []
    for p, first_auth in sorted(parties.items()):
        if party is not None and p != party:
            continue

        def item(kind: str, year: int, due: date, src: str, p: str = p) -> CalendarItem:
            st = "submitted" if (p, kind, year) in done else (
                "overdue" if as_of > due else "due")
            return CalendarItem(p, kind, year, due, st, src)

        due0 = min(first_auth, first_ft.get(p, first_auth))
        out.append(item("initial", 0, due0, "Decision 2/CMA.3 annex para 18"))
        for y in range(first_auth.year, as_of.year + 1):
            out.append(item("annual", y, date(y + 1, 4, 15), "Decision 2/CMA.3 annex para 20"))
        y = first_auth.year + (first_auth.year % 2)
        while y <= as_of.year + 1:
            out.append(item("regular", y, date(y, 12, 31), "Decision 2/CMA.3 annex paras 21–23"))
            y += 2
    return out
