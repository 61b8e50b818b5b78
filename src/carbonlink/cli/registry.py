"""``carbonlink registry …``: the Article 6.2 / linked-ETS registry from the command line.

Every command takes ``--db URL`` (default ``CARBONLINK_DATABASE_URL`` or the settings default)
and acts as the user logged in with ``carbonlink login`` (or the token in
``$CARBONLINK_TOKEN``). A rejected request — including a refused role (``S7001``) — prints
its check code and legal source and exits with code 2, writing nothing; ``verify`` exits 1
when it finds a divergence. Administrative actions under four eyes print the pending action a
second person approves with ``registry action approve ID``.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from carbonlink.cli.app import app
from carbonlink.cli.login import stored_token
from carbonlink.errors import CarbonlinkError, DocumentError

if TYPE_CHECKING:
    from carbonlink.registry import PendingAction, Receipt, Registry

registry_app = typer.Typer(help="Article 6.2 registry: linked unit ledger, authorisations, "
                           "corresponding adjustments, AEF.", no_args_is_help=True)
link_app = typer.Typer(help="Link terms of linkage agreements.", no_args_is_help=True)
report_app = typer.Typer(help="AEF tables, initial report, regular information.",
                         no_args_is_help=True)
user_app = typer.Typer(help="Users, roles and account representatives.", no_args_is_help=True)
action_app = typer.Typer(help="Administrative actions waiting for a second person (four eyes).",
                         no_args_is_help=True)
trusted_app = typer.Typer(help="Trusted-account lists, kept by the account's representatives "
                          "(four eyes): approved transfers to a trusted account complete at "
                          "once, to others after a delay.", no_args_is_help=True)
registry_app.add_typer(user_app, name="user")
registry_app.add_typer(trusted_app, name="trusted")
registry_app.add_typer(action_app, name="action")
registry_app.add_typer(link_app, name="link")
registry_app.add_typer(report_app, name="report")
app.add_typer(registry_app, name="registry")

out = Console(highlight=False, soft_wrap=True)

Db = Annotated[str | None, typer.Option("--db", help="SQLAlchemy URL of the registry database "
                                        "(default: CARBONLINK_DATABASE_URL)")]
At = Annotated[str | None, typer.Option("--at", help="replay mode, for loading history (a global "
                                        "administrator only; entries are marked replayed): the "
                                        "time of the action (ISO 8601, UTC); default: the "
                                        "server's clock")]


def _open(db: str | None, replay: bool = False) -> Registry:
    """The registry acting as the logged-in user (public when nobody is logged in); with
    ``replay`` (a command given ``--at``) in replay mode, which only a global administrator
    may use."""
    from carbonlink.registry import Registry

    r = Registry(db)
    token = stored_token(r.url)
    if token is None:
        if replay:
            r.close()
            raise DocumentError("--at", "the time of an action is the server's clock; --at "
                                "loads history and needs a global administrator's login")
        return r
    try:
        view = r.as_user(r.authenticate(token), replay=replay)
    except BaseException:
        r.close()
        raise
    view._owner = True      # the CLI's only handle: closing it closes the engine
    return view


def _pending(p: object) -> bool:
    from carbonlink.registry import PendingAction

    if isinstance(p, PendingAction):
        out.print(f"action {p.id} proposed ({p.operation} in {p.scope}) by {p.proposer}: a "
                  f"second person with the role approves it (registry action approve {p.id})")
        return True
    return False


def _dt(value: str | None, path: str = "--at") -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise DocumentError(path, f"must be an ISO 8601 date/time, got {value!r}") from None


def _d(value: str | None, path: str) -> date | None:
    dt = _dt(value, path)
    return None if dt is None else dt.date()


def _serials(value: str | None) -> tuple[str, str, int, int, int] | None:
    """``REGISTRY:TYPE:VINTAGE:START-END``."""
    if value is None:
        return None
    try:
        reg, ut, vin, rng = value.split(":")
        s, e = rng.split("-")
        return reg, ut, int(vin), int(s), int(e)
    except ValueError:
        raise DocumentError("--serials", "must look like GHA01:itmo:2026:1-100, "
                            f"got {value!r}") from None


def _show(r: Receipt | PendingAction) -> None:
    from carbonlink.registry import Receipt

    if _pending(r):
        return
    assert isinstance(r, Receipt)
    extra = ""
    if r.converted_quantity is not None:
        extra += f", {r.converted_quantity} after conversion"
    if r.first_transferred:
        extra += f", {r.first_transferred} first transferred"
    out.print(f"transaction {r.tx_id}: {r.kind} {r.state} ({r.quantity} units{extra})")
    for b in r.blocks:
        out.print(f"  {b[0]}-{b[1]}-{b[2]} [{b[3]}, {b[4]}]")


@registry_app.command("init")
def init(admin: Annotated[str, typer.Option("--admin", help="user name of the first "
                                            "administrator")] = "admin",
         db: Db = None) -> None:
    """Create or upgrade the registry schema (Alembic migrations); on a new registry, create
    the first administrator and print a one-time password (change it at first login)."""
    from carbonlink.registry import Registry

    with Registry(db) as r:
        r.init()
        out.print(f"registry database ready: {r._shown_url()}")
        if r.journal_key is None:
            out.print("journal entries are not signed: set CARBONLINK_JOURNAL_KEY to a key file "
                      "path outside the database (created here, mode 0600)")
        else:
            out.print(f"journal entries signed with the key file {r.journal_key.path} (keep a "
                      "copy where the database's administrators cannot write)")
        otp = r.create_first_administrator(admin)
        if otp is not None:
            out.print(f"first administrator {admin!r}, one-time password (shown once): {otp}")


@registry_app.command("create")
def create(registry_id: str, party: Annotated[str | None, typer.Option()] = None,
           system: Annotated[str | None, typer.Option(help="market id used by link files")]
           = None, name: Annotated[str | None, typer.Option()] = None,
           db: Db = None, at: At = None) -> None:
    """Add a registry (ISO alpha-3 + 2 digits, e.g. CHE01) with its Party and terminal
    accounts."""
    with _open(db, replay=at is not None) as r:
        accs = r.add_registry(registry_id, party, system=system, name=name, at=_dt(at))
        for t, i in accs.items():
            out.print(f"account {i}: {t}")


@registry_app.command("holder")
def holder(registry_id: str, name: str, country: Annotated[str | None, typer.Option()] = None,
           identifier: Annotated[str | None, typer.Option()] = None, db: Db = None,
           at: At = None) -> None:
    """Add an account holder (entity) to a registry."""
    with _open(db, replay=at is not None) as r:
        hid = r.add_holder(registry_id, name, country=country, identifier=identifier,
                           at=_dt(at))
        out.print(f"holder {hid}")


@registry_app.command("account")
def account(registry_id: str,
            type: Annotated[str, typer.Option("--type")] = "entity_holding",
            holder: Annotated[int | None, typer.Option()] = None,
            rep: Annotated[list[str] | None, typer.Option("--rep", help="representative "
                                                          "(repeat)")] = None,
            db: Db = None, at: At = None) -> None:
    """Open an account."""
    with _open(db, replay=at is not None) as r:
        aid = r.open_account(registry_id, type, holder=holder, representatives_=rep or [],
                             at=_dt(at))
        out.print(f"account {aid}")


@link_app.command("add")
def link_add(file: Path, db: Db = None, at: At = None) -> None:
    """Load link terms from a YAML file of ``links:`` (Link format + unit_types,
    suspended_from)."""
    with _open(db, replay=at is not None) as r:
        ids = r.load_links(file, at=_dt(at))
        done = [str(i) for i in ids if not _pending(i)]
        if done:
            out.print(f"{len(done)} link(s) recorded: {', '.join(done)}")


@registry_app.command("authorise")
def authorise(auth_id: str, approach: Annotated[str, typer.Option("--approach")],
              registry_id: Annotated[str, typer.Option("--registry")],
              quantity: Annotated[int, typer.Option()],
              vintages: Annotated[str, typer.Option(help="FROM-TO, e.g. 2026-2030")],
              valid_from: Annotated[str, typer.Option()],
              valid_to: Annotated[str | None, typer.Option()] = None,
              purposes: Annotated[str, typer.Option(help="NDC, OIMP or 'NDC and OIMP'")] = "NDC",
              first_transfer: Annotated[str | None, typer.Option(
                  help="for OIMP: authorisation, issuance or use_or_cancellation")] = None,
              entity: Annotated[list[int] | None, typer.Option(help="authorised holder id "
                                                               "(repeat)")] = None,
              metric: Annotated[str, typer.Option()] = "tCO2e",
              effective_from: Annotated[str | None, typer.Option()] = None,
              revoke: Annotated[bool, typer.Option(help="revoke from --effective-from")]
              = False, db: Db = None, at: At = None) -> None:
    """Record an authorisation (Art 6.3) or a new version / revocation of it."""
    try:
        v_from, v_to = (int(x) for x in vintages.split("-"))
    except ValueError:
        raise DocumentError("--vintages", f"must be FROM-TO, got {vintages!r}") from None
    vf = _d(valid_from, "--valid-from")
    assert vf is not None
    with _open(db, replay=at is not None) as r:
        if revoke:
            eff = _d(effective_from, "--effective-from")
            if eff is None:
                raise DocumentError("--effective-from", "required with --revoke")
            v = r.revoke(auth_id, eff, at=_dt(at))
        else:
            v = r.authorise(auth_id, cooperative_approach=approach, registry=registry_id,
                            quantity=quantity, purposes=purposes, vintage_from=v_from,
                            vintage_to=v_to, valid_from=vf,
                            valid_to=_d(valid_to, "--valid-to"),
                            first_transfer_definition=first_transfer, entities=entity or [],
                            metric=metric, effective_from=_d(effective_from,
                                                             "--effective-from"), at=_dt(at))
        if not _pending(v):
            out.print(f"authorisation {auth_id} version {v}")


@registry_app.command("issue")
def issue(account_id: int, quantity: int, vintage: Annotated[int, typer.Option()],
          unit_type: Annotated[str, typer.Option("--unit-type")] = "allowance",
          authorisation: Annotated[str | None, typer.Option()] = None,
          db: Db = None, at: At = None) -> None:
    """Issue units into a holding account."""
    with _open(db, replay=at is not None) as r:
        _show(r.issue(account_id, quantity, unit_type=unit_type, vintage=vintage,
                      authorisation=authorisation, at=_dt(at)))


@registry_app.command("transfer")
def transfer(from_account: int, to_account: int,
             quantity: Annotated[int, typer.Argument(help="units (0 with --serials)")] = 0,
             unit_type: Annotated[str | None, typer.Option("--unit-type")] = None,
             vintage: Annotated[int | None, typer.Option()] = None,
             authorisation: Annotated[str | None, typer.Option()] = None,
             serials: Annotated[str | None, typer.Option(help="REG:TYPE:VINTAGE:START-END")]
             = None, db: Db = None, at: At = None) -> None:
    """Propose a transfer: internal (a second representative approves; it then completes, or
    after the delay to an account off the trusted list) or external to a linked registry
    (a second representative approves, the receiving registry accepts)."""
    with _open(db, replay=at is not None) as r:
        _show(r.transfer(from_account, to_account, quantity, unit_type=unit_type,
                         vintage=vintage, authorisation=authorisation,
                         serials=_serials(serials), at=_dt(at)))


@registry_app.command("approve")
def approve(tx_id: int, db: Db = None, at: At = None) -> None:
    """Second representative approves a transfer another proposed (internal or external)."""
    with _open(db, replay=at is not None) as r:
        _show(r.approve(tx_id, at=_dt(at)))


@registry_app.command("accept")
def accept(tx_id: int, db: Db = None, at: At = None) -> None:
    """The receiving registry accepts an approved external transfer."""
    with _open(db, replay=at is not None) as r:
        _show(r.accept(tx_id, at=_dt(at)))


@registry_app.command("reject")
def reject(tx_id: int, reason: str = "rejected", db: Db = None,
           at: At = None) -> None:
    """Reject a pending external transfer (escrow released)."""
    with _open(db, replay=at is not None) as r:
        _show(r.reject(tx_id, reason=reason, at=_dt(at)))


@registry_app.command("expire")
def expire(db: Db = None, at: At = None) -> None:
    """Terminate pending external transfers past their time limit."""
    with _open(db, replay=at is not None) as r:
        ids = r.expire(at=_dt(at))
        out.print(f"expired: {', '.join(map(str, ids)) or 'none'}")


@registry_app.command("cancel-transfer")
def cancel_transfer(tx_id: int, reason: str = "cancelled", db: Db = None,
                    at: At = None) -> None:
    """Cancel an internal transfer that is proposed or waiting out its delay (a representative
    of the transferring account); the units return."""
    with _open(db, replay=at is not None) as r:
        _show(r.cancel_transfer(tx_id, reason=reason, at=_dt(at)))


@registry_app.command("settle")
def settle(db: Db = None, at: At = None,
           watch: Annotated[float | None, typer.Option(
               help="run again every SECONDS until interrupted (for deployments without the "
               "web server, whose own timer settles every CARBONLINK_SETTLE_SECONDS)",
               min=0.1, max=86_400)] = None,
           runs: Annotated[int | None, typer.Option(
               help="with --watch: stop after this many runs", min=1)] = None) -> None:
    """Complete the delayed internal transfers whose delay has passed (server's clock)."""
    import time

    if watch is not None and at is not None:
        raise DocumentError("--watch", "settles on the server's clock; it cannot take --at")
    with _open(db, replay=at is not None) as r:
        n = 0
        while True:
            ids = r.settle(at=_dt(at))
            out.print(f"completed: {', '.join(map(str, ids)) or 'none'}")
            n += 1
            if watch is None or (runs is not None and n >= runs):
                break
            try:
                time.sleep(watch)
            except KeyboardInterrupt:
                break


def _trust_change(c: dict[str, Any]) -> None:
    what = "addition of" if c["action"] == "add" else "removal of"
    if c["state"] == "proposed":
        out.print(f"trusted-list change {c['id']} proposed: {what} account {c['trusted_id']} "
                  f"on account {c['account_id']}'s list, by {c['proposer']}; a second "
                  f"representative approves it (`carbonlink registry trusted approve {c['id']}`)")
    else:
        out.print(f"trusted-list change {c['id']} approved by {c['approver']}: {what} account "
                  f"{c['trusted_id']}, in force from {c['effective_at']:%Y-%m-%d %H:%M} UTC")


@trusted_app.command("add")
def trusted_add(account_id: int, trusted_account: int, db: Db = None) -> None:
    """Propose putting an account on another's trusted-account list (a representative; a
    second one approves; in force from 12:00 CET on the fourth working day after the
    proposal, Reg. (EU) 2019/1122 Art 23(4))."""
    with _open(db) as r:
        _trust_change(r.trust(account_id, trusted_account))


@trusted_app.command("remove")
def trusted_remove(account_id: int, trusted_account: int, db: Db = None) -> None:
    """Propose taking an account off another's trusted-account list (a representative; off
    as soon as a second one approves)."""
    with _open(db) as r:
        _trust_change(r.distrust(account_id, trusted_account))


@trusted_app.command("approve")
def trusted_approve(change_id: int, db: Db = None) -> None:
    """Approve a trusted-list change another representative of the account proposed."""
    with _open(db) as r:
        _trust_change(r.approve_trust(change_id))


@trusted_app.command("reject")
def trusted_reject(change_id: int, db: Db = None) -> None:
    """Withdraw (its proposer) or refuse (another representative of the account) a proposed
    trusted-list change: it never takes effect."""
    with _open(db) as r:
        c = r.reject_trust(change_id)
    out.print(f"trusted-list change {c['id']} rejected by {c['approver']}: it does not take "
              "effect")


@trusted_app.command("list")
def trusted_list(account_id: int, db: Db = None) -> None:
    """An account's trusted-account list (the holder's own accounts are trusted besides), with
    additions not yet in force and proposed changes."""
    with _open(db) as r:
        rows = r.trusted(account_id, pending=True)
    listed = [x for x in rows if "since" in x]
    out.print(f"account {account_id} trusts: " + (", ".join(
        f"{x['trusted']}" + ("" if x["in_force"] else
                             f" (from {x['since']:%Y-%m-%d %H:%M} UTC)") for x in listed)
        or "none"))
    for x in rows:
        if "since" not in x:
            _trust_change(x)


@registry_app.command("surrender")
def surrender(account_id: int, quantity: int, year: Annotated[int, typer.Option()],
              unit_type: Annotated[str | None, typer.Option("--unit-type")] = None,
              db: Db = None, at: At = None) -> None:
    """Surrender units for compliance."""
    with _open(db, replay=at is not None) as r:
        _show(r.surrender(account_id, quantity, year=year, unit_type=unit_type,
                          at=_dt(at)))


@registry_app.command("use")
def use(account_id: int, quantity: int, year: Annotated[int | None, typer.Option()] = None,
        authorisation: Annotated[str | None, typer.Option()] = None,
        db: Db = None, at: At = None) -> None:
    """Use ITMOs towards the NDC of the account's Party."""
    with _open(db, replay=at is not None) as r:
        _show(r.use(account_id, quantity, year=year, authorisation=authorisation,
                    at=_dt(at)))


@registry_app.command("cancel")
def cancel(account_id: int, quantity: int,
           purpose: Annotated[str, typer.Option(help="oimp, voluntary or omge")] = "voluntary",
           authorisation: Annotated[str | None, typer.Option()] = None,
           db: Db = None, at: At = None) -> None:
    """Cancel units (OIMP use, voluntary, OMGE)."""
    with _open(db, replay=at is not None) as r:
        _show(r.cancel(account_id, quantity, purpose=purpose, authorisation=authorisation,
                       at=_dt(at)))


@registry_app.command("retire")
def retire(account_id: int, quantity: int, db: Db = None,
           at: At = None) -> None:
    """Retire units."""
    with _open(db, replay=at is not None) as r:
        _show(r.retire(account_id, quantity, at=_dt(at)))


@registry_app.command("holdings")
def holdings(account_id: Annotated[int | None, typer.Argument()] = None,
             db: Db = None) -> None:
    """List serial blocks."""
    with _open(db) as r:
        t = Table("account", "registry", "type", "vintage", "first", "last", "quantity",
                  "status", "authorisation", "first transferred")
        for b in r.holdings(account_id):
            t.add_row(str(b["account_id"]), b["issuing_registry"], b["unit_type"],
                      str(b["vintage"]), str(b["serial_start"]), str(b["serial_end"]),
                      str(b["serial_end"] - b["serial_start"] + 1), b["status"],
                      b["authorisation_id"] or "", "yes" if b["first_transferred"] else "")
        out.print(t)


@registry_app.command("compact")
def compact(db: Db = None, at: At = None) -> None:
    """Merge adjacent serial blocks with identical attributes (quantity conserved)."""
    with _open(db, replay=at is not None) as r:
        out.print(f"merged away {r.compact(at=_dt(at))} block row(s)")


@registry_app.command("ndc")
def ndc(party: str, method: Annotated[str, typer.Option(
        help="trajectory, averaging or multi_year")], first_year: int, last_year: int,
        ndc_type: Annotated[str | None, typer.Option(
            help="single_year or multi_year (default: multi_year for the multi_year method)")
        ] = None, db: Db = None, at: At = None) -> None:
    """Record a Party's NDC period, type and corresponding-adjustment method (para 7)."""
    with _open(db, replay=at is not None) as r:
        _pending(r.set_ndc(party, method, first_year, last_year, ndc_type=ndc_type,
                           at=_dt(at)))


@registry_app.command("emissions")
def report_emissions(party: str, year: int, tonnes: int, db: Db = None,
                     at: At = None) -> None:
    """Record a Party's emissions covered by its NDC for a year."""
    with _open(db, replay=at is not None) as r:
        _pending(r.report_emissions(party, year, tonnes, at=_dt(at)))


@registry_app.command("ca")
def ca(party: str, db: Db = None) -> None:
    """Corresponding adjustments and adjusted emissions balance of a Party."""
    from carbonlink.registry.accounting import fmt

    with _open(db) as r:
        res = r.corresponding_adjustments(party)
    t = Table("year", "emissions", "first transferred (+)", "used (−)", "adjustment",
              "adjusted balance", title=f"{party}: {res.method} ({res.source})")
    for y in res.years:
        t.add_row(str(y.year), fmt(y.emissions), str(y.first_transferred), str(y.used),
                  fmt(y.adjustment), fmt(y.adjusted_balance))
    out.print(t)
    if res.end_of_period_adjustment is not None:
        out.print(f"end of period (multi-year NDC, para 7(b)): cumulative adjustment "
                  f"{fmt(res.end_of_period_adjustment)}, adjusted period emissions "
                  f"{fmt(res.adjusted_period_emissions)}")
    for yr, k, q in res.outside_period:
        out.print(f"outside the NDC period {res.first_year}–{res.last_year}: {yr} "
                  f"{k.replace('_', ' ')} {q}")


@registry_app.command("finalise")
def finalise(party: str, first_year: int, last_year: int, db: Db = None,
             at: At = None) -> None:
    """Freeze a Party's corresponding adjustments for a period (para 12)."""
    with _open(db, replay=at is not None) as r:
        _pending(r.finalise(party, first_year, last_year, at=_dt(at)))


@report_app.command("aef")
def report_aef(party: str, year: int,
               out_dir: Annotated[Path, typer.Option("--out")] = Path("build/aef"),
               fmt_: Annotated[str, typer.Option("--format", help="xlsx, csv or both")]
               = "both",
               counterpart: Annotated[list[Path] | None, typer.Option(
                   help="a counterpart Party's AEF Holdings CSV (repeat)")] = None,
               db: Db = None) -> None:
    """AEF tables (XLSX and/or CSV) after the pre-consistency checks."""
    formats = ("xlsx", "csv") if fmt_ == "both" else (fmt_,)
    if not set(formats) <= {"xlsx", "csv"}:
        raise DocumentError("--format", f"must be xlsx, csv or both, got {fmt_!r}")
    with _open(db) as r:
        for p in r.write_aef(party, year, out_dir, formats=formats,
                             counterparts=counterpart or []):
            out.print(f"wrote {p}")


@report_app.command("record")
def report_record(party: str,
                  kind: Annotated[str, typer.Argument(help="initial, annual or regular")],
                  year: Annotated[int, typer.Argument(help="the reported year (annual, "
                                                      "regular); 0 for initial")] = 0,
                  db: Db = None, at: At = None) -> None:
    """Record that a Party submitted a report (the calendar then shows it submitted)."""
    with _open(db, replay=at is not None) as r:
        r.record_report(party, kind, year, at=_dt(at))
    out.print(f"{party} {kind} {year or ''} recorded as submitted".replace("  ", " "))


@report_app.command("initial")
def report_initial(party: str, db: Db = None) -> None:
    """Initial-report outline (para 18) filled from the ledger (Markdown)."""
    with _open(db) as r:
        out.print(r.initial_report(party), markup=False)


@report_app.command("regular")
def report_regular(party: str, db: Db = None) -> None:
    """Regular-information outline (paras 21–23) filled from the ledger (Markdown)."""
    with _open(db) as r:
        out.print(r.regular_information(party), markup=False)


@registry_app.command("calendar")
def calendar(party: Annotated[str | None, typer.Option()] = None,
             as_of: Annotated[str | None, typer.Option(
                 "--as-of", metavar="DATE",
                 help="the reference date due/overdue/submitted refer to (YYYY-MM-DD; "
                 "default: today)")] = None, db: Db = None) -> None:
    """Reporting calendar; overdue items are flagged."""
    with _open(db) as r:
        items = r.calendar(_d(as_of, "--as-of"), party)
    t = Table("party", "report", "year", "due", "status", "source")
    for i in items:
        style = {"overdue": "bold red", "submitted": "green"}.get(i.status, "")
        t.add_row(i.party, i.report, str(i.year or ""), i.due.isoformat(),
                  f"[{style}]{i.status}[/]" if style else i.status, i.source)
    out.print(t)


@registry_app.command("checks")
def checks() -> None:
    """List the coded transaction checks with their legal sources."""
    from carbonlink.registry import CHECKS

    t = Table("code", "layer", "rule", "source")
    for c in CHECKS.values():
        t.add_row(c.code, c.layer, c.rule, c.source)
    out.print(t)


@registry_app.command("checkpoint")
def checkpoint(out_file: Annotated[Path | None, typer.Option(
        "--out", help="write to this file (default: stdout)")] = None, db: Db = None) -> None:
    """Export the journal's head (entry count and hash) to keep outside the database;
    ``verify --checkpoint FILE`` then finds truncation and rewriting."""
    import json
    with _open(db) as r:
        text = json.dumps(r.checkpoint(), sort_keys=True)
    if out_file is None:
        out.print(text, markup=False)
    else:
        out_file.write_text(text + "\n", encoding="utf-8")
        out.print(f"checkpoint written to {out_file}")


@registry_app.command("verify")
def verify(checkpoint_file: Annotated[Path | None, typer.Option(
        "--checkpoint", help="a checkpoint from `registry checkpoint`")] = None,
           db: Db = None) -> None:
    """Recompute the journal hash chain and the ledger invariants. Exit 0: clean; 1: a
    divergence; 2: cannot verify (no database, not initialised, not allowed, no checkpoint)."""
    import json
    try:
        cp = None
        if checkpoint_file is not None:
            try:
                cp = json.loads(checkpoint_file.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise DocumentError("--checkpoint", f"cannot read {checkpoint_file}: {exc}"
                                    ) from None
        with _open(db) as r:
            problems = r.verify(cp)
            from carbonlink.registry import journal as jr
            unsigned = r._read(jr.unsigned_before)
    except CarbonlinkError as exc:
        cannot = CarbonlinkError(f"verify: cannot verify: {exc}")
        cannot.exit_code = 2
        raise cannot from None
    if problems:
        for p in problems:
            out.print(f"[red]✗[/] {p}")
        raise CarbonlinkError(f"verify: {len(problems)} divergence(s)")
    out.print("verify: journal chain intact; holdings, blocks, first transfers, corresponding "
              "adjustments and link quotas consistent")
    if unsigned:
        out.print(f"verify: {unsigned} journal entr{'y' if unsigned == 1 else 'ies'} written "
                  "before signing was enabled (unsigned, covered by the hash chain)")


# ---------------------------------------------------------------- users and four eyes
def _role(value: str) -> tuple[str, str]:
    role, _, scope = value.partition(":")
    if not scope:
        raise DocumentError("--role", f"must be ROLE:SCOPE (administrator:*, "
                            f"authorising_official:GHA, auditor:*), got {value!r}")
    return role, scope


@user_app.command("add")
def user_add(username: str,
             role: Annotated[list[str] | None, typer.Option(
                 "--role", help="ROLE:SCOPE, e.g. administrator:GHA01, authorising_official:GHA, "
                 "auditor:* (repeat)")] = None,
             db: Db = None) -> None:
    """Create a user; prints a one-time password (shown once, to be changed)."""
    with _open(db) as r:
        otp = r.create_user(username, roles=[_role(x) for x in role or []])
    out.print(f"user {username}, one-time password (shown once): {otp}")


@user_app.command("grant")
def user_grant(username: str, role: str, scope: str, db: Db = None) -> None:
    """Give a user a role (administrator, authorising_official, auditor) for a scope."""
    with _open(db) as r:
        r.grant_role(username, role, scope)


@user_app.command("revoke")
def user_revoke(username: str, role: str, scope: str, db: Db = None) -> None:
    """Take a role away."""
    with _open(db) as r:
        r.revoke_role(username, role, scope)


@user_app.command("active")
def user_active(username: str, active: Annotated[bool, typer.Option("--active/--inactive")]
                = True, db: Db = None) -> None:
    """Deactivate a user (revokes their tokens) or reactivate one (lifts a lockout)."""
    with _open(db) as r:
        r.set_user_active(username, active)


@user_app.command("list")
def user_list(db: Db = None) -> None:
    """Users, their roles and the accounts they represent."""
    with _open(db) as r:
        rows = r.users()
    t = Table("user", "active", "TOTP", "roles", "accounts")
    for u in rows:
        t.add_row(u["username"], "yes" if u["active"] else "no", "yes" if u["totp"] else "",
                  ", ".join(f"{a}:{b}" for a, b in u["roles"]),
                  ", ".join(f"{a} ({b})" for a, b in u["accounts"].items()))
    out.print(t)


@user_app.command("rep")
def user_rep(account_id: int, username: str,
             role: Annotated[str, typer.Option(help="initiator, approver or "
                                               "initiator_approver")] = "initiator_approver",
             remove: Annotated[bool, typer.Option("--remove")] = False,
             db: Db = None) -> None:
    """Make a user a representative of an account (or remove them)."""
    with _open(db) as r:
        if remove:
            r.remove_representative(account_id, username)
        else:
            r.add_representative(account_id, username, role)


@user_app.command("password")
def user_password(db: Db = None) -> None:
    """Change the logged-in user's password (prompted)."""
    with _open(db) as r:
        old = typer.prompt("current password", hide_input=True)
        new = typer.prompt("new password", hide_input=True, confirmation_prompt=True)
        r.change_password(old, new)
    out.print("password changed")


@user_app.command("totp")
def user_totp(db: Db = None) -> None:
    """Enrol a TOTP second factor for the logged-in user; prints the otpauth:// URI once."""
    with _open(db) as r:
        out.print(r.enrol_totp())


@action_app.command("list")
def action_list(db: Db = None) -> None:
    """Administrative actions waiting for a second person."""
    with _open(db) as r:
        rows = r.pending()
    t = Table("id", "operation", "scope", "proposer", "proposed at", "arguments")
    for p in rows:
        t.add_row(str(p["id"]), p["operation"], p["scope"], p["proposer"],
                  p["proposed_at"].isoformat(timespec="seconds"), p["args"])
    out.print(t)


@action_app.command("approve")
def action_approve(action_id: int, db: Db = None) -> None:
    """Approve (and so run) an action another person proposed."""
    from carbonlink.registry import Receipt

    with _open(db) as r:
        res = r.approve_action(action_id)
    if isinstance(res, Receipt):
        _show(res)
    else:
        out.print(f"action {action_id} approved: {res!r}")


@action_app.command("reject")
def action_reject(action_id: int, db: Db = None) -> None:
    """Refuse a proposed action."""
    with _open(db) as r:
        r.reject_action(action_id)
    out.print(f"action {action_id} rejected")


@registry_app.command("roles")
def roles() -> None:
    """The operation × role table the service layer enforces."""
    from carbonlink.registry import OPERATIONS

    t = Table("operation", "roles", "scope", "changes state", "four eyes", "source")
    for name, rule in OPERATIONS.items():
        t.add_row(name, ", ".join(sorted(rule.roles)), rule.scope, "yes" if rule.write else "",
                  "yes" if rule.four_eyes else
                  (f"yes ({rule.approval} by a second approver)" if rule.approval else ""),
                  rule.why)
    out.print(t)
