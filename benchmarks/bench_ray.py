"""The Ray Data engine vs the local engine on one machine: sentences/s and the merge's share.

    python -m benchmarks.bench_ray [--n 6000] [--actors 1,2] [--rows-per-shard 512]

The same n real demo sentences (n/4 from each of movies, amazon, nyt, tweets, as bench_extract), the packaged
all-MiniLM-L6-v2, every layer, CLS + mean, top-k 50:

- local: runner.encode             ``make_runner(spec).encode(texts)`` per dataset (the local build's
                                   extraction), model already loaded; plus neuron_extremes and
                                   value_histograms of every block (what the local build computes on them)
- ray, A actors: extract           ``extract_with_ray`` on a local cluster (``ray.init(num_cpus=2)``, started
                                   once before the timings): actor start-up and model load in each actor,
                                   encoding, shard and partials files, the manifest
- ray, A actors: merge             ``merge_shards``: partials merged, shards read, vectors placed, histograms
                                   counted on the merged bins
The merge's share is merge / (extract + merge). The fixed cost of a Ray run (actor start, model load in each
actor, a one-text-per-actor run and its merge) is measured separately and shown with the throughput
without it, since it does not grow with n. Each Ray row's merged vectors are checked against the local
ones (max |difference|), and its merged top-k against neuron_extremes of the merged vectors.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402

from benchmarks.bench_extract import demo_specs, model_specs  # noqa: E402

K = 50


def demo_texts(n: int) -> dict[str, list[str]]:
    from pipeline.corpora import load_dataset

    out = {s.name: load_dataset(s).frame["text"].tolist() for s in demo_specs(n)}
    got = sum(map(len, out.values()))
    if got != n:
        raise SystemExit(f"the demo corpora gave {got} sentences, asked for {n} (run `python -m pipeline fetch`)")
    return out


def local_summaries(enc) -> None:
    from analysis.drift import value_histograms
    from analysis.extremes import neuron_extremes

    for layer in range(enc.vectors.shape[0]):
        for p in range(enc.vectors.shape[1]):
            neuron_extremes(enc.vectors[layer, p], K)
            value_histograms(enc.vectors[layer, p])


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=6000, help="sentences in total, n/4 from each demo corpus")
    ap.add_argument("--actors", default="1,2", help="actor pool sizes to time, comma-separated")
    ap.add_argument("--rows-per-shard", type=int, default=512)
    args = ap.parse_args(argv)
    actors = [int(a) for a in args.actors.split(",")]

    import torch

    from analysis.extremes import neuron_extremes
    from pipeline.engines.ray_engine import connect, extract_with_ray, merge_shards
    from pipeline.models import make_runner

    spec = model_specs()[0]
    texts = demo_texts(args.n)
    print(f"load average at start: {os.getloadavg()}  (nproc {os.cpu_count()}, torch threads "
          f"{torch.get_num_threads()}, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')})")
    rows = []
    runner = make_runner(spec)
    runner.encode(["a warm-up sentence"] * 4)
    t = time.perf_counter()
    local = {name: runner.encode(v) for name, v in texts.items()}
    t_enc = time.perf_counter() - t
    t = time.perf_counter()
    for enc in local.values():
        local_summaries(enc)
    t_sum = time.perf_counter() - t
    rows.append(("local: runner.encode", t_enc, None, None))
    rows.append(("local: encode + top-k + histograms", t_enc + t_sum, None, None))
    del runner

    t = time.perf_counter()
    connect(num_cpus=2)
    t_cluster = time.perf_counter() - t
    import ray

    checks = []
    fixed: dict[int, float] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="illusion-bench-ray-") as tmp:
            for a in actors:
                # The fixed cost of a run: actors started, models loaded, one text each, merged.
                t = time.perf_counter()
                extract_with_ray(spec, {"warm": ["a sentence"] * a}, Path(tmp) / f"fixed{a}", k=K, num_actors=a,
                                 rows_per_shard=1, progress=False)
                merge_shards(Path(tmp) / f"fixed{a}")
                fixed[a] = time.perf_counter() - t
                shard_dir = Path(tmp) / f"a{a}"
                t = time.perf_counter()
                extract_with_ray(spec, texts, shard_dir, k=K, num_actors=a, rows_per_shard=args.rows_per_shard,
                                 progress=False)
                t_ext = time.perf_counter() - t
                t = time.perf_counter()
                merged = merge_shards(shard_dir)
                t_merge = time.perf_counter() - t
                rows.append((f"ray, {a} actor{'s' if a > 1 else ''}: extract + merge", t_ext + t_merge, t_ext,
                             t_merge))
                diff = max(float(np.abs(merged[n].encoded.vectors - local[n].vectors).max()) for n in texts)
                name = next(iter(texts))
                last = merged[name].encoded.vectors.shape[0] - 1
                x = merged[name].encoded.vectors[last, 1]
                same = all(np.array_equal(g, w)
                           for g, w in zip(merged[name].topk[(last, "mean")], neuron_extremes(x, K)))
                checks.append((a, diff, same))
                del merged
    finally:
        ray.shutdown()

    n = args.n
    print(f"\n{n} sentences, {len(texts)} datasets, {spec.path}, max_length {spec.max_length}, model batch "
          f"{spec.batch_size}, {args.rows_per_shard} rows per shard; Ray cluster start {t_cluster:.1f} s (not "
          f"counted)")
    print(f"{'method':<40} {'seconds':>8} {'sent/s':>8} {'vs local':>9} {'merge share':>12}")
    base = rows[1][1]
    for label, total, ext, merge in rows:
        share = f"{merge / total:.1%}" if merge is not None else ""
        print(f"{label:<40} {total:8.2f} {n / total:8.1f} {base / total:8.2f}x {share:>12}")
    for a, t_fixed in fixed.items():
        total = next(r[1] for r in rows if r[0].startswith(f"ray, {a} actor"))
        print(f"ray, {a} actor(s): fixed cost of a run (actors, model loads, {a} text(s)) {t_fixed:.1f} s; "
              f"without it {n / max(total - t_fixed, 1e-9):.1f} sent/s")
    for a, diff, same in checks:
        print(f"check, {a} actor(s): max |ray - local| over every vector {diff:.2e}; merged top-k of the last "
              f"layer's mean == neuron_extremes: {same}")
    print(f"load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
