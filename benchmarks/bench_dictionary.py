"""Dictionary (SAE) features: TopK SAE training time and SAE encode throughput, ours vs plain torch.

    python -m benchmarks.bench_dictionary [--tokens 20000] [--source demo|synthetic] [--expansion 8] [--k 32]
                                          [--steps 200] [--batch-size 1024] [--repeat 3] [--threads 1]

Activations: ``--source demo`` (default when the demo cache ~/.cache/illusion-lab is there) runs the packaged
all-MiniLM-L6-v2 over the demo corpora's first sentences (round-robin over the six corpora) with
``runner.token_states`` and keeps the last block's (blocks.5.hook_resid_post) WordPiece vectors until --tokens
are collected; ``--source synthetic`` draws --tokens Gaussian vectors of width 384 with a random covariance.

1. Training: ``train_topk_sae`` with the default recipe (8x expansion, k 32, seed 0, batch 1024, Adam) for
   --steps steps on those tokens; prints seconds, seconds per step, tokens/s, explained variance (train and
   held-out), dead features, and the time the same per-step cost gives for the demo's default run
   (--demo-tokens tokens x 10 epochs at batch 1024).
2. Encode: every token through the trained SAE, --repeat times, median:
   - ours: ``Dictionary.encode`` (dense, batches of 4096) and ``Dictionary.encode_csr`` (sparse result)
   - baseline: plain torch on the same tensors, one call over all tokens:
     ``topk(relu((x - b_dec) @ W_enc + b_enc), k)`` scattered into a dense [n, n_features] tensor
   The outputs are checked equal before timing is reported.
"""
from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path


def demo_tokens(n_tokens: int):
    import numpy as np

    from pipeline.cli import demo_datasets
    from pipeline.config import default_models
    from pipeline.corpora import load_dataset
    from pipeline.models import make_runner

    frames = [load_dataset(spec, None, 0, False).frame["text"].astype(str).tolist() for spec in demo_datasets()]
    runner = make_runner(default_models()[0])
    out, have, i = [], 0, 0
    while have < n_tokens:
        chunk = [f[j] for f in frames for j in range(i, i + 16) if j < len(f)]
        if not chunk:
            break
        for ts in runner.token_states(chunk):
            out.append(ts.states[-1])
            have += len(ts.units)
        i += 16
    x = np.concatenate(out)[:n_tokens]
    return x.astype(np.float32), f"MiniLM {runner.layer_names[-1]} on {i * len(frames)} demo sentences (at most)"


def synthetic_tokens(n_tokens: int, width: int = 384, seed: int = 0):
    import numpy as np

    rng = np.random.default_rng(seed)
    mix = rng.normal(size=(width, width)) / np.sqrt(width)
    x = rng.normal(size=(n_tokens, width)) @ mix + rng.normal(size=width)
    return x.astype(np.float32), f"synthetic Gaussian, width {width}"


def median_time(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokens", type=int, default=20000)
    default_source = "demo" if (Path.home() / ".cache" / "illusion-lab").is_dir() else "synthetic"
    ap.add_argument("--source", choices=["demo", "synthetic"], default=default_source)
    ap.add_argument("--expansion", type=float, default=8)
    ap.add_argument("--k", type=int, default=32)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--batch-size", type=int, default=1024)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--demo-tokens", type=int, default=800_000,
                    help="token count of the full demo, for the training-time estimate")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import numpy as np
    import torch

    from pipeline.models.dictionary import train_topk_sae

    torch.set_num_threads(args.threads)
    print(f"load average at start {os.getloadavg()[0]:.2f}; torch threads {torch.get_num_threads()}")
    t = time.perf_counter()
    x, what = demo_tokens(args.tokens) if args.source == "demo" else synthetic_tokens(args.tokens)
    print(f"activations: {x.shape[0]} tokens x {x.shape[1]} ({what}) in {time.perf_counter() - t:.1f} s")

    # 1. training
    t, c = time.perf_counter(), time.process_time()
    sae, rep = train_topk_sae(x, expansion=args.expansion, k=args.k, seed=0, steps=args.steps,
                              batch_size=args.batch_size, progress=False)
    wall, cpu = time.perf_counter() - t, time.process_time() - c
    per_step = rep.train_seconds / rep.steps
    print(f"\ntrain_topk_sae: {rep.n_features} features (x{args.expansion:g}), k {rep.k}, {rep.steps} steps of "
          f"{rep.batch_size} on {rep.n_train} tokens ({rep.epochs:.2f} epochs)")
    print(f"  {wall:.1f} s wall ({cpu:.1f} s CPU) for the call; the optimisation loop {rep.train_seconds:.1f} s: "
          f"{per_step * 1000:.0f} ms/step, {rep.batch_size / per_step:,.0f} training tokens/s; init + evaluation "
          f"{wall - rep.train_seconds:.1f} s")
    print(f"  explained variance train {rep.explained_variance_train:.3f}, held-out "
          f"{rep.explained_variance_heldout:.3f}; dead {rep.dead_features}/{rep.n_features}; "
          f"L0 {rep.l0_mean:.1f}")
    demo_steps = int(np.ceil(10 * args.demo_tokens * 0.9 / args.batch_size))
    print(f"  estimate for the demo's default run ({args.demo_tokens:,} tokens, 10 epochs = {demo_steps:,} steps): "
          f"{demo_steps * per_step / 60:.1f} min at this per-step cost")

    # 2. encode
    W_enc, b_enc, b_dec = (torch.tensor(a) for a in (sae.W_enc, sae.b_enc, sae.b_dec))
    xt = torch.from_numpy(x)

    def baseline():
        with torch.inference_mode():
            pre = torch.relu((xt - b_dec) @ W_enc + b_enc)
            v, i = torch.topk(pre, sae.k, dim=1)
            return torch.zeros_like(pre).scatter_(1, i, v)

    ours = sae.encode(x)
    np.testing.assert_allclose(ours, baseline().numpy(), rtol=1e-5, atol=1e-5)
    assert np.array_equal(sae.encode_csr(x).toarray(), ours)
    rows = [("ours: Dictionary.encode (dense)", median_time(lambda: sae.encode(x), args.repeat)),
            ("ours: Dictionary.encode_csr", median_time(lambda: sae.encode_csr(x), args.repeat)),
            ("baseline: plain torch, one call", median_time(baseline, args.repeat))]
    base = rows[-1][1]
    print(f"\nencode {len(x)} tokens -> {sae.n_features} features (median of {args.repeat}):")
    for name, sec in rows:
        print(f"  {name:<34} {sec * 1000:8.1f} ms  {len(x) / sec:>12,.0f} tokens/s  {base / sec:5.2f}x baseline")
    dense_mb = len(x) * sae.n_features * 4 / 2**20
    csr = sae.encode_csr(x)
    csr_mb = (csr.data.nbytes + csr.indices.nbytes + csr.indptr.nbytes) / 2**20
    print(f"  result size: dense {dense_mb:.0f} MB, CSR {csr_mb:.1f} MB "
          f"(the demo's {args.demo_tokens:,} tokens: dense {args.demo_tokens * sae.n_features * 4 / 2**30:.1f} GB, "
          f"CSR {csr_mb * args.demo_tokens / len(x) / 1024:.2f} GB)")


if __name__ == "__main__":
    main()
