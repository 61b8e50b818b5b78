"""Run an assessment: check the agreement, calibrate markets, solve every design and sweep.

The engine and the checks never print; this module reports progress through an optional
callback (the CLI draws a rich progress bar on stderr).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from carbonlink.assess.calibrate import Assumption, Calibration, Overrides, calibrate
from carbonlink.assess.designs import Design, build_designs, full_link_design, is_two_way
from carbonlink.assess.sensitivity import (
    Sweep,
    SweepSpec,
    mac_sweeps,
    main_restriction,
    restriction_sweep,
)
from carbonlink.errors import DocumentError
from carbonlink.markets.sweep import run_scenarios
from carbonlink.model.io import read_document, validate_document
from carbonlink.model.scenario import Link, Scenario

ProgressFn = Callable[[str, int], None]  # (description, steps done since last call)

#: Rough number of steps, for sizing a progress bar before the design list is known.
ESTIMATED_STEPS = 2 + 12 + 17
#: Samples of an agreement's ``uncertainty`` block when ``--samples`` is not given, and the most
#: one run may ask for (three designs, one solve each per sample).
DEFAULT_SAMPLES = 200
MAX_SAMPLES = 20_000


@dataclass
class Assessment:
    """Everything a report shows. Numbers are SimulationResults or the check report."""

    source: str
    agreement: Any
    check: Any
    framing: dict[str, Any]
    assumptions: list[Assumption]
    calibration: Calibration | None
    designs: list[Design] = field(default_factory=list)
    results: dict[str, Any] = field(default_factory=dict)
    sweeps: list[Sweep] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    simulated: bool = False
    no_simulation_reason: str | None = None
    currency: str | None = None
    unit: str | None = None
    #: the Monte Carlo section (:func:`carbonlink.reporting.uncertainty_charts.uncertainty_mapping`)
    #: when the agreement carries an ``uncertainty`` block; ``None`` otherwise
    uncertainty: dict[str, Any] | None = None

    @property
    def parties(self) -> list[dict[str, Any]]:
        return [{"jurisdiction": p.jurisdiction, "ets": p.ets, "role": p.role}
                for p in self.agreement.parties]

    lang: str = "en"  # language of the decision box in notebooks and saved reports

    def report(self, *, tool_version: str | None = None, lang: str | None = None) -> dict[str, Any]:
        """The report mapping every renderer reads (HTML, Markdown, JSON, XLSX, PDF)."""
        from carbonlink import __version__
        from carbonlink.reporting.report import build_report

        return build_report(self, tool_version=tool_version or __version__, lang=lang or self.lang)

    @property
    def decision(self) -> dict[str, Any]:
        """The verdict box as data: recommendation, law, drafting, key figures, design."""
        return dict(self.report()["decision"])

    def _repr_html_(self) -> str:
        """In a notebook: the decision box (``.plot()`` draws the charts, ``.save()`` writes
        the full report)."""
        from carbonlink.reporting.render import render_decision_html

        return render_decision_html(self.report())

    def plot(self, chart: str | None = None) -> Any:
        """The report's charts (static SVG, shown inline by Jupyter): all of them as a list,
        or the one named (``prices``, ``flows``, ``gains``, ``emissions``, ``revenue``,
        ``sweep-<id>``; with an ``uncertainty`` block also ``uncertainty-fan``,
        ``uncertainty-transmission``, ``uncertainty-gains``)."""
        from carbonlink.reporting.notebook import pick
        from carbonlink.reporting.plots import report_charts

        rep = self.report()
        charts = report_charts(rep)
        if rep.get("uncertainty"):
            from carbonlink.reporting.uncertainty_charts import uncertainty_charts

            charts = charts + uncertainty_charts(rep)
        return pick(charts, chart)

    def save(self, path: str | Path, fmt: str | None = None) -> Path:
        """Write the report to ``path`` in the format its suffix names (html, md, json, xlsx,
        pdf), atomically."""
        from carbonlink.cli.assess import ReportFormat, report_format
        from carbonlink.reporting.export import render_pdf, render_xlsx
        from carbonlink.reporting.render import (
            render_html,
            render_json,
            render_markdown,
            write_atomic,
        )

        p = Path(path)
        f = report_format(p, ReportFormat(fmt) if fmt else None)
        rep = self.report()
        content: str | bytes
        if f is ReportFormat.xlsx:
            content = render_xlsx(rep)
        elif f is ReportFormat.pdf:
            content = render_pdf(render_html(rep))
        else:
            content = {ReportFormat.html: render_html, ReportFormat.markdown: render_markdown,
                       ReportFormat.json: render_json}[f](rep)
        return write_atomic(p, content)

    def market_label(self, market_id: str) -> str:
        for p in self.agreement.parties:
            if p.ets == market_id:
                return f"{p.jurisdiction} ({market_id})"
        return market_id


def load_assessment_doc(path: str | Path | Mapping[str, Any]
                        ) -> tuple[dict[str, Any], dict[str, Any]]:
    """The agreement mapping and its optional ``assessment:`` section (assumption overrides).
    The section stays in the mapping: the Agreement model types it, so ``check`` and ``assess``
    accept and reject the same documents. ``path`` may be an already parsed mapping."""
    raw = dict(path) if isinstance(path, Mapping) else read_document(path)
    path = "<document>" if isinstance(path, Mapping) else path
    if not isinstance(raw, dict):
        raise DocumentError("<document>", f"must be a mapping, got {type(raw).__name__}",
                            source=str(path))
    doc = dict(raw)
    section = doc.get("assessment") or {}
    if not isinstance(section, dict):
        raise DocumentError("assessment", "must be a mapping of assumption keys to values",
                            source=str(path))
    assumptions = section.get("assumptions", section)
    if not isinstance(assumptions, dict):
        raise DocumentError("assessment.assumptions", "must be a mapping", source=str(path))
    return doc, assumptions


def framing(agreement: Any) -> dict[str, Any]:
    """The seed's framing of the agreement: form, generation, linking modes (S-1, S-2, S-7.2)."""
    mode = agreement.mode
    out: dict[str, Any] = {
        "id": agreement.id,
        "title": agreement.title,
        "form": agreement.form,
        "generation": agreement.generation,
        "link_type": agreement.effective_link_type,
        "signed": agreement.signed,
        "in_force": agreement.in_force,
        "status": agreement.status,
        "parties": [{"jurisdiction": p.jurisdiction, "ets": p.ets, "role": p.role}
                    for p in agreement.parties],
        "sources": list(agreement.sources),
        "gaps": list(agreement.gaps),
    }
    if mode is not None:
        out["mode"] = mode.model_dump(mode="json")
    return out


