"""Pipeline stages and their registry.

A study is one stage module; registering it is one entry in ``RUN_STAGES``. The config sections, the schema a
build creates and checks, and the stage list all come from the registered modules. Every stage module has this
shape:

- ``NAME``: its key in ``stage_log``, its config section ``[NAME]`` and ``--set NAME.key=value``;
- ``SECTION``: the frozen dataclass of its settings, which validates itself in ``__post_init__`` (one
  PipelineError line naming ``NAME.key``, see pipeline.sections), or None when it has no settings;
- ``TABLES``: the tables it writes, each with a ``run_id`` column (copied from the previous build when the
  stage's inputs are unchanged);
- ``SOURCES``: the files whose code decides its output (part of its inputs hash; relative to the project root);
- ``settings(cfg, spec, datasets) -> dict | None``: the config values its output depends on, or None when it
  does not apply to this run (disabled, or nothing to do, e.g. an LSTM-only stage for a transformer);
- ``run(ctx: RunContext)``: its one entry point: compute and insert its rows, return a count for the log;
- optionally ``SCHEMA``: a path (relative to the module's folder) to the ``.sql`` that creates its tables, for a
  study whose tables are not in warehouse/schema/; its keys are declared there (``-- key:`` / ``-- ref:`` lines
  after each ``create table``) and checked with the built-in contracts.

A stage runs once per model run, and its work is reused or recomputed as a whole. A stage with
``PER_DATASET = True`` works per (run, dataset) instead: its TABLES also have a ``dataset`` column, it is
reused dataset by dataset, its ``run(ctx)`` computes the datasets in ``ctx.todo`` and returns
``{dataset: (rows, seconds)}``; its ``RUN_TABLES`` (rows keyed by run only) are written by ``run`` whenever it
computes anything and copied otherwise. Extraction is such a stage; it runs first, and every other stage's
inputs include its hashes, since they read what it wrote.
"""
from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

import warehouse
from pipeline.errors import PipelineError

FIRST = "extract"  # the model over every dataset: what the other stages read
# The stages that run after extraction, in order: a name of this package's modules, or a dotted module path
# for a study that lives elsewhere.
RUN_STAGES = (
    "dictionary",       # a dictionary run's feature vectors (the extraction of a ``<run_id>-sae`` run)
    "histograms",       # the drift page's per-neuron histograms and random baseline
    "distances",        # the outliers page's per-sentence mean distances
    "layer_scores",     # the illusion-score and monotonicity pages' per-neuron scores
    "illusion_null",    # the illusion-score page's neurons against random directions
    "quantiles",        # the transfer page's per-quantile examples and summary statistics
    "separability",
    "anisotropy",
    "token_states",
    "token_topk",       # the drift page's token-level top examples
    "sentiment",
    "attention",
)
REQUIRED = ("NAME", "SECTION", "TABLES", "SOURCES", "settings", "run")
# The stages that need the model's own structure (its layers, attention or sentence vectors as it pools them).
# A dictionary run (ModelSpec.is_dictionary, the site "sae") has no model of its own: the dictionary stage writes
# its vectors from the base model's token states, and the stages that read only the warehouse (histograms,
# distances, layer scores, the illusion null, separability) then treat its features as any run's units. These
# stages do not apply to it. The stages that only run text through ``ctx.runner().token_states`` (token_states,
# token_topk) do: a dictionary run's runner is the base model under its dictionary
# (pipeline.models.dictionary_runner), so its features get the span-match states and token-level lists too.
MODEL_STAGES = ("extract", "anisotropy", "sentiment", "attention")
DICTIONARY_STAGE = "dictionary"


def _module(entry: str) -> ModuleType:
    name = entry if "." in entry else f"{__name__}.{entry}"
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as e:
        if e.name and name.startswith(e.name):
            raise PipelineError(f"stage {entry!r}: no module {name}") from None
        raise
    missing = [a for a in REQUIRED if not hasattr(module, a)]
    if missing:
        raise PipelineError(f"stage {entry!r} ({module.__file__}): missing {', '.join(missing)} "
                            f"(see pipeline/stages/__init__.py)")
    section = module.SECTION
    if section is not None and not (dataclasses.is_dataclass(section) and section.__dataclass_params__.frozen):
        raise PipelineError(f"stage {entry!r}: SECTION must be a frozen dataclass or None, got {section!r}")
    return module


