"""Dictionary stage: a dictionary's (SAE's) features on one residual layer of a model, as a run of their own.

A model whose ``sites`` include "sae" has a dictionary run ``<run_id>-sae`` (``ModelSpec.run_specs``). This
stage is that run's extraction: it loads a user's dictionary (``path``: an SAELens folder or a directions file,
``pipeline.models.dictionary.load_dictionary``) or trains a TopK SAE on the layer's token activations from the
build's own datasets (``train_topk_sae``), then runs the model over every dataset and stores each feature's
sentence-level activation through the extract stage's writer (``write_run`` and ``write_extraction``): the run's
``runs`` and ``layers`` rows (one layer, ``<site>.hook_sae_acts_post``, n_features units), ``activations``,
``neuron_topk``, ``sentence_lengths`` and ``sentence_tokens``. Every stage that reads only the warehouse
(histograms, distances, layer scores, the illusion null, separability) then treats a feature as any unit.

Poolings: ``max`` and ``mean`` of a feature over the text's own tokens (special tokens such as [CLS] and [SEP]
left out, truncated at the model's ``max_length``, as the span-match token states are). Max is what feature
browsers (Neuronpedia, sae_vis) rank by: the text's strongest firing; mean also counts how much of the text
fires, and is the pooling the illusion-score comparison sets against the neurons' mean pooling.

Also writes ``dictionaries`` (where the dictionary came from), ``dictionary_density`` (per feature and dataset,
the share of tokens on which it is nonzero) and ``dictionary_quality`` (per dataset: explained variance of the
layer's token states by the dictionary's reconstruction, L0, dead features).
"""
from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.errors import PipelineError
from pipeline.sections import check_bools, check_ints, check_seq

POOLINGS = ("max", "mean")
# What `--preset demo` trains on MiniLM's last block (pipeline/cli.py): 4x (1,536 features), k = 32, max pooling
# only. The sentence-level max of a TopK SAE is dense enough that DuckDB stores it at about 0.7 B/value at 8x
# (11% nonzero) and 1.3 B/value at 4x (22% nonzero), so 8x with both poolings would add about 150 MB to the
# demo's 33,891 sentences, and 8x with max alone about 85 MB with its top-k lists: over the demo's 80 MB budget
# for the run (benchmarks/METHODS.md).
DEMO = {"expansion": 4.0, "poolings": ["max"]}
SUFFIX = "hook_sae_acts_post"  # SAELens' name of an SAE's feature activations under its hook point
CHUNK = 256  # texts per model call of the encoding loop


