"""Token top-k stage: per unit and dataset, the sentences whose strongest token activates the unit most (and
least), with that token.

A sentence-level list (neuron_topk) says which sentences a unit likes once their tokens are pooled; this says
which token inside a sentence does it, the way Neuronpedia and sae_vis show a feature: the drift page shows the
sentence with that token highlighted. Each sentence counts once, through its maximal token (its minimal one for
the bottom list), so one long text cannot fill a list. The model runs again over every sentence
(``runner.token_states``: every layer at every own token, special tokens left out), in blocks of CHUNK
sentences kept in sentence order, and a streaming top-k (analysis.extremes.StreamingExtremes) keeps memory at
k x hidden_size per layer whatever the dataset's size. Writes token_topk.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from analysis.extremes import StreamingExtremes
from analysis.numerics import limit_threads
from pipeline.errors import PipelineError
from pipeline.sections import check_bools, check_ints
from pipeline.stages.extract import _lists

CHUNK = 256  # sentences per runner call (the runner pads each of its batches to its longest text)
PAYLOAD = ("position", "start", "end")


@dataclass(frozen=True)
class TokenTopkConfig:
    """The ``[token_topk]`` section: ``k`` sentences per unit, dataset and side (top and bottom), each shown
    through its extreme token."""

    enabled: bool = True
    k: int = 20

    def __post_init__(self):
        check_bools(self, NAME)
        check_ints(self, NAME, minimum=1, names=("k",))


NAME = "token_topk"
SECTION = TokenTopkConfig
TABLES = ("token_topk",)
SOURCES = ("pipeline/stages/token_topk.py", "analysis/extremes.py")


def settings(cfg, spec, datasets) -> dict | None:
    c = cfg.token_topk
    return {"k": c.k} if c.enabled else None


def sentence_extremes(states: list) -> tuple[np.ndarray, np.ndarray, dict, dict] | None:
    """Per text of a ``runner.token_states`` chunk: every layer's max and min over the text's tokens and where
    they are. Returns hi, lo [L, n, H] float32 and payloads {position | start | end: [L, n, H] int32} for each;
    a text without tokens has hi = -inf, lo = +inf; None when no text has one."""
    n = len(states)
    layers, _, h = next((s.states.shape for s in states if len(s.units)), (0, 0, 0))
    if not layers:
        return None  # no text of the chunk has a token
    hi = np.full((layers, n, h), -np.inf, np.float32)
    lo = np.full((layers, n, h), np.inf, np.float32)
    p_hi = {k: np.zeros((layers, n, h), np.int32) for k in PAYLOAD}
    p_lo = {k: np.zeros((layers, n, h), np.int32) for k in PAYLOAD}
    for i, s in enumerate(states):
        if not len(s.units):
            continue
        x = s.states  # [L, T, H]
        for vals, payload, arg in ((hi, p_hi, x.argmax(1)), (lo, p_lo, x.argmin(1))):  # arg [L, H]
            vals[:, i] = np.take_along_axis(x, arg[:, None, :], 1)[:, 0]
            payload["position"][:, i] = arg
            payload["start"][:, i] = s.offsets[arg, 0]
            payload["end"][:, i] = s.offsets[arg, 1]
    return hi, lo, p_hi, p_lo


def token_topk_rows(run_id: str, dataset: str, layer: int, result: dict, sentence_ids: np.ndarray) -> pa.Table:
    """token_topk rows of one layer's StreamingExtremes result (rows = positions in ``sentence_ids``)."""
    cols = {"sentence_ids": [], "vals": [], **{f"{k}s": [] for k in PAYLOAD}}
    sides = []
    for side in ("top", "bottom"):
        rows, vals, payload = result[side]
        cols["sentence_ids"].append(sentence_ids[rows].T)
        cols["vals"].append(vals.T)
        for k in PAYLOAD:
            cols[f"{k}s"].append(payload[k].T)
        sides += [side] * vals.shape[1]
    h = len(sides) // 2
    return pa.table({
        "run_id": pa.array([run_id] * 2 * h, pa.string()),
        "layer": pa.array(np.full(2 * h, layer, dtype=np.int32)),
        "dataset": pa.array([dataset] * 2 * h, pa.string()),
        "unit": pa.array(np.tile(np.arange(h, dtype=np.int32), 2)),
        "side": pa.array(sides, pa.string()),
        "sentence_ids": _lists(np.concatenate(cols["sentence_ids"]), np.int32),
        "positions": _lists(np.concatenate(cols["positions"]), np.int32),
        "starts": _lists(np.concatenate(cols["starts"]), np.int32),
        "ends": _lists(np.concatenate(cols["ends"]), np.int32),
        "vals": _lists(np.concatenate(cols["vals"]), np.float32),
    })


def run(ctx) -> int:
    """Every layer of the run over every dataset; returns the number of rows written."""
    from tqdm.auto import tqdm

    k = ctx.settings["k"]
    n_layers = int(ctx.run_info()["n_layers"])
    runner = ctx.runner()
    total = sum(len(ld.frame) for ld in ctx.datasets.values())
    ctx.log(f"token top-k {ctx.run_id}: {k} sentences per unit, dataset and side, through their extreme token")
    rows = 0
    # The LSTM steps through characters with small matrix products: a thread pool only adds synchronisation.
    with limit_threads(1 if ctx.spec.kind == "lstm" else None), \
            tqdm(total=total, desc=f"{ctx.run_id} token top-k", unit="text", disable=not ctx.progress) as bar:
        for name, ld in ctx.datasets.items():
            texts = ld.frame["text"].tolist()
            per_layer: list[StreamingExtremes] = []
            for start in range(0, len(texts), CHUNK):
                states = runner.token_states(texts[start:start + CHUNK])
                bar.update(len(states))
                ext = sentence_extremes(states)
                if ext is None:
                    continue
                hi, lo, p_hi, p_lo = ext
                if hi.shape[0] != n_layers:
                    raise PipelineError(f"token_topk: run {ctx.run_id!r} has {n_layers} layers but its runner's "
                                        f"token states have {hi.shape[0]}")
                if not per_layer:
                    per_layer = [StreamingExtremes(k, PAYLOAD) for _ in range(n_layers)]
                for layer, acc in enumerate(per_layer):
                    acc.add(hi[layer], lo[layer], {p: v[layer] for p, v in p_hi.items()},
                            {p: v[layer] for p, v in p_lo.items()})
            ids = np.arange(len(texts), dtype=np.int32)  # sentence ids are row positions (0..n-1)
            for layer, acc in enumerate(per_layer):
                topk_rows = token_topk_rows(ctx.run_id, name, layer, acc.result(), ids)  # noqa: F841
                ctx.con.execute("insert into token_topk select * from topk_rows")
                rows += topk_rows.num_rows
    return rows
