"""Pipeline stages.

``extract`` runs per (model run, dataset) inside the build loop. Every other stage runs once per model run,
after extraction, and is a module with this shape:

- ``NAME``: its key in ``stage_log``;
- ``TABLES``: the tables it writes, each with a ``run_id`` column (copied whole from the previous build
  when the stage's inputs are unchanged);
- ``SOURCES``: the files whose code decides its output (part of its inputs hash);
- ``settings(cfg, spec, datasets) -> dict | None``: the config values it depends on, or None when it does
  not apply to this run (disabled, or nothing to do, e.g. an LSTM-only stage for a transformer);
- ``run(ctx: RunContext) -> int``: compute and insert its rows; returns a count for the log.
"""
from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field

import warehouse

# The per-run stages, in the order they run. Each name is a module of this package.
RUN_STAGES = (
    "histograms",       # the drift page's per-neuron histograms and random baseline
    "distances",        # the outliers page's per-sentence mean distances
    "layer_scores",     # the illusion-score and monotonicity pages' per-neuron scores
    "separability",
    "anisotropy",
    "token_states",     # issue 7
    "sentiment",        # issue 5
    "attention",        # issue 6
)


def run_stage_modules() -> list:
    return [importlib.import_module(f"pipeline.stages.{name}") for name in RUN_STAGES]


@dataclass
class RunContext:
    """What a per-run stage gets: the open temporary warehouse (extraction of this run already written),
    the frozen config, the run's ModelSpec, the loaded datasets (name -> corpora.Loaded, in config order),
    its own settings, a lazily created model runner and the build's logger."""

    con: object
    cfg: object
    spec: object
    datasets: dict
    settings: dict
    make_runner: Callable[[], object]
    log: Callable[[str], None] = print
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
