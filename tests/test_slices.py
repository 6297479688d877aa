"""A study is a slice: a toy study in its own package (a stage module, its settings dataclass and its schema file)
plus one registration line gets a config section ([toy], --set toy.x=...), a table in the built warehouse and
incremental reuse, with no edit to pipeline/, warehouse/ or the built-in schema."""
from __future__ import annotations

import shutil
import textwrap

import duckdb
import numpy as np
import pytest

import pipeline.stages as stages
import warehouse
from pipeline.build import build
from pipeline.cli import config_from_args, parser
from pipeline.config import SECTIONS, apply_settings, load_toml, make_config
from pipeline.errors import PipelineError

STAGE = textwrap.dedent('''
    """Toy study: per run and dataset, the mean of each of the first ``x`` units of the last layer."""
    from dataclasses import dataclass

    import pandas as pd

    from pipeline.sections import check_bools, check_ints
    from warehouse import queries


    @dataclass(frozen=True)
    class ToyConfig:
        """The [toy] section. x: how many units (from unit 0) get their mean stored."""

        enabled: bool = True
        x: int = 3

        def __post_init__(self):
            check_bools(self, NAME)
            check_ints(self, NAME, 1, ["x"])


    NAME = "toy"
    SECTION = ToyConfig
    TABLES = ("toy_means",)
    SOURCES = (__file__,)
    SCHEMA = "schema.sql"


    def settings(cfg, spec, datasets):
        return {"x": cfg.toy.x} if cfg.toy.enabled else None


    def run(ctx) -> int:
        info = ctx.run_info()
        layer, pooling = int(info["n_layers"]) - 1, list(info["poolings"])[0]
        x, keys = queries.layer_matrix(ctx.con, ctx.run_id, layer, pooling, list(ctx.datasets))
        rows = [(ctx.run_id, name, layer, pooling, unit, float(x[keys["dataset"].to_numpy() == name, unit].mean()))
                for name in ctx.datasets for unit in range(ctx.settings["x"])]
        new_rows = pd.DataFrame(rows, columns=["run_id", "dataset", "layer", "pooling", "unit", "mean_value"])
        ctx.con.execute("insert into toy_means select * from new_rows")
        return len(new_rows)
''')

SCHEMA = textwrap.dedent('''
    -- The toy study (tests/test_slices.py): the mean of each of the first x units of the last layer.
    create table toy_means (
        run_id varchar not null,      -- the model run (runs.run_id)
        dataset varchar not null,     -- the dataset (datasets.dataset)
        layer integer not null,       -- the run's last layer
        pooling varchar not null,     -- the run's first pooling
        unit integer not null,        -- 0 .. x - 1
        mean_value double not null    -- the unit's mean over the dataset's sentences
    );
    -- key: run_id, dataset, unit
    -- ref: run_id, layer -> layers(run_id, layer)
    -- ref: dataset -> datasets(dataset)
''')


@pytest.fixture
def toy(tmp_path, monkeypatch):
    """The toy study's package on sys.path and registered; unregistered again after the test."""
    package = tmp_path / "toy_pkg" / "toystudy"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "stage.py").write_text(STAGE)
    (package / "schema.sql").write_text(SCHEMA)
    monkeypatch.syspath_prepend(str(tmp_path / "toy_pkg"))
    monkeypatch.setattr(stages, "RUN_STAGES", (*stages.RUN_STAGES, "toystudy.stage"))  # the registration line
    return package


def others_off() -> dict:
    """Every other section disabled, and the separability SVM skipped: the build runs extraction, the two
    stages without settings (histograms, distances) and the toy study."""
    return {name: {"enabled": False} for name in SECTIONS if name != "toy"} | {"separability_per_dataset": 0}


def test_the_registry_lists_the_toy_study_and_its_section(toy):
    names = [m.NAME for m in stages.stage_modules()]
    assert names[0] == "extract" and names[-1] == "toy" and len(set(names)) == len(names)
    assert SECTIONS["toy"].__name__ == "ToyConfig" and SECTIONS["toy"]().x == 3
    assert stages.schema_sql() == [(toy / "schema.sql").read_text()]
    import pipeline.config

    assert pipeline.config.ToyConfig is SECTIONS["toy"]


def test_toml_section_and_set_parse_and_validate(toy, tmp_path, tiny_spec, small_specs):
    conf = tmp_path / "toy.toml"
    conf.write_text("[toy]\nx = 5\n")
    kw = load_toml(conf)
    cfg = make_config(**{**kw, "datasets": small_specs[:1], "models": [tiny_spec]})
    assert cfg.toy.x == 5 and cfg.toy == SECTIONS["toy"](x=5)
    assert '"toy": {"enabled": true, "x": 5}' in cfg.to_json()

    args = parser().parse_args(["build", "--dataset", "name=a,source=file,path=a.csv", "--model", "/m",
                                "--set", "toy.x=7", "--set", "toy.enabled=false"])
    cfg = config_from_args(args)
    assert cfg.toy.x == 7 and cfg.toy.enabled is False

    with pytest.raises(PipelineError, match=r"config \[toy\]: config: toy.x must be an integer >= 1, got 0"):
        make_config(datasets=small_specs[:1], models=[tiny_spec], **apply_settings({}, ["toy.x=0"]))
    with pytest.raises(PipelineError, match="toy has no key 'y'"):
        apply_settings({}, ["toy.y=1"])
    conf.write_text("[toy]\nx = true\n")
    with pytest.raises(PipelineError, match="toy.x must be an integer >= 1, got True"):
        make_config(**{**load_toml(conf), "datasets": small_specs[:1], "models": [tiny_spec]})


