"""Reporting calendar (Decision 2/CMA.3 annex chapter IV).

* initial report — no later than the first authorisation of ITMOs from a cooperative approach
  (para 18), and in any case before the first authorised transfer;
* annual information in the AEF — by 15 April of the year after each year with authorisations
  in force (para 20);
* regular information — with each biennial transparency report, due 31 December of every
  second year (para 21; BTRs are due in even years from 2024).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from carbonlink.errors import DocumentError
from carbonlink.registry.db import authorisations, first_transfers, reports_submitted


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


def reporting_calendar(conn: Connection, today: date,
                       party: str | None = None) -> list[CalendarItem]:
    if today > LAST_DAY:
        raise DocumentError("today", f"must be on or before {LAST_DAY}, got {today}")
    parties: dict[str, date] = {}
    for p, d in conn.execute(sa.select(authorisations.c.party,
                                       sa.func.min(authorisations.c.recorded_at))
                             .group_by(authorisations.c.party)):
        parties[p] = d.date()
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
                "overdue" if today > due else "due")
            return CalendarItem(p, kind, year, due, st, src)

        due0 = min(first_auth, first_ft.get(p, first_auth))
        out.append(item("initial", 0, due0, "Decision 2/CMA.3 annex para 18"))
        for y in range(first_auth.year, today.year + 1):
            out.append(item("annual", y, date(y + 1, 4, 15), "Decision 2/CMA.3 annex para 20"))
        y = first_auth.year + (first_auth.year % 2)
        while y <= today.year + 1:
            out.append(item("regular", y, date(y, 12, 31), "Decision 2/CMA.3 annex paras 21–23"))
            y += 2
    return out
