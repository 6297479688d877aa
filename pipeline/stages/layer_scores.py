"""Layer-scores stage: the per-neuron scores that the illusion-score and monotonicity pages show by default.

Each of them needs every sentence of a layer, which the pages would pay on every new layer. Here they are
computed once, for the pages' default view:
- illusion_scores: analysis.illusion.illusion_scores over all the run's datasets, k = DEFAULT_K;
- neuron_locality: analysis.locality.locality_all_neurons per dataset, k = DEFAULT_K;
- token_directions and monotonic_tokens (transformer runs, which store token counts): the tokens occurring
  DEFAULT_MIN_COUNT times in every dataset, and per neuron and dataset whether each one's count rises or falls
  across the activation quintiles (analysis.monotonicity).
Any other choice on a page (fewer datasets, another k or count) is computed there.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from analysis.illusion import illusion_scores
from analysis.locality import locality_all_neurons
from analysis.monotonicity import frequent_tokens, monotonic_direction, quintile_counts, token_matrix
from pipeline.sections import check_bools
from pipeline.stages.extract import _lists
from warehouse import queries


@dataclass(frozen=True)
class LayerScoresConfig:
    """The ``[layer_scores]`` section. locality: also store every neuron's locality per dataset (its
    nearest-neighbour search, one [H * k, N] dot-product matrix per dataset and layer, is the stage's costliest
    part at scale)."""

    enabled: bool = True
    locality: bool = True

    def __post_init__(self):
        check_bools(self, NAME, ("enabled", "locality"))


NAME = "layer_scores"
SECTION = LayerScoresConfig
TABLES = ("illusion_scores", "neuron_locality", "token_directions", "monotonic_tokens")
SOURCES = ("pipeline/stages/layer_scores.py", "analysis/illusion.py", "analysis/locality.py",
           "analysis/monotonicity.py", "analysis/extremes.py")
DEFAULT_K = 10            # the pages' default k (ui.direction: url_int("k", ..., 10))
DEFAULT_MIN_COUNT = 100   # the monotonicity page's default threshold (the paper's)


def settings(cfg, spec, datasets) -> dict | None:
    if not cfg.layer_scores.enabled:
        return None
    return {"k": DEFAULT_K, "min_count": DEFAULT_MIN_COUNT, "locality": cfg.layer_scores.locality}


def _column(values, kind) -> pa.Array:
    return pa.array(np.asarray(values, dtype=kind))


def _rows(run_id: str, layer: int, pooling: str, n: int, keys: dict, values: dict) -> pa.Table:
    """n rows: the run, layer and pooling, then ``keys`` (name -> one value for every row, int32 or string),
    unit 0..n-1 and ``values`` (name -> Arrow array of n)."""
    fixed = {name: pa.array([v] * n, pa.string()) if isinstance(v, str) else _column(np.full(n, v), np.int32)
             for name, v in keys.items()}
    return pa.table({"run_id": pa.array([run_id] * n, pa.string()), "layer": _column(np.full(n, layer), np.int32),
                     "pooling": pa.array([pooling] * n, pa.string()), **fixed,
                     "unit": _column(np.arange(n), np.int32), **values})


def illusion_rows(run_id: str, layer: int, pooling: str, x: np.ndarray, datasets: np.ndarray, k: int) -> pa.Table:
    s = illusion_scores(x, datasets, k=k)  # one row per unit, in unit order
    return _rows(run_id, layer, pooling, len(s), {"k": k},
                 {c: _column(s[c], np.float64) for c in ("consistency", "baseline_mean", "baseline_std", "robustness")})


def locality_rows(run_id: str, layer: int, pooling: str, dataset: str, x: np.ndarray, k: int) -> pa.Table:
    loc = locality_all_neurons(x, k=k)
    return _rows(run_id, layer, pooling, len(loc), {"dataset": dataset, "k": k},
                 {"locality": _column(loc, np.float64)})


def direction_rows(run_id: str, layer: int, pooling: str, dataset: str, directions: np.ndarray,
                   min_count: int) -> pa.Table:
    return _rows(run_id, layer, pooling, directions.shape[0], {"dataset": dataset, "min_count": min_count},
                 {"directions": _lists(directions, np.int8)})


def run(ctx) -> int:
    """Every layer x pooling of the run; returns the number of rows written."""
    from tqdm.auto import tqdm

    info = ctx.run_info()
    names = list(ctx.datasets)
    k, min_count = ctx.settings["k"], ctx.settings["min_count"]
    ctx.log(f"layer scores {ctx.run_id}: illusion scores and locality (k={k}), token monotonicity "
            f"(tokens {min_count}+ times in every dataset)")
    tokens, matrices = [], {}
    if info["model_kind"] in ("transformer", "decoder"):  # the runs with token counts (sentence_tokens)
        long = queries.run_tokens(ctx.con, ctx.run_id, names)
        tokens = frequent_tokens(long, min_count, datasets=names)
        listed = pa.table({"run_id": pa.array([ctx.run_id], pa.string()),  # noqa: F841 (read by DuckDB)
                           "min_count": pa.array([min_count], pa.int32()),
                           "datasets": pa.array([names], pa.list_(pa.string())),
                           "tokens": pa.array([tokens], pa.list_(pa.string()))})
        ctx.con.execute("insert into monotonic_tokens select * from listed")
    jobs = [(layer, pooling) for layer in range(int(info["n_layers"])) for pooling in info["poolings"]]
    rows = 0
    for layer, pooling in tqdm(jobs, desc=f"{ctx.run_id} layer scores", disable=not ctx.progress, unit="layer"):
        x, keys = queries.layer_matrix(ctx.con, ctx.run_id, layer, pooling, names)
        datasets = keys["dataset"].to_numpy()
        if len(names) >= 2:
            scores = illusion_rows(ctx.run_id, layer, pooling, x, datasets, k)  # noqa: F841
            ctx.con.execute("insert into illusion_scores select * from scores")
            rows += scores.num_rows
        for name in names:
            block = x[datasets == name]  # in sentence_id order (layer_vectors.sql)
            if ctx.settings["locality"] and len(block) >= 2 * k:  # the page's own minimum for locality
                loc = locality_rows(ctx.run_id, layer, pooling, name, block, k)  # noqa: F841
                ctx.con.execute("insert into neuron_locality select * from loc")
                rows += loc.num_rows
            if tokens and len(block) >= 5:
                if name not in matrices:  # the same for every layer: the dataset's sentences x tokens
                    matrices[name] = token_matrix(long[long["dataset"] == name], len(block), tokens)
                d = monotonic_direction(quintile_counts(block, matrices[name]))
                part = direction_rows(ctx.run_id, layer, pooling, name, d, min_count)  # noqa: F841
                ctx.con.execute("insert into token_directions select * from part")
                rows += part.num_rows
    return rows
