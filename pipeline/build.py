"""Build a warehouse from a config: atomically, incrementally, one build at a time.

- Atomic: everything is written to ``<warehouse>.tmp-<pid>`` and ``os.replace``d over the live file only
  after the schema contracts pass. A failed or killed build leaves the previous warehouse as it was.
- Incremental: the extract stage of a (run, dataset) whose inputs hash (model spec, dataset content, stage
  code) matches the previous warehouse's ``stage_log`` is copied from it instead of recomputed.
- Exclusive: a lock file next to the warehouse refuses a second concurrent build with a clear message.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from glob import escape as glob_escape
from pathlib import Path

import duckdb
import pandas as pd

import warehouse
from pipeline.config import BuildConfig, spec_hash
from pipeline.corpora import Loaded, load_dataset
from pipeline.errors import PipelineError
from pipeline.models import RUNNER_SOURCES, make_runner, runner_info
from pipeline.stages import RunContext, extract, run_stage_modules
from pipeline.version import code_version, source_hash
from warehouse.contracts import violations

TABLES_PER_RUN_DATASET = ("activations", "sentence_lengths", "sentence_tokens", "neuron_topk")


@dataclass
class BuildReport:
    warehouse: str
    computed: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)
    stages: dict[str, dict[str, str]] = field(default_factory=dict)  # stage -> run_id -> computed | reused
    up_to_date: bool = False
    seconds: float = 0.0

    @property
    def separability(self) -> dict[str, str]:
        return self.stages.get("separability", {})


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


@contextlib.contextmanager
def build_lock(target: Path):
    lock_path = target.with_name(target.name + ".lock")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
            raise PipelineError(f"{target}: another build is running (pid {holder}, lock {lock_path}); "
                                f"wait for it to finish") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)  # closing releases the flock; a killed build's lock vanishes with its process


def content_hash(loaded: Loaded) -> str:
    h = hashlib.sha256(loaded.label_kind.encode())
    h.update(pd.util.hash_pandas_object(loaded.frame.astype(object), index=True).values.tobytes())
    return h.hexdigest()[:16]


def extract_inputs_hash(model_spec, dataset_hash: str, topk: int) -> str:
    payload = json.dumps({"model": asdict(model_spec), "dataset": dataset_hash, "topk": topk,
                          "code": source_hash(*RUNNER_SOURCES[model_spec.kind], *extract.SOURCES)},
                         sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def _previous(target: Path):
    """The live warehouse's stage hashes and manifest, or None when there is none we can reuse."""
    if not target.exists():
        return None
    try:
        con = warehouse.connect_read_only(target, versions=warehouse.REUSABLE_VERSIONS)
    except warehouse.WarehouseError:
        return None  # unknown version or unreadable: rebuild from scratch, replace it at the end
    try:
        logged = con.execute("select stage, key, inputs_hash from stage_log").fetchall()
        meta = dict(con.execute("select key, value from meta").fetchall())
    finally:
        con.close()
    return {"stages": {k: h for stage, k, h in logged if stage == "extract"},
            "run_stages": {(stage, k): h for stage, k, h in logged if stage != "extract"}, "meta": meta}