@dataclass(frozen=True)
class DictionaryConfig:
    """The ``[dictionary]`` section, for every model whose ``sites`` include "sae" (the run ``<run_id>-sae``).

    layer:        the residual layer the dictionary reads, as the run's layer index (0 = the embedding output,
                  l = the output of block l-1, ``blocks.{l-1}.hook_resid_post``); -1 (default) is the last block.
    path:         "" (default): train a TopK SAE here. Else a user's dictionary: an SAELens folder (cfg.json +
                  sae_weights.safetensors; ReLU, JumpReLU or TopK) or a directions file (.npy, .pt,
                  .safetensors; [n_features, d_model]). Relative paths are from the working directory.
    expansion, k, seed, epochs, batch_size, lr: the training recipe (pipeline.models.dictionary.train_topk_sae):
                  n_features = expansion x the layer's width, k features kept per token, Adam at lr.
    train_tokens: train on about this many tokens: a seeded sample of sentences, the same token budget from
                  every dataset (all of a dataset that has fewer), so no one dataset shapes the features.
    poolings:     the stored sentence poolings, of max and mean over the text's own tokens.
    normalize:    a directions file's rows are scaled to unit length (the activation is then the signed length
                  of the component along the direction, on a neuron's scale).
    """

    enabled: bool = True
    layer: int = -1
    path: str = ""
    expansion: float = 8.0
    k: int = 32
    seed: int = 0
    epochs: float = 10.0
    batch_size: int = 1024
    lr: float = 0.002
    train_tokens: int = 200_000
    poolings: tuple = POOLINGS
    normalize: bool = True

    def __post_init__(self):
        check_bools(self, NAME, ("enabled", "normalize"))
        check_ints(self, NAME, minimum=0, names=("seed",))
        check_ints(self, NAME, minimum=1, names=("k", "batch_size", "train_tokens"))
        if isinstance(self.layer, bool) or not isinstance(self.layer, int):
            raise PipelineError(f"config: {NAME}.layer must be an integer (a layer index; -1: the last), "
                                f"got {self.layer!r}")
        if not isinstance(self.path, str):
            raise PipelineError(f"config: {NAME}.path must be a path (a string; \"\": train), got {self.path!r}")
        for name in ("expansion", "epochs", "lr"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
                raise PipelineError(f"config: {NAME}.{name} must be a positive number, got {v!r}")
            object.__setattr__(self, name, float(v))
        check_seq(self, NAME, "poolings", lambda p: p in POOLINGS, f"a list of {', '.join(POOLINGS)}")


NAME = "dictionary"
SECTION = DictionaryConfig
PER_DATASET = True
TABLES = ("activation_store", "sentence_lengths", "sentence_tokens", "neuron_topk", "dictionary_density",
          "dictionary_quality")
RUN_TABLES = ("runs", "layers", "dictionaries")
SOURCES = ("pipeline/stages/dictionary.py", "pipeline/models/dictionary.py", "pipeline/stages/extract.py",
           "analysis/extremes.py")


def base_spec(cfg, spec):
    """The residual run spec of the model a dictionary run belongs to (what its token states come from)."""
    for model in cfg.models:
        if spec in model.run_specs():
            return replace(model, sites=("resid",), dictionary=())
    raise PipelineError(f"run {spec.run_id!r}: no model of the config has it")


def section_for(cfg, spec) -> DictionaryConfig:
    """The ``[dictionary]`` settings of a dictionary run: the shared section with its model's own ``dictionary``
    table over it (validated as the section is; the message names the model)."""
    from dataclasses import fields

    over = dict(getattr(spec, "dictionary", ()) or ())
    if not over:
        return cfg.dictionary
    known = [f.name for f in fields(DictionaryConfig)]
    unknown = sorted(set(over) - set(known))
    if unknown:
        raise PipelineError(f"model {spec.run_id!r}: dictionary has no setting {unknown[0]!r} "
                            f"(known: {', '.join(known)})")
    try:
        return replace(cfg.dictionary, **over)
    except PipelineError as e:
        raise PipelineError(f"model {spec.run_id!r}: {e}") from None


def settings(cfg, spec, datasets) -> dict | None:
    """The dictionary run's inputs besides its dataset: the base model, topk, the section (a user's file by
    path, size and time, so an edited file is read again), the training datasets' specs and the runner's code."""
    from pipeline.models import RUNNER_SOURCES
    from pipeline.version import source_hash

    if not getattr(spec, "is_dictionary", False):
        return None
    c = section_for(cfg, spec)
    if not c.enabled:
        return None
    base = base_spec(cfg, spec)
    section = {k: v for k, v in asdict(c).items() if k != "enabled"}
    out = {"base": base.inputs(), "topk": cfg.topk, "section": section, "storage": cfg.storage.activations,
           "runner_code": source_hash(*RUNNER_SOURCES[base.kind])}
    if c.path:
        out["file"] = _file_stamp(Path(c.path))
        for key in ("expansion", "k", "seed", "epochs", "batch_size", "lr", "train_tokens"):
            section.pop(key)  # training settings: not used by a loaded dictionary
    else:
        # Training reads every dataset, so a changed spec of any changes every dataset's features. A dataset
        # whose content alone changed is the only one to compute (its own hash); run then retrains and, when the
        # dictionary differs from the one the copied datasets were encoded with, encodes them all again.
        out["training_datasets"] = [asdict(d) for d in cfg.datasets]
    return out


def _file_stamp(path: Path) -> dict:
    if not path.exists():
        raise PipelineError(f"{path}: no such file or folder (config {NAME}.path: an SAELens folder with cfg.json "
                            f"and sae_weights.safetensors, or a directions file .npy/.pt/.safetensors)")
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    return {"path": str(path.resolve()), "files": [[p.name, p.stat().st_size, p.stat().st_mtime_ns] for p in files]}


def skip_reason(cfg, spec, datasets) -> str | None:
    if not getattr(spec, "is_dictionary", False):
        return "only a dictionary run (a model's site \"sae\") has dictionary features"
    return None


# -- the pure parts ------------------------------------------------------------------------------------------
def pool_tokens(acts: np.ndarray, lengths: np.ndarray, poolings=POOLINGS) -> np.ndarray:
    """float32 [len(poolings), n_texts, n_features]: each text's max and/or mean over its own rows of ``acts``
    (float32 [sum(lengths), n_features], the texts' tokens one after another); a text with no tokens is 0."""
    n, f = len(lengths), acts.shape[1]
    out = np.zeros((len(poolings), n, f), dtype=np.float32)
    has = lengths > 0
    if not has.any():
        return out
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])[has]
    for p, pooling in enumerate(poolings):
        if pooling == "max":
            out[p, has] = np.maximum.reduceat(acts, starts, axis=0)
        else:
            out[p, has] = np.add.reduceat(acts, starts, axis=0, dtype=np.float64)[...] / lengths[has, None]
    return out


