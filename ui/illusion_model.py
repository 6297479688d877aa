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


# -- dictionary features against neurons and random directions ------------------------------------------------
DICTIONARY_K = 10  # the k the build stores the illusion null at (pipeline.stages.layer_scores.DEFAULT_K)
DICTIONARY_COLOURS = {"dictionary features": "#1f77b4", "neurons": "#d62728", "random directions": "#7f7f7f"}


def dictionaries_of(run_id: str) -> pd.DataFrame:
    """The dictionary runs the page's run belongs to: its own row when it is a dictionary run, else those that
    read one of its layers (empty when there is none, or the warehouse predates dictionaries)."""
    if not data.has_tables("dictionaries"):
        return pd.DataFrame()
    from ui.db import connection
    from warehouse import queries

    runs = queries.dictionary_runs(connection())
    return runs[(runs["run_id"] == run_id) | (runs["base_run_id"] == run_id)].reset_index(drop=True)


def dictionary_comparison(d: dict, pooling: str, base_pooling: str, score: str = "consistency", alpha: float = 0.05):
    """(values: what, unit, consistency, z_null, the ``score`` finite only; tests: analysis.dictionary_compare.compare_groups; quality:
    per dataset; density: per dataset and feature) for the dictionary run ``d`` (a dictionary_runs row)."""
    from analysis.dictionary_compare import compare_groups
    from ui.db import connection
    from warehouse import queries

    con = connection()
    values = queries.dictionary_compare(con, d["run_id"], d["base_run_id"], int(d["layer"]), pooling, base_pooling,
                                        DICTIONARY_K)
    tests = compare_groups(values, alpha, score)
    values = values[np.isfinite(values[score].to_numpy(dtype=np.float64))].reset_index(drop=True)
    where = {"dictionary features": {"run": d["run_id"], "layer": 0, "pooling": pooling},
             "neurons": {"run": d["base_run_id"], "layer": int(d["layer"]), "pooling": base_pooling}}
    values["explore"] = [f"/drift?{urllib.parse.urlencode({**where[w], 'unit': int(u)})}" if w in where else None
                         for w, u in zip(values["what"], values["unit"])]
    return values, tests, queries.dictionary_quality(con, d["run_id"]), queries.dictionary_density(con, d["run_id"])


SCORE_TITLES = {"consistency": "top-set consistency across datasets",
                "z_null": "z against the random directions of its own space"}


def comparison_chart(score: str = "consistency"):
    """The three groups' ``score`` as overlaid histograms on shared bins, each a share of its own count."""
    domain = list(DICTIONARY_COLOURS)
    return alt.Chart(alt.NamedData("values")).transform_joinaggregate(
        total="count()", groupby=["what"]
    ).transform_bin(
        "bin", score, bin=alt.Bin(maxbins=40)
    ).transform_joinaggregate(
        in_bin="count()", groupby=["what", "bin"]
    ).transform_calculate(
        share="datum.in_bin / datum.total"
    ).mark_bar(opacity=0.5, binSpacing=0).encode(
        x=alt.X("bin:Q", bin="binned", title=SCORE_TITLES[score]),
        x2="bin_end:Q",
        y=alt.Y("max(share):Q", stack=None, title="share", axis=alt.Axis(format="%")),
        color=alt.Color("what:N", title=None, scale=alt.Scale(domain=domain, range=list(DICTIONARY_COLOURS.values()))),
    ).properties(height=220)


def comparison_box_chart(score: str = "consistency"):
    """The same three distributions as box plots, one row each."""
    return alt.Chart(alt.NamedData("values")).mark_boxplot(extent="min-max").encode(
        x=alt.X(f"{score}:Q", title=SCORE_TITLES[score]),
        y=alt.Y("what:N", title=None, sort=list(DICTIONARY_COLOURS)),
        color=alt.Color("what:N", legend=None, scale=alt.Scale(domain=list(DICTIONARY_COLOURS),
                                                             range=list(DICTIONARY_COLOURS.values()))),
    ).properties(height=150)


def density_chart():
    """Per dataset, the distribution of the features' log10 density (dead features left out: log of 0)."""
    return alt.Chart(alt.NamedData("density")).transform_filter("datum.density > 0").transform_calculate(
        log_density="log(datum.density) / LN10"
    ).mark_bar(opacity=0.6, binSpacing=0).encode(
        x=alt.X("log_density:Q", bin=alt.Bin(maxbins=40), title="log10 feature density (share of tokens, nonzero)"),
        y=alt.Y("count():Q", stack=None, title="features"),
        color=alt.Color("dataset:N", title="dataset"),
    ).properties(height=200)