def _ets_getter(agreement: Any, on: dt.date) -> Callable[[str], Any]:
    """The systems as they stood on ``on`` (the check's reference date), so the calibration reads
    the same caps, prices and controls as the findings do."""
    from carbonlink.data import get_ets

    local = {s.id: s for s in agreement.systems}

    def get(eid: str) -> Any:
        return local[eid].as_of(on) if eid in local else get_ets(eid, on)

    return get


def _market_ids(links: list[Link]) -> list[str]:
    out: list[str] = []
    for lk in links:
        for mid in (lk.from_, lk.to):
            if mid not in out:
                out.append(mid)
    return out


def assess(path: str | Path | Mapping[str, Any], *, overrides: Mapping[str, Any] | None = None,
           assumptions_file: str | Path | None = None, engine: str = "fast",
           strict: list[str] | None = None, progress: ProgressFn | None = None,
           with_sensitivity: bool = True, as_of: str | dt.date | None = None,
           source: str | None = None, samples: int | None = None,
           on_designs: Callable[[Assessment], None] | None = None) -> Assessment:
    """Assess the agreement document at ``path`` (see module docstring), or an already parsed
    agreement mapping (``source`` then names it in the report), as of ``as_of`` (default today).

    When the agreement carries an ``uncertainty`` block, ``samples`` draws (default
    :data:`DEFAULT_SAMPLES`) of its shocks are solved for autarky, the agreement as drafted and
    the full link (when it differs), for the report's *Uncertainty* section; ``samples`` without
    such a block is bad input (no shocks are invented). ``on_designs`` is called with the
    assessment as soon as its designs are solved, before the sweeps (``carbonlink assess`` starts
    drawing the designs' charts then)."""
    from carbonlink.agreements import check
    from carbonlink.model.agreement import Agreement

    def tick(desc: str, n: int = 1) -> None:
        if progress is not None:
            progress(desc, n)

    doc, doc_assumptions = load_assessment_doc(path)
    if isinstance(path, Mapping):
        where, base_dir = source or "<document>", None
    else:
        where, base_dir = str(path), Path(path).parent
    agreement = validate_document(Agreement, doc, source=where, base_dir=base_dir)
    unc = agreement.uncertainty
    if samples is not None:
        if unc is None:
            raise DocumentError("--samples", "needs an `uncertainty` block in the agreement (the "
                                "shocks to draw: market, variable, distribution); see docs/assess.md",
                                source=where)
        if not 1 <= samples <= MAX_SAMPLES:
            raise DocumentError("--samples", f"must be between 1 and {MAX_SAMPLES:,}, got {samples}")
    tick("checking the agreement", 0)
    report = check(agreement, strict=strict, as_of=as_of)
    tick("checked the agreement")

    ov = Overrides()
    if doc_assumptions:
        ov.update(doc_assumptions, "agreement document")
    if assumptions_file is not None:
        raw = read_document(assumptions_file)
        if not isinstance(raw, dict):
            raise DocumentError("<document>", "an assumptions file must be a mapping",
                                source=str(assumptions_file))
        ov.update(raw.get("assumptions", raw), "assumptions file")
    if overrides:
        ov.update(overrides, "command line")

    out = Assessment(source=where, agreement=agreement, check=report,
                     framing=framing(agreement), assumptions=[], calibration=None)
    links = list(agreement.links)
    if not links:
        out.no_simulation_reason = (
            "No market simulation applies: the agreement links no emissions trading systems, "
            "so prices, flows and gains are not modelled.")
        out.notes.append(
            "No market simulation applies: the agreement links no emissions trading systems "
            f"(link type: {agreement.effective_link_type}). "
            + ("It is an Article 6.2 cooperative approach: units (ITMOs) move under "
               "authorisations and corresponding adjustments, not through a link between "
               "allowance markets." if agreement.generation == "article_6_2" else ""))
        tick("no market simulation", 0)
        return out

    market_ids = _market_ids(links)
    if unc is not None:
        for k, sh in enumerate(unc.shocks):
            if sh.market not in market_ids:
                raise DocumentError(f"uncertainty.shocks[{k}].market", f"{sh.market!r} is not a "
                                    f"linked market ({', '.join(market_ids)})", source=where)
            if sh.period is not None:
                raise DocumentError(f"uncertainty.shocks[{k}].period", "the assessment solves one "
                                    "period: give shocks without a period", source=where)
    own = agreement.scenario()
    calibration: Calibration | None = None
    recalibrate: Callable[[dict[str, float]], Scenario] | None = None
    if own is not None:
        base = own.model_copy(update={"links": [], "name": "base"})
        out.assumptions.append(Assumption(
            "markets", "agreement document", "market curves (BAU, cap, MAC) are those written in "
            "the agreement's markets section, not calibrated from reference data",
            "agreement document"))
        out.currency = base.markets[0].currency
        out.unit = base.markets[0].unit
    else:
        get = _ets_getter(agreement, dt.date.fromisoformat(report.document["as_of"]))
        link_date = agreement.in_force
        tick("calibrating markets", 0)
        try:
            calibration = calibrate(market_ids, ov, get_ets=get, link_date=link_date)
        except DocumentError as exc:  # the reference data lacks a cap, price or rate
            out.no_simulation_reason = (
                "No market simulation could be run: the reference data lacks what the "
                f"calibration needs — {exc.message}. The findings and compatibility matrix "
                "below still apply.")
            out.notes.append(out.no_simulation_reason)
            return out
        base = Scenario(name="base", markets=calibration.markets, offsets=list(agreement.offsets))
        out.assumptions.extend(calibration.assumptions)
        out.calibration = calibration
        out.currency = calibration.currency
        out.unit = "MtCO2e"
        out.notes.extend(f"Data gap: {g}" for g in calibration.gaps)

        def _recal(extra: dict[str, float]) -> Scenario:
            ov2 = Overrides(dict(ov.values), dict(ov.origins))
            ov2.update(extra, "sensitivity")
            cal = calibrate(market_ids, ov2, get_ets=get, link_date=link_date)
            return Scenario(name="sensitivity", markets=cal.markets, links=links,
                            offsets=list(agreement.offsets))

        recalibrate = _recal
    tick("calibrated markets")

    # the full link first: representative restriction levels are read from it
    full = full_link_design(base, links)
    _, (full_result,) = run_scenarios([full.scenario], engine=engine, name="full")
    designs = build_designs(base, links, full_result)
    tick("solving designs", 0)
    results: dict[str, Any] = {}
    for d in designs:
        if d.id == "full":
            results[d.id] = full_result
        else:
            _, (res,) = run_scenarios([d.scenario], engine=engine, name=d.id)
            results[d.id] = res
        tick(f"solved design: {d.title}")
    out.designs = designs
    out.results = results
    out.simulated = True
    for d in designs:
        if results[d.id].status != "optimal":
            out.notes.append(f"Design {d.title!r}: the equilibrium is {results[d.id].status}.")
    if on_designs is not None:
        on_designs(out)

    if with_sensitivity:
        specs: list[SweepSpec] = [restriction_sweep(base.model_copy(update={"links": []}), links,
                                                    full_result, out.currency or "")]
        if recalibrate is not None and calibration is not None:
            derived = [a.key.split(".", 1)[1] for a in calibration.assumptions
                       if a.key.startswith("price.") and a.origin == "derived"]
            smallest = min(calibration.markets, key=lambda m: m.bau).id
            specs.extend(mac_sweeps(recalibrate, market_ids, derived[0] if derived else smallest))
        else:
            out.notes.append("MAC sensitivity not run: the markets come from the agreement "
                             "document, not from the calibration assumptions.")
        for spec in specs:
            tick(f"sweeping: {spec.title}", 0)
            frame, res_list = run_scenarios(spec.scenarios, engine=engine, name=spec.id,
                                            samples=list(range(len(spec.scenarios))))
            out.sweeps.append(Sweep(spec, frame, res_list))
            tick(f"swept: {spec.title}", len(spec.scenarios))
    if unc is not None:
        tick("sampling the uncertainty", 0)
        out.uncertainty = _monte_carlo(out, base, designs, unc, samples or DEFAULT_SAMPLES,
                                       where, tick)
    if not is_two_way(links):
        out.notes.append("The agreement's link is one-way, so no one-way variants are shown.")
    out.framing["main_restriction"] = main_restriction(links)
    return out


