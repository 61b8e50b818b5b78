"""Who may do what: the roles, the acting user (:class:`Actor`) and **one table** of operation
× role (:data:`OPERATIONS`), from which the service layer's checks and the tests are generated.

Roles (Reg. (EU) 2019/1122 Arts 20–21 for account representatives and the national
administrator; Decision 2/CMA.3 annex para 18(a)–(g) for the Party's authorising official):

* ``administrator`` — registry administrator, scope ``*`` (every registry) or one registry id:
  registries, holders, accounts and their representatives, issuance, link terms, users.
* ``authorising_official`` — the Party's national focal point, scope a Party (ISO alpha-3):
  authorisations and their changes, NDC data, emissions, finalisation, reports submitted.
* ``initiator`` / ``approver`` — account representatives (the ``representatives`` table, per
  account): an initiator proposes movements out of the account, an approver (a different
  person) approves them; ``initiator_approver`` may do either, never both for one transfer.
* ``auditor`` — reads everything, acts never.
* ``public`` — no login: aggregates only (:meth:`Registry.public_aggregates`).
* ``scheduler`` — no user holds it: the server's own timer acts as :data:`SCHEDULER`
  (``system:scheduler``, a name no user can have) to complete delayed transfers whose delay has
  passed (``settle``); its journal entries name it.

Every refusal is a :class:`~carbonlink.registry.checks.CheckFailed` with code ``S7001`` (no
role) or ``S7002`` (four-eyes), and is journalled (``access.denied``) before it is raised.
"""

from __future__ import annotations

from dataclasses import dataclass, field

ROLES = ("administrator", "authorising_official", "initiator", "approver", "auditor", "public",
         "scheduler")
#: roles held through ``user_roles`` (the account-representative roles live per account)
USER_ROLES = ("administrator", "authorising_official", "auditor")
REP_ROLES = ("initiator", "approver", "initiator_approver")


@dataclass(frozen=True)
class Actor:
    """An authenticated user with the roles loaded at authentication."""

    user_id: int
    username: str
    roles: frozenset[tuple[str, str]]            # (role, scope) from user_roles
    reps: dict[int, str] = field(default_factory=dict, hash=False, compare=False)
    token_scope: str = "write"                   # read-only tokens may not change state
    #: logged in with a one-time password: no operation and no token until it is changed
    must_change_password: bool = False

    def has(self, role: str, scope: str | None = None) -> bool:
        """Does the user hold ``role`` for ``scope`` (``*`` covers every scope)?"""
        if role in ("initiator", "approver"):
            return scope is not None and scope.isdigit() and \
                role in _rep_rights(self.reps.get(int(scope)))
        return any(r == role and (s == "*" or scope is None or s == scope)
                   for r, s in self.roles)

    def represents(self, account: int, right: str) -> bool:
        return right in _rep_rights(self.reps.get(account))


#: the web server's timer (``carbonlink.api.app``): completes due delayed transfers, nothing else
#: (no user row; ``:`` cannot occur in a username, so no login can be it)
SCHEDULER = Actor(user_id=0, username="system:scheduler", roles=frozenset({("scheduler", "*")}))


def _rep_rights(role: str | None) -> tuple[str, ...]:
    if role is None:
        return ()
    return ("initiator", "approver") if role == "initiator_approver" else (role,)


@dataclass(frozen=True)
class Rule:
    """Who may run an operation.

    ``roles`` hold for the ``scope`` the operation resolves to (``registry``: the registry it
    acts in; ``party``: the Party; ``account``: the account; ``global``: ``*`` only; ``any``:
    the role in any scope). ``write`` operations change state (read-only tokens and auditors
    never run them); ``four_eyes``: a second user with the same role approves before it runs
    (a pending administrative action); ``approval``: the operation only proposes — nothing
    leaves the account until a different user holding the account's ``approver`` role runs
    that operation (``approve``), on every call, with no opt-out.
    """

    roles: frozenset[str]
    scope: str
    write: bool = True
    four_eyes: bool = False
    why: str = ""
    approval: str = ""


def _r(roles: str, scope: str, *, write: bool = True, four_eyes: bool = False,
       why: str = "", approval: str = "") -> Rule:
    return Rule(frozenset(roles.split()), scope, write, four_eyes, why, approval)


_UR = "Reg. (EU) 2019/1122 Art 20 (authorised representatives)"
_NA = "Reg. (EU) 2019/1122 (national administrator: account opening, Arts 13-21)"
_AO = "Decision 2/CMA.3 annex para 18 (authorisation by the Party)"
_FE = "Reg. (EU) 2019/1122 Art 20 (agreement of an additional authorised representative)"
_READ_ALL = "administrator authorising_official auditor"
_TL = ("Reg. (EU) 2019/1122 Art 23(4) (trusted account list: changes initiated and approved "
       "by two authorised representatives of the account; removals at once, additions at "
       "12:00 CET on the fourth working day after the proposal)")
_CT = ("Reg. (EU) 2019/1122 Art 35(3) (delayed execution to accounts off the trusted list: "
       "by 12:00 CET of the next working day, or of the second when approved after 12:00 CET)")