def _manifest_hash(cfg: BuildConfig, hashes: dict[str, str], stage_hashes: dict[str, str]) -> str:
    payload = json.dumps({"config": json.loads(cfg.to_json()), "datasets": hashes, "stages": stage_hashes},
                         sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def build(cfg: BuildConfig, log=print) -> BuildReport:
    t0 = time.time()
    target = Path(cfg.warehouse)
    target.parent.mkdir(parents=True, exist_ok=True)
    report = BuildReport(str(target))
    with build_lock(target):
        # Load every dataset first: bad input fails here, before any model work and before any writing.
        loaded: dict[str, Loaded] = {}
        for spec in cfg.datasets:
            log(f"loading {spec.name} ({spec.source}:{spec.path})")
            loaded[spec.name] = load_dataset(spec, cfg.cache, cfg.seed, cfg.progress)
        hashes = {name: content_hash(ld) for name, ld in loaded.items()}
        stage_hashes = {f"{m.run_id}/{name}": extract_inputs_hash(m, hashes[name], cfg.topk)
                        for m in cfg.models for name in loaded}
        run_stages = run_stage_plan(cfg, list(loaded), stage_hashes)
        manifest = _manifest_hash(cfg, hashes, {**stage_hashes, **{f"{s}:{r}": h for (s, r), (_, h)
                                                                   in run_stages.items()}})
        prev = _previous(target)
        if (prev and prev["meta"].get("manifest_hash") == manifest
                and prev["meta"].get("schema_version") == str(warehouse.SCHEMA_VERSION)):
            report.up_to_date = True
            report.reused = sorted(stage_hashes)
            report.seconds = time.time() - t0
            return report
        tmp = target.with_name(f"{target.name}.tmp-{os.getpid()}")
        # We hold the lock, so any other <warehouse>.tmp-* (and its .wal) is left by a killed build.
        for stale in target.parent.glob(f"{glob_escape(target.name)}.tmp-*"):
            stale.unlink(missing_ok=True)
        try:
            _write(cfg, tmp, target, loaded, hashes, stage_hashes, run_stages, manifest, prev, report, log)
            os.replace(tmp, target)
        finally:
            for leftover in (tmp, Path(f"{tmp}.wal")):
                leftover.unlink(missing_ok=True)
    report.seconds = time.time() - t0
    return report


def _write(cfg, tmp, target, loaded, hashes, stage_hashes, run_stages, manifest, prev, report, log):
    con = warehouse.connect_for_writing(tmp)
    try:
        warehouse.create_schema(con)
        if prev:
            con.execute("attach ? as old (read_only)", [str(target)])
        now = _now()
        for spec in cfg.datasets:
            ld = loaded[spec.name]
            df = ld.frame
            con.execute("insert into datasets values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        [spec.name, spec.source, spec.path, ld.description, ld.label_kind, len(df),
                         ld.n_dropped_empty, bool(df["text_b"].notna().any()),
                         json.dumps(asdict(spec), sort_keys=True), hashes[spec.name], now])
            rows = df.assign(dataset=spec.name, sentence_id=range(len(df)))[  # noqa: F841
                ["dataset", "sentence_id", "text", "text_b", "label", "label_text", "split"]]
            con.execute("insert into sentences select * from rows")
        for mspec in cfg.models:
            runner = None

            def get_runner(mspec=mspec):
                nonlocal runner
                if runner is None:
                    log(f"loading model {mspec.run_id} ({mspec.path})")
                    runner = make_runner(mspec, cfg.cache)
                return runner

            todo = [n for n in loaded if not (prev and prev["stages"].get(f"{mspec.run_id}/{n}")
                                               == stage_hashes[f"{mspec.run_id}/{n}"])]
            if todo:
                info = runner_info(get_runner())
                con.execute("insert into runs values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                            [mspec.run_id, mspec.kind, info["model_name"], mspec.path, info["n_layers"],
                             info["hidden_size"], info["n_heads"], mspec.max_length, list(runner.poolings),
                             json.dumps(asdict(mspec), sort_keys=True), spec_hash(mspec), code_version(), now])
                con.executemany("insert into layers values (?, ?, ?)",
                                [[mspec.run_id, i, name] for i, name in enumerate(runner.layer_names)])
            else:
                for table in ("runs", "layers"):
                    con.execute(f"insert into {table} select * from old.{table} where run_id = ?", [mspec.run_id])
            # One writer thread stores dataset i (top-k, inserts) while the model encodes dataset i+1; torch,
            # numpy and DuckDB all release the GIL. Only one thread touches the connection at a time:
            # the main thread waits for the writer before its own next use of `con`.
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="writer") as writer:
                pending = None
                for name in loaded:
                    key = f"{mspec.run_id}/{name}"
                    if name not in todo:
                        _wait(pending)
                        _copy(con, mspec.run_id, name, key)
                        report.reused.append(key)
                        continue
                    log(f"extracting {key}: {len(loaded[name].frame)} texts")
                    t = time.time()
                    enc = runner.encode(loaded[name].frame["text"].tolist(), progress=cfg.progress)
                    seconds = time.time() - t
                    _wait(pending)
                    pending = writer.submit(_store, con, runner, name, enc, cfg.topk, key, stage_hashes[key],
                                            seconds)
                    report.computed.append(key)
                _wait(pending)
            for (stage_name, run_id), (module, inputs) in run_stages.items():
                if run_id == mspec.run_id:
                    _run_stage(con, cfg, mspec, module, inputs, loaded, get_runner, prev, report, log)
        meta = {"built_at": _now().isoformat(timespec="seconds"), "code_version": code_version(),
                "config_json": cfg.to_json(), "config_hash": spec_hash(json.loads(cfg.to_json())),
                "manifest_hash": manifest, "duckdb_version": duckdb.__version__}
        con.executemany("insert into meta values (?, ?)", list(meta.items()))
        if prev:
            con.execute("detach old")
        bad = violations(con)
        if bad:
            raise PipelineError("schema contracts failed: " + "; ".join(f"{n} ({k} rows)" for n, k in bad))
        con.execute("checkpoint")
    finally:
        con.close()