def _monte_carlo(out: Assessment, base: Scenario, designs: list[Design], unc: Any, n: int,
                 where: str, tick: Callable[..., None]) -> dict[str, Any]:
    """The uncertainty section: ``n`` samples of autarky, the agreement as drafted and the full
    link (when the agreement is not the full link), the same draws for each."""
    from pydantic import ValidationError

    from carbonlink.errors import from_validation_error
    from carbonlink.reporting.i18n import N_
    from carbonlink.reporting.report import units
    from carbonlink.reporting.uncertainty_charts import uncertainty_mapping

    by_id = {d.id: d for d in designs}
    chosen: list[tuple[str, str, Scenario]] = [
        ("autarky", N_("Autarky (no link)"), base.model_copy(update={"links": [], "name": "autarky"}))]
    agr = by_id.get("agreement")
    full = by_id.get("full")
    if agr is not None:
        chosen.append(("agreement", agr.title, agr.scenario))
    if full is not None and (agr is None or sorted(map(repr, full.scenario.links))
                             != sorted(map(repr, agr.scenario.links))):
        chosen.append(("full", full.title, full.scenario))
    scenarios = []
    for did, title, sc in chosen:
        try:  # the Scenario model checks the shocks against its markets (a slope: linear MAC)
            doc = sc.model_dump(mode="json", by_alias=True, exclude_none=True)
            doc["uncertainty"] = unc.model_dump(mode="json", exclude_none=True)
            scenarios.append((did, title, Scenario.model_validate(doc)))
        except ValidationError as exc:
            raise from_validation_error(exc, source=where) from None
    mapping = uncertainty_mapping(scenarios, n, units=units(out),
                                  progress=lambda k: tick("sampling the uncertainty", 0))
    tick(f"sampled the uncertainty ({n} samples per design)")
    return mapping
