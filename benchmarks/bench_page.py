"""Neuron-drift page response in a real browser on a built warehouse (default: the demo warehouse).

    python -m benchmarks.bench_page [--warehouse warehouse/illusion.duckdb] [--changes 20]

Starts the dashboard on a free localhost port, opens /drift in Debian chromium and records
- first meaningful paint: from navigation to the first dataset's top sentence being shown;
- neuron change: from pressing Enter on a new neuron index to the new top sentence being shown and the app idle.
Baseline in the same run: the same queries and analysis the page runs for one neuron, called in-process
(no Streamlit, no browser), so the gap is what serving and rendering cost. Bar: neuron change <= 1 s.
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np


def in_process(path: str, units: list[int]) -> list[float]:
    import warehouse
    from analysis.drift import one_hot, overlap_share, random_baseline, range_overlap, score_histograms
    from warehouse import queries

    con = warehouse.connect_read_only(path)
    run = queries.runs(con).iloc[0]
    layer = int(run["n_layers"]) - 1
    pooling = run["poolings"][0]
    datasets = queries.datasets(con, run["run_id"])["dataset"].tolist()
    times = []
    for u in units:
        t = time.perf_counter()
        scores = queries.direction_scores(con, run["run_id"], layer, pooling, one_hot(u, int(run["hidden_size"])),
                                          datasets)
        top = queries.neuron_top(con, run["run_id"], layer, pooling, u, datasets, 10)
        queries.neuron_top(con, run["run_id"], layer, pooling, u, datasets, 10, "bottom")
        rand = random_baseline(scores, 10, 0)
        queries.sentence_texts(con, rand)
        score_histograms(scores)
        ranges = top.groupby("dataset")["value"].agg(["min", "max"])
        range_overlap({d: (r["min"], r["max"]) for d, r in ranges.iterrows()})
        overlap_share(queries.topk_ranges(con, run["run_id"], layer, pooling, datasets, 10))
        times.append(time.perf_counter() - t)
    con.close()
    return times


def expected_top(path: str, unit: int) -> str:
    import warehouse
    from warehouse import queries

    con = warehouse.connect_read_only(path)
    run = queries.runs(con).iloc[0]
    datasets = queries.datasets(con, run["run_id"])["dataset"].tolist()
    top = queries.neuron_top(con, run["run_id"], int(run["n_layers"]) - 1, run["poolings"][0], unit, datasets[:1], 1)
    con.close()
    return top["text"].iloc[0]


def main() -> None:
    from tests.browser import browser_page, streamlit_server

    ap = argparse.ArgumentParser()
    ap.add_argument("--warehouse", default=os.environ.get("ILLUSION_WAREHOUSE", "warehouse/illusion.duckdb"))
    ap.add_argument("--changes", type=int, default=20)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    units = [int(u) for u in rng.choice(384, size=args.changes + 1, replace=False)]
    print(f"warehouse {args.warehouse}; load average {os.getloadavg()[0]:.2f}")
    base = in_process(args.warehouse, units)
    with streamlit_server(args.warehouse) as url, browser_page() as page:
        t = time.perf_counter()
        page.goto(f"{url}/drift?unit={units[0]}")
        page.get_by_text(expected_top(args.warehouse, units[0])).first.wait_for(timeout=60_000)
        first_paint = time.perf_counter() - t
        status = page.locator('[data-testid="stStatusWidget"]')
        changes = []
        box = page.get_by_label("Neuron (0 to 383)")
        for u in units[1:]:
            text = expected_top(args.warehouse, u)
            page.wait_for_timeout(300)
            box.fill(str(u))
            t = time.perf_counter()
            box.press("Enter")
            page.get_by_text(f"neuron {u} · layer").wait_for(timeout=30_000)
            page.get_by_text(text).first.wait_for(timeout=30_000)
            status.wait_for(state="hidden", timeout=30_000)
            changes.append(time.perf_counter() - t)
        assert page.locator('[data-testid="stException"]').count() == 0
    ms = lambda xs: (1000 * np.percentile(xs, 50), 1000 * np.percentile(xs, 95))  # noqa: E731
    print(f"{'measure':48s} {'p50 ms':>8s} {'p95 ms':>8s}")
    print(f"{'first meaningful paint (/drift, cold server)':48s} {1000 * first_paint:8.0f}")
    print(f"{'neuron change in chromium [bar <= 1000 ms]':48s} {ms(changes)[0]:8.0f} {ms(changes)[1]:8.0f}")
    print(f"{'baseline: same queries + analysis in-process':48s} {ms(base[1:])[0]:8.0f} {ms(base[1:])[1]:8.0f}")
    print(f"bar: neuron change p50 <= 1 s -> {'PASS' if ms(changes)[0] <= 1000 else 'FAIL'}; "
          f"load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
