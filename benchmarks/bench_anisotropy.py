"""Anisotropy stage: 1,000 words x 20 contexts x every layer of MiniLM, on the six demo corpora as one dataset.

    python -m benchmarks.bench_anisotropy [--words 1000] [--contexts 20] [--naive-sample 200] [--threads 2]

Words need 20 distinct contexts here (min_contexts = contexts), so every word has exactly 20.

Ours: ``pipeline.stages.anisotropy.run_stage`` (plan the sample, run ``token_states`` once per needed
sentence in length-sorted batches, word vectors by the unit rule, every metric, writes into an in-memory
warehouse). Baseline in the same run: the naive loop, one model call per (word, context) occurrence (the
sentence alone, batch of 1, all hidden states), timed on a seeded sample of occurrences and extrapolated to
all of them; its metric step (pairwise cosines and sklearn PCA per word and layer) is timed on the same
words in full.
"""
from __future__ import annotations

import argparse
import os
import time


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--words", type=int, default=1000)
    ap.add_argument("--contexts", type=int, default=20)
    ap.add_argument("--naive-sample", type=int, default=200)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import duckdb
    import numpy as np
    import torch
    from scipy.spatial.distance import pdist
    from sklearn.decomposition import PCA

    import warehouse
    from pipeline.config import default_models
    from pipeline.corpora import load_dataset
    from pipeline.models import make_runner
    from pipeline.stages.anisotropy import plan_sample, run_stage

    torch.set_num_threads(args.threads)
    print(f"load average at start {os.getloadavg()[0]:.2f}; torch threads {torch.get_num_threads()}")
    from pipeline.cli import demo_datasets

    texts = {"demo": [t for spec in demo_datasets()
                      for t in load_dataset(spec, None, 0, False).frame["text"].astype(str)]}
    runner = make_runner(default_models()[0])
    plan = plan_sample(texts, args.words, args.contexts, args.contexts, 1000, 0)
    sample = plan.samples[0]
    occurrences = [(w, s) for w, occ in sample.contexts.items() for _, s in occ]
    n_sent = len(plan.run["demo"])
    print(f"{len(sample.contexts)} words, {len(occurrences)} occurrences in {n_sent} of "
          f"{len(texts['demo'])} sentences, {runner.n_layers} layers x {runner.hidden_size}")

    con = duckdb.connect()
    warehouse.create_schema(con)
    t, c = time.perf_counter(), time.process_time()
    rows = run_stage(con, "minilm", runner, texts, runner.n_layers, args.words, args.contexts, args.contexts, 1000,
                     100, 0, progress=False, log=lambda *_: None)
    ours, ours_cpu = time.perf_counter() - t, time.process_time() - c
    con.close()

    # Naive: the model once per occurrence, the word's tokens found with the tokenizer's char_to_token.
    tok, model = runner.tokenizer, runner.model
    rng = np.random.default_rng(0)
    picks = rng.choice(len(occurrences), size=min(args.naive_sample, len(occurrences)), replace=False)
    t = time.perf_counter()
    for i in picks:
        w, s = occurrences[i]
        text = texts["demo"][s]
        start = next(a for a, b, x in plan.spans["demo"][s] if x == w)
        enc = tok(text, return_tensors="pt", truncation=True, max_length=runner.max_length)
        ids = sorted({enc.char_to_token(0, ch) for ch in range(start, start + len(w))} - {None})
        with torch.inference_mode():
            hs = model(**enc, output_hidden_states=True).hidden_states
        np.stack([h[0, ids].mean(0).numpy() for h in hs])
    per_occ = (time.perf_counter() - t) / len(picks)
    naive_model = per_occ * len(occurrences)
    # The naive metric step on random vectors of the real shape (its cost does not depend on the values).
    x = rng.normal(size=(args.contexts, runner.hidden_size)).astype(np.float32)
    t = time.perf_counter()
    n_metric = 50
    for _ in range(n_metric):
        for _layer in range(runner.n_layers):
            np.mean(1 - pdist(x, "cosine"))
            PCA().fit(x).explained_variance_ratio_[0]
    naive_metrics = (time.perf_counter() - t) / n_metric * len(sample.contexts) * 2  # dataset + pooled words

    print(f"{'step':72s} {'seconds':>8s}")
    print(f"{'ours: anisotropy run_stage (sample, token_states, metrics, insert)':72s} {ours:8.1f}")
    print(f"{'  its CPU time (all threads)':72s} {ours_cpu:8.1f}")
    print(f"{'baseline: one model call per occurrence, extrapolated from ' + str(len(picks)):72s} {naive_model:8.1f}")
    print(f"{'  + pdist / sklearn PCA per word and layer, extrapolated':72s} {naive_metrics:8.1f}")
    print(f"speed-up {(naive_model + naive_metrics) / ours:.1f}x; {rows} word rows; "
          f"{n_sent / ours:.0f} sentences/s in the stage; load average at end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
