"""``POST /api/assess`` and the ``/assess`` page: the decision report of a linkage agreement.

Bounded work per request: the body is read up to :data:`MAX_BODY` bytes (more is a 413), the
``plain`` engine (one HiGHS column per option) is refused (422), and an agreement whose markets
section carries more than :data:`MAX_CURVE_POINTS` inline curve points is refused (422). The
assessment runs in a worker thread; when the client goes away, the next progress step of the
pipeline stops it (nothing is written anywhere: the report is the response).

A run longer than a second shows its progress: ``POST /api/assess/jobs`` starts a job
(:mod:`carbonlink.api.jobs`: bounded in number and lifetime, cancelled when its client stops
polling), and the ``/assess`` page answers directly when the run ends within a second, else
redirects to a progress page that refreshes itself and ends with the download links.
"""

from __future__ import annotations

import datetime as dt
import threading
from enum import StrEnum
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from carbonlink import __version__
from carbonlink.api.documents import admit_agreement
from carbonlink.api.errors import BAD_REQUEST, INVALID, NOT_FOUND, ErrorBody, error_response
from carbonlink.api.jobs import CANCELLED, DONE, FAILED, Busy, Job, JobStore
from carbonlink.errors import CarbonlinkError, DocumentError

MAX_BODY = 256 * 1024
MAX_CURVE_POINTS = 2_000

router = APIRouter(tags=["assess"])
pages = APIRouter(include_in_schema=False)


class AssessFormat(StrEnum):
    json = "json"
    html = "html"
    markdown = "markdown"
    xlsx = "xlsx"
    pdf = "pdf"


MEDIA = {AssessFormat.json: "application/json", AssessFormat.html: "text/html; charset=utf-8",
         AssessFormat.markdown: "text/markdown; charset=utf-8",
         AssessFormat.xlsx: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
         AssessFormat.pdf: "application/pdf"}
SUFFIX = {AssessFormat.json: "json", AssessFormat.html: "html", AssessFormat.markdown: "md",
          AssessFormat.xlsx: "xlsx", AssessFormat.pdf: "pdf"}


class TooLarge(CarbonlinkError):
    """The request body exceeds :data:`MAX_BODY` (HTTP 413)."""


#: the most Monte Carlo samples a request may ask for (three designs, one solve each a sample)
MAX_HTTP_SAMPLES = 2_000


def _check_samples(doc: dict[str, Any], samples: int | None, field: str = "query.samples") -> None:
    """``samples`` asks for draws of the agreement's ``uncertainty`` block: refused (naming the
    field) when the document has none."""
    if samples is not None and not isinstance(doc.get("uncertainty"), dict):
        raise DocumentError(field, "needs an `uncertainty` block in the agreement (the shocks "
                            "to draw); without one the report has no uncertainty section")


def _form_samples(text: str) -> int | None:
    """The form's ``samples`` field: blank is the default (200 draws, when the agreement has an
    ``uncertainty`` block)."""
    text = text.strip()
    if not text:
        return None
    if not text.isdigit() or not 1 <= int(text) <= MAX_HTTP_SAMPLES:
        raise DocumentError("samples", f"must be a whole number from 1 to {MAX_HTTP_SAMPLES:,} "
                            f"(or blank), got {text[:20]!r}")
    return int(text)


class Cancelled(Exception):
    """The client went away: the assessment stops at its next step."""


