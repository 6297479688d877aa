"""bench_first_run: how soon after `make run` starts does each page show real data, in a browser?

Runs what `make run` runs after install and fetch, ``python -m pipeline.first_run`` (a first look at 1,000
sentences per demo corpus, served at once, then the whole demo build with ``--publish-every S`` swapping each
step in), into a fresh warehouse. It polls
the served pages in chromium: the home page until it lists the runs' datasets, the drift page until it shows
a neuron's top sentences (real rows, not the progress line). For every other page it reports when the step
it waits for landed (the published file's stage_log). The baseline, measured in the same run, is the whole
build: before the build was progressive, that was the wait for any page.

    python -m benchmarks.bench_first_run [--publish-every 10] [--out /tmp/bench-first-run/illusion.duckdb]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import duckdb

from tests.browser import _free_port, browser_page

ROOT = Path(__file__).resolve().parent.parent
# page -> the step it waits for (ui.progress.wait_for in each view)
STEPS = {"Outliers": "distances", "Monotonicity & locality": "layer_scores", "Illusion score": "illusion_null",
         "Dataset separability": "separability", "Anisotropy": "anisotropy", "Span match": "token_states",
         "Sentiment neuron": "sentiment", "Attention clusters": "attention", "Drift: token-level lists": "token_topk",
         "Illusion score: dictionary features": "dictionary"}


def landed(path: Path) -> set[tuple[str, str]]:
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error:
        return set()
    try:
        return set(con.execute("select stage, split_part(key, '/', 1) from stage_log").fetchall())
    finally:
        con.close()


def shows(page, url: str, marker: str, timeout_ms: int = 20_000) -> bool:
    """Whether ``url`` shows ``marker`` within the timeout (a fresh load each time)."""
    try:
        page.goto(url, wait_until="domcontentloaded")
        page.get_by_text(marker).first.wait_for(timeout=timeout_ms)
        return True
    except Exception:  # noqa: BLE001 - playwright's errors: not served yet (refused) or not there yet (timeout)
        return False


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.bench_first_run")
    p.add_argument("--publish-every", type=float, default=10.0)
    p.add_argument("--out", default="/tmp/bench-first-run/illusion.duckdb")
    args = p.parse_args(argv)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    for stale in out.parent.glob(out.name + "*"):
        stale.unlink()
    port, log = _free_port(), out.with_name("first-run.log")
    load = os.getloadavg()[0]
    t0 = time.time()
    proc = subprocess.Popen([sys.executable, "-m", "pipeline.first_run", "--warehouse", str(out), "--port", str(port),
                             "--publish-every", f"{args.publish_every:g}"],
                            cwd=ROOT, stdout=log.open("w"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    seen: dict[str, float] = {}
    first: dict[tuple[str, str], float] = {}
    try:
        with browser_page() as page:
            while "the build finished" not in log.read_text():
                if proc.poll() is not None:
                    print(f"error: make run's launcher stopped:\n{log.read_text()[-2000:]}", file=sys.stderr)
                    return 1
                if out.exists():
                    for key in landed(out) - set(first):
                        first[key] = time.time() - t0
                    if "served" not in seen and shows(page, url, "Illusion Lab"):
                        seen["served"] = time.time() - t0
                    if "served" in seen and "home" not in seen and shows(page, url, "6 datasets, "):
                        seen["home"] = time.time() - t0
                    if "served" in seen and "drift" not in seen and \
                            shows(page, f"{url}/drift?unit=0&k=10", "Top 10 per dataset"):
                        seen["drift"] = time.time() - t0
                time.sleep(2)
            total = time.time() - t0
    finally:
        proc.send_signal(2)
        proc.wait(timeout=60)
    for key in landed(out) - set(first):
        first[key] = total
    runs = sorted({r for _, r in first}, key=lambda r: min(t for (_, rr), t in first.items() if rr == r))
    print(f"bench_first_run: make run's launcher (pipeline.first_run --publish-every {args.publish_every:g}), "
          f"demo preset; load average {load:.2f} at start, {os.getloadavg()[0]:.2f} at end")
    print("| what | after |\n|---|---:|")
    for what, label in (("served", "dashboard served"), ("home", "home page shows the 6 datasets (chromium)"),
                        ("drift", "drift page shows a neuron's top sentences (chromium)")):
        print(f"| {label} | {seen[what]:.0f} s |" if what in seen else f"| {label} | not seen |")
    print("\n| page | step | " + " | ".join(f"{r}: landed" for r in runs) + " |")
    print("|---|---|" + "---:|" * len(runs))
    for page_name, stage in STEPS.items():
        cells = [f"{first[(stage, r)]:.0f} s" if (stage, r) in first else "n/a" for r in runs]
        print(f"| {page_name} | {stage} | " + " | ".join(cells) + " |")
    print(f"\nbaseline, the whole build (the wait for any page before): {total:.0f} s; "
          f"file {out.stat().st_size / 1e6:,.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
