"""Linkage agreements as data: load an agreement document and check its legality (LEG, A62),
completeness (CMP), ETS compatibility (CPT) and feasibility (FEA).

Public API::

    load_agreement(path_or_dict) -> Agreement
    check(doc_or_path, strict=None) -> CheckReport
    RULES                        # the rules table (id → Rule)

``carbonlink.check`` re-exports :func:`check`.
"""

from __future__ import annotations

from carbonlink.agreements.engine import check, load_agreement
from carbonlink.agreements.findings import CheckReport, CompatibilityRow, Finding
from carbonlink.agreements.rules import RULES, Rule

__all__ = ["RULES", "CheckReport", "CompatibilityRow", "Finding", "Rule", "check", "load_agreement"]
