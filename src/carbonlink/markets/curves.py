"""Cost curves: marginal abatement cost (MAC) of a market, supply of an offset.

A curve is either *linear* (marginal cost ``slope · q``, total cost ``slope · q² / 2``) or
*piecewise linear in total cost*: options ``(quantity, unit_cost)`` sorted into merit order
(cheapest first, O(n log n)), so that the marginal cost is a step function. Firm-level files are
aggregated the same way: the merit order of all options of all firms.

Tie-break on a step edge: when a quantity falls exactly on the edge between two options with
costs ``c_j < c_{j+1}``, every price in ``[c_j, c_{j+1}]`` is a marginal cost. :meth:`Curve.marginal`
reports ``c_j``, the cost of the last option used (the lowest price that clears).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from carbonlink.errors import DocumentError
from carbonlink.model.scenario import CurveSpec, FirmsSpec, LinearSpec, StepsSpec

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, eq=False)
class Curve:
    """An aggregated cost curve.

    For ``kind == "linear"``: ``slope`` and ``capacity`` (upper bound on the quantity, ``inf``
    for an offset supply). For ``kind == "steps"``: ``q`` (cumulative quantity at each
    breakpoint, ``q[0] = 0``, length n+1), ``unit_cost`` (cost of each merit-order segment,
    non-decreasing, length n) and ``cum_cost`` (total cost at each breakpoint, length n+1).
    """

    kind: str
    slope: float = 0.0
    capacity: float = math.inf
    q: FloatArray | None = None
    unit_cost: FloatArray | None = None
    cum_cost: FloatArray | None = None
    n_options: int = 0
    #: the raw options (quantity, unit_cost) before aggregation, for the plain formulation
    options: tuple[FloatArray, FloatArray] | None = None

    # ---- constructors -------------------------------------------------------------------
    @staticmethod
    def linear(slope: float, capacity: float = math.inf) -> Curve:
        return Curve(kind="linear", slope=float(slope), capacity=float(capacity))

    @staticmethod
    def from_options(quantity: npt.ArrayLike, unit_cost: npt.ArrayLike,
                     capacity: float = math.inf, *, keep_options: bool = True) -> Curve:
        """Merit order of options; quantities beyond ``capacity`` are dropped (the last option
        is cut at it). Options with equal cost are merged into one segment. ``keep_options``:
        keep the raw options too (the plain formulation needs them; the fast engine does not,
        and holds only the aggregated curve). Temporaries are freed as soon as they are used:
        at 10⁷ options every array is 80 MB."""
        raw_qty = np.asarray(quantity, dtype=np.float64)
        raw_cost = np.asarray(unit_cost, dtype=np.float64)
        # quicksort: 4× faster than a stable sort at 10⁶ options; the order among equal costs
        # does not matter, they are merged into one segment below
        order = np.argsort(raw_cost)
        cost = raw_cost[order]
        qty = raw_qty[order]
        del order
        n_options = qty.size
        if n_options and not qty.min() > 0:  # one reduction; the mask only when needed
            keep = qty > 0
            n_options = int(np.count_nonzero(keep))
            qty, cost = qty[keep], cost[keep]
            del keep
        if qty.size:
            # merge equal costs: one segment per distinct unit cost
            new = np.empty(cost.size, dtype=bool)
            new[0] = True
            np.not_equal(cost[1:], cost[:-1], out=new[1:])
            if not new.all():
                starts = np.flatnonzero(new)
                qty = np.add.reduceat(qty, starts)
                cost = cost[starts]
                del starts
            del new
        cum_q = np.empty(qty.size + 1)
        cum_q[0] = 0.0
        np.cumsum(qty, out=cum_q[1:])
        del qty
        if math.isfinite(capacity) and cum_q[-1] > capacity:
            n = int(np.searchsorted(cum_q, capacity, side="left"))  # cum_q[n-1] < cap <= cum_q[n]
            cum_q = np.concatenate((cum_q[:n], [capacity]))
            cost = cost[:n].copy()
        width = np.diff(cum_q)
        width *= cost
        cum_cost = np.empty(cum_q.size)
        cum_cost[0] = 0.0
        np.cumsum(width, out=cum_cost[1:])
        del width
        return Curve(kind="steps", capacity=float(cum_q[-1]), q=cum_q, unit_cost=cost,
                     cum_cost=cum_cost, n_options=n_options,
                     options=(raw_qty, raw_cost) if keep_options else None)

    # ---- evaluation ---------------------------------------------------------------------
    @property
    def n_segments(self) -> int:
        return 0 if self.unit_cost is None else int(self.unit_cost.size)

    def cost(self, quantity: float) -> float:
        """Total cost of the cheapest ``quantity``."""
        if self.kind == "linear":
            return 0.5 * self.slope * quantity * quantity
        assert self.q is not None and self.cum_cost is not None and self.unit_cost is not None
        x = min(max(quantity, 0.0), float(self.q[-1]))
        j = int(np.searchsorted(self.q, x, side="right")) - 1
        if j >= self.n_segments:
            return float(self.cum_cost[-1])
        return float(self.cum_cost[j] + (x - self.q[j]) * self.unit_cost[j])

    def marginal(self, quantity: float, tol: float = 1e-9) -> float:
        """Marginal cost at ``quantity`` (on a step edge: the cost of the last option used)."""
        if self.kind == "linear":
            return self.slope * quantity
        assert self.q is not None and self.unit_cost is not None
        if self.n_segments == 0 or quantity <= tol * max(1.0, float(self.q[-1])):
            return 0.0
        j = int(np.searchsorted(self.q, quantity - tol * max(1.0, abs(quantity)), side="left"))
        return float(self.unit_cost[min(max(j - 1, 0), self.n_segments - 1)])

    def quantity_at(self, price: float) -> float:
        """Largest cost-minimising quantity when each unit is worth ``price`` (options costing
        at most ``price`` are all taken)."""
        if self.kind == "linear":
            return min(max(price, 0.0) / self.slope, self.capacity)
        assert self.q is not None and self.unit_cost is not None
        j = int(np.searchsorted(self.unit_cost, price, side="right"))
        return float(self.q[j])


FIRM_COLUMNS = ("firm", "quantity", "unit_cost")


def read_firms(path: str | Path, where: str) -> tuple[FloatArray, FloatArray]:
    """Read a CSV or Parquet file of firm-level options (``firm, quantity, unit_cost``): only
    the quantity and unit cost columns are loaded (the file must still name its firms)."""
    p = Path(path)
    try:
        if p.suffix.lower() in (".parquet", ".pq"):
            return _read_parquet(p, where)
        import pandas as pd

        header = pd.read_csv(p, nrows=0).columns
        _require_columns(list(header), p, where)
        df = pd.read_csv(p, usecols=["quantity", "unit_cost"])
    except FileNotFoundError:
        raise DocumentError(where, f"firms file not found: {p}") from None
    except DocumentError:
        raise
    except Exception as exc:  # any parser error is the document's fault
        raise DocumentError(where, f"unreadable firms file {p}: {exc}") from None
    return _checked(p, where, [df[c] for c in ("quantity", "unit_cost")])


def _require_columns(names: list[str], p: Path, where: str) -> None:
    missing = [c for c in FIRM_COLUMNS if c not in names]
    if missing:
        raise DocumentError(where, f"firms file {p} lacks column(s) {', '.join(missing)}")


def _read_parquet(p: Path, where: str) -> tuple[FloatArray, FloatArray]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    with pq.ParquetFile(p) as f:  # one open: the schema, then the two columns
        _require_columns(f.schema_arrow.names, p, where)
        table = f.read(columns=["quantity", "unit_cost"])
    cols = []
    for name in ("quantity", "unit_cost"):
        col = table.column(name)
        if not (pa.types.is_floating(col.type) or pa.types.is_integer(col.type)):
            cols.append(col.to_pandas())  # the checks below name the first bad row
            continue
        cols.append(col.to_numpy())
    del table
    return _checked(p, where, cols)


def _checked(p: Path, where: str, cols: list[object]) -> tuple[FloatArray, FloatArray]:
    """Float arrays of the quantity and unit cost columns; a row that is not a number ≥ 0 is an
    error naming it."""
    out = []
    for col, data in zip(("quantity", "unit_cost"), cols, strict=True):
        if isinstance(data, np.ndarray) and data.dtype.kind in "fiu":
            values = np.asarray(data, dtype=np.float64)
        else:
            import pandas as pd

            values = pd.to_numeric(data, errors="coerce").to_numpy(dtype=np.float64)  # type: ignore[call-overload]
        # two reductions, no temporaries (at 10⁷ options a mask is 10 MB and three passes):
        # the minimum is NaN when any value is, the maximum infinite when any value is
        if values.size and (not values.min() >= 0.0 or not np.isfinite(values.max())):
            bad = np.flatnonzero(~np.isfinite(values) | (values < 0))
            row = int(bad[0])
            shown = data.iloc[row] if hasattr(data, "iloc") else data[row]  # type: ignore[index]
            raise DocumentError(where, f"firms file {p}, row {row + 2}: {col} must be a number "
                                f">= 0, got {shown!r}")
        out.append(values)
    return out[0], out[1]


def build_curve(spec: CurveSpec, where: str, capacity: float = math.inf, *,
                keep_options: bool = True) -> Curve:
    """The aggregated curve of a document's ``mac`` or ``supply`` (``keep_options``: with its raw
    options, for the plain formulation)."""
    if isinstance(spec, LinearSpec):
        return Curve.linear(spec.linear.slope, capacity)
    if isinstance(spec, StepsSpec):
        arr = np.asarray(spec.steps, dtype=np.float64).reshape(-1, 2)
        return Curve.from_options(arr[:, 0], arr[:, 1], capacity, keep_options=keep_options)
    if isinstance(spec, FirmsSpec):
        qty, cost = read_firms(spec.firms, f"{where}.firms")
        return Curve.from_options(qty, cost, capacity, keep_options=keep_options)
    raise TypeError(spec)  # pragma: no cover - the document model admits only these
