"""Token states stage: every step's state of a per-dataset sample of sentences, for the span-match page (LSTMVis).

For each dataset, ``per_dataset`` sentences (a seeded sample, or the first ones) are run again through the model
with ``runner.token_states``; the chosen layers' [T, H] states are packed compactly (``analysis.spans
.encode_states``: int8 for states bounded in [-1, 1], float16 otherwise, configurable) into ``token_states``, and
the units with their character offsets into ``token_units``. One row per (run, layer, dataset, sentence), so the
page reads one (run, layer) as a single numpy block.
"""
from __future__ import annotations

import re

import zlib
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from analysis.numerics import limit_threads
from analysis.spans import encode_states
from pipeline.errors import PipelineError
from pipeline.sections import check_bools, check_ints, check_seq, is_int

DTYPES = ("int8", "float16", "float32")
LSTM_STREAM = re.compile(r"lstm[1-9][0-9]*\.(hidden|cell)")  # layers.name of an LSTM run's streams


@dataclass(frozen=True)
class TokenStatesConfig:
    """The ``[token_states]`` section.

    per_dataset:        sentences per dataset (0: all of them);
    sample:             true: a seeded random sample (the build seed and the dataset name); false: the first ones;
    lstm_layers:        LSTM streams to store (layers.name: lstm1.hidden, lstm1.cell, ...); [] = the default,
                        every stream (hidden and cell of every layer);
    transformer_layers: transformer layer indices (0 = embedding output; negative counts from the end: -1 is
                        the last block);
    bounded_dtype:      storage of states known to lie in [-1, 1] (LSTM hidden = o * tanh(c)): int8 (code / 127),
                        float16 or float32;
    unbounded_dtype:    storage of every other state (LSTM cell, transformer residual): float16 or float32.
    """

    enabled: bool = True
    per_dataset: int = 500
    sample: bool = True
    lstm_layers: tuple = ()
    transformer_layers: tuple = (-1,)
    bounded_dtype: str = "int8"
    unbounded_dtype: str = "float16"

    def __post_init__(self):
        check_bools(self, NAME, ("enabled", "sample"))
        check_ints(self, NAME, 0, names=["per_dataset"])
        check_seq(self, NAME, "lstm_layers", lambda v: isinstance(v, str) and bool(LSTM_STREAM.fullmatch(v)),
                  "a list of distinct LSTM stream names (lstm1.hidden, lstm1.cell, ...; [] = every stream)", True)
        check_seq(self, NAME, "transformer_layers", is_int, "a non-empty list of distinct layer indices (-1 = last)")
        if self.bounded_dtype not in DTYPES:
            raise PipelineError(f"config: token_states.bounded_dtype must be one of {', '.join(DTYPES)}, "
                                f"got {self.bounded_dtype!r}")
        if self.unbounded_dtype not in DTYPES[1:]:
            raise PipelineError(f"config: token_states.unbounded_dtype must be float16 or float32 (int8 needs a "
                                f"known range), got {self.unbounded_dtype!r}")


NAME = "token_states"
SECTION = TokenStatesConfig
TABLES = ("token_units", "token_states")
SOURCES = ("pipeline/stages/token_states.py", "analysis/spans.py")
CHUNK = 256  # texts per runner call: bounds memory (the LSTM returns 4 x T x 128 float32 per text)


def settings(cfg, spec, datasets) -> dict | None:
    ts = cfg.token_states
    if not ts.enabled:
        return None
    layers = list(ts.lstm_layers) if spec.kind == "lstm" else list(ts.transformer_layers)
    return {"per_dataset": ts.per_dataset, "sample": ts.sample, "layers": layers,
            "bounded_dtype": ts.bounded_dtype if spec.kind == "lstm" else None,
            "unbounded_dtype": ts.unbounded_dtype}


def sample_ids(n: int, per_dataset: int, sample: bool, seed: int, dataset: str) -> np.ndarray:
    """Sorted row ids of the sentences to store: all (per_dataset 0 or >= n), the first per_dataset, or a seeded
    sample. The seed mixes in the dataset's name, so adding a dataset leaves the others' samples unchanged and
    every run of a build stores the same sentences."""
    if per_dataset == 0 or per_dataset >= n:
        return np.arange(n)
    if not sample:
        return np.arange(per_dataset)
    rng = np.random.default_rng([seed, zlib.crc32(dataset.encode())])
    return np.sort(rng.choice(n, size=per_dataset, replace=False))


def resolve_layers(kind: str, wanted: list, names: list[str]) -> list[int]:
    """Layer indices (layers.layer) for the configured streams (LSTM names) or indices (transformer, -1 = last)."""
    if kind == "lstm":
        wanted = list(wanted) or names
        missing = [w for w in wanted if w not in names]
        if missing:
            raise PipelineError(f"config: token_states.lstm_layers {missing} not among this run's streams {names}")
        return [names.index(w) for w in wanted]
    out = []
    for w in wanted:
        if not -len(names) <= w < len(names):
            raise PipelineError(f"config: token_states.transformer_layers has {w}, but the run has {len(names)} "
                                f"layers (0..{len(names) - 1}, or -1 for the last)")
        out.append(w % len(names))
    if len(set(out)) != len(out):
        raise PipelineError(f"config: token_states.transformer_layers {list(wanted)} name the same layer twice")
    return out


