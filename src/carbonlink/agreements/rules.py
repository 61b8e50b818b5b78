"""The rules table (``carbonlink/data/rules.yaml``) and the registry of ``check_*`` functions.

Each row of the table is a :class:`Rule`; each rule has exactly one check function, registered
with :func:`rule`. A check function takes a :class:`~carbonlink.agreements.context.Context` and
returns the rule's :class:`~carbonlink.agreements.findings.Finding` list (empty when met).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from carbonlink.data import DATA_DIR
from carbonlink.errors import DocumentError, from_validation_error
from carbonlink.model.io import load_data_file

if TYPE_CHECKING:
    from carbonlink.agreements.context import Context
    from carbonlink.agreements.findings import Finding
    from carbonlink.model.agreement import Agreement

RULES_FILE = DATA_DIR / "rules.yaml"

CheckFn = Callable[["Context"], "list[Finding]"]


#: The severity rule. ``error`` only for the breach of a binding norm (Paris Agreement, a CMA
#: decision, EU law, a constitution, treaty law) or an element without which the agreement
#: cannot operate as written; ``warning`` for a missing recommended element or a risk; ``info``
#: for context. Each row states its class and why; loading the table enforces the pairing.
RuleClass = Literal["binding_norm", "cannot_operate", "recommended", "risk", "context"]
SEVERITY_OF_CLASS: dict[str, str] = {
    "binding_norm": "error", "cannot_operate": "error", "recommended": "warning",
    "risk": "warning", "context": "info",
}


class Rule(BaseModel):
    """One row of the rules table."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    id: str
    group: Literal["LEG", "A62", "CMP", "CPT", "FEA"]
    title: str
    title_zh: str | None = Field(default=None, min_length=1, description="the title in Chinese: "
                                 "what a finding of this rule shows with --lang zh "
                                 "(carbonlink.reporting.i18n); tests/reporting/test_i18n.py "
                                 "requires it of every rule")
    source: str = Field(min_length=1)
    verified: bool
    severity: Literal["error", "warning", "info"]
    rule_class: RuleClass = Field(alias="class", description="why the severity: a binding norm "
                                  "breached, cannot operate as written, a recommended element, "
                                  "a risk, or context")
    why: str = Field(min_length=1, description="why this rule is of its class")
    forms: list[str] = Field(default_factory=list)
    generations: list[str] = Field(default_factory=list)
    link_types: list[str] = Field(default_factory=list)
    needs_article6: bool = False

    def applies(self, agreement: Agreement) -> bool:
        """Whether the rule applies to this agreement's form, generation and link type."""
        if self.forms and agreement.form not in self.forms:
            return False
        if self.generations and agreement.generation not in self.generations:
            return False
        if self.link_types and agreement.effective_link_type not in self.link_types:
            return False
        return not (self.needs_article6 and agreement.generation != "article_6_2"
                    and agreement.article6 is None)

    @model_validator(mode="after")
    def _severity_follows_class(self) -> Rule:
        expected = SEVERITY_OF_CLASS[self.rule_class]
        if self.severity != expected:
            raise ValueError(f"severity {self.severity!r} does not fit class "
                             f"{self.rule_class!r} (expected {expected!r}: error only for a "
                             "binding norm breached or an agreement that cannot operate as "
                             "written)")
        return self


@cache
def _load_rules() -> dict[str, Rule]:
    raw: Any = load_data_file(RULES_FILE)
    out: dict[str, Rule] = {}
    for i, item in enumerate(raw["rules"]):
        try:
            r = Rule.model_validate(item)
        except ValidationError as exc:
            raise from_validation_error(exc, source=str(RULES_FILE), prefix=f"rules[{i}]") from None
        if r.id in out:
            raise DocumentError(f"rules[{i}].id", f"duplicate rule id {r.id!r}", source=str(RULES_FILE))
        out[r.id] = r
    return out


RULES: dict[str, Rule] = _load_rules()
CHECKS: dict[str, CheckFn] = {}


def rule(rule_id: str) -> Callable[[CheckFn], CheckFn]:
    """Register ``fn`` as the check function of ``rule_id`` (which must be in the table)."""

    def deco(fn: CheckFn) -> CheckFn:
        if rule_id not in RULES:
            raise KeyError(f"{fn.__name__}: rule {rule_id!r} is not in {RULES_FILE.name}")
        if rule_id in CHECKS:
            raise KeyError(f"rule {rule_id!r} has two check functions")
        CHECKS[rule_id] = fn
        return fn

    return deco