async def read_body(request: Request, limit: int = MAX_BODY) -> bytes:
    """The request body, refusing (413) as soon as it exceeds ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise TooLarge(f"the request body is {int(declared):,} bytes; the limit is {limit:,}")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"the request body exceeds the limit of {limit:,} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _curve_points(doc: dict[str, Any]) -> int:
    n = 0
    for m in doc.get("markets") or []:
        mac = (m or {}).get("mac") if isinstance(m, dict) else None
        steps = (mac or {}).get("steps") if isinstance(mac, dict) else None
        if isinstance(steps, list):
            n += len(steps)
    return n


def parse_agreement(text: str) -> dict[str, Any]:
    """A pasted or posted agreement (YAML or JSON), admitted for HTTP (no firm files, bounded
    inline curves)."""
    from carbonlink.model.agreement import Agreement
    from carbonlink.model.io import parse_document, validate_document

    if not text.strip():
        raise DocumentError("<document>", "empty: send an agreement document (YAML or JSON)")
    doc = parse_document(text)
    if not isinstance(doc, dict):
        raise DocumentError("<document>", f"must be a mapping, got {type(doc).__name__}")
    points = _curve_points(doc)
    if points > MAX_CURVE_POINTS:
        raise DocumentError("markets", f"{points:,} inline curve points; over HTTP at most "
                            f"{MAX_CURVE_POINTS:,} (run `carbonlink assess` locally for more)")
    admit_agreement(validate_document(Agreement, doc))
    return doc


async def run_assessment(request: Request, doc: dict[str, Any], *, lang: str,
                         sensitivity: bool, as_of: dt.date | None = None,
                         samples: int | None = None) -> dict[str, Any]:
    """The report mapping, computed in a worker thread that stops when the client disconnects."""
    from carbonlink.assess.pipeline import assess
    from carbonlink.reporting.report import build_report

    gone = threading.Event()

    def progress(_desc: str, _n: int) -> None:
        if gone.is_set():
            raise Cancelled

    def work() -> dict[str, Any]:
        a = assess(doc, engine="fast", progress=progress, with_sensitivity=sensitivity,
                   source="request body", as_of=as_of, samples=samples)
        return build_report(a, tool_version=__version__, lang=lang)

    async def watch(stop: anyio.Event) -> None:
        while not stop.is_set():
            if await request.is_disconnected():
                gone.set()
                return
            with anyio.move_on_after(0.25):
                await stop.wait()

    stop = anyio.Event()
    result: dict[str, Any] = {}
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(watch, stop)
            try:
                result = await anyio.to_thread.run_sync(work)
            finally:
                stop.set()
    except BaseExceptionGroup as group:  # the task group wraps the worker's error: unwrap it
        if len(group.exceptions) == 1:
            raise group.exceptions[0] from None
        raise
    return result


def render(rep: dict[str, Any], fmt: AssessFormat) -> str | bytes:
    from carbonlink.reporting.export import render_pdf, render_xlsx
    from carbonlink.reporting.render import render_html, render_json, render_markdown

    if fmt is AssessFormat.xlsx:
        return render_xlsx(rep)
    if fmt is AssessFormat.pdf:
        return render_pdf(render_html(rep))
    return {AssessFormat.json: render_json, AssessFormat.html: render_html,
            AssessFormat.markdown: render_markdown}[fmt](rep)


def _response(rep: dict[str, Any], fmt: AssessFormat, csp: str | None = None) -> Response:
    body = render(rep, fmt)
    headers = {}
    if fmt in (AssessFormat.xlsx, AssessFormat.pdf, AssessFormat.markdown):
        name = f"{rep['framing']['id']}-report.{SUFFIX[fmt]}".replace('"', "")
        headers["Content-Disposition"] = f'attachment; filename="{name}"'
    if csp:
        headers["Content-Security-Policy"] = csp
    return Response(body, media_type=MEDIA[fmt], headers=headers)


def _error(exc: Exception) -> Response:
    if isinstance(exc, TooLarge):
        return error_response(413, str(exc), [("<document>", str(exc))])
    if isinstance(exc, DocumentError):
        return error_response(422, exc.message, exc.problems)
    return error_response(400, str(exc))


class AssessReportOut(BaseModel):
    """The report of ``carbonlink assess --format json`` (its main keys; the rest as they are)."""

    model_config = ConfigDict(extra="allow")

    report: str
    version: int
    lang: str
    source: str
    decision: dict[str, Any] = Field(description="the verdict box: action, headline, line, law, "
                                     "drafting, figures, design, changes")
    verdict: str
    simulated: bool
    check: dict[str, Any] | None
    designs: list[dict[str, Any]]
    sensitivity: list[dict[str, Any]]
    assumptions: list[dict[str, Any]]


TOO_LARGE: dict[int | str, dict[str, Any]] = {
    413: {"model": ErrorBody, "description": f"the request body exceeds {MAX_BODY:,} bytes"}}


@router.post("/assess", response_model=AssessReportOut,
             responses={**INVALID, **BAD_REQUEST, **TOO_LARGE},
             openapi_extra={"requestBody": {"required": True, "content": {
                 "application/json": {"schema": {"$ref": "#/components/schemas/Agreement"}},
                 "application/yaml": {"schema": {"type": "string"}}}}},
             summary="Assess a linkage agreement")
async def assess_agreement(
    request: Request,
    format: Annotated[AssessFormat, Query(description="json (default), html, markdown, xlsx or "
                                          "pdf")] = AssessFormat.json,
    lang: Annotated[str, Query(pattern="^(en|zh)$", description="en or zh")] = "en",
    sensitivity: Annotated[bool, Query(description="run the sensitivity sweeps")] = True,
    engine: Annotated[str, Query(description="fast only: the plain engine is refused over "
                                 "HTTP (its work grows with the options)")] = "fast",
    as_of: Annotated[dt.date | None, Query(description="reference date of the legal check "
                                           "(YYYY-MM-DD; default today)")] = None,
    samples: Annotated[int | None, Query(
        ge=1, le=MAX_HTTP_SAMPLES, description="Monte Carlo samples of the agreement's "
        "`uncertainty` block (the report's uncertainty section; default 200; at most "
        f"{MAX_HTTP_SAMPLES:,} over HTTP)")] = None,
) -> Response:
    """The body is an agreement document (JSON or YAML, at most 256 KiB). The answer is the
    report of ``carbonlink assess``: the decision box, findings, designs, sensitivity and
    assumptions (JSON), or the same report as HTML, Markdown, XLSX or PDF."""
    try:
        if engine != "fast":
            raise DocumentError("query.engine", "only the fast engine runs over HTTP")
        doc = parse_agreement((await read_body(request)).decode("utf-8", errors="replace"))
        rep = await run_assessment(request, doc, lang=lang, sensitivity=sensitivity, as_of=as_of,
                                   samples=samples)
        return _response(rep, format)
    except Cancelled:
        return Response(status_code=499)
    except CarbonlinkError as exc:
        return _error(exc)


# ------------------------------------------------------------------------------------ jobs
def job_store(request: Request) -> JobStore:
    """The app's job store (``app.state.assess_jobs``)."""
    store = getattr(request.app.state, "assess_jobs", None)
    if store is None:
        store = request.app.state.assess_jobs = JobStore()
    return store


