"""Assessment jobs: a run that takes longer than a second shows its progress.

``POST /api/assess/jobs`` (or the ``/assess`` page) starts a job in a worker thread and answers
with its id; the client polls ``GET /api/assess/jobs/{id}`` (the page refreshes itself once a
second, no script) and fetches the report in any format when it is done.

Bounded: at most :attr:`JobStore.max_active` jobs run at once and at most
:attr:`JobStore.max_jobs` are kept (more is a 429); a finished job and its report expire
:attr:`JobStore.ttl` seconds after it ends. A client that goes away cancels its work: a job
nobody has polled for :attr:`JobStore.client_timeout` seconds (or one cancelled with ``DELETE``)
stops at the pipeline's next step. Times are the server's monotonic clock.
"""

from __future__ import annotations

import datetime as dt
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from carbonlink.errors import CarbonlinkError, DocumentError

QUEUED, RUNNING, DONE, FAILED, CANCELLED = "queued", "running", "done", "failed", "cancelled"


class Busy(CarbonlinkError):
    """Too many assessment jobs running or kept (HTTP 429)."""


class JobCancelled(Exception):
    """Raised inside the worker at its next step once the job is cancelled."""


@dataclass
class Job:
    id: str
    lang: str
    fmt: str
    created: float
    last_seen: float
    status: str = QUEUED
    step: str = ""
    done: int = 0
    total: int = 1
    report: dict[str, Any] | None = None
    error: tuple[int, str, list[tuple[str, str]]] | None = None  # status, message, problems
    finished: float | None = None
    cancel: threading.Event = field(default_factory=threading.Event)
    ready: threading.Event = field(default_factory=threading.Event)

    @property
    def active(self) -> bool:
        return self.status in (QUEUED, RUNNING)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "status": self.status, "step": self.step,
                               "done": self.done, "total": self.total,
                               "percent": round(100 * self.done / max(1, self.total))}
        if self.error is not None:
            out["error"] = self.error[1]
            out["problems"] = [{"path": p, "reason": r} for p, r in self.error[2]]
        return out


class JobStore:
    """The jobs of one app (``app.state.assess_jobs``)."""

    def __init__(self, *, max_active: int = 2, max_jobs: int = 32, client_timeout: float = 15.0,
                 ttl: float = 600.0, inline_wait: float = 1.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.max_active = max_active
        self.max_jobs = max_jobs
        self.client_timeout = client_timeout
        self.ttl = ttl
        self.inline_wait = inline_wait  # the page answers directly when a run ends within this
        self.clock = clock
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    def _purge(self) -> None:
        now = self.clock()
        for jid in [j.id for j in self._jobs.values()
                    if j.finished is not None and now - j.finished > self.ttl]:
            del self._jobs[jid]

    def submit(self, doc: dict[str, Any], *, lang: str = "en", fmt: str = "json",
               sensitivity: bool = True, as_of: dt.date | None = None,
               samples: int | None = None) -> Job:
        """Start assessing ``doc`` (already admitted for HTTP) in a worker thread; ``samples``:
        Monte Carlo draws of its ``uncertainty`` block (None: the pipeline's default)."""
        from carbonlink.assess.pipeline import ESTIMATED_STEPS

        with self._lock:
            self._purge()
            active = sum(j.active for j in self._jobs.values())
            if active >= self.max_active:
                raise Busy(f"{active} assessments are running (the limit is {self.max_active}); "
                           "try again in a moment")
            if len(self._jobs) >= self.max_jobs:
                raise Busy(f"{len(self._jobs)} assessment results are kept (the limit is "
                           f"{self.max_jobs}); try again when older ones expire")
            now = self.clock()
            job = Job(id=secrets.token_urlsafe(16), lang=lang, fmt=fmt, created=now, last_seen=now,
                      total=ESTIMATED_STEPS)
            self._jobs[job.id] = job
        threading.Thread(target=self._run, args=(job, doc, sensitivity, as_of, samples),
                         daemon=True,
                         name=f"assess-{job.id[:6]}").start()
        return job

    def get(self, job_id: str, *, touch: bool = True) -> Job | None:
        """The job (``None`` when unknown or expired); ``touch`` records that its client is
        still there."""
        with self._lock:
            self._purge()
            job = self._jobs.get(job_id)
            if job is not None and touch:
                job.last_seen = self.clock()
            return job

    def cancel(self, job_id: str) -> Job | None:
        job = self.get(job_id, touch=False)
        if job is not None and job.active:
            job.cancel.set()
        return job

    def _gone(self, job: Job) -> bool:
        return job.cancel.is_set() or self.clock() - job.last_seen > self.client_timeout

    def _run(self, job: Job, doc: dict[str, Any], sensitivity: bool, as_of: dt.date | None,
             samples: int | None = None) -> None:
        from carbonlink import __version__
        from carbonlink.assess.pipeline import assess
        from carbonlink.reporting.report import build_report

        def progress(desc: str, n: int) -> None:
            if self._gone(job):
                raise JobCancelled
            job.step = desc
            job.done = min(job.done + n, job.total - 1)  # the estimate may be short: never 100 %

        job.status = RUNNING
        try:
            a = assess(doc, engine="fast", progress=progress, with_sensitivity=sensitivity,
                       source="request body", as_of=as_of, samples=samples)
            if self._gone(job):
                raise JobCancelled
            job.report = build_report(a, tool_version=__version__, lang=job.lang)
            job.done, job.status = job.total, DONE
        except JobCancelled:
            job.status = CANCELLED
        except DocumentError as exc:
            job.error, job.status = (422, exc.message, list(exc.problems)), FAILED
        except CarbonlinkError as exc:
            job.error, job.status = (400, str(exc), []), FAILED
        except Exception as exc:  # a bug: the job fails, the server stays up
            job.error, job.status = (500, f"internal error: {type(exc).__name__}", []), FAILED
        finally:
            job.finished = self.clock()
            job.ready.set()
