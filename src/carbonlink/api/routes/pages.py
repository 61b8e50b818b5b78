"""Server-rendered pages: index, check, simulate, registry, data.

Plain HTML forms (``application/x-www-form-urlencoded``, read here without an extra parser
dependency), no JavaScript, one inline stylesheet; a Content-Security-Policy allows nothing else,
so a page can never reach out to the network. Pasted documents are YAML or JSON
(``yaml.safe_load``); an invalid one gives the form back with HTTP 422 and each problem's field
path. The pages call the same engines and helpers as the JSON API.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from pydantic import TypeAdapter, ValidationError

from carbonlink import __version__
from carbonlink.agreements import RULES, check
from carbonlink.api.deps import RegistryDep
from carbonlink.api.documents import admit_agreement, admit_scenario
from carbonlink.api.routes.check import strict_rules
from carbonlink.api.routes.registry import (
    PARTY_PATTERN,
    accounts_out,
    calendar_out,
    verify_out,
)
from carbonlink.data import list_ets, list_jurisdictions, paris_party_status, parse_as_of, today
from carbonlink.errors import CarbonlinkError, DocumentError, problems_from_errors
from carbonlink.markets import Engine, simulate
from carbonlink.model.agreement import Agreement
from carbonlink.model.io import parse_document, validate_document
from carbonlink.model.jurisdiction import Fact, Figure
from carbonlink.model.scenario import Scenario
from carbonlink.registry.reports.calendar import LAST_DAY
from carbonlink.reporting.console import simulation_table_data
from carbonlink.reporting.i18n import N_, Translator, translator
from carbonlink.reporting.sentences import translate_sentence

PAGES = Path(__file__).resolve().parents[1] / "pages"
#: the forms start with a shipped example (copies of examples/…; a test keeps them identical)
EXAMPLE_AGREEMENT = PAGES / "examples" / "eu-switzerland.yaml"
EXAMPLE_SCENARIO = PAGES / "examples" / "two-markets-discount.yaml"

CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; "
       "base-uri 'none'; frame-ancestors 'none'")

templates = Jinja2Templates(directory=PAGES / "templates")
templates.env.globals["version"] = __version__
#: labels of the pages go through the report's translator (the catalog can cover them)
templates.env.globals["_"] = translator("en")

router = APIRouter(include_in_schema=False)  # HTML, not part of the JSON API's schema


@dataclass
class PageError:
    """What went wrong, for the error box of a page."""

    title: str
    message: str
    problems: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def of(cls, exc: CarbonlinkError) -> PageError:
        if isinstance(exc, DocumentError):
            return cls(N_("The document is not valid"), exc.message, exc.problems)
        return cls(N_("The request was refused"), str(exc))


def page_translator(request: Request) -> Translator:
    """The language of a page: ``?lang=en|zh`` (default English); refused like any bad input."""
    lang = request.query_params.get("lang") or "en"
    try:
        return Translator(lang)
    except DocumentError:
        raise DocumentError("query.lang", f"must be en or zh, got {lang!r}") from None


def render(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    """A page in the language of ``?lang=`` (the links and forms on it keep that language)."""
    try:
        tr = page_translator(request)
    except DocumentError as exc:
        tr, status, context["error"] = Translator("en"), 422, PageError.of(exc)
    context.update({"_": tr, "page_lang": tr.lang,
                    "sentence": lambda text: translate_sentence(str(text), tr),
                    "lang_query": "" if tr.lang == "en" else f"?lang={tr.lang}"})
    response = templates.TemplateResponse(request, name, context, status_code=status)
    response.headers["Content-Security-Policy"] = CSP
    return response


async def form_fields(request: Request) -> dict[str, str]:
    """The fields of a submitted form (last value wins)."""
    body = (await request.body()).decode("utf-8", errors="replace")
    return {k: v[-1] for k, v in parse_qs(body, keep_blank_values=True).items()}


Form = Annotated[dict[str, str], Depends(form_fields)]


def _parse(text: str, what: str) -> Any:
    """Pasted text as data. (Validated with ``validate_document``, never ``load_*``: those take
    a string as a file path, and pasted YAML can be a bare string.)"""
    if not text.strip():
        raise DocumentError("<document>", f"empty: paste {what} (YAML or JSON)")
    return parse_document(text)


# ------------------------------------------------------------------------------------ index
@router.get("/", response_class=HTMLResponse)
def index(request: Request) -> HTMLResponse:
    return render(request, "index.html", ets=list_ets(), jurisdictions=list_jurisdictions(),
                  rules=len(RULES))


# ------------------------------------------------------------------------------------ check
@router.get("/check", response_class=HTMLResponse)
def check_form(request: Request) -> HTMLResponse:
    return render(request, "check.html", document=EXAMPLE_AGREEMENT.read_text(encoding="utf-8"),
                  strict="", as_of="", rules=sorted(RULES), report=None, error=None)


@router.post("/check", response_class=HTMLResponse)
def check_submit(request: Request, form: Form) -> HTMLResponse:
    text, strict = form.get("document", ""), form.get("strict", "")
    as_of = form.get("as_of", "").strip()
    try:
        rules = strict_rules([s for s in re.split(r"[\s,]+", strict) if s], "strict rules")
        on = parse_as_of(as_of or None, "as of")
        agreement = admit_agreement(validate_document(Agreement, _parse(text, "an agreement document")))
        report = check(agreement, strict=rules, as_of=on)
    except CarbonlinkError as exc:
        return render(request, "check.html", status=422 if isinstance(exc, DocumentError) else 400,
                      document=text, strict=strict, as_of=as_of, rules=sorted(RULES), report=None,
                      error=PageError.of(exc))
    return render(request, "check.html", document=text, strict=strict, as_of=as_of,
                  rules=sorted(RULES), report=report, error=None)


# --------------------------------------------------------------------------------- simulate
#: Monte Carlo over the web: samples of a scenario's ``uncertainty`` block per request (two
#: designs, autarky and the scenario as written: at most twice this many solves)
DEFAULT_WEB_SAMPLES = 200
MAX_WEB_SAMPLES = 2_000


@router.get("/simulate", response_class=HTMLResponse)
def simulate_form(request: Request) -> HTMLResponse:
    return render(request, "simulate.html", document=EXAMPLE_SCENARIO.read_text(encoding="utf-8"),
                  engine=Engine.fast.value, engines=[e.value for e in Engine], result=None,
                  tables=[], error=None, samples=str(DEFAULT_WEB_SAMPLES), charts=[],
                  max_samples=MAX_WEB_SAMPLES)


def _samples(text: str) -> int:
    t = text.strip() or str(DEFAULT_WEB_SAMPLES)
    if not t.isdigit() or not 1 <= int(t) <= MAX_WEB_SAMPLES:
        raise DocumentError("samples", f"must be a whole number from 1 to {MAX_WEB_SAMPLES:,}, "
                            f"got {text!r}")
    return int(t)


def uncertainty_figures(scenario: Scenario, n: int, lang: str) -> list[Any]:
    """The Monte Carlo charts of a scenario with an ``uncertainty`` block: autarky beside the
    scenario as written (the same draws), drawn like the assess report's."""
    from carbonlink.reporting.uncertainty_charts import uncertainty_charts, uncertainty_mapping

    designs = [("autarky", N_("Autarky (no link)"),
                scenario.model_copy(update={"links": [], "name": "autarky"}))]
    if scenario.links:
        designs.append(("linked", N_("As written"), scenario))
    mapping = uncertainty_mapping(designs, n)
    return uncertainty_charts({"lang": lang, "uncertainty": mapping})