class AssessJobOut(BaseModel):
    """An assessment job: its status and progress, and where to poll and fetch its report."""

    id: str
    status: str = Field(description="queued, running, done, failed or cancelled")
    step: str = Field(description="the pipeline's last step")
    done: int = Field(description="steps done (estimated total below; 100 % only when done)")
    total: int
    percent: int
    poll: str = Field(description="URL of this job")
    report: str = Field(description="URL of the report, once done (?format=…)")
    error: str | None = None
    problems: list[dict[str, str]] | None = None


BUSY: dict[int | str, dict[str, Any]] = {
    429: {"model": ErrorBody, "description": "too many assessment jobs running or kept"}}


def _busy(exc: Busy) -> Response:
    return error_response(429, str(exc), headers={"Retry-After": "5"})


def _job_out(job: Job) -> dict[str, Any]:
    return {**job.to_dict(), "poll": f"/api/assess/jobs/{job.id}",
            "report": f"/api/assess/jobs/{job.id}/report"}


def _job(request: Request, job_id: str) -> Job:
    from carbonlink.api.errors import NotFound

    job = job_store(request).get(job_id)
    if job is None:
        raise NotFound(f"no assessment job {job_id!r} (unknown, or expired)")
    return job


@router.post("/assess/jobs", status_code=202, response_model=AssessJobOut,
             responses={**INVALID, **BAD_REQUEST, **TOO_LARGE, **BUSY},
             openapi_extra={"requestBody": {"required": True, "content": {
                 "application/json": {"schema": {"$ref": "#/components/schemas/Agreement"}},
                 "application/yaml": {"schema": {"type": "string"}}}}},
             summary="Start an assessment job (progress by polling)")
