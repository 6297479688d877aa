"""Quantiles stage: per unit and dataset, a seeded sample of sentences from each of 10 activation quantiles and a
non-activating sample, split into explain and held-out halves, and the unit's summary statistics.

The explanation-transfer page scores an explanation of a unit on the held-out examples of every dataset
(analysis.transfer, where the sampling scheme is described: delphi's / OpenAI's NeuronRecord scheme, with
"non-activating" for a dense unit meaning at or below its median). Drawing the sample needs every sentence of
the layer, so the build draws it once for the layers ``[quantiles] layers`` names (default: the last, the pages'
default); a page asking for another layer, or for a random direction, draws the same sample itself.
Writes quantile_examples and quantile_stats.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from analysis.transfer import N_QUANTILES, quantile_sample, sample_seed, summary_stats
from pipeline.errors import PipelineError
from pipeline.sections import check_bools, check_ints, check_seq, is_int
from warehouse import queries


@dataclass(frozen=True)
class QuantilesConfig:
    """The ``[quantiles]`` section.

    layers:         layers.layer indices to sample (0 = the first stored layer, -1 = the last); [] = every layer;
    per_quantile:   sentences drawn from each of the 10 activation quantiles (half held out, the first drawn
                    first: 8 gives 4 to explain with and 4 to score on);
    non_activating: sentences drawn from those at or below the threshold (half held out);
    seed:           the draws' seed (with the dataset, layer, pooling and unit: analysis.transfer.sample_seed).
    """

    enabled: bool = True
    layers: tuple = (-1,)
    per_quantile: int = 8
    non_activating: int = 80
    seed: int = 0

    def __post_init__(self):
        check_bools(self, NAME)
        check_ints(self, NAME, names=("seed",))
        check_ints(self, NAME, minimum=1, names=("per_quantile", "non_activating"))
        check_seq(self, NAME, "layers", is_int, "a list of distinct layer indices (0 = first, -1 = last; [] = all)",
                  True)


NAME = "quantiles"
SECTION = QuantilesConfig
TABLES = ("quantile_examples", "quantile_stats")
SOURCES = ("pipeline/stages/quantiles.py", "analysis/transfer.py")


def settings(cfg, spec, datasets) -> dict | None:
    c = cfg.quantiles
    if not c.enabled:
        return None
    return {"layers": list(c.layers), "per_quantile": c.per_quantile, "non_activating": c.non_activating,
            "seed": c.seed, "quantiles": N_QUANTILES}


def layer_list(n_layers: int, wanted) -> list[int]:
    """The stored layer ids of ``wanted`` (negative from the end; empty: all), sorted; PipelineError when one is
    not a layer of the run."""
    if not wanted:
        return list(range(n_layers))
    bad = [w for w in wanted if not -n_layers <= w < n_layers]
    if bad:
        raise PipelineError(f"config: quantiles.layers has {bad[0]}, but the run stores {n_layers} layers "
                            f"(0..{n_layers - 1}, or -{n_layers}..-1)")
    return sorted({w % n_layers for w in wanted})


def block_rows(run_id: str, layer: int, pooling: str, dataset: str, x: np.ndarray, ids: np.ndarray,
               per_quantile: int, non_activating: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(quantile_examples rows, quantile_stats rows) of one dataset's [N, H] block; ids [N]: its sentence ids."""
    parts = []
    for unit in range(x.shape[1]):
        s = quantile_sample(x[:, unit], per_quantile, non_activating, sample_seed(seed, dataset, layer, pooling, unit))
        s.insert(0, "unit", np.int32(unit))
        parts.append(s)
    ex = pd.concat(parts, ignore_index=True)
    ex["sentence_id"] = ids[ex.pop("position").to_numpy()].astype(np.int32)
    ex["value"] = ex["value"].astype(np.float32)
    st = summary_stats(x)
    fixed = {"run_id": run_id, "layer": np.int32(layer), "pooling": pooling, "dataset": dataset}
    ex = pd.DataFrame({**fixed, **{c: ex[c] for c in ("unit", "quantile", "heldout", "sentence_id", "value")}})
    st = pd.DataFrame({**fixed, **{c: st[c] for c in st.columns}})
    return ex, st


def run(ctx) -> int:
    """The chosen layers x every pooling of the run; returns the number of example rows written."""
    from tqdm.auto import tqdm

    info = ctx.run_info()
    names = list(ctx.datasets)
    s = ctx.settings
    layers = layer_list(int(info["n_layers"]), s["layers"])
    ctx.log(f"quantiles {ctx.run_id}: layers {layers}, {s['per_quantile']} sentences from each of {N_QUANTILES} "
            f"quantiles and {s['non_activating']} non-activating per unit and dataset")
    jobs = [(layer, pooling) for layer in layers for pooling in info["poolings"]]
    rows = 0
    for layer, pooling in tqdm(jobs, desc=f"{ctx.run_id} quantiles", disable=not ctx.progress, unit="layer"):
        x, keys = queries.layer_matrix(ctx.con, ctx.run_id, layer, pooling, names)
        datasets = keys["dataset"].to_numpy()
        sentence_ids = keys["sentence_id"].to_numpy()
        for name in names:
            mine = datasets == name
            ex, st = block_rows(ctx.run_id, layer, pooling, name, x[mine], sentence_ids[mine], s["per_quantile"],
                                s["non_activating"], s["seed"])
            examples = pa.Table.from_pandas(ex, preserve_index=False)  # noqa: F841 (read by DuckDB by name)
            stats = pa.Table.from_pandas(st, preserve_index=False)  # noqa: F841
            ctx.con.execute("insert into quantile_examples select * from examples")
            ctx.con.execute("insert into quantile_stats select * from stats")
            rows += len(ex)
    return rows
