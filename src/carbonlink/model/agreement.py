"""The linkage-agreement document: form, generation, parties, linking mode, links, Article 6
data and clauses typed by element (the EL-01 … EL-26 checklist).

Parties reference jurisdiction ids of the shipped reference data (:mod:`carbonlink.data`); a
party may name its ETS. ``links`` use the simulator's :class:`~carbonlink.model.scenario.Link`
(endpoints are ETS ids, the ``between`` shorthand works), so an agreement that also carries
``markets`` (market ids = ETS ids) can be simulated: :meth:`Agreement.scenario`.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from carbonlink.model.jurisdiction import ETS
from carbonlink.model.scenario import Link, Market, Offset, Scenario, Uncertainty, expand_links

Form = Literal["treaty", "implementing_agreement", "mou", "political_declaration",
               "unilateral_regulation"]
Generation = Literal["linking", "article_6_2"]
LinkType = Literal["ets_two_way", "ets_one_way", "crediting", "indirect"]

#: Form groups of the completeness checklist: T binding, M MoU / non-binding, P declaration.
FORM_GROUP: dict[str, str] = {
    "treaty": "T", "implementing_agreement": "T", "mou": "M", "political_declaration": "P",
    "unilateral_regulation": "U",
}

#: Agreement elements (article6-and-agreements.md §6): name → checklist id.
ELEMENTS: dict[str, str] = {
    "parties": "EL-01",
    "scope": "EL-02",
    "definitions": "EL-03",
    "essential_criteria": "EL-04",
    "recognition_of_units": "EL-05",
    "registry": "EL-06",
    "authorisation": "EL-07",
    "transfer_recognition": "EL-08",
    "corresponding_adjustment": "EL-09",
    "reporting": "EL-10",
    "environmental_integrity": "EL-11",
    "sop_omge": "EL-12",
    "climate_finance": "EL-13",
    "auctioning": "EL-14",
    "oversight": "EL-15",
    "change_notification": "EL-16",
    "joint_body": "EL-17",
    "dispute_settlement": "EL-18",
    "suspension": "EL-19",
    "termination": "EL-20",
    "amendment": "EL-21",
    "third_party_linking": "EL-22",
    "entry_into_force": "EL-23",
    "languages": "EL-24",
    "sovereignty": "EL-25",
    "future_guidance": "EL-26",
}
ELEMENT_BY_ID: dict[str, str] = {v: k for k, v in ELEMENTS.items()}
Element = Literal[
    "parties", "scope", "definitions", "essential_criteria", "recognition_of_units", "registry",
    "authorisation", "transfer_recognition", "corresponding_adjustment", "reporting",
    "environmental_integrity", "sop_omge", "climate_finance", "auctioning", "oversight",
    "change_notification", "joint_body", "dispute_settlement", "suspension", "termination",
    "amendment", "third_party_linking", "entry_into_force", "languages", "sovereignty",
    "future_guidance",
]

#: clause elements by which a document claims ITMOs (authorisation EL-07, CAs EL-09)
ITMO_CLAIM_ELEMENTS = ("authorisation", "corresponding_adjustment")

CaMethod = Literal["trajectory", "budget", "averaging", "multi_year_trajectory", "multi_year_budget"]
FirstTransfer = Literal["international_transfer", "authorisation", "issuance", "use_or_cancellation"]
Purpose = Literal["NDC", "OIMP"]


class _Doc(BaseModel):
    # NaN and infinity (YAML ``.nan``/``.inf``, JSON ``NaN``/``1e999``) are refused like in
    # scenarios: they would reach the checks and cannot be written back as JSON
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True,
                              allow_inf_nan=False)


def _finite_everywhere(value: Any) -> Any:
    """``value`` (free-form clause parameters) if no number in it is NaN or infinite; else
    ValueError naming where, e.g. ``quota.limit``. Iterative: nesting depth is the parser's
    business, not this walk's."""
    stack: list[tuple[Any, str]] = [(value, "")]
    while stack:
        v, where = stack.pop()
        if isinstance(v, float) and not math.isfinite(v):
            raise ValueError(f"{where or 'value'} must be a finite number, got {v!r}")
        if isinstance(v, dict):
            stack.extend((x, f"{where}.{k}" if where else str(k)) for k, x in v.items())
        elif isinstance(v, list | tuple):
            stack.extend((x, f"{where}[{i}]") for i, x in enumerate(v))
    return value


