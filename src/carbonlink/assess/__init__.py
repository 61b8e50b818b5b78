"""``carbonlink assess``: from a proposed link (an agreement document) to a decision report.

calibrate → markets from reference data plus labelled assumptions;
designs → the link designs compared side by side;
sensitivity → sweeps of the main restriction and of the MAC assumption;
pipeline → runs all of it and returns an :class:`~carbonlink.assess.pipeline.Assessment`.
"""

from __future__ import annotations

import sys
import types
from typing import Any


class _CallableModule(types.ModuleType):
    """``carbonlink.assess(...)`` runs an assessment (the package stays importable as
    ``carbonlink.assess.pipeline`` and friends)."""

    def __call__(self, path: Any, **kwargs: Any) -> Any:
        from carbonlink.assess.pipeline import assess as run

        return run(path, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
