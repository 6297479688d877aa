"""The direction null of the illusion score (analysis.illusion_null) at the paper's scale, next to today's score.

    python -m benchmarks.bench_illusion_null [--n-sentences 624712] [--hidden 768] [--datasets 6]
                                             [--n-null 1000] [--kind gaussian] [--k 10] [--block N]

One synthetic layer: --n-sentences x --hidden float32 (standard normal plus a per-dataset offset, so the
datasets are separable as real ones are), split into --datasets equal contiguous datasets, as
warehouse.queries.layer_matrix returns a layer. Times, in one run and on the same array:
- baseline: today's score, analysis.illusion.illusion_scores (top-k centroids against 20 random-sentence
  draws), what the layer-scores stage computes per layer x pooling now;
- the neurons' statistic, direction_consistency with the neuron basis (no matrix product);
- the null: null_consistency with --n-null directions of --kind;
- scoring: null_scores + null_summary;
- a floor for the null: the bare BLAS products x_D @ V.T for the same directions, no top-k or centroids.
The stage's extra time per layer x pooling is neurons + null + scoring. The null grows as N * H * n_null (the
products) plus N * n_null (the partitions), so it is linear in each of N and n_null.
"""
from __future__ import annotations

import argparse
import os
import resource
import time
import tracemalloc

import numpy as np


def synthetic_layer(n: int, h: int, m: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """[n, h] float32 and [n] dataset names d0..d{m-1} in contiguous blocks of (nearly) equal size."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, h), dtype=np.float32)
    bounds = np.linspace(0, n, m + 1).astype(int)
    names = np.empty(n, dtype=object)
    for i in range(m):
        x[bounds[i]:bounds[i + 1]] += rng.standard_normal(h).astype(np.float32) * 0.5
        names[bounds[i]:bounds[i + 1]] = f"d{i}"
    return x, names.astype(str)


def _timed(fn, *args, **kwargs):
    t = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t


def main() -> None:
    from analysis.illusion import illusion_scores
    from analysis.illusion_null import (direction_consistency, null_consistency, null_directions, null_scores,
                                        null_summary)

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-sentences", type=int, default=624_712)
    ap.add_argument("--hidden", type=int, default=768)
    ap.add_argument("--datasets", type=int, default=6)
    ap.add_argument("--n-null", type=int, default=1000)
    ap.add_argument("--kind", default="gaussian", choices=("gaussian", "rotation"))
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--block", type=int, default=None, help="directions per block (default: bounded memory)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if args.n_sentences < 2 * args.datasets or args.datasets < 2 or args.n_null < 2:
        ap.error("need --datasets >= 2, --n-sentences >= 2 per dataset and --n-null >= 2")

    print(f"load average at start {os.getloadavg()[0]:.2f}; OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '-')}")
    x, names = synthetic_layer(args.n_sentences, args.hidden, args.datasets, args.seed)
    data_mb = x.nbytes / 2**20
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    _, today = _timed(illusion_scores, x, names, k=args.k)
    stat, neurons = _timed(direction_consistency, x, names, None, args.k, block=args.block)
    tracemalloc.start()   # numpy reports its buffers to tracemalloc: the null's own working memory
    null, t_null = _timed(null_consistency, x, names, args.n_null, args.kind, args.k, args.seed, args.block)
    null_peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t = time.perf_counter()
    scores = null_scores(stat, null)
    summary = null_summary(scores, int(np.isfinite(null).sum()))
    scoring = time.perf_counter() - t

    directions = null_directions(args.hidden, args.n_null, args.kind, args.seed).astype(np.float32)
    step = args.block or max(1, (1 << 22) // (args.n_sentences // args.datasets + 1))
    bounds = np.linspace(0, args.n_sentences, args.datasets + 1).astype(int)
    t = time.perf_counter()
    for lo in range(0, args.n_null, step):
        for i in range(args.datasets):
            _ = directions[lo:lo + step] @ x[bounds[i]:bounds[i + 1]].T
    floor = time.perf_counter() - t
    del _

    added = neurons + t_null + scoring
    print(f"one layer: {args.n_sentences:,} x {args.hidden} float32 ({data_mb:,.0f} MB) in {args.datasets} datasets,"
          f" k = {args.k}, {args.n_null:,} {args.kind} directions")
    print(f"{'step':62s} {'seconds':>8s}")
    print(f"{'baseline: today illusion_scores (20 random-sentence draws)':62s} {today:8.2f}")
    print(f"{'neurons: direction_consistency, neuron basis':62s} {neurons:8.2f}")
    print(f"{'null: null_consistency, ' + f'{args.n_null:,} directions':62s} {t_null:8.2f}")
    print(f"{'scores: null_scores + null_summary':62s} {scoring:8.3f}")
    print(f"{'  floor: the bare products x_D @ V.T for the null directions':62s} {floor:8.2f}")
    print(f"{'layer-scores stage per layer x pooling, illusion part: today':62s} {today:8.2f}")
    print(f"{'  with the direction null added (today + neurons + null + scores)':62s} {today + added:8.2f}"
          f"  ({(today + added) / today:.1f}x)")
    print(f"memory: the null allocated at most {null_peak:,.0f} MB at once beyond the layer ({data_mb:,.0f} MB); "
          f"peak RSS {rss0:,.0f} MB before any scoring, {rss1:,.0f} MB after (today's score included)")
    print(f"check: {summary['verdict']}; null mean {scores['null_mean'][0]:.4f}, std {scores['null_std'][0]:.4f}")
    print(f"load average at end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
