"""Explanation transfer (analysis.transfer, pipeline/stages/quantiles.py) at the demo's shape, each next to a
per-unit / per-example Python loop measured in the same run.

    python -m benchmarks.bench_transfer [--loop-units 24] [--resamples 999] [--no-footprint]

Synthetic data of the demo's shape (no warehouse needed): the six demo datasets' sizes (33,891 sentences), random
texts of 6-24 words from a Zipf vocabulary of 5,000 words, and float32 activations, 384 units (MiniLM) and 128
(textgenrnn), with a per-unit offset; unit 0 is raised by 3 where the regex matches on four datasets, not on
tweets and news, so its explanation should hold on those four and break on the other two. Measured:
- the quantiles stage's work on MiniLM's last layer x 2 poolings and textgenrnn's last layer x 2 poolings (the
  default [quantiles] layers = [-1]): rows, seconds, and the bytes of the two tables in a compacted DuckDB file
  (the value column is random float32, so it compresses as badly as real activations);
- the page: one explanation (a regex) on one unit's held-out examples of every dataset: the regex, the detection
  scores and transfer_table (F1 bootstrap, drop bootstrap and permutation test per dataset, --resamples each);
  next to the same with a Python loop over examples and resamples (random.choices per resample);
- one explanation on every unit of the layer and every dataset (384 x 6 x 11 groups): the regex once per
  sentence, then detection_scores (one bincount); next to a per-unit loop that runs the regex on each example
  and calls sklearn's precision/recall/f1 per (unit, dataset, quantile), over --loop-units units scaled to 384;
  the two agree exactly (checked).
"""
from __future__ import annotations

import argparse
import os
import random
import re
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

SIZES = {"movies": 10_605, "amazon": 3_708, "nyt": 5_190, "tweets": 4_200, "wiki": 8_000, "news": 2_188}
RUNS = (("minilm", 6, 384, ("cls", "mean")), ("textgenrnn", 3, 128, ("final", "mean")))
REGEX = r"\b(w20|w30|w40)\b"  # in about a fifth of the sentences
PLANTED = ("movies", "amazon", "nyt", "wiki")  # unit 0 follows the regex here, not on tweets and news


def texts_of(n: int, rng) -> list[str]:
    ranks = np.arange(1, 5001)
    p = 1 / ranks / (1 / ranks).sum()
    lengths = rng.integers(6, 25, n)
    words = rng.choice(5000, size=int(lengths.sum()), p=p)
    out, at = [], 0
    for m in lengths:
        out.append(" ".join(f"w{w}" for w in words[at:at + m]))
        at += m
    return out


def layer(h: int, rng) -> dict[str, np.ndarray]:
    return {d: (rng.standard_normal((n, h)) + rng.standard_normal(h)).astype(np.float32) for d, n in SIZES.items()}


def footprint() -> None:
    import duckdb
    import pyarrow as pa

    import warehouse
    from pipeline.stages.quantiles import QuantilesConfig, block_rows

    c = QuantilesConfig()
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        path, compact = Path(tmp) / "q.duckdb", Path(tmp) / "q.compact.duckdb"
        con = duckdb.connect(str(path))
        con.execute((warehouse.SCHEMA_DIR / "011_quantiles.sql").read_text())
        rows, stats_rows, t_stage = 0, 0, 0.0
        for run, last, h, poolings in RUNS:
            for pooling in poolings:
                for d, x in layer(h, rng).items():
                    t = time.perf_counter()
                    ex, st = block_rows(run, last, pooling, d, x, np.arange(len(x)), c.per_quantile, c.non_activating,
                                        c.seed)
                    t_stage += time.perf_counter() - t
                    e, s = pa.Table.from_pandas(ex, preserve_index=False), pa.Table.from_pandas(st, preserve_index=False)
                    con.execute("insert into quantile_examples select * from e")
                    con.execute("insert into quantile_stats select * from s")
                    rows, stats_rows = rows + len(ex), stats_rows + len(st)
        con.execute("checkpoint")
        warehouse.compact_copy(con, compact)
        con.close()
        size = compact.stat().st_size
        empty = Path(tmp) / "empty.duckdb"
        e = duckdb.connect(str(empty))
        e.execute((warehouse.SCHEMA_DIR / "011_quantiles.sql").read_text())
        e.close()
        base = empty.stat().st_size
    print(f"quantiles stage, demo shape (per_quantile {c.per_quantile}, non_activating {c.non_activating}, last layer x "
          f"2 poolings of minilm and textgenrnn): {rows:,} example rows + {stats_rows:,} stats rows in {t_stage:.1f} s; "
          f"{(size - base) / 1e6:.1f} MB in a compacted DuckDB file ({size / 1e6:.1f} MB with an empty schema's "
          f"{base / 1e6:.1f} MB)")


def _loop_interval(c: list[int], resamples: int, stat) -> tuple[float, float]:
    vals = sorted(stat(random.choices(c, k=len(c))) for _ in range(resamples))
    return vals[int(0.025 * resamples)], vals[int(0.975 * resamples) - 1]


