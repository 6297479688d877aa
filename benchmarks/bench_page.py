"""Neuron-drift page response in a real browser on a built warehouse (default: the demo warehouse).

    python -m benchmarks.bench_page [--warehouse warehouse/illusion.duckdb] [--changes 20] [--run RUN_ID]

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


def _run(con, run_id: str | None):
    from warehouse import queries

    runs = queries.runs(con)
    return runs.iloc[0] if run_id is None else runs[runs["run_id"] == run_id].iloc[0]


def in_process(path: str, units: list[int], run_id: str | None = None) -> list[float]:
    import warehouse
    from analysis.drift import one_hot, overlap_share, random_baseline, range_overlap, score_histograms
    from warehouse import queries

    con = warehouse.connect_read_only(path)
    run = _run(con, run_id)
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


def marker(text: str, width: int = 50) -> str:
    """A piece of ``text`` the rendered page shows verbatim: its start, cut before the first character that
    Markdown may render otherwise ("--" becomes a dash, quotes curl, * and _ emphasise)."""
    import re

    cut = re.search(r"--|['\"`*_<>\[\]\\]", text)
    head = text[:cut.start()] if cut and cut.start() >= 12 else text
    return head[:width].strip()


def expected_top(path: str, unit: int, run_id: str | None = None) -> str:
    import warehouse
    from warehouse import queries

    con = warehouse.connect_read_only(path)
    run = _run(con, run_id)
    datasets = queries.datasets(con, run["run_id"])["dataset"].tolist()
    top = queries.neuron_top(con, run["run_id"], int(run["n_layers"]) - 1, run["poolings"][0], unit, datasets[:1], 1)
    con.close()
    return top["text"].iloc[0]


def main(argv=None) -> None:
    import warehouse
    from tests.browser import browser_page, streamlit_server

    ap = argparse.ArgumentParser()
    ap.add_argument("--warehouse", default=os.environ.get("ILLUSION_WAREHOUSE", "warehouse/illusion.duckdb"))
    ap.add_argument("--changes", type=int, default=20)
    ap.add_argument("--run", default=None, help="the run whose units are changed (default: the first)")
    args = ap.parse_args(argv)
    con = warehouse.connect_read_only(args.warehouse)
    run = _run(con, args.run)
    con.close()
    run_id, width = str(run["run_id"]), int(run["hidden_size"])
    rng = np.random.default_rng(0)
    units = [int(u) for u in rng.choice(width, size=args.changes + 1, replace=False)]
    print(f"warehouse {args.warehouse}; run {run_id} ({width} units); load average {os.getloadavg()[0]:.2f}")
    base = in_process(args.warehouse, units, run_id)
    with streamlit_server(args.warehouse) as url, browser_page() as page:
        t = time.perf_counter()
        page.goto(f"{url}/drift?run={run_id}&unit={units[0]}")
        page.get_by_text(marker(expected_top(args.warehouse, units[0], run_id))).first.wait_for(timeout=120_000)
        first_paint = time.perf_counter() - t
        status = page.locator('[data-testid="stStatusWidget"]')
        changes = []
        box = page.get_by_label(f"Neuron (0 to {width - 1})")
        for u in units[1:]:
            text = marker(expected_top(args.warehouse, u, run_id))
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
    print(f"{'unit change in chromium [bar <= 1000 ms]':48s} {ms(changes)[0]:8.0f} {ms(changes)[1]:8.0f}")
    print(f"{'baseline: same queries + analysis in-process':48s} {ms(base[1:])[0]:8.0f} {ms(base[1:])[1]:8.0f}")
    print(f"bar: unit change p50 <= 1 s -> {'PASS' if ms(changes)[0] <= 1000 else 'FAIL'}; "
          f"load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
