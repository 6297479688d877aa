"""The anisotropy page's frames, as pure functions of the stored per-layer and per-word tables (the metrics and
findings are in analysis/anisotropy.py)."""
from __future__ import annotations

import pandas as pd

from analysis.anisotropy import POOLED, depth_groups, depth_trend, relative_depth

COMPARE_METRICS = ("self_sim_adj", "self_sim", "intra_sim_adj", "intra_sim", "baseline", "mev_adj", "mev")


def axis_label(layer: int, name: str) -> str:
    """A short axis label: 0: embed, 3: blocks.2, 1: lstm1.cell."""
    return f"{int(layer)}: " + str(name).replace("hook_embed", "embed").replace(".hook_resid_post", "")


def with_labels(rows: pd.DataFrame) -> pd.DataFrame:
    """``rows`` (layer, layer_name, ...) with the axis label of each layer in ``layer_label``."""
    return rows.assign(layer_label=[axis_label(i, n) for i, n in zip(rows["layer"], rows["layer_name"])])


def layer_names(layers: pd.DataFrame) -> pd.Series:
    """The run's layer names indexed by layer, in layer order."""
    return layers.drop_duplicates("layer").set_index("layer")["layer_name"]


def samples(layers: pd.DataFrame) -> list[str]:
    """The pooled sample first, then every dataset by name."""
    return [POOLED] + sorted(d for d in layers["dataset"].unique() if d != POOLED)


def falls_per_dataset(layers: pd.DataFrame, names: list[str], datasets: list[str]) -> dict[str, list[bool]]:
    """For self_sim and self_sim_adj: per dataset, whether the metric falls with depth in every stream."""
    groups = depth_groups(names)
    return {kind: [all(depth_trend(layers[layers["dataset"] == d].set_index("layer").loc[idx, kind])["falls"]
                       for idx in groups.values()) for d in datasets] for kind in ("self_sim", "self_sim_adj")}


def stream_rows(pooled: pd.DataFrame, idx: list[int]) -> pd.DataFrame:
    """The pooled rows of one stream's layers, shallow to deep, with the columns trend_sentence reads."""
    return pooled.set_index("layer").loc[idx].reset_index()[
        ["layer", "layer_name", "self_sim", "self_sim_adj", "intra_sim", "intra_sim_adj"]].rename(
        columns={"layer_name": "name"})


def word_rows(rows: pd.DataFrame) -> pd.DataFrame:
    """A looked-up word's rows shaped like the per-layer curves (one word, its contexts as sentences)."""
    return with_labels(rows).assign(n_sentences=rows["n_contexts"], n_words=1)


def reference_words(words: list[str], n: int = 100) -> list[str]:
    """An even spread of about ``n`` of ``words``, for comparison."""
    return words[:: max(1, len(words) // n)]


def runs_compared(compare: pd.DataFrame) -> pd.DataFrame:
    """Every run's pooled rows with their relative depth and a line name (run, and stream for an LSTM)."""
    parts = []
    for run_id, grp in compare.groupby("run_id"):
        g = grp.merge(relative_depth(grp.sort_values("layer")["layer_name"].tolist()), on="layer")
        g["line"] = [run_id if s == "" else f"{run_id} {s}" for s in g["stream"]]
        parts.append(g)
    return pd.concat(parts, ignore_index=True)