@router.post("/simulate", response_class=HTMLResponse)
def simulate_submit(request: Request, form: Form) -> HTMLResponse:
    text, engine = form.get("document", ""), form.get("engine", Engine.fast.value)
    samples = form.get("samples", str(DEFAULT_WEB_SAMPLES))
    engines = [e.value for e in Engine]
    result = None
    charts: list[Any] = []
    try:
        if engine not in engines:
            raise DocumentError("engine", f"must be one of {', '.join(engines)}, got {engine!r}")
        n = _samples(samples)
        scenario = admit_scenario(validate_document(Scenario, _parse(text, "a scenario document")))
        if scenario.periods is None:
            result = simulate(scenario, engine=engine)
        elif scenario.uncertainty is None:
            raise DocumentError("periods", "a multi-period scenario is shown here only with an "
                                "`uncertainty` block (its Monte Carlo charts); run `carbonlink "
                                "simulate` for its tables")
        if scenario.uncertainty is not None:
            charts = uncertainty_figures(scenario, n, page_translator(request).lang)
    except CarbonlinkError as exc:
        return render(request, "simulate.html", status=422 if isinstance(exc, DocumentError) else 400,
                      document=text, engine=engine, engines=engines, result=None, tables=[],
                      error=PageError.of(exc), samples=samples, charts=[],
                      max_samples=MAX_WEB_SAMPLES)
    return render(request, "simulate.html", document=text, engine=engine, engines=engines,
                  result=result, tables=simulation_table_data(result) if result else [],
                  error=None, samples=samples, charts=charts, max_samples=MAX_WEB_SAMPLES)