class NationalAuthorisation(_Doc):
    """Evidence that a sub-national or city party may conclude the agreement (S-5.2, CAP-RULE)."""

    granted: bool
    instrument: str | None = Field(default=None, description="domestic legal basis, e.g. a statute")
    authorised_entity: bool = Field(
        default=False, description="named as an authorised entity of its Party (AEF Table 5)")
    note: str | None = None


class Participation(_Doc):
    """Evidence for the Article 6.2 participation requirements (Decision 2/CMA.3, annex, para 4).

    ``None`` means "not evidenced in the document"; ``paris_party`` defaults to the shipped data.
    """

    paris_party: bool | None = None
    ndc: bool | None = Field(default=None, description="4(b) NDC prepared, communicated, maintained")
    authorisation_arrangements: bool | None = Field(default=None, description="4(c)")
    tracking_arrangements: bool | None = Field(default=None, description="4(d) registry or access")
    inventory_report: bool | None = Field(default=None, description="4(e) latest NIR provided")
    contributes_to_ndc: bool | None = Field(default=None, description="4(f)")
    note: str | None = None


class Ndc(_Doc):
    """The party's NDC facts the overselling check needs (S-6.4)."""

    type: Literal["single_year", "multi_year"] | None = None
    period: str | None = Field(default=None, description="e.g. 2021-2030")
    headroom: float | None = Field(default=None, description="tCO2e the party can transfer and "
                                   "still meet its NDC (its own estimate)")
    source: str | None = None


class Party(_Doc):
    """One party: a jurisdiction of the reference data, optionally its ETS."""

    jurisdiction: str = Field(min_length=1)
    ets: str | None = None
    role: Literal["transferring", "acquiring", "both"] | None = None
    signatory: str | None = Field(default=None, description="signatory authority")
    national_authorisation: NationalAuthorisation | None = None
    participation: Participation | None = None
    ndc: Ndc | None = None


class LinkingMode(_Doc):
    """The four axes of S-7.2."""

    direction: Literal["unilateral", "bilateral", "multilateral"]
    directness: Literal["direct", "indirect"] = "direct"
    common_unit: str | None = Field(default=None, description="the shared unit (indirect) or the "
                                    "common allowance (direct)")
    breadth: Literal["full", "restricted"] = "full"
    restrictions: list[Literal["quota", "border_tax", "exchange_rate", "discount_rate"]] = Field(
        default_factory=list)
    structure: Literal["umbrella", "parallel"] = "parallel"


class Authorisation(_Doc):
    """An authorisation of ITMOs (Paris Agreement Art. 6.3; AEF Table 2 fields)."""

    id: str | None = None
    party: str = Field(min_length=1, description="authorising jurisdiction id")
    purposes: list[Purpose] = Field(default_factory=list)
    volume: float | None = Field(default=None, ge=0, description="cumulative cap, tCO2e")
    ndc_period: str | None = None
    activity: str | None = None
    entities: list[str] = Field(default_factory=list, description="authorised entities")
    first_transfer: FirstTransfer | None = None
    other_party_reference: str | None = None
    change_conditions: str | None = None


class AuthorisedEntity(_Doc):
    """A private actor or sub-national body acting under the agreement (two-tier structure)."""

    name: str
    kind: Literal["private", "public", "subnational"] = "private"
    authorised_by: str | None = Field(default=None, description="jurisdiction id of the Party")
    authorisation_ref: str | None = None


class Reporting(_Doc):
    initial_report: Literal["before_first_transfer", "with_first_transfer", "with_btr",
                            "after_first_transfer"] | None = None
    annual_information: bool | None = None
    annual_deadline: str | None = Field(default=None, description="MM-DD, e.g. 04-15")
    annual_format: str | None = Field(default=None, description="e.g. AEF")
    regular_information: bool | None = None


class Article6(_Doc):
    """Article 6.2 data of the cooperative approach."""

    cooperative_approach_id: str | None = None
    first_transferring_party: str | None = None
    authorisations: list[Authorisation] = Field(default_factory=list)
    first_transfer: FirstTransfer | None = None
    ca_method: dict[str, CaMethod] = Field(
        default_factory=dict, description="Party id → CA method; the Party of a sub-national "
        "participant is its national (or supranational) Party, e.g. US for US-CA")
    averaging_denominator: Literal["elapsed_years", "implementation_period_years"] | None = None
    metric: Literal["GHG", "non-GHG"] | None = None
    gwp: str | None = Field(default=None, description="e.g. IPCC AR5 100-year")
    non_ghg_metric: str | None = None
    reporting: Reporting | None = None
    authorised_entities: list[AuthorisedEntity] = Field(default_factory=list)