def bounded(kind: str, layer_name: str) -> bool:
    """States known to lie in [-1, 1]: an LSTM's hidden state (o * tanh(c))."""
    return kind == "lstm" and layer_name.endswith(".hidden")


def rows_for(run_id: str, dataset: str, ids: np.ndarray, states: list, layers: list[int],
             dtypes: dict[int, str]) -> tuple[pa.Table, pa.Table]:
    """Arrow rows for token_units and token_states from one chunk of ``runner.token_states`` output."""
    n = len(ids)
    n_units = np.array([len(s.units) for s in states], dtype=np.int32)
    units = pa.table({
        "run_id": pa.array([run_id] * n, pa.string()),
        "dataset": pa.array([dataset] * n, pa.string()),
        "sentence_id": pa.array(np.asarray(ids, dtype=np.int32)),
        "n_units": pa.array(n_units),
        "units": pa.array([list(s.units) for s in states], pa.list_(pa.string())),
        "starts": pa.array([s.offsets[:, 0].tolist() for s in states], pa.list_(pa.int32())),
        "ends": pa.array([s.offsets[:, 1].tolist() for s in states], pa.list_(pa.int32())),
    })
    cols = {k: [] for k in ("run_id", "layer", "dataset", "sentence_id", "n_units", "dtype", "scale", "max_error",
                            "states")}
    for layer in layers:
        for sid, s, t in zip(ids, states, n_units):
            blob, dtype, scale, err = encode_states(s.states[layer], dtypes[layer])
            for k, v in (("run_id", run_id), ("layer", layer), ("dataset", dataset), ("sentence_id", int(sid)),
                         ("n_units", int(t)), ("dtype", dtype), ("scale", scale), ("max_error", err),
                         ("states", blob)):
                cols[k].append(v)
    table = pa.table({
        "run_id": pa.array(cols["run_id"], pa.string()), "layer": pa.array(cols["layer"], pa.int32()),
        "dataset": pa.array(cols["dataset"], pa.string()), "sentence_id": pa.array(cols["sentence_id"], pa.int32()),
        "n_units": pa.array(cols["n_units"], pa.int32()), "dtype": pa.array(cols["dtype"], pa.string()),
        "scale": pa.array(cols["scale"], pa.float32()), "max_error": pa.array(cols["max_error"], pa.float32()),
        "states": pa.array(cols["states"], pa.binary()),
    })
    return units, table


def run(ctx) -> int:
    """Store the sample's units and the chosen layers' states; returns the number of token_states rows."""
    from tqdm.auto import tqdm

    s = ctx.settings
    cur = ctx.con.cursor()
    try:
        names = [r[0] for r in cur.execute("select name from layers where run_id = ? order by layer",
                                           [ctx.run_id]).fetchall()]
    finally:
        cur.close()
    kind = ctx.spec.kind
    layers = resolve_layers(kind, s["layers"], names)
    dtypes = {layer: s["bounded_dtype"] if bounded(kind, names[layer]) else s["unbounded_dtype"] for layer in layers}
    plan = {name: sample_ids(len(ld.frame), s["per_dataset"], s["sample"], ctx.cfg.seed, name)
            for name, ld in ctx.datasets.items()}
    total = int(sum(len(ids) for ids in plan.values()))
    ctx.log(f"token states {ctx.run_id}: {total} sentences, layers "
            f"{', '.join(f'{names[i]} ({dtypes[i]})' for i in layers)}")
    runner = ctx.runner()
    rows = 0
    # Staged, then stored ordered by layer: the span-match page reads one layer at a time, and with every layer's
    # rows interleaved DuckDB scans every blob of the run for it.
    ctx.con.execute("create or replace temp table token_states_staged as select * from token_states limit 0")
    # The LSTM steps through characters with small [batch x 128] @ [128 x 512] products: a thread pool only
    # adds synchronisation.
    with limit_threads(1 if kind == "lstm" else None), \
            tqdm(total=total, desc=f"{ctx.run_id} token states", unit="text", disable=not ctx.progress) as bar:
        for name, ids in plan.items():
            texts = ctx.datasets[name].frame["text"]
            # Chunks of similar length: the runner pads each batch to its longest text.
            ids = ids[np.argsort(texts.iloc[ids].str.len().to_numpy(), kind="stable")]
            for start in range(0, len(ids), CHUNK):
                chunk = ids[start:start + CHUNK]
                states = runner.token_states(texts.iloc[chunk].tolist())
                unit_rows, state_rows = rows_for(ctx.run_id, name, chunk, states, layers, dtypes)  # noqa: F841
                ctx.con.execute("insert into token_units select * from unit_rows")
                ctx.con.execute("insert into token_states_staged select * from state_rows")
                rows += state_rows.num_rows
                bar.update(len(chunk))
    ctx.con.execute("insert into token_states select * from token_states_staged order by layer, dataset, sentence_id")
    ctx.con.execute("drop table token_states_staged")
    return rows