def training_sample(token_counts: dict[str, np.ndarray], budget: int, seed: int) -> dict[str, np.ndarray]:
    """dataset -> sorted sentence ids to train on: per dataset, a seeded random order of its sentences taken
    until it holds budget / n_datasets tokens (all of it when it has fewer)."""
    share = budget / max(len(token_counts), 1)
    out = {}
    for i, (name, counts) in enumerate(token_counts.items()):
        rng = np.random.default_rng([seed, i])
        order = rng.permutation(len(counts))
        total = np.cumsum(counts[order])
        n = int(np.searchsorted(total, share, side="left")) + 1
        out[name] = np.sort(order[:min(n, len(order))])
    return out


def fingerprint(d) -> str:
    """A hash of a Dictionary's parameters: whether two builds' dictionaries are the same."""
    h = hashlib.sha256(d.kind.encode())
    for a in (d.W_enc, d.b_enc, d.W_dec, d.b_dec, d.threshold):
        if a is not None:
            h.update(np.ascontiguousarray(a).tobytes())
    h.update(json.dumps([d.k, d.apply_b_dec_to_input, d.normalize_activations,
                         d.rescale_acts_by_decoder_norm]).encode())
    return h.hexdigest()[:16]


@dataclass
class _Tally:
    """One dataset's token-level sums for density and reconstruction quality (float64)."""

    n_features: int
    d_in: int

    def __post_init__(self):
        self.tokens = 0
        self.active = np.zeros(self.n_features, dtype=np.int64)
        self.nonzeros = 0
        self.sse = 0.0
        self.sum_x = np.zeros(self.d_in, dtype=np.float64)
        self.sum_sq = 0.0

    def add(self, x: np.ndarray, acts: np.ndarray, x_hat: np.ndarray) -> None:
        nz = acts != 0
        self.tokens += len(x)
        self.active += nz.sum(axis=0)
        self.nonzeros += int(nz.sum())
        x64 = x.astype(np.float64)
        self.sse += float(np.sum((x64 - x_hat) ** 2))
        self.sum_x += x64.sum(axis=0)
        self.sum_sq += float(np.sum(x64 ** 2))

    def quality(self) -> dict:
        n = max(self.tokens, 1)
        sst = self.sum_sq - float(self.sum_x @ self.sum_x) / n
        dead = int(np.sum(self.active == 0))
        return {"n_tokens": self.tokens,
                "explained_variance": 1.0 - self.sse / sst if self.tokens and sst > 0 else float("nan"),
                "mse": self.sse / n, "l0": self.nonzeros / n, "n_dead": dead,
                "dead_share": dead / self.n_features}


# -- the stage -----------------------------------------------------------------------------------------------
class _Site:
    """What write_run and write_extraction read of a runner, for the dictionary run."""

    def __init__(self, run_id: str, model_name: str, layer_name: str, n_features: int, poolings):
        self.run_id, self.model_name = run_id, model_name
        self.layer_names, self.hidden_size, self.n_heads = [layer_name], n_features, None
        self.poolings = tuple(poolings)


def _token_states(runner, texts: list[str], layer: int) -> list[np.ndarray]:
    """float32 [T, d] per text: the layer's state at every own token (special tokens dropped)."""
    return [np.ascontiguousarray(t.states[layer], dtype=np.float32) for t in runner.token_states(texts)]