class Clause(_Doc):
    """One clause of the agreement, typed by element."""

    element: Element
    article: str | None = None
    summary: str | None = None
    text: str | None = None
    parameters: dict[str, Any] = Field(default_factory=dict)
    verified: bool = True
    note: str | None = None

    _finite_parameters = field_validator("parameters")(_finite_everywhere)

    @field_validator("element", mode="before")
    @classmethod
    def _element_id(cls, v: Any) -> Any:
        if isinstance(v, str) and v.upper() in ELEMENT_BY_ID:
            return ELEMENT_BY_ID[v.upper()]
        return v


PositiveByEts = dict[str, Annotated[float, Field(gt=0)]]
Share = Annotated[float, Field(gt=0, lt=1)]


class AssessmentSettings(_Doc):
    """Assumption overrides read by ``carbonlink assess`` (docs/assess.md, *Calibration*);
    ``carbonlink check`` accepts and ignores them. Keys as in ``--assume``: a global or per-ETS
    ``abatement_share``, per-ETS ``price`` / ``cap`` / ``mac_scale``, per-currency ``fx``,
    ``currency`` and ``price_basis``."""

    abatement_share: Share | dict[str, Share] | None = Field(
        default=None, description="abatement at the observed price as a share of BAU")
    price: PositiveByEts = Field(default_factory=dict, description="ETS id → observed price, in "
                                 "the ETS's own currency")
    cap: PositiveByEts = Field(default_factory=dict, description="ETS id → annual cap, MtCO2e")
    mac_scale: PositiveByEts = Field(default_factory=dict, description="ETS id → multiplier on "
                                     "the calibrated MAC slope")
    fx: PositiveByEts = Field(default_factory=dict, description="currency → US$ per unit")
    currency: str | None = Field(default=None, min_length=1, description="reporting currency")
    price_basis: Literal["pre_link", "current"] | None = Field(
        default=None, description="already-linked systems: calibrate to pre-link prices "
        "(default) or today's prices")
    assumptions: AssessmentSettings | None = Field(
        default=None, description="the same keys, nested (an assumptions-file layout)")


