"""Illusion-null stage: every neuron's top-set consistency against that of seeded random directions.

The illusion-score page's headline is how many neurons of a layer are more consistent across datasets than
random directions of the same layer (analysis.illusion_null). That needs every sentence of the layer and about
(hidden_size + directions) top-k selections per dataset, so the build computes it once for the page's default
view (all the run's datasets, k = layer_scores.DEFAULT_K) and the page reads it. Writes illusion_null_scores
(one row per neuron) and illusion_null (one row per random direction, for the page's chart).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from analysis.illusion_null import NULL_KINDS, direction_consistency, null_consistency, null_scores
from pipeline.errors import PipelineError
from pipeline.sections import check_bools, check_ints
from pipeline.stages import layer_scores
from warehouse import queries


@dataclass(frozen=True)
class IllusionNullConfig:
    """The ``[illusion_null]`` section: ``directions`` random directions per layer and pooling (the finest
    p-value is 1 / (1 + directions)), of ``kind`` gaussian (unit-norm Gaussian vectors) or rotation (rows of
    random orthogonal matrices), drawn with ``seed``."""

    enabled: bool = True
    directions: int = 1000
    kind: str = "gaussian"
    seed: int = 0

    def __post_init__(self):
        check_bools(self, NAME)
        check_ints(self, NAME, names=("seed",))
        check_ints(self, NAME, minimum=2, names=("directions",))
        if self.kind not in NULL_KINDS:
            raise PipelineError(f"config: {NAME}.kind must be one of {', '.join(NULL_KINDS)}, got {self.kind!r}")


NAME = "illusion_null"
SECTION = IllusionNullConfig
TABLES = ("illusion_null_scores", "illusion_null")
SOURCES = ("pipeline/stages/illusion_null.py", "analysis/illusion_null.py")


def settings(cfg, spec, datasets) -> dict | None:
    c = cfg.illusion_null
    if not c.enabled or len(datasets) < 2:
        return None
    return {"k": layer_scores.DEFAULT_K, "directions": c.directions, "kind": c.kind, "seed": c.seed}


def _fixed(n: int, run_id: str, layer: int, pooling: str, k: int, kind: str) -> dict:
    return {"run_id": pa.array([run_id] * n, pa.string()), "layer": pa.array(np.full(n, layer, np.int32)),
            "pooling": pa.array([pooling] * n, pa.string()), "k": pa.array(np.full(n, k, np.int32)),
            "null_kind": pa.array([kind] * n, pa.string())}


def null_rows(run_id: str, layer: int, pooling: str, x: np.ndarray, datasets: np.ndarray, k: int,
              directions: int, kind: str, seed: int) -> tuple[pa.Table, pa.Table]:
    """(illusion_null_scores rows, illusion_null rows) of one layer and pooling."""
    null = null_consistency(x, datasets, directions, kind, k, seed)
    stat = direction_consistency(x, datasets, None, k)
    if np.isfinite(null).sum() >= 2:
        scores = null_scores(stat, null)
    else:  # no direction has a projected centroid left (e.g. [CLS] at the embedding output): nothing to score
        scores = pd.DataFrame({"unit": np.arange(len(stat)), "consistency": stat} |
                              {c: np.nan for c in ("null_mean", "null_std", "z", "percentile", "p_value", "q_value")})
    h = len(scores)
    per_unit = pa.table({**_fixed(h, run_id, layer, pooling, k, kind),
                         "unit": pa.array(np.arange(h, dtype=np.int32)),
                         **{c: pa.array(scores[c].to_numpy(np.float64)) for c in
                            ("consistency", "null_mean", "null_std", "z", "percentile", "p_value", "q_value")}})
    per_direction = pa.table({**_fixed(len(null), run_id, layer, pooling, k, kind),
                              "seed": pa.array(np.full(len(null), seed, np.int32)),
                              "direction": pa.array(np.arange(len(null), dtype=np.int32)),
                              "consistency": pa.array(null.astype(np.float64))})
    return per_unit, per_direction


def run(ctx) -> int:
    """Every layer x pooling of the run; returns the number of neuron rows written."""
    from tqdm.auto import tqdm

    info = ctx.run_info()
    names = list(ctx.datasets)
    s = ctx.settings
    ctx.log(f"illusion null {ctx.run_id}: every neuron against {s['directions']} {s['kind']} random directions "
            f"(k={s['k']}, seed {s['seed']})")
    jobs = [(layer, pooling) for layer in range(int(info["n_layers"])) for pooling in info["poolings"]]
    rows = 0
    for layer, pooling in tqdm(jobs, desc=f"{ctx.run_id} illusion null", disable=not ctx.progress, unit="layer"):
        x, keys = queries.layer_matrix(ctx.con, ctx.run_id, layer, pooling, names)
        scores, directions = null_rows(ctx.run_id, layer, pooling, x, keys["dataset"].to_numpy(), s["k"],
                                 s["directions"], s["kind"], s["seed"])
        # both read by DuckDB by name
        ctx.con.execute("insert into illusion_null_scores select * from scores")
        ctx.con.execute("insert into illusion_null select * from directions")
        rows += scores.num_rows
    return rows