# --------------------------------------------------------------------------------- registry
@router.get("/registry", response_class=HTMLResponse)
def registry_page(request: Request,
                  reg: RegistryDep,
                  party: str = "", as_of: str = "", verify: str = "",
                  done: str = "") -> HTMLResponse:
    """For the public: aggregates and the login form. For a logged-in user: the accounts they
    represent and the transfers waiting for them; for the roles that read everything
    (administrators, authorising officials, auditors) also every account with its balance,
    the reporting calendar (``?party=&as_of=``), the AEF download and the verification when
    asked for (``?verify=1``: it recomputes the whole hash chain and every invariant, too much
    work for every view of a large ledger)."""
    from carbonlink.api import registry_reads as rr
    from carbonlink.api.routes.registry_pages import csrf_for, set_csrf_cookie
    from carbonlink.api.routes.registry_work import receipt_line
    csrf, new_cookie = csrf_for(request)
    context: dict[str, Any] = {"party": party, "as_of": as_of, "verify": None, "accounts": [],
                               "calendar": [], "error": None, "loaded": False, "csrf": csrf,
                               "user": reg.actor.username if reg.actor else None,
                               "public": None, "mine": [], "waiting": [],
                               "reads_all": rr.reads_all(reg.actor), "done": receipt_line(done)}
    if reg.actor is None:     # the public: aggregates only, and the login form
        try:
            context["public"] = reg.public_aggregates()
        except CarbonlinkError as exc:
            context["error"] = PageError.of(exc)
            return render(request, "registry.html", status=400, **context)
        response = render(request, "registry.html", **context)
        set_csrf_cookie(response, new_cookie, request)
        return response
    try:
        context.update(mine=rr.represented_accounts(reg), waiting=rr.awaiting(reg))
        if not context["reads_all"]:
            return render(request, "registry.html", **context)
        problems: list[tuple[str, str]] = []
        day: date | None = None
        if as_of:
            try:   # the API's form: YYYY-MM-DD only (fromisoformat also takes 20240101, 2024-W01-1)
                if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", as_of):
                    raise ValueError
                day = date.fromisoformat(as_of)
            except ValueError:
                problems.append(("as_of", f"must be a date YYYY-MM-DD, got {as_of!r}"))
            else:
                if day > LAST_DAY:
                    problems.append(("as_of", f"must be on or before {LAST_DAY}, got {as_of}"))
        if party and not re.fullmatch(PARTY_PATTERN, party):
            problems.append(("party", f"must be an ISO alpha-3 Party (e.g. CHE), got {party!r}"))
        if problems:
            raise DocumentError(problems)
        context.update(verify=verify_out(reg) if verify else None, accounts=accounts_out(reg),
                       calendar=calendar_out(reg, day, party or None), loaded=True)
    except CarbonlinkError as exc:
        context["error"] = PageError.of(exc)
        return render(request, "registry.html", status=422 if isinstance(exc, DocumentError) else 400,
                      **context)
    return render(request, "registry.html", **context)


# ------------------------------------------------------------------------------------- data
@dataclass
class FigureView:
    """One figure of the reference data as a reader sees it, with its provenance."""

    text: str
    source: str
    year: int | None
    verified: bool
    note: str

    @classmethod
    def of(cls, f: Figure | Fact | None) -> FigureView | None:
        if f is None:
            return None
        return cls(f.text, f.source or "", f.year, f.verified, f.note or "")


#: the API's ``?as_of`` is a ``date`` query parameter: the page parses it with the same adapter
_DATE: TypeAdapter[date] = TypeAdapter(date)


def parse_data_as_of(value: str) -> date | None:
    """``?as_of=`` of the data page: empty is today; otherwise parsed exactly as the API's
    ``?as_of`` (pydantic's date) and refused with the API's problem (``query.as_of``, reason)."""
    if not value:
        return None
    try:
        return _DATE.validate_python(value)
    except ValidationError as err:
        errors = [{**e, "loc": ("query", "as_of")} for e in err.errors(include_url=False)]
        raise DocumentError(problems_from_errors(errors)) from None


@router.get("/data", response_class=HTMLResponse)
def data_page(request: Request, as_of: str = "") -> HTMLResponse:
    """The reference data as of a date (``?as_of=YYYY-MM-DD``, default today): dated figures,
    status, membership and links as they stood then."""
    try:
        day = parse_data_as_of(as_of) or today()
    except DocumentError as exc:
        return render(request, "data.html", status=422, ets=[], jurisdictions=[], as_of=as_of,
                      day=None, error=PageError.of(exc))
    ets = [{"ets": e, "cap": FigureView.of(e.cap), "covered": FigureView.of(e.covered_emissions),
            "price": FigureView.of(e.price), "mandatory": FigureView.of(e.mandatory)}
           for e in list_ets(day)]
    jurisdictions = [{"j": j, "paris": FigureView.of(paris_party_status(j.id, day))}
                     for j in list_jurisdictions(day)]
    return render(request, "data.html", ets=ets, jurisdictions=jurisdictions, as_of=as_of,
                  day=day, error=None)