class Agreement(_Doc):
    """A linkage agreement as data."""

    id: str = Field(min_length=1)
    title: str
    form: Form
    generation: Generation
    link_type: LinkType | None = Field(default=None, description="derived from mode when omitted")
    signed: str | None = None
    in_force: str | None = None
    status: str | None = None
    sources: list[str] = Field(default_factory=list)
    note: str | None = None
    gaps: list[str] = Field(default_factory=list, description="what the encoding could not confirm")
    parties: list[Party] = Field(min_length=1)
    mode: LinkingMode | None = None
    links: list[Link] = Field(default_factory=list)
    markets: list[Market] | None = None
    offsets: list[Offset] = Field(default_factory=list)
    systems: list[ETS] = Field(default_factory=list, description="ETS fact sheets not in the "
                               "shipped data (a planned system), or overriding them")
    article6: Article6 | None = None
    clauses: list[Clause] = Field(default_factory=list)
    assessment: AssessmentSettings | None = Field(
        default=None, description="assumption overrides for `carbonlink assess` (ignored by "
        "the checks)")
    uncertainty: Uncertainty | None = Field(
        default=None, description="shocks for `carbonlink assess` to draw (the report's "
        "Uncertainty section; ignored by the checks), as in a scenario document")

    @field_validator("links", mode="before")
    @classmethod
    def _shorthand(cls, v: Any) -> Any:
        return expand_links(v)

    @model_validator(mode="after")
    def _references(self) -> Agreement:
        from carbonlink.data import get_ets, get_jurisdiction, list_jurisdictions, national_party

        local = {s.id: s for s in self.systems}

        def ets_known(eid: str) -> bool:
            if eid in local:
                return True
            try:
                get_ets(eid)
            except KeyError:
                return False
            return True

        def jur_known(jid: str) -> bool:
            try:
                get_jurisdiction(jid)
            except KeyError:
                return False
            return True

        for k, s in enumerate(self.systems):
            if not jur_known(s.jurisdiction):
                raise ValueError(f"systems[{k}].jurisdiction: unknown jurisdiction id "
                                 f"{s.jurisdiction!r}")
        seen: set[str] = set()
        for i, p in enumerate(self.parties):
            if not jur_known(p.jurisdiction):
                hint = ", ".join(j.id for j in list_jurisdictions()[:8])
                raise ValueError(f"parties[{i}].jurisdiction: unknown jurisdiction id "
                                 f"{p.jurisdiction!r} (e.g. {hint}; see `carbonlink data list`)")
            if p.jurisdiction in seen:
                raise ValueError(f"parties[{i}].jurisdiction: duplicate party {p.jurisdiction!r}")
            seen.add(p.jurisdiction)
            if p.ets is not None and not ets_known(p.ets):
                raise ValueError(f"parties[{i}].ets: unknown ETS id {p.ets!r} "
                                 "(see `carbonlink data list --ets`)")
        party_ets = [p.ets for p in self.parties if p.ets]
        market_ids = {m.id for m in self.markets or []}
        for i, link in enumerate(self.links):
            for end, eid in (("from", link.from_), ("to", link.to)):
                if not ets_known(eid):
                    raise ValueError(f"links[{i}].{end}: unknown ETS id {eid!r}")
                if eid not in party_ets:
                    raise ValueError(f"links[{i}].{end}: ETS {eid!r} is not the ETS of any party "
                                     f"(parties' ETSs: {', '.join(party_ets) or 'none'})")
                if self.markets is not None and eid not in market_ids:
                    raise ValueError(f"links[{i}].{end}: no market {eid!r} in markets")
        for k, m in enumerate(self.markets or []):
            if not ets_known(m.id):
                raise ValueError(f"markets[{k}].id: market ids are ETS ids; unknown ETS {m.id!r}")
        if self.article6:
            for k, a in enumerate(self.article6.authorisations):
                if a.party not in seen:
                    raise ValueError(f"article6.authorisations[{k}].party: {a.party!r} is not a party")
            parties_of = {national_party(j).id for j in seen}
            for jid in self.article6.ca_method:
                if jid not in seen and jid not in parties_of:
                    raise ValueError(f"article6.ca_method.{jid}: {jid!r} is neither a party nor "
                                     "the Party (national or supranational) of one")
            ftp = self.article6.first_transferring_party
            if ftp is not None and ftp not in seen:
                raise ValueError(f"article6.first_transferring_party: {ftp!r} is not a party")
        if self.markets is not None:
            try:  # market-level consistency (duplicate ids, offsets) is the scenario's
                self.scenario()
            except ValidationError as exc:
                first = exc.errors(include_url=False)[0]
                msg = str(first["msg"]).removeprefix("Value error, ")
                raise ValueError(msg if ": " in msg and msg.split(": ")[0][:1].isalpha()
                                 else f"markets: {msg}") from None
        return self

    # ---- derived views -------------------------------------------------------------------
    @property
    def form_group(self) -> str:
        return FORM_GROUP[self.form]

    @property
    def effective_link_type(self) -> LinkType:
        """E2/E1/CR/IN of the completeness checklist, from ``link_type`` or the linking mode."""
        if self.link_type is not None:
            return self.link_type
        if self.mode is not None and self.mode.directness == "indirect":
            return "indirect"
        if not self.links and self.generation == "article_6_2":
            return "crediting"
        if self.mode is not None and self.mode.direction == "unilateral":
            return "ets_one_way"
        pairs = {(lk.from_, lk.to) for lk in self.links}
        if pairs and all((b, a) not in pairs for a, b in pairs):
            return "ets_one_way"
        return "ets_two_way"

    @property
    def claims_itmos(self) -> bool:
        """Whether the document itself claims authorisations, transfers or corresponding
        adjustments: recorded authorisations, an authorisation or corresponding-adjustment
        clause, or (Article 6.2 generation) a transfer-recognition clause — in a first-generation
        ETS link that clause moves allowances, not ITMOs. Then the Article 6.2 content rules
        apply with full severity, whatever the form."""
        if self.article6 is not None and self.article6.authorisations:
            return True
        if self.generation == "article_6_2" and self.has("transfer_recognition"):
            return True
        return any(self.has(el) for el in ITMO_CLAIM_ELEMENTS)

    def clauses_for(self, element: str) -> list[Clause]:
        return [c for c in self.clauses if c.element == element]

    def has(self, element: str) -> bool:
        return any(c.element == element for c in self.clauses)

    def party(self, jurisdiction_id: str) -> Party:
        for p in self.parties:
            if p.jurisdiction == jurisdiction_id:
                return p
        raise KeyError(jurisdiction_id)

    def scenario(self) -> Scenario | None:
        """The simulator scenario (markets, links, offsets) when the agreement carries markets."""
        if not self.markets:
            return None
        return Scenario(name=self.id, description=self.title, markets=list(self.markets),
                        links=list(self.links), offsets=list(self.offsets))