class _OnDictionaryRuns:
    """A stage module as the build sees it, with dictionary runs filtered: ``settings`` is None for a dictionary
    run when the stage runs the model (MODEL_STAGES) or when the dictionary stage does not apply to the run
    (disabled): then nothing writes the run's vectors, so nothing reads them. Everything else is the module's."""

    def __init__(self, module: ModuleType):
        self._module = module
        self.__doc__ = module.__doc__

    def __getattr__(self, name: str):
        return getattr(self._module, name)

    def __repr__(self) -> str:
        return repr(self._module)

    def _skipped(self, cfg, spec, datasets) -> str | None:
        if not getattr(spec, "is_dictionary", False):
            return None
        if self._module.NAME in MODEL_STAGES:
            return "a dictionary run: the dictionary stage computes its features from the base model's token states"
        if _module(DICTIONARY_STAGE).settings(cfg, spec, datasets) is None:
            return "a dictionary run whose dictionary stage does not run (dictionary.enabled = false)"
        return None

    def settings(self, cfg, spec, datasets):
        if self._skipped(cfg, spec, datasets):
            return None
        return self._module.settings(cfg, spec, datasets)

    def skip_reason(self, cfg, spec, datasets):
        why = self._skipped(cfg, spec, datasets)
        own = getattr(self._module, "skip_reason", None)
        return why or (own(cfg, spec, datasets) if own is not None else None)


def stage_modules() -> list[ModuleType]:
    """Every registered stage module in run order: extraction, then RUN_STAGES (each but the dictionary stage
    seen through ``_OnDictionaryRuns``)."""
    modules = [_module(FIRST)] + [_module(entry) for entry in RUN_STAGES]
    modules = [m if m.NAME == DICTIONARY_STAGE else _OnDictionaryRuns(m) for m in modules]
    seen: dict[str, str] = {}
    for m in modules:
        if m.NAME in seen:
            raise PipelineError(f"stages {seen[m.NAME]} and {m.__name__} are both named {m.NAME!r}")
        seen[m.NAME] = m.__name__
    return modules


def sections() -> dict[str, type]:
    """Config section name -> its frozen settings dataclass, for every registered stage that has one."""
    return {m.NAME: m.SECTION for m in stage_modules() if m.SECTION is not None}


def schema_path(module: ModuleType) -> Path | None:
    """The stage's own schema file (``SCHEMA``, relative to its module's folder), or None."""
    schema = getattr(module, "SCHEMA", None)
    return None if schema is None else Path(module.__file__).parent / schema


def schema_sql(modules=None) -> list[str]:
    """The SQL texts of the stages' own schema files, in run order (none for the built-in stages, whose tables
    are in warehouse/schema/)."""
    paths = [schema_path(m) for m in (stage_modules() if modules is None else modules)]
    return [p.read_text() for p in paths if p is not None]


@dataclass
class RunContext:
    """What a stage's ``run`` gets: the open temporary warehouse (the run's extraction already written, for
    every stage after it), the frozen config, the run's ModelSpec, the loaded datasets (name ->
    corpora.Loaded, in config order), its own settings, a lazily created model runner and the build's logger.
    ``todo``: the datasets a PER_DATASET stage computes (the others were copied); every dataset otherwise."""

    con: object
    cfg: object
    spec: object
    datasets: dict
    settings: dict
    make_runner: Callable[[], object]
    log: Callable[[str], None] = print
    todo: list = field(default_factory=list)
    _runner: object = field(default=None, repr=False)

    @property
    def run_id(self) -> str:
        return self.spec.run_id

    @property
    def progress(self) -> bool:
        return self.cfg.progress

    def runner(self):
        """The run's model runner (loaded on first use: a stage that needs no model costs no load)."""
        if self._runner is None:
            self._runner = self.make_runner()
        return self._runner

    def run_info(self) -> dict:
        """The run's row of the ``runs`` table as a dict (n_layers, hidden_size, poolings, ...)."""
        cur = warehouse.cursor(self.con)
        try:
            df = cur.execute("select * from runs where run_id = ?", [self.run_id]).df()
        finally:
            cur.close()
        return df.iloc[0].to_dict()