#: operation (the :class:`~carbonlink.registry.service.Registry` method) → who may run it
OPERATIONS: dict[str, Rule] = {
    # users, roles and representatives
    "create_user": _r("administrator", "global", why=_NA),
    "grant_role": _r("administrator", "global", why=_NA),
    "revoke_role": _r("administrator", "global", why=_NA),
    "set_user_active": _r("administrator", "global", why=_NA),
    "add_representative": _r("administrator", "registry", why=_NA),
    "remove_representative": _r("administrator", "registry", why=_NA),
    "users": _r(_READ_ALL, "any", write=False, why=_NA),
    # set-up
    "add_registry": _r("administrator", "global", why=_NA),
    "add_holder": _r("administrator", "registry", why=_NA),
    "open_account": _r("administrator", "registry", why=_NA),
    "set_account_status": _r("administrator", "registry", why=_NA),
    "add_link": _r("administrator", "registry", four_eyes=True,
                   why="linkage agreement (link terms); " + _NA),
    # each link read from the file is an add_link under four eyes
    "load_links": _r("administrator", "global", why="linkage agreement (link terms); " + _NA),
    "compact": _r("administrator", "global", why=_NA),
    # Party data and authorisations
    "set_ndc": _r("authorising_official", "party", four_eyes=True,
                  why="Decision 2/CMA.3 annex para 7"),
    "report_emissions": _r("authorising_official", "party", four_eyes=True,
                           why="Decision 2/CMA.3 annex para 23"),
    "report_entity_emissions": _r("administrator", "registry", four_eyes=True, why=_NA),
    "authorise": _r("authorising_official", "party", four_eyes=True, why=_AO),
    "revoke": _r("authorising_official", "party", four_eyes=True, why=_AO),
    "finalise": _r("authorising_official", "party", four_eyes=True,
                   why="Decision 2/CMA.3 annex para 12"),
    "record_report": _r("authorising_official", "party",
                        why="Decision 2/CMA.3 annex paras 18, 20, 21"),
    # four-eyes of administrative actions
    "approve_action": _r("administrator authorising_official", "any", why=_FE),
    "reject_action": _r("administrator authorising_official", "any", why=_FE),
    "pending": _r(_READ_ALL, "any", write=False, why=_FE),
    # units
    "issue": _r("administrator", "registry", four_eyes=True,
                why="Decision 2/CMA.3 annex para 29; " + _NA),
    # every transfer out of an account is proposed by one representative and approved by
    # another (internal: then completed at once or after the delay; external: then accepted)
    "transfer": _r("initiator", "account", why=_UR + "; " + _FE, approval="approve"),
    "approve": _r("approver", "account", why=_FE),
    "accept": _r("initiator approver", "account", why=_UR),
    "reject": _r("initiator approver administrator", "account", why=_UR),
    "expire": _r("administrator scheduler", "any", why="Q-2 r.46.1 s.26 (time limit); " + _NA),
    # the delay of internal transfers, trusted-account lists
    "cancel_transfer": _r("initiator approver", "account", why=_CT),
    "settle": _r("administrator scheduler", "any", why=_CT),
    "trust": _r("initiator", "account", why=_TL, approval="approve_trust"),
    "distrust": _r("initiator", "account", why=_TL, approval="approve_trust"),
    "approve_trust": _r("approver", "account", why=_TL),
    # its proposer withdraws it, or the second representative refuses it
    "reject_trust": _r("initiator approver", "account", why=_TL),
    "trusted": _r(_READ_ALL + " initiator approver", "account", write=False, why=_TL),
    "surrender": _r("initiator", "account", why=_UR),
    "use": _r("initiator", "account", why=_UR),
    "cancel": _r("initiator", "account", why=_UR),
    "retire": _r("initiator", "account", why=_UR),
    # reads
    "authorisation": _r(_READ_ALL, "any", write=False, why=_AO),
    "holdings": _r(_READ_ALL + " initiator approver", "account", write=False, why=_UR),
    "balance": _r(_READ_ALL + " initiator approver", "account", write=False, why=_UR),
    "transaction": _r(_READ_ALL + " initiator approver", "account", write=False, why=_UR),
    "balances": _r(_READ_ALL, "any", write=False, why=_NA),
    "accounts": _r(_READ_ALL, "any", write=False, why=_NA),
    "ca_ledger": _r(_READ_ALL, "any", write=False, why=_AO),
    "ca_ledger_by_metric": _r(_READ_ALL, "any", write=False, why=_AO),
    "corresponding_adjustments": _r(_READ_ALL, "any", write=False, why=_AO),
    "aef": _r(_READ_ALL, "any", write=False, why="Decision 6/CMA.4 annex"),
    "write_aef": _r(_READ_ALL, "any", write=False, why="Decision 6/CMA.4 annex"),
    "calendar": _r(_READ_ALL, "any", write=False, why="Decision 2/CMA.3 annex paras 18-23"),
    "initial_report": _r(_READ_ALL, "any", write=False, why="Decision 2/CMA.3 annex para 18"),
    "regular_information": _r(_READ_ALL, "any", write=False,
                              why="Decision 2/CMA.3 annex paras 21-23"),
    "verify": _r(_READ_ALL, "any", write=False, why=_NA),
    "checkpoint": _r(_READ_ALL, "any", write=False, why=_NA),
    "public_aggregates": _r(_READ_ALL + " initiator approver public scheduler", "any",
                            write=False,
                            why="Decision 2/CMA.3 annex para 35 (public information)"),
}

#: Registry methods that are not operations on registry data: plumbing, authentication
#: (open to anyone: the credentials are the check) and binding an actor
NOT_OPERATIONS = frozenset({
    "open", "close", "init", "login", "authenticate", "issue_token", "revoke_token",
    "as_user", "trusted_actor", "change_password", "enrol_totp", "actor",
    "create_first_administrator",
})


def allowed_roles(operation: str) -> frozenset[str]:
    return OPERATIONS[operation].roles
