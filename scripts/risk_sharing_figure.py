"""Regenerate docs/risk-sharing-fan.png and the numbers of docs/risk-sharing.md from the shipped
example examples/scenarios/ca-qc-risk-sharing.yaml (illustrative assumptions, see its header).

Two designs of the same markets and shocks (common random numbers): autarky (no link) and the
full California–Québec link. Usage: ``python scripts/risk_sharing_figure.py [--samples N]``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from carbonlink.markets.risksharing import gain_split  # noqa: E402
from carbonlink.markets.uncertainty import run_samples  # noqa: E402
from carbonlink.model.io import load_scenario  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SCENARIO = ROOT / "examples" / "scenarios" / "ca-qc-risk-sharing.yaml"
DESIGNS = ["autarky", "full link"]


def price_bands(frame: pd.DataFrame) -> pd.DataFrame:
    """Per design, market and year: price quantiles 5, 25, 50, 75, 95 %."""
    p = frame[frame["variable"].str.startswith("price|")].copy()
    p["year"] = p["variable"].str.split("|").str[1].astype(int)
    q = p.groupby(["design", "market", "year"])["value"].quantile([0.05, 0.25, 0.5, 0.75, 0.95])
    out = q.unstack()
    out.columns = ["q05", "q25", "q50", "q75", "q95"]
    return out.reset_index()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--samples", type=int, default=400)
    ap.add_argument("--out", type=Path, default=ROOT / "docs")
    args = ap.parse_args()
    linked = load_scenario(SCENARIO)
    designs = [linked.model_copy(update={"links": []}), linked]
    frame = run_samples(designs, args.samples, name=linked.name)
    bands = price_bands(frame)
    split = gain_split(designs, frame)
    split["design"] = split["design"].map(dict(enumerate(DESIGNS)))

    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    colours = {0: "tab:grey", 1: "tab:blue"}
    for ax, market in zip(axes, ["CA", "QC"], strict=True):
        for d, label in enumerate(DESIGNS):
            b = bands[(bands["design"] == d) & (bands["market"] == market)]
            ax.fill_between(b["year"], b["q05"], b["q95"], color=colours[d], alpha=0.18, lw=0)
            ax.fill_between(b["year"], b["q25"], b["q75"], color=colours[d], alpha=0.35, lw=0)
            ax.plot(b["year"], b["q50"], color=colours[d], lw=2, label=f"{label} (median)")
        ax.set_title({"CA": "California", "QC": "Québec"}[market])
        ax.set_xlabel("year")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("allowance price, USD/t (current value)")
    axes[0].legend(loc="upper left", fontsize=8)
    fig.suptitle("Illustrative: price fan (5–95 % and 25–75 %) per design under BAU shocks, "
                 f"{args.samples} samples", fontsize=10)
    fig.tight_layout()
    args.out.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out / "risk-sharing-fan.png", dpi=110)
    bands["design"] = bands["design"].map(dict(enumerate(DESIGNS)))
    bands.round(2).to_csv(args.out / "risk-sharing-prices.csv", index=False)
    split.round(3).to_csv(args.out / "risk-sharing-split.csv", index=False)
    print(split.round(2).to_markdown(index=False) if _has_tabulate() else split.round(2))


def _has_tabulate() -> bool:
    try:
        import tabulate  # noqa: F401
    except ImportError:
        return False
    return True


if __name__ == "__main__":
    main()