def _loop_f1(c) -> float:
    tp = sum(1 for v in c if v == 3)
    fp = sum(1 for v in c if v == 1)
    fn = sum(1 for v in c if v == 2)
    return 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0


def main() -> None:
    from sklearn.metrics import f1_score, precision_score, recall_score

    from analysis import transfer as tr
    from analysis.illusion import concept_hits

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--loop-units", type=int, default=24)
    ap.add_argument("--resamples", type=int, default=999)
    ap.add_argument("--no-footprint", action="store_true")
    args = ap.parse_args()
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at start")
    if not args.no_footprint:
        footprint()
    rng = np.random.default_rng(1)
    texts = {d: texts_of(n, rng) for d, n in SIZES.items()}
    x = layer(384, rng)
    for d in PLANTED:
        x[d][:, 0] += 3 * concept_hits(texts[d], regex=REGEX)
    t = time.perf_counter()
    samples = []
    for d, block in x.items():
        for unit in range(384):
            s = tr.quantile_sample(block[:, unit], 8, 80, tr.sample_seed(0, d, 6, "cls", unit))
            samples.append(s[s["heldout"]].assign(dataset=d, unit=unit))
    held = pd.concat(samples, ignore_index=True)
    print(f"held-out examples: {len(held):,} ({len(held) // (384 * len(SIZES))} per unit and dataset; drawn in "
          f"{time.perf_counter() - t:.1f} s)")

    # --- the page: one unit, every dataset ---
    one = held[held["unit"] == 0].copy()
    one["text"] = [texts[d][i] for d, i in zip(one["dataset"], one["position"])]
    t = time.perf_counter()
    one["hit"] = concept_hits(one["text"].tolist(), regex=REGEX)
    table = tr.transfer_table(one, "movies", n_resamples=args.resamples)
    t_page = time.perf_counter() - t
    t = time.perf_counter()
    pat = re.compile(REGEX, re.IGNORECASE)
    codes = {d: [2 * (q > 0) + (pat.search(s) is not None) for q, s in zip(g["quantile"], g["text"])]
             for d, g in one.groupby("dataset")}
    for d, c in codes.items():
        _loop_interval(c, args.resamples, _loop_f1)
        ca = codes["movies"]
        _loop_interval(list(range(len(ca) + len(c))), args.resamples,
                       lambda idx, c=c, ca=ca: _loop_f1([c[i - len(ca)] if i >= len(ca) else ca[i] for i in idx]))
        pooled = ca + c
        for _ in range(args.resamples):
            random.shuffle(pooled)
            _loop_f1(pooled[len(ca):]) - _loop_f1(pooled[:len(ca)])
    t_page_loop = time.perf_counter() - t
    print(f"one explanation, one unit, {len(SIZES)} datasets ({len(one)} held-out examples, {args.resamples} "
          f"resamples): ours {t_page * 1e3:.0f} ms; Python loop over examples and resamples {t_page_loop * 1e3:.0f} ms "
          f"({t_page_loop / t_page:.1f}x); verdicts {dict(zip(table['dataset'], table['verdict']))}")

    # --- every unit of the layer ---
    t = time.perf_counter()
    sentence_hits = {d: concept_hits(texts[d], regex=REGEX) for d in SIZES}
    held["hit"] = np.concatenate([sentence_hits[d][g["position"].to_numpy()] for d, g in held.groupby("dataset",
                                                                                                     sort=False)])
    scores = tr.detection_scores(held, by=("unit", "dataset"))
    t_all = time.perf_counter() - t
    m = args.loop_units
    groups = dict(list(held[held["unit"] < m].groupby(["unit", "dataset"])))
    t = time.perf_counter()
    loop = {}
    for (unit, d), g in groups.items():
        hit = np.array([pat.search(texts[d][i]) is not None for i in g["position"]])
        q = g["quantile"].to_numpy()
        for k in ["all"] + [str(v) for v in range(1, 11)]:
            keep = np.ones(len(g), bool) if k == "all" else (q == 0) | (q == int(k))
            y = q[keep] > 0
            if y.any():
                loop[unit, d, k] = (precision_score(y, hit[keep], zero_division=0),
                                    recall_score(y, hit[keep], zero_division=0), f1_score(y, hit[keep], zero_division=0))
    t_loop = (time.perf_counter() - t) * 384 / m
    ours = scores[scores["unit"] < m].set_index(["unit", "dataset", "quantile"])[["precision", "recall", "f1"]]
    worst = max(np.abs(np.array(v) - ours.loc[k].to_numpy()).max() for k, v in loop.items())
    assert len(loop) == len(ours)
    print(f"one explanation, every unit (384) x {len(SIZES)} datasets x 11 groups ({len(scores):,} rows): ours "
          f"{t_all:.2f} s (the regex on {sum(SIZES.values()):,} sentences, then one bincount); per-unit loop with "
          f"sklearn {t_loop:.1f} s (measured on {m} units, scaled x{384 / m:.0f}; {t_loop / t_all:.0f}x); max |F1 ours "
          f"- sklearn| {worst:.1e}")
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB; load average "
          f"{os.getloadavg()[0]:.2f} at end")


if __name__ == "__main__":
    main()
