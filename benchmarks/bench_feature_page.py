"""The drift page's feature change on a 12,288-feature dictionary, in chromium (issue 18's bar: p50 <= 1 s).

    python -m benchmarks.bench_feature_page [--limit 1500] [--features 12288] [--changes 20]
        [--out /tmp/bench-feature-page/w.duckdb]

Builds (once; an existing file is reused by the build's own inputs hashes) a warehouse of the demo corpora, each
capped at ``--limit`` sentences, with MiniLM's residual run and a dictionary run ``minilm-sae`` of ``--features``
features on its last block: a seeded random TopK SAE (k = 32, max pooling) written in the SAELens layout and
loaded through ``[dictionary] path`` (training one this wide takes about an hour on 2 cores; a random one has the
same shapes, sparsity per token and storage). The studies the drift page does not read are off. Then
``bench_page`` on the run ``minilm-sae``: the page's first paint and ``--changes`` feature changes in chromium,
next to the same queries in-process.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

OFF = ("anisotropy", "token_states", "sentiment", "attention", "illusion_null", "quantiles")


def write_sae(folder: Path, d_in: int, n_features: int, k: int = 32, seed: int = 0) -> Path:
    """A random TopK SAE in the SAELens layout: unit-norm decoder rows, the encoder their transpose."""
    from safetensors.numpy import save_file

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    w_dec = rng.normal(size=(n_features, d_in)).astype(np.float32)
    w_dec /= np.linalg.norm(w_dec, axis=1, keepdims=True)
    save_file({"W_enc": np.ascontiguousarray(w_dec.T), "b_enc": np.zeros(n_features, np.float32), "W_dec": w_dec,
               "b_dec": np.zeros(d_in, np.float32)}, str(folder / "sae_weights.safetensors"))
    (folder / "cfg.json").write_text(json.dumps({
        "d_in": d_in, "d_sae": n_features, "architecture": "topk", "k": k, "activation_fn_str": "topk",
        "activation_fn_kwargs": {"k": k}, "apply_b_dec_to_input": False, "normalize_activations": "none",
        "hook_name": "blocks.5.hook_resid_post"}))
    return folder


def build(out: Path, limit: int, n_features: int) -> float:
    from pipeline.build import build as run_build
    from pipeline.cli import demo_datasets
    from pipeline.config import PACKAGED_MINILM, ModelSpec, make_config

    sae = write_sae(out.parent / f"sae-{n_features}", 384, n_features)
    cfg = make_config(datasets=demo_datasets(limit), warehouse=str(out), progress=True,
                      models=[ModelSpec("minilm", "transformer", PACKAGED_MINILM, 128, 32, sites=("resid", "sae"))],
                      separability_per_dataset=0, umap_per_dataset=0,
                      dictionary={"path": str(sae), "poolings": ["max"]},
                      layer_scores={"locality": False}, **{name: {"enabled": False} for name in OFF})
    t = time.time()
    run_build(cfg)
    return time.time() - t


def main(argv=None) -> int:
    from benchmarks import bench_page

    p = argparse.ArgumentParser(prog="python -m benchmarks.bench_feature_page")
    p.add_argument("--limit", type=int, default=1500)
    p.add_argument("--features", type=int, default=12288)
    p.add_argument("--changes", type=int, default=20)
    p.add_argument("--out", default="/tmp/bench-feature-page/w.duckdb")
    args = p.parse_args(argv)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    seconds = build(out, args.limit, args.features)
    print(f"warehouse: demo corpora capped at {args.limit} sentences each, minilm + minilm-sae ({args.features:,} "
          f"features, random TopK SAE, k = 32, max pooling); build {seconds:.0f} s (0 when reused); "
          f"{out.stat().st_size / 1e6:,.0f} MB")
    bench_page.main(["--warehouse", str(out), "--run", "minilm-sae", "--changes", str(args.changes)])
    return 0


if __name__ == "__main__":
    sys.exit(main())
