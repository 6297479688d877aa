"""Span match over >= 500,000 stored steps of real LSTM states: our in-memory match vs two naive baselines.

    python -m benchmarks.bench_spans [--path /tmp/illusion-bench-spans.duckdb] [--rebuild] [--queries 30]

Data (real, not synthesised): ``pipeline.build.build`` with only the textgenrnn LSTM run over the six demo corpora,
the first --per-dataset texts of each (default 1,000) and ``token_states.per_dataset = 0`` (every one of them), so
every character's state is stored: about 690,000 steps. Built once and reused while its row counts and parameters
match (--rebuild forces). Stream: lstm2.hidden (int8, as the page's default).

On a read-only connection it loads the (run, layer) block the way the page does (``warehouse.queries`` +
``analysis.spans.stack_rows``), then, for --queries seeded random selections (a stored sentence, a span of 1-3
words, the units >= 0.3 over it), times what the page computes per selection: ``StateBlock.columns`` +
``analysis.spans.find_matches`` (all selected units on; and at least half of them). Baselines in the same run on
the same block: a per-sentence numpy loop (every query) and a pure-Python loop over steps (the first 3 queries,
it is slow); both must return the same matches. Bar: our match <= 1 s (p50 and max) on 2 cores.
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

RUN = "textgenrnn"
STREAM = "lstm2.hidden"
THRESHOLD = 0.3
DEMO = ("movies", "amazon", "nyt", "tweets", "wiki", "news")


def params(per_dataset: int) -> dict:
    return {"run": RUN, "datasets": list(DEMO), "per_dataset_rows": per_dataset, "token_states.per_dataset": 0}


def is_built(path: Path, per_dataset: int) -> bool:
    import warehouse

    if not path.exists():
        return False
    try:
        con = warehouse.connect_read_only(path)
    except warehouse.WarehouseError:
        return False
    try:
        meta = con.execute("select value from meta where key = 'config_json'").fetchone()
        n = con.execute("select count(*) from token_units").fetchone()[0]
    finally:
        con.close()
    cfg = json.loads(meta[0]) if meta else {}
    return n == per_dataset * len(DEMO) and cfg.get("token_states", {}).get("per_dataset") == 0 \
        and [d["limit"] for d in cfg.get("datasets", [])] == [per_dataset] * len(DEMO)


def build(path: Path, per_dataset: int) -> float:
    from pipeline.build import build as run_build
    from pipeline.config import PACKAGED_TEXTGENRNN, SECTIONS, DatasetSpec, ModelSpec, make_config

    others = {name: {"enabled": False} for name in SECTIONS if name != "token_states"}  # only what we time
    cfg = make_config(
        datasets=[DatasetSpec(name=d, source="demo", path=d, limit=per_dataset) for d in DEMO],
        models=[ModelSpec(RUN, "lstm", PACKAGED_TEXTGENRNN, 512, 64)], warehouse=str(path), progress=True,
        separability_per_dataset=0, token_states={"per_dataset": 0, "lstm_layers": [STREAM]}, **others)
    t = time.perf_counter()
    run_build(cfg, log=print)
    return time.perf_counter() - t


def load_block(path: Path):
    import warehouse
    from analysis.spans import stack_rows
    from warehouse import queries

    con = warehouse.connect_read_only(path)
    try:
        layers = queries.span_layers(con)
        row = layers[(layers["run_id"] == RUN) & (layers["layer_name"] == STREAM)].iloc[0]
        units = queries.span_units(con, RUN)
        rows = queries.span_state_rows(con, RUN, int(row["layer"]))
    finally:
        con.close()
    block = stack_rows(rows["states"], rows["n_units"], rows["dtype"], rows["scale"], units, int(row["hidden_size"]))
    return block, row


def python_loop(block, units, threshold, min_on, query_len):
    """Baseline: every step in plain Python (decode, compare, open/close runs), then the same ranking."""
    xt, scale, offsets = block.xt, block.scale, block.offsets
    out = []
    for s in range(len(offsets) - 1):
        start = None
        for t in range(offsets[s], offsets[s + 1] + 1):
            on = t < offsets[s + 1] and sum(int(xt[u, t]) * scale >= threshold for u in units) >= min_on
            if on and start is None:
                start = t
            elif not on and start is not None:
                n_on = sum(all(int(xt[u, r]) * scale >= threshold for r in range(start, t)) for u in units)
                total = sum(sum(int(xt[u, r]) * scale >= threshold for u in units) for r in range(start, t))
                out.append((s, start - offsets[s], t - offsets[s], n_on, total / (t - start)))
                start = None
    out.sort(key=lambda m: (-m[3], abs(m[2] - m[1] - query_len), -m[4], m[0], m[1]))
    return [(s, a, b, n) for s, a, b, n, _ in out]


def sentence_loop(block, units, threshold, min_on, query_len):
    """Baseline: numpy per sentence (the obvious vectorisation), then the same ranking."""
    out = []
    for s in range(len(block.offsets) - 1):
        st = block.sentence(s)[:, units] >= threshold  # decode the sentence, select the units
        step_on = st.sum(1) >= min_on
        t = 0
        while t < len(step_on):
            if step_on[t]:
                e = t
                while e < len(step_on) and step_on[e]:
                    e += 1
                seg = st[t:e]
                out.append((s, t, e, int(seg.all(0).sum()), float(seg.sum(1).mean())))
                t = e
            else:
                t += 1
    out.sort(key=lambda m: (-m[3], abs(m[2] - m[1] - query_len), -m[4], m[0], m[1]))
    return [(s, a, b, n) for s, a, b, n, _ in out]


def selections(block, n: int, seed: int = 0):
    """Seeded random queries: (sentence, i0, i1, units on over the span) with at least 2 units on."""
    from analysis.spans import char_span_units, units_on, word_spans

    rng = np.random.default_rng(seed)
    keys, out, tries = block.keys, [], 0
    while len(out) < n and tries < 50 * n:
        tries += 1
        s = int(rng.integers(len(keys)))
        words = word_spans(keys.at[s, "text"][: int(keys.at[s, "ends"][-1])] if keys.at[s, "n_units"] else "")
        if not words:
            continue
        w0 = int(rng.integers(len(words)))
        w1 = min(len(words) - 1, w0 + int(rng.integers(3)))
        i0, i1 = char_span_units(keys.at[s, "starts"], keys.at[s, "ends"], words[w0][0], words[w1][1])
        on = units_on(block.sentence(s), i0, i1, THRESHOLD)
        if len(on) >= 2:
            out.append((s, i0, i1, on))
    return out


def main(argv=None) -> None:
    from analysis.spans import coactivation, find_matches

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--path", default="/tmp/illusion-bench-spans.duckdb")
    ap.add_argument("--per-dataset", type=int, default=1000)
    ap.add_argument("--queries", type=int, default=30)
    ap.add_argument("--rebuild", action="store_true")
    args = ap.parse_args(argv)
    path = Path(args.path)
    print(f"load average at start: {os.getloadavg()}  (nproc {os.cpu_count()})")
    if args.rebuild or not is_built(path, args.per_dataset):
        path.unlink(missing_ok=True)
        print(f"building {path}: textgenrnn over the first {args.per_dataset} texts of {', '.join(DEMO)} ...",
              flush=True)
        print(f"build time {build(path, args.per_dataset):.1f} s")
    else:
        print(f"reusing {path} (--rebuild to force)")
    print(f"file size {path.stat().st_size / 2**20:.0f} MiB")
    t = time.perf_counter()
    block, row = load_block(path)
    load_s = time.perf_counter() - t
    print(f"data: real {RUN} states, stream {STREAM} ({row['dtypes']}, {row['bytes_per_step']:.0f} bytes per step), "
          f"{len(block.keys):,} sentences, {block.n_steps:,} steps; load into numpy {load_s:.2f} s "
          f"({block.xt.nbytes / 2**20:.0f} MiB in RAM)")
    if block.n_steps < 500_000:
        print(f"WARNING: only {block.n_steps:,} steps, below the 500,000 of the bar (raise --per-dataset)")
    queries = selections(block, args.queries)
    ours_all, ours_half, base_np, base_py, co = [], [], [], [], []
    n_matches = []
    for qi, (s, i0, i1, on) in enumerate(queries):
        for min_on, sink in ((len(on), ours_all), ((len(on) + 1) // 2, ours_half)):
            t = time.perf_counter()
            got = find_matches(block.columns(on), block.offsets, i1 - i0, THRESHOLD, min_on)
            sink.append(time.perf_counter() - t)
            if min_on == len(on):
                n_matches.append(len(got))
                want = got[["sentence", "start", "end", "n_on"]].to_records(index=False).tolist()
        t = time.perf_counter()
        ref = sentence_loop(block, on, THRESHOLD, len(on), i1 - i0)
        base_np.append(time.perf_counter() - t)
        assert [tuple(map(int, w)) for w in want] == ref, "numpy-per-sentence baseline disagrees"
        if qi < 3:
            t = time.perf_counter()
            ref = python_loop(block, on, THRESHOLD, len(on), i1 - i0)
            base_py.append(time.perf_counter() - t)
            assert [tuple(map(int, w)) for w in want] == ref, "python-loop baseline disagrees"
        t = time.perf_counter()
        coactivation(block.columns(on), THRESHOLD)
        co.append(time.perf_counter() - t)
    ks = [len(q[3]) for q in queries]
    print(f"\n{len(queries)} seeded selections (1-3 words, units >= {THRESHOLD} over the span: {min(ks)}-{max(ks)}, "
          f"median {int(np.median(ks))}); matches per selection: median {int(np.median(n_matches)):,}, "
          f"max {max(n_matches):,}")
    print(f"{'method (one selection, ' + format(block.n_steps, ',') + ' steps)':<58} {'p50 ms':>9} {'max ms':>9} "
          f"{'n':>4}  bar <= 1000 ms")

    def line(name, xs, bar=False):
        ms = 1000 * np.array(xs)
        verdict = ("met" if ms.max() <= 1000 else "MISSED") if bar else ""
        print(f"{name:<58} {np.median(ms):9.1f} {ms.max():9.1f} {len(ms):4d}  {verdict}")

    line("ours: columns + find_matches, all units on", ours_all, bar=True)
    line("ours: columns + find_matches, at least half on", ours_half, bar=True)
    line("ours: co-activation (Jaccard) of the selected units", co)
    line("baseline: numpy loop per sentence", base_np)
    line("baseline: pure-Python loop over steps", base_py)
    print(f"speed-up, median: {np.median(base_np) / np.median(ours_all):.0f}x over the per-sentence loop, "
          f"{np.median(base_py) / np.median(ours_all[:len(base_py)]):.0f}x over the Python loop")
    print("check: both baselines return the same matches in the same order as ours")
    print(f"load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
