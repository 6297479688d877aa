"""Sentiment-neuron suite on SST-2: the batched solver vs a sequential sklearn loop, measured in the same run.

    python -m benchmarks.bench_sentiment [--warehouse W] [--penalties l1 l2] [--sample 6]

Without --warehouse the features come from <cache>/bench/sentiment-sst2.duckdb, built on first use (the
command below); without ../shared/data the benchmark prints that it is skipped.

The suite (pipeline.methods.sentiment_protocol.run_suite) for one (dataset, feature set, penalty): the all-units
and SN-deleted classifiers over the C grid, every unit alone over the grid, every single-unit ablation, the
cumulative ablation and 1,000 random 100-unit subsets. Two feature sets, as the issue's speed bar asks:
MiniLM's last-layer [CLS] (H = 384) and the textgenrnn LSTM's cell states of both layers, final pooling
(lstm1.cell + lstm2.cell, H = 256).

Features come from a warehouse holding the research preset sst2 for both runs, e.g.

    python -m pipeline build --dataset name=sst2,source=research,path=sst2 --warehouse /tmp/senti/w.duckdb \\
        --set sentiment.enabled=false --svm-per-dataset 0 --umap-per-dataset 0

Baseline in the same run: sklearn's LogisticRegression fitted one problem at a time (lbfgs for L2, liblinear
for L1 as in Radford et al.'s code), on a sample of each family's problems (``--sample`` per family),
extrapolated to the family's size. The same sample gives the accuracy agreement (batched vs sklearn).
"""
from __future__ import annotations

import argparse
import os
import time
import warnings

import numpy as np


def features(path: str):
    """{name: (x [n, H], y [n])} for MiniLM [CLS] and the LSTM's final cell states on SST-2."""
    import duckdb

    from pipeline.methods import sentiment_protocol as P
    from warehouse import queries

    con = duckdb.connect(path, read_only=True)
    try:
        labels = con.execute("select label from sentences where dataset = 'sst2' order by sentence_id").df()
        y = P.binarise(labels["label"].to_numpy(dtype=float), "binary")
        runs = dict(con.execute("select run_id, model_kind from runs").fetchall())
        out = {}
        for run_id, kind in runs.items():
            layers = queries.layers(con, run_id)
            if kind == "lstm":
                ids = [int(layers.set_index("name").loc[n, "layer"]) for n in ("lstm1.cell", "lstm2.cell")]
                x = np.hstack([queries.layer_matrix(con, run_id, i, "final", ["sst2"])[0] for i in ids])
                out[f"{run_id} lstm1.cell+lstm2.cell final (H={x.shape[1]})"] = x
            else:
                last = int(layers["layer"].max())
                x = queries.layer_matrix(con, run_id, last, "cls", ["sst2"])[0]
                out[f"{run_id} layer {last} [CLS] (H={x.shape[1]})"] = x
    finally:
        con.close()
    keep = ~np.isnan(y)
    return {name: (x[keep], y[keep].astype(np.int64)) for name, x in out.items()}


def ensure_warehouse() -> str | None:
    """The default feature warehouse: SST-2 through both runs (MiniLM and the LSTM), built once into
    <cache>/bench/sentiment-sst2.duckdb with the per-run stages off; None without ../shared/data."""
    import subprocess
    import sys

    from pipeline.corpora.fetch import cache_dir
    from pipeline.corpora.research import research_root

    if research_root() is None:
        return None
    path = cache_dir() / "bench" / "sentiment-sst2.duckdb"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        off = [a for s in ("sentiment", "anisotropy", "token_states", "attention")
               for a in ("--set", f"{s}.enabled=false")]
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "pipeline", "build", "--dataset", "name=sst2,source=research,path=sst2",
                        "--warehouse", str(path), "--svm-per-dataset", "0", "--umap-per-dataset", "0", "--quiet",
                        *off], check=True)
        print(f"built the SST-2 feature warehouse {path} in {time.perf_counter() - t:.0f} s (not part of the figures)")
    return str(path)


def sk_model(c: float, penalty: str):
    from sklearn.linear_model import LogisticRegression

    if penalty == "l2":
        return LogisticRegression(C=c, l1_ratio=0.0, solver="lbfgs", max_iter=1000)
    # liblinear penalises the intercept as one more weight; scaling its column by 100 makes that penalty
    # negligible, so the objective is ours (and sklearn's other solvers')
    return LogisticRegression(C=c, l1_ratio=1.0, solver="liblinear", intercept_scaling=100, max_iter=1000)


