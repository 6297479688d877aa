"""Build a warehouse from a config: atomically, incrementally, one build at a time.

- Atomic: everything is written to ``<warehouse>.tmp-<pid>`` and ``os.replace``d over the live file only
  after the schema contracts pass. A failed or killed build leaves the previous warehouse as it was.
- Incremental: a stage whose inputs hash (its settings, its code, and the data it reads: see ``plan_steps``)
  matches the previous warehouse's ``stage_log`` is copied from it instead of recomputed; extraction per
  (run, dataset), every other stage per run.
- Exclusive: a lock file next to the warehouse refuses a second concurrent build with a clear message.
- Progressive (``publish_every``, for `make run`): the finished steps are also swapped in along the way, each
  copy passing the contracts first, so the dashboard serves the first model's pages while the rest builds, and
  a build stopped midway leaves its finished steps for the next one to reuse. While it runs,
  ``<warehouse>.progress.json`` says which steps are done (see ``progress_path``; the dashboard reads it).
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from glob import escape as glob_escape
from pathlib import Path
from types import ModuleType

import duckdb
import pandas as pd

import warehouse
from pipeline.config import BuildConfig, ModelSpec, spec_hash
from pipeline.corpora import Loaded, load_dataset
from pipeline.errors import PipelineError
from pipeline.models import make_runner
from pipeline.stages import FIRST, RunContext, schema_sql, stage_modules
from pipeline.version import code_version, source_hash
from warehouse.contracts import violations


@dataclass
class BuildReport:
    warehouse: str
    computed: list[str] = field(default_factory=list)  # "run/dataset" pairs extracted by this build
    reused: list[str] = field(default_factory=list)  # and those copied from the previous one
    stages: dict[str, dict[str, str]] = field(default_factory=dict)  # stage -> key -> computed | reused
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
    return {"hashes": {(stage, key): h for stage, key, h in logged}, "meta": meta}


def _hash(payload: dict) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]


@dataclass
class Step:
    """One stage for one model run: its settings and, per stage_log key, its inputs hash (one key per dataset,
    ``run/dataset``, for a PER_DATASET stage; the run id otherwise)."""

    stage: ModuleType
    spec: ModelSpec
    settings: dict
    hashes: dict[str, str]

    @property
    def per_dataset(self) -> bool:
        return getattr(self.stage, "PER_DATASET", False)


def skip_reason(module, cfg: BuildConfig, spec: ModelSpec, datasets: list[str]) -> str:
    """Why a stage whose ``settings`` returned None does not run, in one line: ``<name>.enabled = false``, else
    the stage's own ``skip_reason(cfg, spec, datasets)`` when it has one, else the first line of its docstring
    (which says what the stage is for, e.g. "transformer runs only"). Generic on purpose: a stage's code is
    part of its inputs hash, so a stage file edited only to word its skip would be recomputed in every
    warehouse."""
    section = cfg.sections.get(module.NAME)
    if section is not None and getattr(section, "enabled", True) is False:
        return f"{module.NAME}.enabled = false"
    own = getattr(module, "skip_reason", None)
    text = own(cfg, spec, datasets) if own is not None else None
    if text:
        return text
    doc = ((module.__doc__ or "").strip().splitlines() or [""])[0].rstrip(".")
    return f"it does not apply to this run; the stage: {doc}" if doc else "it does not apply to this run"


def plan_steps(cfg: BuildConfig, modules: list, dataset_hashes: dict[str, str], log=None) -> list[Step]:
    """Every (stage, run) that applies, in run order (per model run, see ``BuildConfig.runs``: the stages in
    registry order); ``log`` gets one line per stage that does not apply to a run, with the reason.

    A PER_DATASET stage's inputs per dataset: its settings, the dataset's content and its code. Any other
    stage's: the run's PER_DATASET hashes (what it reads), its own settings, the seed and its code. Unchanged
    inputs mean its rows are copied from the previous build.
    """
    names = list(dataset_hashes)
    steps = []
    for spec in cfg.runs:
        upstream: dict[str, str] = {}
        for module in modules:
            settings = module.settings(cfg, spec, names)
            if settings is None:
                if log is not None:
                    log(f"{module.NAME} {spec.run_id}: skipped ({skip_reason(module, cfg, spec, names)})")
                continue
            code = source_hash(*module.SOURCES)
            if getattr(module, "PER_DATASET", False):
                hashes = {f"{spec.run_id}/{name}": _hash({"settings": settings, "dataset": dataset_hashes[name],
                                                          "code": code}) for name in names}
                upstream.update({f"{module.NAME}:{k}": h for k, h in hashes.items()})
            else:
                hashes = {spec.run_id: _hash({"upstream": upstream, "settings": settings, "seed": cfg.seed,
                                              "code": code})}
            steps.append(Step(module, spec, settings, hashes))
    return steps


@dataclass
class Build:
    """One build's state: the loaded datasets, the plan, the previous warehouse, and the report.

    ``Build.prepare`` loads and plans (bad input fails there, before any model work or writing);
    ``write`` fills ``<warehouse>.tmp-<pid>`` and moves it over the live file only when every contract holds.
    """

    cfg: BuildConfig
    target: Path
    log: Callable[[str], None]
    report: BuildReport
    loaded: dict[str, Loaded]
    dataset_hashes: dict[str, str]
    modules: list
    steps: list[Step]
    prev: dict | None
    manifest: str
    # set by write(): the temporary file, the progressive-build settings and the progress file (or None)
    _tmp: Path | None = field(default=None, init=False, repr=False)
    _publish_every: float | None = field(default=None, init=False, repr=False)
    _published_at: float = field(default=0.0, init=False, repr=False)
    _progress: "Progress | None" = field(default=None, init=False, repr=False)

    @classmethod
    def prepare(cls, cfg: BuildConfig, target: Path, log=print) -> "Build":
        loaded: dict[str, Loaded] = {}
        for spec in cfg.datasets:
            log(f"loading {spec.name} ({spec.source}:{spec.path})")
            loaded[spec.name] = load_dataset(spec, cfg.cache, cfg.seed, cfg.progress)
        dataset_hashes = {name: content_hash(ld) for name, ld in loaded.items()}
        modules = stage_modules()
        steps = plan_steps(cfg, modules, dataset_hashes, log)
        every = {f"{s.stage.NAME}:{k}": h for s in steps for k, h in s.hashes.items()}
        manifest = _hash({"config": json.loads(cfg.to_json()), "datasets": dataset_hashes, "stages": every})
        return cls(cfg, target, log, BuildReport(str(target)), loaded, dataset_hashes, modules, steps,
                   _previous(target), manifest)

    @property
    def schema_sql(self) -> list[str]:
        """The registered stages' own schema texts (created after the built-in schema, checked with it)."""
        return schema_sql(self.modules)

    def up_to_date(self) -> bool:
        """The live warehouse was built from the same manifest by this schema version (nothing to do)."""
        meta = self.prev["meta"] if self.prev else {}
        if meta.get("manifest_hash") != self.manifest or meta.get("schema_version") != str(warehouse.SCHEMA_VERSION):
            return False
        self.report.up_to_date = True
        self.report.reused = sorted({k for s in self.steps if s.per_dataset for k in s.hashes})
        return True

    def todo(self, step: Step) -> list[str]:
        """The step's stage_log keys whose inputs hash differs from the previous build's: the work to compute."""
        old = self.prev["hashes"] if self.prev else {}
        return [k for k, h in step.hashes.items() if old.get((step.stage.NAME, k)) != h]

    def connect_engine(self) -> None:
        """With ``--engine ray`` and extraction to compute, join (or start) the Ray cluster before anything is
        written: an unreachable --address or a missing Ray is a one-line error within seconds, and the live
        warehouse is not touched. Nothing to extract (every dataset reused): no Ray at all."""
        engine = self.cfg.engine
        if engine.kind != "ray" or not any(s.stage.NAME == FIRST and self.todo(s) for s in self.steps):
            return
        from pipeline.engines.ray_engine import connect

        self.log(f"connecting to Ray ({engine.address or 'a new local instance'})")
        connect(engine.address)

    def write(self, publish_every: float | None = None) -> None:
        """Build into a temporary file next to the target and ``os.replace`` it over the target; with
        ``publish_every`` (seconds), also swap in a copy of the finished steps whenever a step completes at
        least that long after the last copy (0: after every step that computed something)."""
        tmp = self.target.with_name(f"{self.target.name}.tmp-{os.getpid()}")
        self._tmp, self._publish_every, self._published_at = tmp, publish_every, time.time()
        self._progress = Progress(progress_path(self.target), self.steps) if publish_every is not None else None
        # The caller holds the lock, so any other <warehouse>.{tmp,compact,pub}-* (and .wal) is left by a killed
        # build.
        for kind in ("tmp", "compact", "pub"):
            for stale in self.target.parent.glob(f"{glob_escape(self.target.name)}.{kind}-*"):
                stale.unlink(missing_ok=True)
        compact = self.target.with_name(f"{self.target.name}.compact-{os.getpid()}")
        try:
            con = warehouse.connect_for_writing(tmp)
            try:
                self._fill(con)
                self.log(f"compacting {self.target.name} (a copy keeps only the blocks in use)")
                warehouse.compact_copy(con, compact)
            finally:
                con.close()
            os.replace(compact, self.target)
        finally:
            for leftover in (tmp, Path(f"{tmp}.wal"), compact, Path(f"{compact}.wal"),
                             self.target.with_name(f"{self.target.name}.pub-{os.getpid()}")):
                leftover.unlink(missing_ok=True)
            if self._progress:
                self._progress.close()

    def _fill(self, con) -> None:
        extra = self.schema_sql
        warehouse.create_schema(con, extra_sql=extra)
        if self.prev:
            con.execute("attach ? as old (read_only)", [str(self.target)])
        self._insert_datasets(con)
        for model in self.cfg.models:
            shared = self._shared_base(model)
            for spec in model.run_specs():
                make_runner = self._runner_factory(spec, shared, con)
                for i, step in enumerate(self.steps):
                    if step.spec != spec:
                        continue
                    if self._progress:
                        self._progress.start(i)
                    computed = self._run(con, step, make_runner)
                    if self._progress:
                        self._progress.finish(i, "computed" if computed else "reused")
                    if computed and self._publish_every is not None \
                            and time.time() - self._published_at >= self._publish_every and i < len(self.steps) - 1:
                        self._publish(con, extra, i + 1)
        self._insert_meta(con, self.manifest)
        if self.prev:
            con.execute("detach old")
        bad = violations(con, extra_sql=extra)
        if bad:
            raise PipelineError("schema contracts failed: " + "; ".join(f"{n} ({k} rows)" for n, k in bad))
        con.execute("checkpoint")

    def _insert_meta(self, con, manifest: str, status: str = "complete") -> list[str]:
        """The manifest facts (schema_version is written with the schema); returns their keys."""
        meta = {"built_at": _now().isoformat(timespec="seconds"), "code_version": code_version(),
                "config_json": self.cfg.to_json(), "config_hash": spec_hash(json.loads(self.cfg.to_json())),
                "manifest_hash": manifest, "duckdb_version": duckdb.__version__, "build_status": status}
        con.executemany("insert into meta values (?, ?)", list(meta.items()))
        return list(meta)

    def _publish(self, con, extra: list[str], done: int) -> None:
        """Swap a copy of the steps finished so far in over the target (contracts first; a copy that fails
        them is not published). Its manifest is not the build's, so no later build takes it as up to date;
        its stage_log lists exactly the finished steps, which a later build reuses."""
        status = f"partial: {done} of {len(self.steps)} steps"
        keys = self._insert_meta(con, f"partial-{self.manifest}", status)
        try:
            bad = violations(con, extra_sql=extra)
            if bad:
                self.log(f"not publishing the partial build: contracts failed ({', '.join(n for n, _ in bad)})")
                return
            con.execute("checkpoint")
            copy = self.target.with_name(f"{self.target.name}.pub-{os.getpid()}")
            shutil.copyfile(self._tmp, copy)
            os.replace(copy, self.target)
            self._published_at = time.time()
            self.log(f"published {self.target} ({status})")
        finally:
            con.execute("delete from meta where list_contains(?, key)", [keys])  # the final ones come at the end

    def _insert_datasets(self, con) -> None:
        now = _now()
        for spec in self.cfg.datasets:
            ld = self.loaded[spec.name]
            df = ld.frame
            con.execute("insert into datasets values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        [spec.name, spec.source, spec.path, ld.description, ld.label_kind, len(df),
                         ld.n_dropped_empty, bool(df["text_b"].notna().any()),
                         json.dumps(asdict(spec), sort_keys=True), self.dataset_hashes[spec.name], now])
            rows = df.assign(dataset=spec.name, sentence_id=range(len(df)))[  # noqa: F841
                ["dataset", "sentence_id", "text", "text_b", "label", "label_text", "split"]]
            con.execute("insert into sentences select * from rows")

    def _shared_base(self, model: ModelSpec) -> Callable[[], object] | None:
        """For a decoder with several sites: its DecoderRunner, loaded on first use and shared by the runs of
        its sites (one model load, each run hooks only its own sites); None for any other model."""
        if model.kind != "decoder" or len(model.sites) < 2:
            return None
        base = None

        def get():
            nonlocal base
            if base is None:
                from pipeline.models.decoder import DecoderRunner

                self.log(f"loading model {model.run_id} ({model.path})")
                base = DecoderRunner(model)
            return base

        return get

    def _runner_factory(self, spec: ModelSpec, shared=None, con=None) -> Callable[[], object]:
        """The run's model runner, loaded on first use and shared by its stages (on the model's shared
        DecoderRunner, when given). A dictionary run's runner is the base model under the dictionary its
        dictionary stage recorded in ``dictionaries`` (read from ``con`` when first asked for)."""
        runner = None

        def get():
            nonlocal runner
            if runner is None:
                if shared is None:
                    self.log(f"loading model {spec.run_id} ({spec.path})")
                if getattr(spec, "is_dictionary", False):
                    runner = self._dictionary_runner(con, spec)
                else:
                    runner = make_runner(spec, self.cfg.cache, base=shared() if shared else None)
            return runner

        return get

    def _dictionary_runner(self, con, spec: ModelSpec):
        from pipeline.models.dictionary_runner import dictionary_runner

        from warehouse import queries

        rows = queries.dictionary_runs(con).query("run_id == @spec.run_id")
        if rows.empty:
            raise PipelineError(f"run {spec.run_id!r}: no dictionaries row (its dictionary stage has not run)")
        return dictionary_runner(spec, rows.iloc[0].to_dict(), self.cfg.cache)

    def _run(self, con, step: Step, make_runner) -> bool:
        """Copy the step's unchanged work from the previous build, compute the rest, log both; whether
        anything was computed."""
        name, run_id = step.stage.NAME, step.spec.run_id
        done = self.report.stages.setdefault(name, {})
        todo = self.todo(step)
        for key in step.hashes:
            if key in todo:
                continue
            if step.per_dataset:
                dataset = key.split("/", 1)[1]
                for table in step.stage.TABLES:
                    con.execute(f"insert into {table} select * from old.{table} where run_id = ? and dataset = ?",
                                [run_id, dataset])
            else:
                for table in step.stage.TABLES:
                    con.execute(f"insert into {table} select * from old.{table} where run_id = ?", [run_id])
            con.execute("insert into stage_log select * from old.stage_log where stage = ? and key = ?", [name, key])
            done[key] = "reused"
            if step.per_dataset:
                self.report.reused.append(key)
        if not todo:
            for table in getattr(step.stage, "RUN_TABLES", ()):
                con.execute(f"insert into {table} select * from old.{table} where run_id = ?", [run_id])
            return False
        datasets = [k.split("/", 1)[1] for k in todo] if step.per_dataset else list(self.loaded)
        ctx = RunContext(con=con, cfg=self.cfg, spec=step.spec, datasets=self.loaded, settings=step.settings,
                         make_runner=make_runner, log=self.log, todo=datasets)
        t = time.time()
        out = step.stage.run(ctx)
        if step.per_dataset:
            results = {f"{run_id}/{d}": out[d] for d in datasets}
        else:
            results = {run_id: (int(out or 0), time.time() - t)}
        for key, (rows, seconds) in results.items():
            con.execute("insert into stage_log values (?, ?, ?, ?, ?, ?)",
                        [name, key, step.hashes[key], _now(), seconds, int(rows)])
            done[key] = "computed"
            if step.per_dataset:
                self.report.computed.append(key)
        return True


