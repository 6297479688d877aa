"""Attention-cluster stage: the 1,379 STS-B test pairs, every block of MiniLM (6 x 12 heads).

    python -m benchmarks.bench_attention [--naive-sample 100] [--threads 2] [--ae-epochs 8] [--no-heads]

Ours: ``pipeline.stages.attention.run_stage`` with the default settings (length-sorted batches of 32 through the
eager-attention model, vectorised summary features of every head and block, PCA, the LSTM autoencoder per block,
the clustering grid and the tests, inserts into an in-memory warehouse), then the regression heads (encoding the
5,749 train and 1,379 test pairs once, four heads). Baseline in the same run: the naive per-pair loop, one model
call per pair (batch of 1) and ``analysis.attention.head_features`` per block on that pair's matrices, timed on a
seeded sample of pairs and extrapolated to all 1,379, against our batched model + features step timed alone
(the autoencoder and clustering cost the same either way and are reported as the rest of the stage).
Needs ../shared/data/stsb; prints a note and exits 0 without it.
"""
from __future__ import annotations

import argparse
import os
import time


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--naive-sample", type=int, default=100)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--ae-epochs", type=int, default=None)
    ap.add_argument("--no-heads", action="store_true")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from pipeline.corpora.research import research_root

    folder = research_root()
    if folder is None or not (folder / "stsb" / "sts-test.csv").exists():
        print("no STS-B (../shared/data/stsb or $ILLUSION_RESEARCH_DATA): benchmark skipped")
        return
    import duckdb
    import numpy as np
    import torch

    import warehouse
    from analysis.attention import head_features
    from pipeline.config import DatasetSpec, default_models
    from pipeline.stages.attention import AttentionConfig
    from pipeline.corpora import load_dataset
    from pipeline.models.transformer import TransformerRunner
    from pipeline.stages import attention as stage

    torch.set_num_threads(args.threads)
    print(f"load average at start {os.getloadavg()[0]:.2f}; torch threads {torch.get_num_threads()}")
    ld = load_dataset(DatasetSpec("stsb", "research", "stsb"), None, 0, False)
    runner = TransformerRunner(default_models()[0], attentions=True)
    cfg = AttentionConfig(**({"ae_epochs": args.ae_epochs} if args.ae_epochs is not None else {}),
                          heads=not args.no_heads)
    s = stage.settings(type("C", (), {"attention": cfg})(), runner.spec, ["stsb"])
    test = ld.frame[ld.frame["split"] == "test"]
    print(f"{len(test)} test pairs, {runner.n_layers - 1} blocks x {runner.n_heads} heads; autoencoder "
          f"{s['ae_epochs']} epochs on a {s['ae_grid']}x{s['ae_grid']} grid; clustering grid k {s['k_min']}-{s['k_max']}")

    con = duckdb.connect()
    warehouse.create_schema(con)
    logs = []
    t, c = time.perf_counter(), time.process_time()
    stage.run_stage(con, "minilm", runner, {"stsb": ld}, s | {"heads": False}, 0, progress=False, log=logs.append)
    ours, ours_cpu = time.perf_counter() - t, time.process_time() - c
    heads_s = None
    if s["heads"]:
        t = time.perf_counter()
        stage._heads(con, "minilm", "stsb", ld.frame, runner.model, runner.tokenizer, runner, s, 0, False, logs.append)
        heads_s = time.perf_counter() - t
    con.close()

    # Ours, the part the baseline does: length-sorted batches through the model and the vectorised features
    # (with the autoencoder's grids, which the baseline does not even compute).
    t = time.perf_counter()
    stage.encode_items(runner.model, runner.tokenizer, test["text"].astype(str).tolist(),
                       test["text_b"].astype(str).tolist(), runner.max_length, runner.batch_size,
                       list(range(runner.n_layers - 1)), s["ae_grid"])
    ours_encode = time.perf_counter() - t

    # Naive: the model once per pair (batch of 1), then the per-item features of every block.
    tok, model = runner.tokenizer, runner.model
    rng = np.random.default_rng(0)
    picks = rng.choice(len(test), size=min(args.naive_sample, len(test)), replace=False)
    t = time.perf_counter()
    for i in picks:
        enc = tok(test["text"].iloc[i], test["text_b"].iloc[i], truncation=True, max_length=runner.max_length,
                  return_tensors="pt")
        with torch.inference_mode():
            atts = model(**enc, output_attentions=True).attentions
        sep = np.flatnonzero(enc["input_ids"][0].numpy() == tok.sep_token_id)
        for a in atts:
            head_features(a[0].numpy(), sep)
    naive = (time.perf_counter() - t) / len(picks) * len(test)

    print(f"{'step':76s} {'seconds':>8s}")
    print(f"{'ours: attention run_stage, 1,379 pairs x 6 blocks (features, PCA, AE, clusters, tests)':76s} {ours:8.1f}")
    print(f"{'  its CPU time (all threads)':76s} {ours_cpu:8.1f}")
    for line in logs:
        print(f"  log: {line}")
    print(f"{'ours, model + features only: batched, vectorised (+ autoencoder grids)':76s} {ours_encode:8.1f}")
    print(f"{'baseline: model + features one pair at a time, extrapolated from ' + str(len(picks)):76s} {naive:8.1f}")
    print(f"{'  speed-up of the model + features step':76s} {naive / ours_encode:7.1f}x")
    print(f"{'  the rest of ours (PCA, autoencoder, clustering grid, tests, inserts)':76s} {ours - ours_encode:8.1f}")
    if heads_s is not None:
        print(f"{'regression heads: encode 5,749 train + 1,379 test pairs, fit 4 heads':76s} {heads_s:8.1f}")
    print(f"load average at end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
