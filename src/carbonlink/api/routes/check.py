"""``POST /api/check``: the findings of the agreement rules on an agreement document."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query

from carbonlink.agreements import check
from carbonlink.agreements.engine import validate_strict
from carbonlink.api.documents import admit_agreement
from carbonlink.api.errors import BAD_REQUEST, INVALID
from carbonlink.api.schemas import CheckReportOut
from carbonlink.errors import DocumentError
from carbonlink.model.agreement import Agreement

router = APIRouter(tags=["check"])


def strict_rules(strict: list[str] | None, path: str) -> list[str]:
    """The strict rule ids, checked against the rules table; errors name ``path``."""
    try:
        return validate_strict(strict)
    except DocumentError as exc:
        raise DocumentError([(path, reason) for _, reason in exc.problems]) from None


@router.post("/check", response_model=CheckReportOut, response_model_exclude_unset=True,
             responses={**INVALID, **BAD_REQUEST}, summary="Check a linkage agreement")
def check_agreement(
    agreement: Annotated[Agreement, Body(description="an agreement document (the YAML of "
                                         "examples/agreements as JSON)")],
    strict: Annotated[list[str] | None, Query(description="a rule id whose findings become "
                                              "errors (repeatable, e.g. CMP-REC)")] = None,
    as_of: Annotated[dt.date | None, Query(description="reference date (YYYY-MM-DD; default "
                                           "today): Paris status, system status and figures "
                                           "as they stood on that date")] = None,
) -> dict[str, Any]:
    """Legal capacity (LEG), Article 6.2 (A62), completeness (CMP), compatibility of the linked
    ETSs (CPT) and feasibility (FEA). The body of the answer is what ``carbonlink check FILE
    --format json`` prints (``document.path`` is null: there is no file)."""
    rules = strict_rules(strict, "query.strict")
    return check(admit_agreement(agreement), strict=rules, as_of=as_of).to_dict()
