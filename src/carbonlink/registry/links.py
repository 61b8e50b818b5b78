"""Link terms from YAML: ``links:`` in the simulator's Link format plus ``unit_types`` and
``suspended_from``.

```yaml
links:
  - from: eu          # registry id (CHE01) or its system id
    to: ch
    exchange_rate: 1.0
    discount: 0.0
    quota: 1000000      # from-units, whole tonnes
    entity_share: 0.5
    unit_types: [allowance]
    suspended_from: 2030-01-01
  - between: [eu, ch]  # shorthand for both directions with the same terms
```
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from carbonlink.errors import DocumentError, from_validation_error
from carbonlink.model.io import safe_load
from carbonlink.model.scenario import Link, expand_links


class _Extra(BaseModel):
    model_config = ConfigDict(extra="ignore")
    unit_types: list[str] = Field(default_factory=lambda: ["allowance"], min_length=1)
    suspended_from: date | None = None


@dataclass(frozen=True)
class LinkSpec:
    path: str
    from_registry: str
    to_registry: str
    exchange_rate: float
    discount: float
    quota: int | None
    entity_share: float | None
    unit_types: list[str]
    suspended_from: date | None


def read_links(path: str | Path) -> list[LinkSpec]:
    src = str(path)
    try:
        raw: Any = safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise DocumentError("<file>", f"cannot read: {exc.strerror}", source=src) from None
    except yaml.YAMLError as exc:
        raise DocumentError("<file>", f"not valid YAML: {exc}", source=src) from None
    if not isinstance(raw, dict) or not isinstance(raw.get("links"), list):
        raise DocumentError("links", "a list of links is required", source=src)
    items = expand_links(raw["links"])
    out: list[LinkSpec] = []
    for i, item in enumerate(items):
        p = f"links[{i}]"
        if not isinstance(item, dict):
            raise DocumentError(p, "must be a mapping", source=src)
        base = {k: v for k, v in item.items() if k not in ("unit_types", "suspended_from")}
        try:
            link = Link.model_validate(base)
            extra = _Extra.model_validate(item)
        except ValidationError as exc:
            raise from_validation_error(exc, source=src, prefix=p) from None
        if link.quota is not None and link.quota != int(link.quota):
            raise DocumentError(f"{p}.quota", f"must be whole tonnes, got {link.quota}",
                                source=src)
        out.append(LinkSpec(p, link.from_, link.to, link.exchange_rate, link.discount,
                            None if link.quota is None else int(link.quota),
                            link.entity_share, extra.unit_types, extra.suspended_from))
    return out