async def start_assess_job(
    request: Request,
    lang: Annotated[str, Query(pattern="^(en|zh)$", description="en or zh")] = "en",
    sensitivity: Annotated[bool, Query(description="run the sensitivity sweeps")] = True,
    engine: Annotated[str, Query(description="fast only (see POST /api/assess)")] = "fast",
    as_of: Annotated[dt.date | None, Query(description="reference date of the legal check")] = None,
    samples: Annotated[int | None, Query(
        ge=1, le=MAX_HTTP_SAMPLES, description="Monte Carlo samples of the agreement's "
        f"`uncertainty` block (default 200; at most {MAX_HTTP_SAMPLES:,})")] = None,
) -> Response:
    """The body is what ``POST /api/assess`` takes. The answer (202) is the job: its ``id``,
    ``status`` (queued, running, done, failed, cancelled), ``done``/``total`` steps, and the URLs
    to poll and to fetch the report from. Poll at least every 15 s: a job nobody polls is
    cancelled; results expire 10 minutes after the run ends."""
    try:
        if engine != "fast":
            raise DocumentError("query.engine", "only the fast engine runs over HTTP")
        doc = parse_agreement((await read_body(request)).decode("utf-8", errors="replace"))
        _check_samples(doc, samples)
        job = job_store(request).submit(doc, lang=lang, sensitivity=sensitivity, as_of=as_of,
                                        samples=samples)
    except Busy as exc:
        return _busy(exc)
    except CarbonlinkError as exc:
        return _error(exc)
    return JSONResponse(_job_out(job), status_code=202,
                        headers={"Location": f"/api/assess/jobs/{job.id}"})


@router.get("/assess/jobs/{job_id}", response_model=AssessJobOut, responses={**NOT_FOUND, **INVALID},
            summary="An assessment job's progress")
def assess_job(request: Request, job_id: str) -> dict[str, Any]:
    """The job's status and progress (polling it keeps the job alive)."""
    return _job_out(_job(request, job_id))


@router.delete("/assess/jobs/{job_id}", response_model=AssessJobOut, responses={**NOT_FOUND, **INVALID},
               summary="Cancel an assessment job")
def cancel_assess_job(request: Request, job_id: str) -> dict[str, Any]:
    """Cancel the job: it stops at its next step (a finished job is left as it is)."""
    if job_store(request).cancel(job_id) is None:
        _job(request, job_id)  # 404
    return _job_out(_job(request, job_id))


@router.get("/assess/jobs/{job_id}/report", response_model=AssessReportOut,
            responses={**NOT_FOUND, **INVALID, **BAD_REQUEST, 409: {
                "model": ErrorBody, "description": "the job has not finished, or was cancelled"}},
            summary="The report of a finished assessment job")
def assess_job_report(
    request: Request, job_id: str,
    format: Annotated[AssessFormat, Query(description="json (default), html, markdown, xlsx or "
                                          "pdf")] = AssessFormat.json,
) -> Response:
    from carbonlink.api.routes.pages import CSP

    job = _job(request, job_id)
    if job.status == FAILED and job.error is not None:
        code, message, problems = job.error
        return error_response(code, message, problems)
    if job.status != DONE or job.report is None:
        return error_response(409, f"the assessment job is {job.status}; it has no report"
                              + (" yet" if job.active else ""))
    try:
        return _response(job.report, format, csp=CSP if format is AssessFormat.html else None)
    except CarbonlinkError as exc:
        return _error(exc)


# ------------------------------------------------------------------------------------ page
@pages.get("/assess", response_class=HTMLResponse)
def assess_form(request: Request) -> HTMLResponse:
    from carbonlink.api.routes.pages import EXAMPLE_AGREEMENT
    from carbonlink.api.routes.pages import render as page

    return page(request, "assess.html", document=EXAMPLE_AGREEMENT.read_text(encoding="utf-8"),
                lang="en", fmt="html", error=None, samples="", max_samples=MAX_HTTP_SAMPLES)


