"""The illusion-score page's data and charts: every neuron's top-set consistency, against random directions of
the same layer (the headline) and against random sentences (the earlier, second score)."""
from __future__ import annotations

import urllib.parse

import altair as alt
import numpy as np
import pandas as pd

from analysis.illusion_null import null_summary
from ui import data

LEVELS = (0.01, 0.05, 0.1)
NULL_COLUMNS = ("z_null", "percentile", "p_value", "q_value")


def scores(sel, datasets: list[str], k: int, drop: int = 0):
    """(table, null, null_info): one row per neuron (unit, consistency, the direction null's z_null, percentile,
    p_value, q_value, the sentence baseline's robustness, baseline_mean, baseline_std, a drift-page link),
    the random directions' consistency (or None when the null cannot be drawn) and {kind, n_null, seed}."""
    base = data.illusion(sel.run_id, sel.layer, sel.pooling, datasets, k, drop)
    null = data.illusion_null(sel.run_id, sel.layer, sel.pooling, datasets, k, drop)
    table = base[["unit", "consistency", "robustness", "baseline_mean", "baseline_std"]].copy()
    info = None
    if null is not None:
        frame, null = null
        table = table.merge(frame[["unit", "z", *NULL_COLUMNS[1:]]].rename(columns={"z": "z_null"}), on="unit",
                            how="left")
        info = {"kind": frame["null_kind"].iloc[0], "n_null": int(frame["n_null"].iloc[0]),
                "seed": int(frame["seed"].iloc[0])}
    link = {"run": sel.run_id, "layer": sel.layer, "pooling": sel.pooling, "ds": ",".join(datasets), "k": k,
            **({"drop": drop} if drop else {})}
    table["explore"] = [f"/drift?{urllib.parse.urlencode({**link, 'unit': int(u)})}" for u in table["unit"]]
    order = ["unit", "consistency", *(NULL_COLUMNS if info else ()), "robustness", "baseline_mean", "baseline_std",
             "explore"]
    return table[order], null, info


def summary(table: pd.DataFrame, info: dict, alpha: float) -> dict:
    """analysis.illusion_null.null_summary of the page's table at level ``alpha`` (it reads p_value, q_value)."""
    return null_summary(table, info["n_null"], alpha=alpha)


def ranked(table: pd.DataFrame, column: str, n: int = 15) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(the n highest, the n lowest) rows by ``column`` (NaN last in both)."""
    return table.nlargest(n, column), table.nsmallest(n, column)


def distributions(table: pd.DataFrame, null: np.ndarray) -> pd.DataFrame:
    """Long frame for the chart: consistency and what it belongs to (neurons or random directions)."""
    neurons = table["consistency"].to_numpy(dtype=np.float64)
    values = np.concatenate([neurons, null])
    what = ["neurons"] * len(neurons) + ["random directions"] * len(null)
    out = pd.DataFrame({"consistency": values, "what": what})
    return out[np.isfinite(out["consistency"])]


def distribution_chart():
    """Overlaid histograms on shared bins, each normalised to its own count (there are more random directions
    than neurons)."""
    return alt.Chart(alt.NamedData("dist")).transform_joinaggregate(
        total="count()", groupby=["what"]
    ).transform_bin(
        "bin", "consistency", bin=alt.Bin(maxbins=40)
    ).transform_joinaggregate(
        in_bin="count()", groupby=["what", "bin"]
    ).transform_calculate(
        share="datum.in_bin / datum.total"
    ).mark_bar(opacity=0.55, binSpacing=0).encode(
        x=alt.X("bin:Q", bin="binned", title="top-set consistency across datasets"),
        x2="bin_end:Q",
        y=alt.Y("max(share):Q", stack=None, title="share", axis=alt.Axis(format="%")),
        color=alt.Color("what:N", title=None, scale=alt.Scale(domain=["neurons", "random directions"],
                                                            range=["#d62728", "#7f7f7f"])),
    ).properties(height=220)


def robustness_chart():
    return alt.Chart(alt.NamedData("scores")).mark_bar().encode(
        x=alt.X("robustness:Q", bin=alt.Bin(maxbins=40), title="robustness (z-score vs random sentences)"),
        y=alt.Y("count():Q", title="neurons"),
    ).properties(height=200)