def progress_path(target) -> Path:
    """``<warehouse>.progress.json``: written while a progressive build runs, removed when it ends."""
    target = Path(target)
    return target.with_name(target.name + ".progress.json")


class Progress:
    """The progress file of a progressive build: {pid, started_at, updated_at, steps: [{stage, run_id,
    status: pending | running | computed | reused, seconds}]}, rewritten atomically at each step's start and
    end."""

    def __init__(self, path: Path, steps: list[Step]):
        self.path, self.t0 = path, time.time()
        self.steps = [{"stage": s.stage.NAME, "run_id": s.spec.run_id, "status": "pending", "seconds": None}
                      for s in steps]
        self._started = self.t0
        self._write()

    def start(self, i: int) -> None:
        self.steps[i]["status"], self._started = "running", time.time()
        self._write()

    def finish(self, i: int, status: str) -> None:
        self.steps[i].update(status=status, seconds=round(time.time() - self._started, 2))
        self._write()

    def _write(self) -> None:
        tmp = self.path.with_name(self.path.name + f".{os.getpid()}")
        tmp.write_text(json.dumps({"pid": os.getpid(), "started_at": self.t0, "updated_at": time.time(),
                                   "steps": self.steps}))
        os.replace(tmp, self.path)

    def close(self) -> None:
        self.path.unlink(missing_ok=True)


def build(cfg: BuildConfig, log=print, publish_every: float | None = None) -> BuildReport:
    """Build ``cfg.warehouse``. publish_every: None (default) swaps the finished file in once, at the end; a
    number of seconds makes the build progressive (see the module docstring)."""
    t0 = time.time()
    target = Path(cfg.warehouse)
    target.parent.mkdir(parents=True, exist_ok=True)
    with build_lock(target):
        job = Build.prepare(cfg, target, log)
        if not job.up_to_date():
            job.connect_engine()
            job.write(publish_every)
    job.report.seconds = time.time() - t0
    return job.report