def _encode_dataset(runner, dic, texts: list[str], layer: int, poolings, progress: bool, desc: str,
                    cached: dict[int, np.ndarray] | None = None):
    """(pooled float32 [P, N, F], _Tally) of one dataset; ``cached``: sentence id -> its token states, already
    computed (the training sample), so the model runs only on the rest."""
    from tqdm.auto import tqdm

    cached = cached or {}
    pooled = np.empty((len(poolings), len(texts), dic.n_features), dtype=np.float32)
    tally = _Tally(dic.n_features, dic.d_in)
    for s in tqdm(range(0, len(texts), CHUNK), desc=desc, unit="chunk", disable=not progress):
        ids = range(s, min(s + CHUNK, len(texts)))
        need = [i for i in ids if i not in cached]
        fresh = dict(zip(need, _token_states(runner, [texts[i] for i in need], layer))) if need else {}
        states = [cached[i] if i in cached else fresh[i] for i in ids]
        lengths = np.array([len(x) for x in states], dtype=np.int64)
        x = np.concatenate(states) if lengths.sum() else np.empty((0, dic.d_in), np.float32)
        acts = dic.encode(x)
        tally.add(x, acts, dic.reconstruct(x))
        pooled[:, s:s + len(lengths)] = pool_tokens(acts, lengths, poolings)
    return pooled, tally


def _resolve_layer(c, runner, where: str) -> int:
    n = len(runner.layer_names)
    layer = c.layer + n if c.layer < 0 else c.layer
    if not 0 <= layer < n:
        raise PipelineError(f"config: {NAME}.layer = {c.layer}: {where} has layers 0..{n - 1} (-1: the last)")
    return layer


def _dictionary(ctx, runner, layer: int, base):
    """(Dictionary, provenance dict, {dataset: {sentence id: token states}} of the training sample) for the run:
    loaded from ``path``, or trained on the build's datasets."""
    from pipeline.corpora.fetch import cache_dir
    from pipeline.models.dictionary import load_dictionary, save_saelens, train_topk_sae
    from pipeline.models.torch_utils import tokenize_for_encode

    c = section_for(ctx.cfg, ctx.spec)
    site = runner.layer_names[layer]
    if c.path:
        kw = {"normalize": c.normalize} if not Path(c.path).is_dir() and Path(c.path).name not in (
            "cfg.json", "sae_weights.safetensors") else {}
        ctx.log(f"dictionary {ctx.run_id}: loading {c.path} for {site} (width {runner.hidden_size})")
        dic = load_dictionary(c.path, d_in=runner.hidden_size, site=f"{site} of {base.run_id!r}", **kw)
        return dic, {"origin": "loaded", "path": str(Path(c.path).resolve()), "seed": None, "training_tokens": None,
                     "training_steps": None, "explained_variance_heldout": None}, {}
    counts = {}
    for name, ld in ctx.datasets.items():
        _, n_tokens, _, _ = tokenize_for_encode(runner.tokenizer, ld.frame["text"].tolist(), runner.max_length)
        counts[name] = np.minimum(np.asarray(n_tokens), runner.max_length)
    sample = training_sample(counts, c.train_tokens, c.seed)
    keys = [(name, int(i)) for name, ids in sample.items() for i in ids]
    texts = [ctx.datasets[name].frame["text"].iat[i] for name, i in keys]
    ctx.log(f"dictionary {ctx.run_id}: token states of {len(texts)} sentences at {site} to train on")
    states = [x for s in range(0, len(texts), CHUNK) for x in _token_states(runner, texts[s:s + CHUNK], layer)]
    # Kept for the encoding pass, which then runs the model on the other sentences only.
    cache: dict[str, dict[int, np.ndarray]] = {}
    for (name, i), x in zip(keys, states):
        cache.setdefault(name, {})[i] = x
    x = np.concatenate(states)
    del states
    ctx.log(f"dictionary {ctx.run_id}: training a TopK SAE ({c.expansion:g}x {runner.hidden_size}, k={c.k}, "
            f"seed {c.seed}) on {len(x):,} tokens")
    try:
        dic, rep = train_topk_sae(x, expansion=c.expansion, k=c.k, seed=c.seed, epochs=c.epochs,
                                  batch_size=min(c.batch_size, max(1, int(0.9 * len(x)) - 1)), lr=c.lr,
                                  progress=ctx.progress, desc=f"{ctx.run_id} SAE", hook_name=site)
    except ValueError as e:
        raise PipelineError(f"config [{NAME}]: cannot train on {len(x)} tokens of {site}: {e}") from None
    folder = cache_dir(ctx.cfg.cache) / "dictionaries" / f"{ctx.run_id}-{fingerprint(dic)}"
    save_saelens(dic, folder, hook_name=site, model_name=runner.model_name, extra=rep.summary())
    ctx.log(f"dictionary {ctx.run_id}: held-out explained variance {rep.explained_variance_heldout:.3f}, "
            f"{rep.dead_features} dead of {rep.n_features}, {rep.train_seconds:.0f} s; saved to {folder}")
    return dic, {"origin": "trained", "path": str(folder), "seed": c.seed, "training_tokens": rep.n_train,
                 "training_steps": rep.steps, "explained_variance_heldout": rep.explained_variance_heldout}, cache