def run_stage_plan(cfg: BuildConfig, datasets: list[str], stage_hashes: dict[str, str]) -> dict:
    """(stage, run_id) -> (module, inputs hash) for every per-run stage that applies, in run order.

    A stage's inputs: the run's extraction hashes (model, data, extract code), its own settings, the seed
    and its code. Unchanged inputs mean its rows are copied from the previous build.
    """
    plan = {}
    for mspec in cfg.models:
        mine = {k: v for k, v in stage_hashes.items() if k.startswith(f"{mspec.run_id}/")}
        for module in run_stage_modules():
            settings = module.settings(cfg, mspec, datasets)
            if settings is None:
                continue
            payload = json.dumps({"extract": mine, "settings": settings, "seed": cfg.seed,
                                  "code": source_hash(*module.SOURCES)}, sort_keys=True, default=str)
            plan[(module.NAME, mspec.run_id)] = (module, hashlib.sha256(payload.encode()).hexdigest()[:16])
    return plan


def _run_stage(con, cfg, mspec, module, inputs, loaded, get_runner, prev, report, log) -> None:
    key = mspec.run_id
    done = report.stages.setdefault(module.NAME, {})
    if prev and prev["run_stages"].get((module.NAME, key)) == inputs:
        for table in module.TABLES:
            con.execute(f"insert into {table} select * from old.{table} where run_id = ?", [key])
        con.execute("insert into stage_log select * from old.stage_log where stage = ? and key = ?",
                    [module.NAME, key])
        done[key] = "reused"
        return
    t = time.time()
    ctx = RunContext(con=con, cfg=cfg, spec=mspec, datasets=loaded,
                     settings=module.settings(cfg, mspec, list(loaded)), make_runner=get_runner, log=log)
    n = module.run(ctx)
    con.execute("insert into stage_log values (?, ?, ?, ?, ?, ?)",
                [module.NAME, key, inputs, _now(), time.time() - t, int(n or 0)])
    done[key] = "computed"


def _wait(future) -> None:
    if future is not None:
        future.result()  # re-raises the writer's exception here, in the build's thread


def _store(con, runner, dataset: str, enc, k: int, key: str, inputs_hash: str, encode_seconds: float) -> None:
    t = time.time()
    rows = extract.write_extraction(con, runner, dataset, enc, k)
    con.execute("insert into stage_log values ('extract', ?, ?, ?, ?, ?)",
                [key, inputs_hash, _now(), encode_seconds + time.time() - t, rows])


def _copy(con, run_id: str, dataset: str, key: str) -> None:
    for table in TABLES_PER_RUN_DATASET:
        con.execute(f"insert into {table} select * from old.{table} where run_id = ? and dataset = ?",
                    [run_id, dataset])
    con.execute("insert into stage_log select * from old.stage_log where stage = 'extract' and key = ?", [key])