def test_unregistered_the_section_is_unknown(tiny_spec, small_specs):
    assert "toy" not in SECTIONS
    with pytest.raises(PipelineError, match="unknown key.*toy"):
        make_config(datasets=small_specs[:1], models=[tiny_spec], toy={"x": 2})
    with pytest.raises(PipelineError, match="section one of anisotropy"):
        apply_settings({}, ["toy.x=2"])


@pytest.fixture
def built(toy, tmp_path, tiny_spec, small_specs):
    path = tmp_path / "w.duckdb"
    cfg = make_config(datasets=small_specs, models=[tiny_spec], warehouse=str(path), topk=5, progress=False,
                      toy={"x": 4}, **others_off())
    report = build(cfg, log=lambda *_: None)
    return path, cfg, report


def test_the_toy_table_holds_what_its_run_computes(built):
    path, cfg, report = built
    assert report.stages["toy"] == {"tiny": "computed"}
    con = warehouse.connect_read_only(path)
    try:
        got = con.execute("select dataset, layer, pooling, unit, mean_value from toy_means "
                          "order by dataset, unit").fetchall()
        n_layers, pooling = con.execute("select n_layers, poolings[1] from runs where run_id = 'tiny'").fetchone()
        # The reference: DuckDB's own average of each list element over the stored activations.
        want = con.execute("select dataset, layer, pooling, u.unit, avg(vec[u.unit + 1]) from activations, "
                           "range(4) u(unit) where run_id = 'tiny' and layer = ? and pooling = ? "
                           "group by all order by dataset, u.unit", [n_layers - 1, pooling]).fetchall()
        logged = con.execute("select rows from stage_log where stage = 'toy' and key = 'tiny'").fetchone()
    finally:
        con.close()
    assert len(got) == 3 * 4 and [g[:4] for g in got] == [w[:4] for w in want]
    np.testing.assert_allclose([g[4] for g in got], [w[4] for w in want], rtol=1e-5, atol=1e-6)
    assert logged == (12,)


def test_the_toy_study_is_reused_and_recomputed_like_a_builtin(built):
    path, cfg, _ = built
    assert build(cfg, log=lambda *_: None).up_to_date
    again = build(cfg.with_(toy=cfg.toy.__class__(x=2)), log=lambda *_: None)
    assert again.stages["toy"] == {"tiny": "computed"} and again.stages["histograms"] == {"tiny": "reused"}
    assert again.computed == [] and sorted(again.reused) == ["tiny/news", "tiny/pairs", "tiny/questions"]
    con = duckdb.connect(str(path), read_only=True)
    try:
        assert con.execute("select count(*), max(unit) from toy_means").fetchone() == (3 * 2, 1)
    finally:
        con.close()


def test_a_disabled_toy_study_writes_nothing(toy, tmp_path, tiny_spec, small_specs):
    path = tmp_path / "off.duckdb"
    cfg = make_config(datasets=small_specs[:1], models=[tiny_spec], warehouse=str(path), topk=5, progress=False,
                      toy={"enabled": False}, **others_off())
    assert "toy" not in build(cfg, log=lambda *_: None).stages
    con = duckdb.connect(str(path), read_only=True)
    try:
        assert con.execute("select count(*) from toy_means").fetchone() == (0,)  # the table exists, empty
    finally:
        con.close()


# --- contract part: needs warehouse.contracts.violations(con, extra_sql) reading `-- key:` / `-- ref:` lines ---
# (the contracts branch). On the slices branch alone, violations() takes no extra_sql and this test fails.

def test_the_toy_keys_are_checked_with_the_builtin_contracts(built, tmp_path, toy):
    from warehouse.contracts import violations

    path, _, _ = built
    extra = [(toy / "schema.sql").read_text()]
    copy = tmp_path / "corrupt.duckdb"
    shutil.copy(path, copy)
    con = duckdb.connect(str(copy))
    try:
        assert violations(con, extra_sql=extra) == []
        con.execute("insert into toy_means select * from toy_means where dataset = 'news' and unit = 0")
        con.execute("insert into toy_means values ('tiny', 'ghost', 0, 'cls', 0, 1.0)")
        found = violations(con, extra_sql=extra)
    finally:
        con.close()
    # Two violations, one row each: the duplicated key and the dangling dataset; nothing built-in is hit.
    assert len(found) == 2 and all("toy_means" in n and k == 1 for n, k in found), found
    assert sum("datasets" in n for n, _ in found) == 1, found
