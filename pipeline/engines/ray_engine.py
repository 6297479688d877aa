"""Extraction on Ray Data: ``map_batches`` over a fixed actor pool, one model per actor, Parquet shards.

The flow, for one model over several datasets:

1. ``extract_with_ray``: every (dataset, sentence_id, text) row becomes one Ray dataset (``from_pandas``),
   cut into shards of ``rows_per_shard`` rows (one Ray block each, so the pool has work for every actor).
   ``EncoderActor`` builds the pipeline's own runner (``pipeline.models.make_runner``) once per actor and
   runs ``runner.encode`` on each shard, then writes

   - ``shard-NNNNN.parquet``: one row per sentence: dataset, sentence_id, n_tokens, truncated, the token
     counts (two parallel lists, the runner's Counter order) and one ``vec_<layer>_<pooling>`` column of
     float32 [H] per layer and pooling;
   - ``shard-NNNNN.partials.parquet``: per (dataset, layer, pooling) of the shard: the top-k and bottom-k
     (global sentence ids and values, ``neuron_extremes``' tie rule) and the per-unit min and max.

   Both go to ``<shard_dir>/.incomplete/`` first and are ``os.replace``d into place when whole; the driver
   writes ``manifest.json`` (the shard list, the runner's description) last, the same way. A run killed
   halfway leaves no manifest, so nothing of it can be merged.
2. ``merge_shards``: checks the manifest and every shard, merges the per-unit summaries exactly
   (``merge_topk``: top-k of the shards' top-ks; ``merge_minmax`` then ``shard_histogram_counts``: every
   shard counted on the merged range's bins, counts summed) and assembles each dataset's vectors in
   sentence_id order: an ``Encoded`` identical in layout to ``runner.encode``'s.

Shards must be on storage every Ray node can write and the driver can read (a local folder for a one-machine
cluster, a shared mount for several machines), as for Ray's own ``write_parquet``.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from analysis.drift import HIST_BINS, value_histograms
from analysis.extremes import neuron_extremes
from pipeline.errors import PipelineError
from pipeline.models.base import Encoded

MANIFEST = "manifest.json"
INCOMPLETE = ".incomplete"
FORMAT_VERSION = 1
# The CLI settings that errors name (pipeline/cli.py: --address, --ray-shards).
ADDRESS_SETTING = "--address"
SHARDS_SETTING = "--ray-shards"
ROOT = Path(__file__).resolve().parents[2]
# Packages an actor imports (pipeline.engines.ray_engine -> analysis, pipeline.models); shipped to a remote
# cluster with the job so its workers run this checkout's code.
CODE_PACKAGES = ("pipeline", "analysis", "warehouse")


def _vec_column(layer: int, pooling: str) -> str:
    return f"vec_{layer}_{pooling}"


# ---------------------------------------------------------------------------------------------------------
# Exact merges of per-shard partial results (pure numpy; no Ray)
# ---------------------------------------------------------------------------------------------------------

def shard_extremes(x: np.ndarray, sentence_ids: np.ndarray, k: int):
    """One shard's partial top-k / bottom-k of every column of x [n, H] (rows in increasing sentence id).

    Returns (top_ids, top_vals, bottom_ids, bottom_vals), each [min(k, n), H], ids the global sentence ids.
    ``neuron_extremes`` breaks ties by the lower row, which is the lower sentence id only because the rows
    are in sentence-id order; that is what makes the merge exact.
    """
    sentence_ids = np.asarray(sentence_ids, dtype=np.int64)
    if len(sentence_ids) > 1 and not (np.diff(sentence_ids) > 0).all():
        raise ValueError("shard_extremes: rows must be in strictly increasing sentence id order")
    top_i, top_v, bot_i, bot_v = neuron_extremes(x, k)
    return sentence_ids[top_i], top_v, sentence_ids[bot_i], bot_v


def _best(ids: np.ndarray, vals: np.ndarray, k: int, lowest: bool) -> tuple[np.ndarray, np.ndarray]:
    """Per column of [m, H] candidates: the k most extreme values, ties by the lower id, most extreme first."""
    order = np.lexsort((ids, vals if lowest else -vals), axis=0)[:k]
    return np.take_along_axis(ids, order, 0), np.take_along_axis(vals, order, 0)


def merge_topk(parts, k: int):
    """Merge shards' ``shard_extremes`` (a list of 4-tuples over disjoint sentence sets) into what
    ``neuron_extremes`` gives on the whole matrix: (top_ids, top_vals, bottom_ids, bottom_vals), each
    [min(k, N), H], row 0 the most extreme, ties broken by the lower sentence id.

    Exact: a sentence in the global top-k under the order (value, then id) is in its own shard's top-k under
    the same order, so the union of the shards' top-ks holds the answer. Each shard contributes
    min(k, n_s) candidates, so the union has at least min(k, N).
    """
    if not parts:
        raise ValueError("merge_topk: no partials")
    top_ids = np.concatenate([p[0] for p in parts])
    top_vals = np.concatenate([p[1] for p in parts])
    bot_ids = np.concatenate([p[2] for p in parts])
    bot_vals = np.concatenate([p[3] for p in parts])
    k = min(k, top_ids.shape[0])
    ti, tv = _best(top_ids, top_vals, k, lowest=False)
    bi, bv = _best(bot_ids, bot_vals, k, lowest=True)
    return ti, tv, bi, bv


def merge_minmax(parts) -> tuple[np.ndarray, np.ndarray]:
    """[(lo [H], hi [H]), ...] per shard -> the columns' overall (lo, hi), in the shards' dtype."""
    lo = np.min(np.stack([p[0] for p in parts]), axis=0)
    hi = np.max(np.stack([p[1] for p in parts]), axis=0)
    return lo, hi


def shard_histogram_counts(x: np.ndarray, lo: np.ndarray, hi: np.ndarray, bins: int = HIST_BINS) -> np.ndarray:
    """counts int64 [H, bins] of the columns of one shard x [n, H] on the bins ``value_histograms`` picks for
    the merged range [lo, hi] (``merge_minmax`` of every shard of the dataset).

    The bin of a value depends only on the value and on (lo, hi), so these counts summed over the shards
    equal ``value_histograms`` of the whole matrix, bit for bit. Rather than re-implement its float64
    index arithmetic and its one-ulp edge corrections, this calls it on the shard plus two rows holding lo
    and hi (so that its range is the merged one) and takes away where those two rows land (found the same way).
    """
    x = np.asarray(x)
    ends = np.stack([np.asarray(lo), np.asarray(hi)]).astype(x.dtype)
    if not (np.array_equal(ends[0], lo) and np.array_equal(ends[1], hi)):
        raise ValueError("shard_histogram_counts: lo/hi are not values of the shard's dtype")
    if len(x) and ((x < ends[0]).any() or (x > ends[1]).any()):
        raise ValueError("shard_histogram_counts: the shard has values outside [lo, hi]")
    _, _, both = value_histograms(np.concatenate([x, ends]), bins)
    _, _, only = value_histograms(ends, bins)
    return both - only


# ---------------------------------------------------------------------------------------------------------
# Shard files
# ---------------------------------------------------------------------------------------------------------

def _fixed_lists(x: np.ndarray) -> pa.FixedSizeListArray:
    """[n, H] float32 -> one H-list per row."""
    return pa.FixedSizeListArray.from_arrays(pa.array(np.ascontiguousarray(x, dtype=np.float32).ravel()),
                                             x.shape[1])


def _matrix(column: pa.ChunkedArray, width: int, dtype) -> np.ndarray:
    flat = column.combine_chunks().flatten()
    return np.asarray(flat.to_numpy(zero_copy_only=False), dtype=dtype).reshape(-1, width)


def shard_tables(frame: pd.DataFrame, enc: Encoded, poolings, k: int,
                 storage: str = "int16") -> tuple[pa.Table, pa.Table]:
    """The shard and partials tables of one encoded shard.

    frame: the shard's rows (dataset, sentence_id), sorted by (dataset, sentence_id), in ``enc``'s order.
    The shard keeps the computed vectors (the merge stores them as the local engine does); the top-k partials
    are of the stored values (``extract.store_block``: row by row, so a shard encodes its rows as the whole
    matrix would), as the local engine's neuron_topk is.
    """
    from pipeline.stages.extract import store_block

    n_layers, _, n, h = enc.vectors.shape
    cols = {
        "dataset": pa.array(frame["dataset"].tolist(), pa.string()),
        "sentence_id": pa.array(frame["sentence_id"].to_numpy(np.int64)),
        "n_tokens": pa.array(enc.n_tokens.astype(np.int64)),
        "truncated": pa.array(enc.truncated.astype(bool)),
        "tokens": pa.nulls(n, pa.list_(pa.string())) if enc.token_counts is None
        else pa.array([list(c.keys()) for c in enc.token_counts], pa.list_(pa.string())),
        "token_n": pa.nulls(n, pa.list_(pa.int32())) if enc.token_counts is None
        else pa.array([list(c.values()) for c in enc.token_counts], pa.list_(pa.int32())),
    }
    for layer in range(n_layers):
        for p, pooling in enumerate(poolings):
            cols[_vec_column(layer, pooling)] = _fixed_lists(enc.vectors[layer, p])
    shard = pa.table(cols)

    rows = []
    datasets = frame["dataset"].to_numpy()
    for name in pd.unique(datasets):
        sel = np.flatnonzero(datasets == name)
        ids = frame["sentence_id"].to_numpy(np.int64)[sel]
        for layer in range(n_layers):
            for p, pooling in enumerate(poolings):
                x = enc.vectors[layer, p, sel]
                ti, tv, bi, bv = shard_extremes(store_block(x, storage).values(), ids, k)
                rows.append({"dataset": name, "layer": layer, "pooling": pooling, "n": len(sel),
                             "k": ti.shape[0], "top_ids": ti.ravel(), "top_vals": tv.ravel(),
                             "bot_ids": bi.ravel(), "bot_vals": bv.ravel(),
                             "lo": x.min(axis=0), "hi": x.max(axis=0)})
    partials = pa.table({
        "dataset": pa.array([r["dataset"] for r in rows], pa.string()),
        "layer": pa.array([r["layer"] for r in rows], pa.int32()),
        "pooling": pa.array([r["pooling"] for r in rows], pa.string()),
        "n": pa.array([r["n"] for r in rows], pa.int64()),
        "k": pa.array([r["k"] for r in rows], pa.int32()),
        **{c: pa.array([r[c] for r in rows], pa.list_(pa.int64() if c.endswith("ids") else pa.float32()))
           for c in ("top_ids", "top_vals", "bot_ids", "bot_vals", "lo", "hi")},
    })
    return shard, partials


def _publish(table: pa.Table, shard_dir: Path, name: str) -> None:
    """Write to <shard_dir>/.incomplete/ and rename into place only when the file is whole."""
    tmp_dir = shard_dir / INCOMPLETE
    tmp_dir.mkdir(parents=True, exist_ok=True)
    tmp = tmp_dir / f"{name}.{uuid.uuid4().hex}"
    pq.write_table(table, tmp)
    os.replace(tmp, shard_dir / name)


class EncoderActor:
    """A Ray Data actor: one runner (one model) per actor, built once, then one shard per call."""

    def __init__(self, spec, shard_dir: str, k: int, cache=None, storage: str = "int16"):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from pipeline.models import make_runner, runner_info

        self.runner = make_runner(spec, cache)
        self.info = {**runner_info(self.runner), "layer_names": list(self.runner.layer_names),
                     "poolings": list(self.runner.poolings), "kind": self.runner.kind}
        self.shard_dir = Path(shard_dir)
        self.k = k
        self.storage = storage

    def __call__(self, batch: pd.DataFrame) -> pd.DataFrame:
        """One shard: a batch of plan rows (row, dataset, sentence_id, text) -> its manifest entry.

        The shard is named by its first plan row, so names stay unique however Ray cuts the blocks."""
        rows = batch.sort_values(["dataset", "sentence_id"], kind="stable")
        enc = self.runner.encode(rows["text"].tolist(), progress=False)
        shard, partials = shard_tables(rows, enc, self.runner.poolings, self.k, self.storage)
        name = f"shard-{int(batch['row'].min()):08d}"
        _publish(partials, self.shard_dir, f"{name}.partials.parquet")
        _publish(shard, self.shard_dir, f"{name}.parquet")  # last: a shard file implies its partials
        return pd.DataFrame([{"first_row": int(batch["row"].min()), "file": f"{name}.parquet",
                              "partials": f"{name}.partials.parquet", "rows": len(rows),
                              "datasets": json.dumps(rows["dataset"].value_counts().to_dict()),
                              "info": json.dumps(self.info)}])


# ---------------------------------------------------------------------------------------------------------
# The Ray side
# ---------------------------------------------------------------------------------------------------------

def connect(address: str | None = None, *, num_cpus: int | None = None) -> None:
    """Join the Ray cluster at ``address`` ("auto", "host:port", "ray://host:port"), or start a local one
    (``num_cpus`` CPUs) when address is None. A no-op when Ray is already initialised in this process (the
    caller's runtime_env must then make this checkout importable on the workers).

    An unreachable address is a one-line PipelineError naming --address.
    """
    try:
        import ray
    except ImportError:
        raise PipelineError("--engine ray: Ray is not installed (pip install -r pipeline/requirements-ray.txt)"
                            ) from None
    if ray.is_initialized():
        return
    env_vars = {k: os.environ[k] for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE",
                                           "TOKENIZERS_PARALLELISM") if k in os.environ}
    if address is None:
        # Our own local cluster: its workers run on this machine, so this checkout on their path is enough.
        path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
        runtime_env = {"env_vars": {**env_vars, "PYTHONPATH": path}}
    else:
        runtime_env = {"env_vars": env_vars, "py_modules": [str(ROOT / p) for p in CODE_PACKAGES]}
    _probe(address)
    try:
        if address is None:  # starting our own: no dashboard, quiet
            ray.init(num_cpus=num_cpus, runtime_env=runtime_env, include_dashboard=False, logging_level="WARNING")
        else:  # joining one: only what a Ray Client (ray://) connection also accepts
            ray.init(address=address, runtime_env=runtime_env)
    except Exception as e:  # ConnectionError, TimeoutError, RuntimeError, grpc errors: all "not reachable"
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:160]
        where = "a new local Ray instance" if address is None else repr(address)
        raise PipelineError(f"{ADDRESS_SETTING} {where}: could not connect to a Ray cluster ({first})") from None


def _probe(address: str | None, timeout: float = 5.0) -> None:
    """A TCP connect to a host:port address first: ray.init retries an unreachable GCS for minutes."""
    if address is None or address == "auto":
        return  # "auto" finds a local cluster from its session files, and fails fast when there is none
    hostport = address.removeprefix("ray://")
    host, sep, port = hostport.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise PipelineError(f"{ADDRESS_SETTING} {address!r}: expected auto, host:port or ray://host:port")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as e:
        raise PipelineError(f"{ADDRESS_SETTING} {address!r}: could not connect to a Ray cluster "
                            f"({e.strerror or f'no answer within {timeout:g} s'})") from None


def _pipeline_error_in(exc: BaseException) -> PipelineError | None:
    """A PipelineError raised in an actor reaches the driver wrapped in Ray's exceptions: find it, as an
    object in the chain (a task error) or as the last line of the remote traceback (an actor that died in
    its constructor, ``ActorDiedError``, carries only the text)."""
    seen, todo = set(), [exc]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, PipelineError):
            return e
        todo += [getattr(e, "cause", None), e.__cause__, e.__context__]
    marker = "PipelineError: "
    lines = [ln for ln in str(exc).splitlines() if marker in ln]
    return PipelineError(lines[-1].split(marker, 1)[1]) if lines else None


def plan_rows(texts_by_dataset: dict[str, list[str]]) -> pd.DataFrame:
    """Rows (row, dataset, sentence_id, text) of every dataset, sentence_id the position in its list.

    Sorted by character length (longest first), so that the contiguous runs of rows Ray cuts into shards
    hold texts of similar lengths and their batches little padding, as the local engine's length-sorted
    loop has.
    """
    frame = pd.DataFrame({
        "dataset": [name for name, texts in texts_by_dataset.items() for _ in texts],
        "sentence_id": np.concatenate([np.arange(len(t), dtype=np.int64) for t in texts_by_dataset.values()]
                                      or [np.zeros(0, np.int64)]),
        "text": [t for texts in texts_by_dataset.values() for t in texts],
    })
    order = np.argsort(-frame["text"].str.len().to_numpy(), kind="stable")
    frame = frame.iloc[order].reset_index(drop=True)
    frame.insert(0, "row", np.arange(len(frame), dtype=np.int64))
    return frame


def _clear(shard_dir: Path) -> None:
    """Remove a previous run's files: the manifest first, so that no crash in between leaves a manifest
    pointing at a mix of old and new shards."""
    (shard_dir / MANIFEST).unlink(missing_ok=True)
    for f in shard_dir.glob("shard-*.parquet"):
        f.unlink()
    shutil.rmtree(shard_dir / INCOMPLETE, ignore_errors=True)


def remove_shards(shard_dir) -> None:
    """Remove a run's shard files, manifest first (as ``_clear``), and the folder when nothing else is in it."""
    shard_dir = Path(shard_dir)
    if shard_dir.is_dir():
        _clear(shard_dir)
        with contextlib.suppress(OSError):
            shard_dir.rmdir()


def extract_with_ray(spec, texts_by_dataset: dict[str, list[str]], shard_dir, *, k: int = 50,
                     address: str | None = None, num_actors: int = 2, rows_per_shard: int = 512,
                     num_gpus_per_actor: float | str = "auto", num_cpus: int | None = None, cache=None,
                     progress: bool = True, storage: str = "int16") -> dict:
    """Encode every dataset's texts on a Ray actor pool into Parquet shards; returns the manifest (a dict,
    also written as <shard_dir>/manifest.json).

    spec: the run's ModelSpec (each actor builds ``make_runner(spec, cache)`` once; its own ``batch_size``
        is the model batch inside a shard). texts_by_dataset: dataset name -> texts, sentence_id = position.
    k: top-k / bottom-k kept per unit in the partials (cfg.topk), of the values as ``storage`` keeps them
        (cfg.storage.activations). rows_per_shard: at most this many rows per
        Ray block, shard file and ``encode`` call. num_gpus_per_actor: "auto" = 1 when the cluster has GPUs, else 0.
    address / num_cpus: see ``connect``.
    """
    import ray

    if not isinstance(num_actors, int) or isinstance(num_actors, bool) or num_actors < 1:
        raise PipelineError(f"--ray-actors: must be a positive integer, got {num_actors!r}")
    if not isinstance(rows_per_shard, int) or rows_per_shard < 1:
        raise PipelineError(f"rows_per_shard: must be a positive integer, got {rows_per_shard!r}")
    shard_dir = Path(shard_dir)
    try:
        shard_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise PipelineError(f"{SHARDS_SETTING} {shard_dir}: cannot create the folder ({e.strerror})") from None
    _clear(shard_dir)
    connect(address, num_cpus=num_cpus)
    if num_gpus_per_actor == "auto":
        num_gpus_per_actor = 1 if ray.cluster_resources().get("GPU", 0) >= 1 else 0
    plan = plan_rows(texts_by_dataset)
    n_shards = -(-len(plan) // rows_per_shard)
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = progress
    ctx.print_on_execution_start = progress
    results = []
    if n_shards:
        # from_items cuts the rows into n_shards contiguous blocks in the driver (from_pandas would start a
        # metadata task per block); batch_size=None hands each actor call one whole block: one shard.
        ds = ray.data.from_items(plan.to_dict("records"), override_num_blocks=n_shards)
        ds = ds.map_batches(
            EncoderActor, batch_size=None, batch_format="pandas",
            compute=ray.data.ActorPoolStrategy(size=num_actors),
            fn_constructor_kwargs={"spec": spec, "shard_dir": str(shard_dir.resolve()), "k": k,
                                   "cache": None if cache is None else str(cache), "storage": storage},
            num_cpus=1, num_gpus=num_gpus_per_actor or None)
        try:
            results = ds.take_all()
        except Exception as e:
            inner = _pipeline_error_in(e)
            if inner is not None:
                raise PipelineError(str(inner)) from None
            raise
    results.sort(key=lambda r: r["first_row"])
    if sum(int(r["rows"]) for r in results) != len(plan):
        raise PipelineError(f"{SHARDS_SETTING} {shard_dir}: the Ray run returned shards of "
                            f"{sum(int(r['rows']) for r in results)} rows, expected {len(plan)}")
    manifest = {
        "format": FORMAT_VERSION, "run_id": spec.run_id, "k": k, "storage": storage,
        "info": json.loads(results[0]["info"]) if results else None,
        "datasets": {name: len(texts) for name, texts in texts_by_dataset.items()},
        "shards": [{"file": r["file"], "partials": r["partials"], "rows": int(r["rows"]),
                    "datasets": json.loads(r["datasets"])} for r in results],
    }
    tmp = shard_dir / INCOMPLETE / f"{MANIFEST}.{uuid.uuid4().hex}"
    tmp.parent.mkdir(exist_ok=True)
    tmp.write_text(json.dumps(manifest, indent=1, sort_keys=True))
    os.replace(tmp, shard_dir / MANIFEST)
    return manifest


# ---------------------------------------------------------------------------------------------------------
# Merge
# ---------------------------------------------------------------------------------------------------------

@dataclass
class Merged:
    """One dataset's merged result.

    encoded:    what ``runner.encode`` gives (vectors float32 [n_layers, n_poolings, N, H], sentence_id order).
    topk:       (layer, pooling) -> (top_ids, top_vals, bottom_ids, bottom_vals), each [min(k, N), H]:
                ``neuron_extremes`` of that block, merged from the shards' partials.
    histograms: (layer, pooling) -> (lo float64 [H], hi float64 [H], counts int64 [H, bins]):
                ``value_histograms`` of that block, the shards counted on the merged range's bins and summed.
    """

    encoded: Encoded
    topk: dict
    histograms: dict
    storage: str = "float32"  # how write_merged stores the vectors (the partials' top-k are of those values)


def read_manifest(shard_dir) -> dict:
    shard_dir = Path(shard_dir)
    path = shard_dir / MANIFEST
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        raise PipelineError(f"{SHARDS_SETTING} {shard_dir}: no {MANIFEST} (the Ray extraction did not finish; "
                            f"run it again)") from None
    except (OSError, ValueError) as e:
        raise PipelineError(f"{SHARDS_SETTING} {shard_dir}: {MANIFEST} is unreadable ({e})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_VERSION:
        raise PipelineError(f"{SHARDS_SETTING} {shard_dir}: {MANIFEST} has an unknown format "
                            f"(expected {FORMAT_VERSION})")
    return manifest


def _read(path: Path, shard_dir: Path, rows: int | None = None) -> pa.Table:
    try:
        table = pq.read_table(path)
    except FileNotFoundError:
        raise PipelineError(f"{SHARDS_SETTING} {shard_dir}: shard {path.name} is missing (listed in {MANIFEST}; "
                            f"run the Ray extraction again)") from None
    except (OSError, pa.ArrowException) as e:
        first = (str(e).strip().splitlines() or [""])[0][:120]
        raise PipelineError(f"{SHARDS_SETTING} {shard_dir}: shard {path.name} is corrupt ({first}); "
                            f"run the Ray extraction again") from None
    if rows is not None and table.num_rows != rows:
        raise PipelineError(f"{SHARDS_SETTING} {shard_dir}: shard {path.name} has {table.num_rows} rows, "
                            f"{MANIFEST} says {rows}; run the Ray extraction again")
    return table


def merge_shards(shard_dir, k: int | None = None, bins: int = HIST_BINS) -> dict[str, Merged]:
    """Every dataset of a finished ``extract_with_ray`` run: dataset -> Merged.

    Two passes: the small partials files first (top-k merge, per-unit min/max merge), then each shard once
    (its vectors placed by sentence_id, its histogram counted on the merged bins). k: at most the k the
    shards were made with (default: that k). A missing or corrupt shard, a row count that disagrees with the
    manifest or a sentence missing or doubled: a one-line PipelineError naming the shard and --ray-shards.
    """
    shard_dir = Path(shard_dir)
    manifest = read_manifest(shard_dir)
    k = manifest["k"] if k is None else k
    if k > manifest["k"]:
        raise PipelineError(f"{SHARDS_SETTING} {shard_dir}: top-k {k} asked, the shards keep only "
                            f"{manifest['k']}; run the Ray extraction again with k >= {k}")
    info = manifest["info"]
    sizes = manifest["datasets"]
    if info is None:
        return {}
    n_layers, poolings, h = int(info["n_layers"]), list(info["poolings"]), int(info["hidden_size"])
    blocks = [(layer, pooling) for layer in range(n_layers) for pooling in poolings]

    # Pass 1: partials.
    top_parts: dict = {}
    range_parts: dict = {}
    for entry in manifest["shards"]:
        part = _read(shard_dir / entry["partials"], shard_dir)
        cols = part.to_pydict()
        for i, name in enumerate(cols["dataset"]):
            kk = cols["k"][i]
            key = (name, cols["layer"][i], cols["pooling"][i])

            def arr(c, dtype, kk=kk, i=i):
                return np.asarray(cols[c][i], dtype=dtype).reshape(kk, h)

            top_parts.setdefault(key, []).append((arr("top_ids", np.int64), arr("top_vals", np.float32),
                                                  arr("bot_ids", np.int64), arr("bot_vals", np.float32)))
            range_parts.setdefault(key, []).append((np.asarray(cols["lo"][i], np.float32),
                                                    np.asarray(cols["hi"][i], np.float32)))
    ranges = {key: merge_minmax(parts) for key, parts in range_parts.items()}

    # Pass 2: vectors and histogram counts, one shard at a time.
    out = {name: {"vectors": np.empty((n_layers, len(poolings), n, h), dtype=np.float32),
                  "seen": np.zeros(n, dtype=np.int64), "n_tokens": np.zeros(n, dtype=np.int64),
                  "truncated": np.zeros(n, dtype=bool), "tokens": [None] * n,
                  "counts": {b: np.zeros((h, bins), dtype=np.int64) for b in blocks}}
           for name, n in sizes.items()}
    for entry in manifest["shards"]:
        path = shard_dir / entry["file"]
        table = _read(path, shard_dir, entry["rows"])
        datasets = np.asarray(table.column("dataset").to_pylist(), dtype=object)
        ids = table.column("sentence_id").to_numpy()
        tokens, token_n = table.column("tokens").to_pylist(), table.column("token_n").to_pylist()
        for name in pd.unique(datasets):
            if name not in out:
                raise PipelineError(f"{SHARDS_SETTING} {shard_dir}: shard {path.name} holds dataset {name!r}, "
                                    f"which {MANIFEST} does not list")
            sel = np.flatnonzero(datasets == name)
            sid = ids[sel]
            o = out[name]
            if sid.size and (sid.min() < 0 or sid.max() >= len(o["seen"])):
                raise PipelineError(f"{SHARDS_SETTING} {shard_dir}: shard {path.name} has a {name} sentence id "
                                    f"outside 0..{len(o['seen']) - 1}")
            np.add.at(o["seen"], sid, 1)
            o["n_tokens"][sid] = table.column("n_tokens").to_numpy()[sel]
            o["truncated"][sid] = table.column("truncated").to_numpy(zero_copy_only=False)[sel]
            for j, s in zip(sel, sid):
                o["tokens"][s] = None if tokens[j] is None else Counter(dict(zip(tokens[j], token_n[j])))
            for b, (layer, pooling) in enumerate(blocks):
                x = _matrix(table.column(_vec_column(layer, pooling)), h, np.float32)[sel]
                o["vectors"][layer, poolings.index(pooling), sid] = x
                lo, hi = ranges[(name, layer, pooling)]
                o["counts"][(layer, pooling)] += shard_histogram_counts(x, lo, hi, bins)
    merged = {}
    for name, o in out.items():
        bad = np.flatnonzero(o["seen"] != 1)
        if bad.size:
            what = "missing" if o["seen"][bad[0]] == 0 else "in more than one shard"
            raise PipelineError(f"{SHARDS_SETTING} {shard_dir}: {name} sentence {int(bad[0])} is {what} "
                                f"({bad.size} such); run the Ray extraction again")
        counters = None if any(t is None for t in o["tokens"]) else o["tokens"]
        enc = Encoded(o["vectors"], o["n_tokens"], o["truncated"], counters)
        topk, hists = {}, {}
        for layer, pooling in blocks:
            key = (name, layer, pooling)
            topk[(layer, pooling)] = merge_topk(top_parts[key], k)
            lo, hi = ranges[key]
            hists[(layer, pooling)] = (lo.astype(np.float64), hi.astype(np.float64), o["counts"][(layer, pooling)])
        merged[name] = Merged(enc, topk, hists, manifest.get("storage", "float32"))
    return merged


def encode_with_ray(spec, texts_by_dataset: dict[str, list[str]], shard_dir, **kw) -> tuple[dict, dict]:
    """``extract_with_ray`` then ``merge_shards``: (manifest, dataset -> Merged). For the build loop: run it
    once per model over every dataset to encode, then use ``merged[name].encoded`` where the local engine
    uses ``runner.encode(texts)``."""
    manifest = extract_with_ray(spec, texts_by_dataset, shard_dir, **kw)
    return manifest, merge_shards(shard_dir)


def encode_dataset_ray(spec, texts: list[str], shard_dir, **kw) -> Encoded:
    """One dataset through Ray: the same ``Encoded`` as ``make_runner(spec).encode(texts)``."""
    _, merged = encode_with_ray(spec, {"data": list(texts)}, shard_dir, **kw)
    return merged["data"].encoded


# ---------------------------------------------------------------------------------------------------------
# Warehouse rows from merged results (the same tables as pipeline/stages/extract.py and histograms.py)
# ---------------------------------------------------------------------------------------------------------

def topk_rows(run_id: str, dataset: str, layer: int, pooling: str, extremes) -> pa.Table:
    """neuron_topk rows, as ``extract.topk_table`` makes them, from merged extremes (``Merged.topk``)."""
    from pipeline.stages.extract import _lists

    top_i, top_v, bot_i, bot_v = extremes
    h = top_i.shape[1]
    return pa.table({
        "run_id": pa.array([run_id] * 2 * h, pa.string()),
        "layer": pa.array(np.full(2 * h, layer, dtype=np.int32)),
        "pooling": pa.array([pooling] * 2 * h, pa.string()),
        "dataset": pa.array([dataset] * 2 * h, pa.string()),
        "unit": pa.array(np.tile(np.arange(h, dtype=np.int32), 2)),
        "side": pa.array(["top"] * h + ["bottom"] * h, pa.string()),
        "sentence_ids": _lists(np.concatenate([top_i.T, bot_i.T]), np.int32),
        "vals": _lists(np.concatenate([top_v.T, bot_v.T]), np.float32),
    })


def histogram_rows_merged(run_id: str, layer: int, pooling: str, dataset: str, merged: Merged,
                          random_pos: np.ndarray) -> pa.Table:
    """neuron_histograms rows, as ``stages.histograms.histogram_rows`` makes them, from a Merged result."""
    from pipeline.stages.extract import _lists

    lo, hi, counts = merged.histograms[(layer, pooling)]
    x = merged.encoded.vectors[layer, list(_poolings(merged)).index(pooling)]
    h = x.shape[1]
    return pa.table({
        "run_id": pa.array([run_id] * h, pa.string()),
        "layer": pa.array(np.full(h, layer, dtype=np.int32)),
        "pooling": pa.array([pooling] * h, pa.string()),
        "dataset": pa.array([dataset] * h, pa.string()),
        "unit": pa.array(np.arange(h, dtype=np.int32)),
        "lo": pa.array(lo),
        "hi": pa.array(hi),
        "counts": _lists(counts, np.int32),
        "random_vals": _lists(x[random_pos].T, np.float32),
    })


def _poolings(merged: Merged) -> list[str]:
    seen = []
    for _, pooling in merged.topk:
        if pooling not in seen:
            seen.append(pooling)
    return seen


def write_merged(con, run_id: str, dataset: str, merged: Merged) -> int:
    """``extract.write_extraction`` for a Merged result: activations, sentence_lengths and sentence_tokens
    from ``merged.encoded``, neuron_topk from the merged partials. Returns the number of activation rows."""
    from pipeline.stages.extract import activation_table, insert_activations, token_frame

    enc = merged.encoded
    poolings = _poolings(merged)
    blocks, tops = [], []
    for layer in range(enc.vectors.shape[0]):
        for p, pooling in enumerate(poolings):
            blocks.append(activation_table(run_id, dataset, layer, pooling, enc.vectors[layer, p], merged.storage))
            tops.append(topk_rows(run_id, dataset, layer, pooling, merged.topk[(layer, pooling)]))
    rows = insert_activations(con, blocks)
    topk = pa.concat_tables(tops)  # noqa: F841
    con.execute("insert into neuron_topk select * from topk")
    lengths = pd.DataFrame({"run_id": run_id, "dataset": dataset,  # noqa: F841
                            "sentence_id": np.arange(len(enc.n_tokens), dtype=np.int32),
                            "n_tokens": enc.n_tokens.astype(np.int32), "truncated": enc.truncated})
    con.execute("insert into sentence_lengths select * from lengths")
    tokens = token_frame(run_id, dataset, enc)  # noqa: F841
    con.execute("insert into sentence_tokens select * from tokens")
    return rows
