"""bench_first_run: how soon after `make run` starts does each page have real data?

Runs what `make run` runs after install and fetch (pipeline.first_run's build: ``pipeline build --preset demo
--publish-every S`` into a fresh warehouse) and polls the published file: for each page, the time at which the
step it needs has landed (stage_log) for each run. The baseline, measured in the same run, is the time the whole
build takes: before the build was progressive, that was the wait for any page.

    python -m benchmarks.bench_first_run [--publish-every 10] [--out /tmp/first-run.duckdb] [-- <build args>]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import duckdb

# page -> the step it waits for (ui.progress.wait_for in each view); home, neighbours, SQL need extraction only
PAGES = {"Home / Nearest sentences / SQL": "extract", "Neuron drift": "histograms", "Outliers": "distances",
         "Monotonicity & locality": "layer_scores", "Illusion score": "illusion_null",
         "Dataset separability": "separability", "Anisotropy": "anisotropy", "Span match": "token_states",
         "Sentiment neuron": "sentiment", "Attention clusters": "attention"}


def landed(path: Path) -> set[tuple[str, str]]:
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error:
        return set()
    try:
        rows = con.execute("select stage, split_part(key, '/', 1) from stage_log").fetchall()
    finally:
        con.close()
    return set(rows)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.bench_first_run")
    p.add_argument("--publish-every", type=float, default=10.0)
    p.add_argument("--out", default="/tmp/bench-first-run/illusion.duckdb")
    p.add_argument("build_args", nargs="*")
    args = p.parse_args(argv)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    for stale in out.parent.glob(out.name + "*"):
        stale.unlink()
    cmd = [sys.executable, "-m", "pipeline", "build", *(args.build_args or ["--preset", "demo"]), "--warehouse",
           str(out), "--publish-every", f"{args.publish_every:g}", "--quiet"]
    load = os.getloadavg()[0]
    t0 = time.time()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    first: dict[tuple[str, str], float] = {}
    exists_at = None
    while proc.poll() is None:
        if out.exists():
            exists_at = exists_at or time.time() - t0
            for key in landed(out) - set(first):
                first[key] = time.time() - t0
        time.sleep(2)
    total = time.time() - t0
    if proc.returncode != 0:
        print(f"error: the build failed (exit code {proc.returncode})", file=sys.stderr)
        return 1
    for key in landed(out) - set(first):
        first[key] = total
    runs = sorted({r for _, r in first}, key=lambda r: min(t for (_, rr), t in first.items() if rr == r))
    print(f"bench_first_run: {' '.join(cmd[3:])}; load average {load:.2f} at start, "
          f"{os.getloadavg()[0]:.2f} at end")
    print(f"first file served after {exists_at:.0f} s" if exists_at else "no file before the end")
    print(f"| page | step | " + " | ".join(f"{r}: data after" for r in runs) + " |")
    print("|---|---|" + "---|" * len(runs))
    for page, stage in PAGES.items():
        cells = [f"{first[(stage, r)]:.0f} s" if (stage, r) in first else "n/a" for r in runs]
        print(f"| {page} | {stage} | " + " | ".join(cells) + " |")
    print(f"baseline, the whole build (the wait for any page before): {total:.0f} s; "
          f"file size {out.stat().st_size / 1e6:,.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