@pages.post("/assess", response_class=HTMLResponse)
async def assess_submit(request: Request) -> Response:
    """The report itself (HTML, a standalone page) or a download (XLSX, PDF, Markdown, JSON);
    an invalid document gives the form back with 422."""
    from urllib.parse import parse_qs

    from carbonlink.api.routes.pages import CSP, PageError
    from carbonlink.api.routes.pages import render as page

    form: dict[str, str] = {}
    try:
        body = (await read_body(request)).decode("utf-8", errors="replace")
        form = {k: v[-1] for k, v in parse_qs(body, keep_blank_values=True).items()}
        lang = form.get("lang", "en")
        if lang not in ("en", "zh"):
            raise DocumentError("lang", f"must be en or zh, got {lang!r}")
        try:
            fmt = AssessFormat(form.get("format", "html"))
        except ValueError:
            raise DocumentError("format", "must be html, xlsx, pdf, markdown or json") from None
        doc = parse_agreement(form.get("document", ""))
        samples = _form_samples(form.get("samples", ""))
        _check_samples(doc, samples, "samples")
        store = job_store(request)
        job = store.submit(doc, lang=lang, fmt=fmt.value, sensitivity=True, samples=samples)
        with anyio.move_on_after(store.inline_wait):
            while not job.ready.is_set():
                await anyio.sleep(0.05)
        if job.status == DONE and job.report is not None:
            return _response(job.report, fmt, csp=CSP)
        if job.status == FAILED and job.error is not None:
            _code, message, problems = job.error
            raise DocumentError(problems) if problems else CarbonlinkError(message)
        return RedirectResponse(f"/assess/jobs/{job.id}", status_code=303)
    except CarbonlinkError as exc:
        status = (413 if isinstance(exc, TooLarge) else 429 if isinstance(exc, Busy)
                  else 422 if isinstance(exc, DocumentError) else 400)
        err = PageError("The request was too large", str(exc)) if isinstance(exc, TooLarge) else \
            PageError.of(exc)
        return page(request, "assess.html", status=status, document=form.get("document", ""),
                    lang=form.get("lang", "en"), fmt=form.get("format", "html"), error=err,
                    samples=form.get("samples", "")[:20], max_samples=MAX_HTTP_SAMPLES)



@pages.get("/assess/jobs/{job_id}", response_class=HTMLResponse)
def assess_job_page(request: Request, job_id: str) -> Response:
    """Progress of a run (the page refreshes itself every second while it runs; no script),
    then the decision box and the report to open or download in every format."""
    from carbonlink.api.routes.pages import PageError
    from carbonlink.api.routes.pages import render as page
    from carbonlink.reporting.i18n import translator
    from carbonlink.reporting.render import render_decision_html

    job = job_store(request).get(job_id)
    if job is None:
        return page(request, "assess.html", status=404, document="", lang="en", fmt="html",
                    error=PageError("No such assessment", f"no assessment job {job_id!r} "
                                    "(unknown, or expired: results are kept 10 minutes)"))
    error = None
    if job.status == FAILED and job.error is not None:
        code, message, problems = job.error
        error = PageError("The assessment failed", message, problems)
    decision = None
    if job.status == DONE and job.report is not None:
        from markupsafe import Markup

        decision = Markup(render_decision_html(job.report))  # noqa: S704 - our own rendered HTML
    formats = [("html", "open the report (HTML)"), ("xlsx", "download a workbook (XLSX)"),
               ("pdf", "download a PDF"), ("markdown", "download Markdown"), ("json", "JSON")]
    return page(request, "assess_job.html", job=job, error=error, decision=decision,
                formats=formats, _=translator(job.lang), running=job.active,
                cancelled=job.status == CANCELLED)


@pages.post("/assess/jobs/{job_id}/cancel", response_class=HTMLResponse)
def assess_job_cancel(request: Request, job_id: str) -> Response:
    job_store(request).cancel(job_id)
    return RedirectResponse(f"/assess/jobs/{job_id}", status_code=303)
