"""The distribution-shift page's layer table (analysis.shift.layer_shift): KS and Wasserstein of every unit of a
layer between two datasets, vectorised over the units, next to the per-unit scipy loop in the same run.

    python -m benchmarks.bench_shift [--n-sentences 50000] [--hidden 768] [--share-a 0.5] [--loop-units N]

One synthetic layer: --n-sentences x --hidden float32 (standard normal; dataset B shifted and rescaled per unit,
so the statistics are not all zero), split into dataset A (--share-a of the rows) and B. Times, on the same
arrays:
- ours: layer_shift (one sort per block of units; KS D and W from the merged CDFs; the limiting Kolmogorov
  p-value), then its statistics and its p-values again, each alone;
- the loop: scipy.stats.ks_2samp (default method) and scipy.stats.wasserstein_distance per unit, each timed,
  over the first --loop-units units (default all), scaled to all units when fewer (it is linear in the units);
- the largest difference between the two in D and W over the units both computed.
"""
from __future__ import annotations

import argparse
import os
import resource
import time

import numpy as np


def synthetic(n: int, h: int, share_a: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    na = int(round(n * share_a))
    a = rng.standard_normal((na, h), dtype=np.float32)
    b = rng.standard_normal((n - na, h), dtype=np.float32) * rng.uniform(0.8, 1.25, h).astype(np.float32)
    b += rng.normal(0, 0.05, h).astype(np.float32)
    return a, b


def main() -> None:
    from scipy import special

    from analysis import shift

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-sentences", type=int, default=50_000)
    ap.add_argument("--hidden", type=int, default=768)
    ap.add_argument("--share-a", type=float, default=0.5)
    ap.add_argument("--loop-units", type=int, default=None, help="units the scipy loop runs on (default: all)")
    ap.add_argument("--block", type=int, default=64)
    args = ap.parse_args()
    a, b = synthetic(args.n_sentences, args.hidden, args.share_a)
    h = args.hidden
    print(f"layer: {len(a):,} (A) + {len(b):,} (B) sentences x {h} units, float32; block {args.block}; "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at start")

    t = time.perf_counter()
    table = shift.layer_shift(a, b, block=args.block)
    t_ours = time.perf_counter() - t
    # the same again in its two parts (separate passes, so they need not add up to the line above under load)
    t = time.perf_counter()
    d = np.empty(h)
    for j in range(0, h, args.block):
        d[j:j + args.block] = shift._block_shift(a[:, j:j + args.block], b[:, j:j + args.block])[0]
    t_stats = time.perf_counter() - t
    t = time.perf_counter()
    special.kolmogorov(d * np.sqrt(len(a) * len(b) / (len(a) + len(b))))
    t_p = time.perf_counter() - t

    from scipy import stats

    m = min(args.loop_units or h, h)
    loop_d, loop_w, t_ks, t_w = np.empty(m), np.empty(m), 0.0, 0.0
    for j in range(m):
        t = time.perf_counter()
        loop_d[j] = stats.ks_2samp(a[:, j], b[:, j]).statistic
        t_ks += time.perf_counter() - t
        t = time.perf_counter()
        loop_w[j] = stats.wasserstein_distance(a[:, j], b[:, j])
        t_w += time.perf_counter() - t
    scale = h / m
    t_loop_all = (t_ks + t_w) * scale

    print(f"ours, layer_shift (whole table):     {t_ours:8.2f} s  ({t_ours / h * 1e3:6.2f} ms per unit)")
    print(f"  KS D + Wasserstein alone:          {t_stats:8.2f} s")
    print(f"  p-values alone (kolmogorov):       {t_p:8.4f} s")
    print(f"scipy loop, ks_2samp + wasserstein:  {t_loop_all:8.2f} s  ({(t_ks + t_w) / m * 1e3:6.2f} ms per unit"
          + (f"; measured on {m} units, scaled x{scale:.1f})" if m < h else ")"))
    print(f"  of which ks_2samp (its p-value):   {t_ks * scale:8.2f} s  ({t_ks / m * 1e3:6.2f} ms per unit)")
    print(f"  of which wasserstein_distance:     {t_w * scale:8.2f} s  ({t_w / m * 1e3:6.2f} ms per unit)")
    print(f"speed-up: {t_loop_all / t_ours:.1f}x")
    print(f"max |D ours - D scipy| over {m} units: {np.abs(table['ks'][:m] - loop_d).max():.2e}; "
          f"max |W ours - W scipy|: {np.abs(table['wasserstein'][:m] - loop_w).max():.2e}")
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB; "
          f"load average {os.getloadavg()[0]:.2f} at end")


if __name__ == "__main__":
    main()