def sk_time(data, cols_list, c_values, penalty):
    """Fit each (columns, C) one at a time with sklearn; returns (seconds per fit, test accuracies)."""
    from sklearn.exceptions import ConvergenceWarning

    accs = []
    t = time.perf_counter()
    n = 0
    for cols, c in zip(cols_list, c_values):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            m = sk_model(c, penalty).fit(data.x["train"][:, cols], data.y["train"])
        accs.append(m.score(data.x["test"][:, cols], data.y["test"]))
        n += 1
    return (time.perf_counter() - t) / max(n, 1), np.array(accs)


def bench(name, x, y, penalty, grid, sample, rng):
    from pipeline.methods import sentiment_protocol as P

    splits = P.split(len(y), P.split_seed(0, "sst2"))
    data = P.Data.from_arrays(x, y, splits)
    h = data.n_units
    size = P.subset_size(100, h)
    times = {}
    last = [time.perf_counter()]

    def tick(step):
        now = time.perf_counter()
        times[step] = now - last[0]
        last[0] = now

    t0 = time.perf_counter()
    suite = P.run_suite(data, grid, penalty, 1000, size, [0, 9], progress=tick)
    total = time.perf_counter() - t0
    g = len(grid)
    c_all = suite.ablation_c
    order = suite.order
    pick = rng.choice(h, min(sample, h), replace=False)
    pick_cum = rng.choice(h - 1, min(sample, h - 1), replace=False)
    pick_sub = rng.choice(1000, sample, replace=False)
    # (family, number of sklearn fits in the sequential protocol, sample columns, C values, our accuracies)
    families = [
        ("all units", g, [np.arange(h)] * g, list(grid), None),
        ("SN deleted", g, [np.delete(np.arange(h), suite.sn)] * g, list(grid), None),
        ("single units", g * h, [[u] for u in pick], [float(suite.single.c[u]) for u in pick], suite.single.test[pick]),
        ("single-unit ablations", h, [np.delete(np.arange(h), u) for u in pick], [c_all] * len(pick),
         suite.ablation[pick]),
        ("cumulative ablation", h - 1, [np.sort(order[j + 1:]) for j in pick_cum], [c_all] * len(pick_cum),
         suite.cumulative[pick_cum]),
        ("random subsets", 1000 + 50 * g, [np.flatnonzero(suite.subsets[s]) for s in pick_sub],
         [suite.subset_c] * len(pick_sub), suite.subset_test[pick_sub]),
    ]
    print(f"\n{name}, {penalty.upper()}: n = {len(y):,} ({len(data.y['train']):,} train), C grid {len(grid)} values, "
          f"{size}-unit subsets")
    print(f"{'family':24s} {'fits':>6s} {'batched s':>10s} {'sklearn s/fit':>14s} {'sklearn s (extrap.)':>20s} "
          f"{'speed-up':>9s} {'max |acc diff|':>15s}")
    sk_total = 0.0
    worst = 0.0
    for family, fits, cols, cs, ours in families:
        per_fit, accs = sk_time(data, cols, cs, penalty)
        extrap = per_fit * fits
        sk_total += extrap
        diff = float(np.abs(accs - ours).max()) if ours is not None else float("nan")
        if ours is not None:
            worst = max(worst, diff)
        batched = times.get(family, float("nan"))
        print(f"{family:24s} {fits:6d} {batched:10.1f} {per_fit:14.3f} {extrap:20.1f} {extrap / batched:8.1f}x "
              f"{100 * diff:14.2f}pt")
    print(f"{'whole suite':24s} {'':6s} {total:10.1f} {'':14s} {sk_total:20.1f} {sk_total / total:8.1f}x "
          f"{100 * worst:14.2f}pt")
    print(f"  all units {100 * suite.all.test[0]:.2f}% (C {suite.all.c[0]:g}), SN unit {suite.sn}, "
          f"SN only {100 * suite.single.test[suite.sn]:.2f}%, SN deleted {100 * suite.sn_deleted.test[0]:.2f}%")
    return total, sk_total


def main() -> None:
    import torch

    ap = argparse.ArgumentParser()
    ap.add_argument("--warehouse", default=None,
                    help="a warehouse holding sst2 for both runs (default: built once into the data cache)")
    ap.add_argument("--penalties", nargs="+", default=["l1", "l2"])
    ap.add_argument("--sample", type=int, default=6, help="sklearn fits timed per family")
    args = ap.parse_args()
    from pipeline.stages.sentiment import SentimentConfig

    grid = SentimentConfig().c_grid
    print(f"load average at start {os.getloadavg()[0]:.2f}; torch threads {torch.get_num_threads()}; "
          f"{os.cpu_count()} CPUs")
    path = args.warehouse or ensure_warehouse()
    if path is None:
        print("skipped: the research data folder ../shared/data (SST-2) is not present")
        return
    rng = np.random.default_rng(0)
    for name, (x, y) in features(path).items():
        for penalty in args.penalties:
            bench(name, x, y, penalty, grid, args.sample, rng)
    print(f"\nload average at end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
