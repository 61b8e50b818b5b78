"""Coded transaction checks, layered in the style of the Kyoto ITL Data Exchange Standards.

Every check has a **stable code** (never renumbered; a retired code is never reused), a layer,
a one-line statement of what it enforces and the **legal source** it comes from. A failed check
raises :class:`CheckFailed` (a :class:`~carbonlink.errors.DocumentError`, CLI exit code 2) before
anything is written: the database transaction that ran the check is rolled back.

Layers (run in this order for every request):

1. request validity (``R1xxx``)
2. account and unit validity (``A2xxx``)
3. holdings (``H3xxx``)
4. link terms from the linkage agreement (``L4xxx``)
5. authorisation terms (``U5xxx``)
6. double counting (``D6xxx``)

Before all of them, access (``S7xxx``): who is acting and whether their role allows the
operation (:mod:`carbonlink.registry.access`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NoReturn

from carbonlink.errors import DocumentError


@dataclass(frozen=True)
class Check:
    code: str
    layer: str
    rule: str
    source: str


_P = "Decision 2/CMA.3 annex"
_AEF = "Decision 6/CMA.4 annex"
_ITL = "Kyoto ITL DES (Decision 5/CMP.1 para 42 checks)"

CHECKS: dict[str, Check] = {c.code: c for c in [
    # 1 request validity
    Check("R1001", "request", "quantity is a positive whole number of units", _ITL),
    Check("R1002", "request", "the transaction is in a state that allows this step",
          "carbonlink transfer protocol (CITSS Q-2 r.46.1 s.26 three-step transfer)"),
    Check("R1003", "request", "the proposal has not expired",
          "Reg. (EU) 389/2013 (24 h finality) / Q-2 r.46.1 s.26 (2 + 3 days)"),
    Check("R1004", "request", "identifiers are well formed (registry CCC99, approach CA9999)",
          f"{_AEF} I para 5 (ITMO unique identifier)"),
    Check("R1005", "request", "the referenced registry, holder, link or transaction exists",
          _ITL),
    Check("R1006", "request", "dates and years are consistent (vintage window, periods)",
          f"{_P} paras 7, 12"),
    Check("R1008", "request", "numbers lie in their stated ranges: quantities 1–10^12, serial "
          "numbers 1–2^53, vintages and years 1990–2100, emissions within ±10^11 t "
          "(entities ≥ 0)", "carbonlink.registry.bounds (assumptions stated there; UNFCCC "
          "base year 1990, Decision 24/CP.19; Paris Agreement Art 4.1)"),
    Check("R1007", "request", "the corresponding-adjustment method fits the NDC type "
          "(single-year: trajectory or averaging; multi-year: multi-year trajectory/budget)",
          f"{_P} para 7(a), 7(b)"),
    # 2 account and unit validity
    Check("A2001", "account", "the transferring account exists and is open",
          "Reg. (EU) 2216/2004 Annex IX code 7021"),
    Check("A2002", "account", "the acquiring account exists and is open",
          "Reg. (EU) 2216/2004 Annex IX code 7020"),
    Check("A2003", "account", "the account type may hold this unit type",
          f"{_P} para 30 (accounts for each action); Reg. 920/2010 Annex I matrix"),
    Check("A2004", "account", "units never leave a cancellation, retirement, use or "
          "compliance account", f"{_P} para 29; 17 CCR §95831 (one-way compliance account)"),
    Check("A2005", "account", "the person acting is a representative of the account",
          "Reg. (EU) 2019/1122 Art 20"),
    Check("A2006", "account", "the approver is a second representative (four eyes)",
          "Reg. (EU) 2019/1122 Art 20; Q-2 r.46.1 s.26 step 2"),
    Check("A2007", "account", "an internal transfer stays inside one registry; an external "
          "transfer crosses to another registry", "Reg. (EU) 2216/2004 Annex IX code 7022"),
    # 3 holdings
    Check("H3001", "holdings", "the transferring account holds enough matching units",
          "Reg. (EU) 2216/2004 Annex IX code 7027"),
    # 4 link terms
    Check("L4001", "link", "a link from the transferring to the acquiring registry exists",
          "linkage agreement (link terms)"),
    Check("L4002", "link", "the unit type is recognised in this direction of the link",
          "linkage agreement (recognised units), e.g. EU–CH agreement Annex I"),
    Check("L4003", "link", "the link's quota of from-units is not exceeded",
          "linkage agreement (quantitative limit, jurisdiction level)"),
    Check("L4004", "link", "the link is not suspended or delinked on the transaction date",
          "linkage agreement (suspension / termination clause)"),
    Check("L4005", "link", "units imported over the link cover no more than the entity "
          "share of the entity's verified emissions", "linkage agreement (entity-level limit)"),
    # 5 authorisation terms
    Check("U5001", "authorisation", "ITMOs are issued and used under a known authorisation",
          "Paris Agreement Art 6.3; " + f"{_P} para 1(d)"),
    Check("U5002", "authorisation", "the authorisation is in force (not before its "
          "timeframe, not revoked from the effective date)", f"{_P} para 18(f); 6/CMA.4 Table 2"),
    Check("U5003", "authorisation", "the authorised volume is not exceeded",
          f"{_AEF} Table 2 (authorized quantity)"),
    Check("U5004", "authorisation", "the vintage is inside the authorised vintage window",
          f"{_AEF} Table 2 (authorized timeframe)"),
    Check("U5005", "authorisation", "the acting entity is an authorised entity",
          f"{_AEF} Table 5 (authorized entities); {_P} para 18(g)"),
    Check("U5006", "authorisation", "the use matches the authorised purposes (NDC / OIMP)",
          f"{_P} para 1(d)-(f); {_AEF} Table 2 (purposes)"),
    Check("U5007", "authorisation", "changes to an authorisation apply only prospectively",
          "Decision 2/CMA.3 guidance as further specified at CMA.6 (change and revocation)"),
    # 6 double counting
    Check("D6001", "double counting", "units are not already cancelled, used, surrendered or "
          "retired", f"{_ITL}; {_P} para 6"),
    Check("D6002", "double counting", "units are not present in more than one registry",
          f"{_ITL} (units in more than one registry); {_P} para 29"),
    Check("D6003", "double counting", "no ITMO is first transferred twice",
          f"{_P} paras 2, 6 (corresponding adjustment once per first transfer)"),
    Check("D6004", "double counting", "a finalised period's corresponding adjustments are "
          "not changed", f"{_P} para 12"),
    # 7 access (run first)
    Check("S7001", "access", "the acting user is authenticated and holds a role allowed to "
          "run the operation in its registry, Party or account",
          "Reg. (EU) 2019/1122 Arts 20-21 (authorised representatives)"),
    Check("S7002", "access", "four eyes: a second person with the required role approves what "
          "a first person proposed",
          "Reg. (EU) 2019/1122 Art 20 (agreement of an additional authorised representative)"),
    Check("S7003", "access", "credentials are valid (password, second factor, token) and the "
          "login is not locked", "NIST SP 800-63B §5.2.2 (rate limiting); RFC 6238 (TOTP)"),
    Check("S7004", "access", "the time of an action is the server's clock; a caller sets it "
          "only to load history in an administrator's replay mode (entries marked replayed)",
          "ISO/IEC 27001:2022 Annex A 8.17 (clock synchronisation)"),
]}


class CheckFailed(DocumentError):
    """A coded check rejected the request; nothing was written."""

    def __init__(self, code: str, path: str, detail: str) -> None:
        self.code = code
        self.check = CHECKS[code]
        self.detail = detail
        super().__init__(path, f"[{code}] {detail} ({self.check.source})")


def fail(code: str, path: str, detail: str) -> NoReturn:
    """Raise :class:`CheckFailed` for ``code``."""
    raise CheckFailed(code, path, detail)
