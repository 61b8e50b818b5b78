"""Load an agreement document and run the rules table over it."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from pathlib import Path
from typing import Any

# the check modules register their functions on import
import carbonlink.agreements.compatibility
import carbonlink.agreements.completeness
import carbonlink.agreements.feasibility
import carbonlink.agreements.legal  # noqa: F401
from carbonlink.agreements.context import Context
from carbonlink.agreements.findings import CheckReport, Finding
from carbonlink.agreements.rules import CHECKS, RULES
from carbonlink.data import parse_as_of
from carbonlink.errors import DocumentError
from carbonlink.model.agreement import Agreement
from carbonlink.model.io import load_document

_SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}


def load_agreement(path_or_dict: str | Path | dict[str, Any] | Agreement) -> Agreement:
    """An :class:`Agreement` from a YAML/JSON file, a parsed mapping, or an agreement.

    Bad input raises :class:`~carbonlink.errors.DocumentError` naming the field path and the
    reason (``parties[1].jurisdiction: unknown jurisdiction id 'XX' …``).
    """
    return load_document(Agreement, path_or_dict)


def validate_strict(strict: list[str] | None) -> list[str]:
    """The ``--strict`` rule ids, checked against the rules table (unknown → DocumentError)."""
    ids = [s.strip().upper() for s in strict or [] if s.strip()]
    unknown = [s for s in ids if s not in RULES]
    if unknown:
        raise DocumentError("--strict", f"unknown rule id(s) {', '.join(unknown)} "
                            f"(known: {', '.join(RULES)})")
    return ids


def check(doc_or_path: str | Path | dict[str, Any] | Agreement,
          strict: list[str] | None = None, as_of: str | dt.date | None = None) -> CheckReport:
    """Check an agreement's legality (LEG, A62), completeness (CMP), compatibility of the linked
    ETSs (CPT) and feasibility (FEA) as of the reference date ``as_of`` (default: today): Paris
    Agreement status, the systems' status and the figures are read as they stood on that date.
    ``strict`` names rules whose findings become errors, except a data gap (an info finding
    saying the rule could not decide for missing reference data), which is not a defect."""
    strict_ids = validate_strict(strict)
    on = parse_as_of(as_of)
    agreement = load_agreement(doc_or_path)
    ctx = Context(agreement, on=on)
    findings: list[Finding] = []
    run: list[str] = []
    for rule_id, r in RULES.items():
        fn = CHECKS.get(rule_id)
        if fn is None or not r.applies(agreement):
            continue
        run.append(rule_id)
        findings.extend(fn(ctx))
    if strict_ids:
        findings = [replace(f, severity="error")
                    if f.rule in strict_ids and not f.data_gap else f for f in findings]
    findings.sort(key=lambda f: _SEVERITY_ORDER[f.severity])
    document: dict[str, Any] = {
        "id": agreement.id,
        "title": agreement.title,
        "form": agreement.form,
        "generation": agreement.generation,
        "link_type": agreement.effective_link_type,
        "parties": [p.jurisdiction for p in agreement.parties],
        "as_of": on.isoformat(),
        "path": str(doc_or_path) if isinstance(doc_or_path, str | Path) else None,
    }
    return CheckReport(document=document, findings=findings, compatibility=ctx.compatibility,
                       simulation=ctx.simulation, rules_run=run)