def _old_fingerprint(con, run_id: str) -> str | None:
    try:
        row = con.execute("select fingerprint from old.dictionaries where run_id = ?", [run_id]).fetchone()
    except Exception:  # noqa: BLE001 - no previous warehouse, or one from before this table
        return None
    return row[0] if row else None


def run(ctx) -> dict[str, tuple[int, float]]:
    """Load or train the dictionary, then encode every dataset of ``ctx.todo`` (all of them when the datasets
    copied from the previous build were encoded by another dictionary); {dataset: (activation rows, seconds)}."""
    from pipeline.models import make_runner
    from pipeline.models.torch_utils import tokenize_for_encode
    from pipeline.models.base import Encoded
    from pipeline.stages.extract import write_extraction, write_run

    c = section_for(ctx.cfg, ctx.spec)
    base = base_spec(ctx.cfg, ctx.spec)
    if base.kind not in ("transformer", "decoder"):
        raise PipelineError(f"model {base.run_id!r}: a dictionary (site \"sae\") needs a transformer or decoder")
    t0 = time.time()
    ctx.log(f"loading model {base.run_id} ({base.path}) for its dictionary run {ctx.run_id}")
    runner = make_runner(base, ctx.cfg.cache)
    layer = _resolve_layer(c, runner, f"model {base.run_id!r}")
    site = runner.layer_names[layer]
    dic, prov, cache = _dictionary(ctx, runner, layer, base)
    fp = fingerprint(dic)
    todo = list(ctx.todo)
    if set(todo) != set(ctx.datasets) and _old_fingerprint(ctx.con, ctx.run_id) != fp:
        # The copied datasets were encoded by another dictionary: encode them again with this one.
        for table in TABLES:
            ctx.con.execute(f"delete from {table} where run_id = ?", [ctx.run_id])
        todo = list(ctx.datasets)
    shim = _Site(ctx.run_id, runner.model_name, f"{site}.{SUFFIX}", dic.n_features, c.poolings)
    write_run(ctx.con, ctx.spec, shim)
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    activation = {"sae-topk": "topk", "sae-relu": "relu", "sae-jumprelu": "jumprelu", "directions": "linear"}[dic.kind]
    ctx.con.execute("insert into dictionaries values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", [
        ctx.run_id, base.run_id, layer, site, prov["origin"], dic.kind, activation, prov["path"], dic.source,
        dic.d_in, dic.n_features, dic.k, prov["seed"], prov["training_tokens"], prov["training_steps"],
        prov["explained_variance_heldout"], list(c.poolings), fp, now])
    setup = time.time() - t0
    done = {}
    for name in todo:
        t = time.time()
        texts = ctx.datasets[name].frame["text"].tolist()
        ctx.log(f"dictionary {ctx.run_id}/{name}: {dic.n_features} features of {len(texts)} texts")
        pooled, tally = _encode_dataset(runner, dic, texts, layer, c.poolings, ctx.progress, f"{ctx.run_id}/{name}",
                                        cache.pop(name, None))
        _, n_tokens, truncated, counters = tokenize_for_encode(runner.tokenizer, texts, runner.max_length)
        enc = Encoded(pooled[None], np.asarray(n_tokens), np.asarray(truncated), counters)
        del pooled
        rows = write_extraction(ctx.con, shim, name, enc, ctx.cfg.topk, ctx.cfg.storage.activations)
        del enc
        density = pd.DataFrame({"run_id": ctx.run_id, "dataset": name,  # noqa: F841 (read by DuckDB)
                                "unit": np.arange(dic.n_features, dtype=np.int32), "n_tokens": tally.tokens,
                                "n_active": tally.active,
                                "density": tally.active / max(tally.tokens, 1)})
        ctx.con.execute("insert into dictionary_density select * from density")
        q = tally.quality()
        ctx.con.execute("insert into dictionary_quality values (?, ?, ?, ?, ?, ?, ?, ?)",
                        [ctx.run_id, name, q["n_tokens"], q["explained_variance"], q["mse"], q["l0"], q["n_dead"],
                         q["dead_share"]])
        done[name] = (rows, time.time() - t + (setup if not done else 0.0))
    return {name: done[name] for name in ctx.todo}
