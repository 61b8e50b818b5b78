"""Article 6.2 / linked-ETS registry: serial-block ledger, coded checks, corresponding
adjustments, AEF reports and a hash-chained journal.

>>> from carbonlink.registry import Registry
>>> with Registry("sqlite:///reg.db") as reg:      # doctest: +SKIP
...     reg.init()
"""

from __future__ import annotations

from carbonlink.registry.access import OPERATIONS, ROLES, Actor, Rule
from carbonlink.registry.checks import CHECKS, Check, CheckFailed
from carbonlink.registry.guard import PendingAction
from carbonlink.registry.service import Authorisation, Receipt, Registry

__all__ = ["CHECKS", "OPERATIONS", "ROLES", "Actor", "Authorisation", "Check", "CheckFailed",
           "PendingAction", "Receipt", "Registry", "Rule"]
