"""The frozen config: DatasetSpec / ModelSpec / BuildConfig validation, --dataset parsing and TOML loading."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from pipeline.cli import config_from_args, parser
from pipeline.config import (BuildConfig, DatasetSpec, ModelSpec, load_toml, make_config, parse_dataset_arg,
                             spec_hash)
from pipeline.errors import PipelineError


def ds(name="d", **kw):
    kw.setdefault("source", "file")
    kw.setdefault("path", "x.csv")
    return DatasetSpec(name=name, **kw)


def model(run_id="m", **kw):
    return ModelSpec(run_id, kw.pop("kind", "transformer"), kw.pop("path", "/some/folder"), **kw)


# --- DatasetSpec -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("limit", [0, -1, -100, True, False, 2.5, "10"])
def test_dataset_limit_must_be_a_positive_int(limit):
    with pytest.raises(PipelineError, match=r"dataset 'd': limit must be a positive integer") as e:
        ds(limit=limit)
    assert repr(limit) in str(e.value)


@pytest.mark.parametrize("limit", [1, 7, 10_000])
def test_dataset_limit_positive_ok(limit):
    assert ds(limit=limit).limit == limit


def test_dataset_bad_source_names_the_choices():
    with pytest.raises(PipelineError) as e:
        ds(source="ftp")
    msg = str(e.value)
    assert "'ftp'" in msg and "source must be one of demo, file, hf, research" in msg


def test_dataset_bad_label_kind():
    with pytest.raises(PipelineError, match=r"label_kind must be one of none, binary, class, score.*'stars'"):
        ds(label_kind="stars")


@pytest.mark.parametrize("name", ["", "has space", "semi;colon", "a/b"])
def test_dataset_bad_name(name):
    with pytest.raises(PipelineError, match="dataset name"):
        ds(name=name)


@pytest.mark.parametrize("name", ["movies", "sst-2", "glue.sst2", "a_b", "x1"])
def test_dataset_good_name(name):
    assert ds(name=name).name == name


def test_sample_needs_a_limit():
    with pytest.raises(PipelineError, match="sample=true needs a limit"):
        ds(sample=True)
    assert ds(sample=True, limit=3).sample is True


# --- ModelSpec ---------------------------------------------------------------------------------------------

def test_model_bad_kind():
    with pytest.raises(PipelineError, match=r"model 'm': kind must be one of transformer, decoder, lstm, got 'rnn'"):
        model(kind="rnn")


@pytest.mark.parametrize("field", ["max_length", "batch_size"])
@pytest.mark.parametrize("value", [0, -3, True, 1.5, "32"])
def test_model_sizes_must_be_positive_ints(field, value):
    with pytest.raises(PipelineError, match=rf"model 'm': {field} must be a positive integer"):
        model(**{field: value})


# --- BuildConfig -------------------------------------------------------------------------------------------

def test_duplicate_dataset_names():
    with pytest.raises(PipelineError, match=r"duplicate dataset name 'a'"):
        make_config(datasets=[ds("a"), ds("b"), ds("a", path="y.csv")], models=[model()])


def test_duplicate_run_ids():
    with pytest.raises(PipelineError, match="duplicate model run_id"):
        make_config(datasets=[ds()], models=[model("m"), model("m", path="/other")])


def test_config_needs_datasets_and_models():
    with pytest.raises(PipelineError, match="no datasets"):
        make_config(models=[model()])
    with pytest.raises(PipelineError, match="no models"):
        make_config(datasets=[ds()])


@pytest.mark.parametrize("topk", [0, -1, True, 2.0])
def test_topk_must_be_positive_int(topk):
    with pytest.raises(PipelineError, match="topk must be a positive integer"):
        make_config(datasets=[ds()], models=[model()], topk=topk)


def test_make_config_unknown_key():
    with pytest.raises(PipelineError, match="unknown key.*warehous"):
        make_config(datasets=[ds()], models=[model()], warehous="x.duckdb")


def test_make_config_turns_lists_into_tuples_and_is_hashable():
    cfg = make_config(datasets=[ds()], models=[model()])
    assert isinstance(cfg.datasets, tuple) and isinstance(cfg.models, tuple)
    assert hash(cfg) == hash(make_config(datasets=[ds()], models=[model()]))


def test_config_is_frozen():
    cfg = make_config(datasets=[ds()], models=[model()])
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.topk = 3
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.datasets[0].limit = 3
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.models[0].batch_size = 3
    changed = cfg.with_(topk=3)
    assert changed.topk == 3 and cfg.topk == 50


def test_to_json_ignores_progress_and_spec_hash_is_stable():
    a = make_config(datasets=[ds()], models=[model()], progress=True)
    b = make_config(datasets=[ds()], models=[model()], progress=False)
    assert a.to_json() == b.to_json()
    assert '"progress"' not in a.to_json()
    assert spec_hash(ds()) == spec_hash(ds())
    assert spec_hash(ds()) != spec_hash(ds(limit=5))
    assert len(spec_hash(ds())) == 16


# --- --dataset ---------------------------------------------------------------------------------------------

def test_parse_dataset_arg_all_fields():
    d = parse_dataset_arg("name=rev, source=file ,path=data/r.csv,text=review,text_b=title,label=stars,"
                          "label_kind=score,split=part,limit=100,sample=true,encoding=cp1252")
    assert d == DatasetSpec(name="rev", source="file", path="data/r.csv", text="review", text_b="title",
                            label="stars", label_kind="score", split="part", limit=100, sample=True,
                            encoding="cp1252")


def test_parse_dataset_arg_value_may_contain_equals():
    assert parse_dataset_arg("name=q,source=hf,path=org/x=y").path == "org/x=y"


@pytest.mark.parametrize("sample, expected", [("true", True), ("1", True), ("yes", True), ("no", False),
                                              ("false", False)])
def test_parse_dataset_arg_sample(sample, expected):
    assert parse_dataset_arg(f"name=a,source=file,path=p.csv,limit=3,sample={sample}").sample is expected


def test_parse_dataset_arg_errors():
    with pytest.raises(PipelineError, match="expected key=value pairs"):
        parse_dataset_arg("name=a,source=file,p.csv")
    with pytest.raises(PipelineError, match=r"limit must be a positive integer, got 'ten'"):
        parse_dataset_arg("name=a,source=file,path=p.csv,limit=ten")
    with pytest.raises(PipelineError, match=r"limit must be a positive integer, got 0"):
        parse_dataset_arg("name=a,source=file,path=p.csv,limit=0")
    with pytest.raises(PipelineError, match=r"--dataset .*unknown key\(s\) colour"):
        parse_dataset_arg("name=a,source=file,path=p.csv,colour=red")
    with pytest.raises(PipelineError, match=r"--dataset .*path"):
        parse_dataset_arg("name=a,source=file")  # missing required field


# --- TOML --------------------------------------------------------------------------------------------------

TOML = """
warehouse = "out/w.duckdb"
topk = 7

[[datasets]]
name = "rel"
source = "file"
path = "data/rel.csv"
text = "review"

[[datasets]]
name = "abs"
source = "file"
path = "{abs}"

[[datasets]]
name = "hub"
source = "hf"
path = "glue"
split = "validation"

[[models]]
run_id = "tiny"
kind = "transformer"
path = "models/tiny"
max_length = 64
"""


def test_load_toml_resolves_relative_file_paths_against_its_folder(tmp_path, monkeypatch):
    conf = tmp_path / "conf" / "build.toml"
    conf.parent.mkdir()
    absolute = tmp_path / "elsewhere" / "a.csv"
    conf.write_text(TOML.format(abs=absolute))
    monkeypatch.chdir(tmp_path)  # a different folder than the TOML's
    raw = load_toml(conf)
    rel, ab, hub = raw["datasets"]
    assert Path(rel.path) == conf.parent / "data" / "rel.csv"
    assert Path(ab.path) == absolute
    assert hub.path == "glue" and hub.split == "validation"  # not a file: left alone
    assert rel.text == "review"
    assert raw["models"] == (ModelSpec("tiny", "transformer", "models/tiny", max_length=64),)
    assert raw["warehouse"] == "out/w.duckdb" and raw["topk"] == 7
    cfg = make_config(**raw)
    assert isinstance(cfg, BuildConfig) and cfg.topk == 7 and len(cfg.datasets) == 3


def test_toml_unknown_key_names_file_and_entry(tmp_path):
    conf = tmp_path / "b.toml"
    conf.write_text('[[datasets]]\nname = "a"\nsource = "file"\npath = "a.csv"\n\n'
                    '[[datasets]]\nname = "b"\nsource = "file"\npath = "b.csv"\nlabel_knd = "score"\n')
    with pytest.raises(PipelineError) as e:
        load_toml(conf)
    msg = str(e.value)
    assert str(conf) in msg
    assert "[[datasets]] #2" in msg
    assert "label_knd" in msg and "label_kind" in msg  # the unknown key and the known ones
    assert "\n" not in msg


def test_toml_unknown_model_key_names_file_and_entry(tmp_path):
    conf = tmp_path / "b.toml"
    conf.write_text('[[models]]\nrun_id = "a"\nkind = "transformer"\npath = "x"\nbatchsize = 3\n')
    with pytest.raises(PipelineError, match=r"b\.toml \[\[models\]\] #1: unknown key\(s\) batchsize"):
        load_toml(conf)


def test_toml_bad_value_names_file_and_entry(tmp_path):
    conf = tmp_path / "b.toml"
    conf.write_text('[[datasets]]\nname = "a"\nsource = "file"\npath = "a.csv"\nlimit = 0\n')
    with pytest.raises(PipelineError) as e:
        load_toml(conf)
    assert str(conf) in str(e.value) and "#1" in str(e.value) and "limit must be a positive integer" in str(e.value)


def test_toml_missing_required_key(tmp_path):
    conf = tmp_path / "b.toml"
    conf.write_text('[[datasets]]\nname = "a"\nsource = "file"\n')
    with pytest.raises(PipelineError, match=r"b\.toml \[\[datasets\]\] #1: .*path"):
        load_toml(conf)


def test_toml_syntax_error_and_missing_file(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[[datasets]\nname = 'a'\n")
    with pytest.raises(PipelineError, match=r"bad\.toml: "):
        load_toml(bad)
    with pytest.raises(PipelineError, match=r"nope\.toml: config file not found"):
        load_toml(tmp_path / "nope.toml")


# --- CLI flags into the config -----------------------------------------------------------------------------

def test_cli_flags_build_one_config(tmp_path):
    args = parser().parse_args(["build", "--dataset", "name=a,source=file,path=a.csv", "--dataset",
                                "name=b,source=file,path=b.csv,limit=5", "--model", "/m", "--run-id", "r",
                                "--max-length", "16", "--batch-size", "4", "--limit", "10", "--topk", "3",
                                "--warehouse", str(tmp_path / "w.duckdb"), "--quiet"])
    cfg = config_from_args(args)
    assert [d.limit for d in cfg.datasets] == [10, 5]  # --limit caps, never raises a smaller limit
    assert cfg.models == (ModelSpec("r", "transformer", "/m", 16, 4),)
    assert cfg.topk == 3 and cfg.progress is False and cfg.warehouse == str(tmp_path / "w.duckdb")


def test_cli_limit_zero_names_the_flag():
    args = parser().parse_args(["build", "--dataset", "name=a,source=file,path=a.csv", "--limit", "0"])
    with pytest.raises(PipelineError, match=r"--limit must be a positive integer, got 0"):
        config_from_args(args)


def test_stage_sections_from_set_and_toml(tmp_path):
    from pipeline.config import AnisotropyConfig, apply_settings

    kw = apply_settings({}, ["anisotropy.enabled=false", "sentiment.enabled=true"])
    cfg = make_config(datasets=[DatasetSpec("a", "file", "x.csv")], models=[ModelSpec("m", "transformer", "x")], **kw)
    assert cfg.anisotropy == AnisotropyConfig(enabled=False) and cfg.sentiment.enabled is True
    assert json.loads(cfg.to_json())["anisotropy"] == dataclasses.asdict(AnisotropyConfig(enabled=False))
    toml = tmp_path / "c.toml"
    toml.write_text('[anisotropy]\nenabled = false\n[[datasets]]\nname = "a"\nsource = "file"\npath = "x.csv"\n'
                    '[[models]]\nrun_id = "m"\nkind = "transformer"\npath = "x"\n')
    assert make_config(**load_toml(toml)).anisotropy.enabled is False


@pytest.mark.parametrize("item, message", [
    ("anisotropy=1", "expected <section>.<key>=<value>"),
    ("nosuch.enabled=true", "section one of anisotropy"),
    ("anisotropy.nosuch=1", "anisotropy has no key 'nosuch'"),
])
def test_set_errors_name_the_setting(item, message):
    from pipeline.config import apply_settings

    with pytest.raises(PipelineError, match=message):
        apply_settings({}, [item])


def test_section_values_are_checked():
    with pytest.raises(PipelineError, match="anisotropy.enabled must be true or false"):
        make_config(datasets=[DatasetSpec("a", "file", "x.csv")], models=[ModelSpec("m", "transformer", "x")],
                    anisotropy={"enabled": "yes"})


@pytest.mark.parametrize("section, message", [
    ({"directions": 1}, r"illusion_null.directions must be an integer >= 2, got 1"),
    ({"kind": "uniform"}, r"illusion_null.kind must be one of gaussian, rotation, got 'uniform'"),
    ({"seed": -1}, r"illusion_null.seed must be an integer >= 0, got -1"),
])
def test_illusion_null_settings_are_checked(section, message):
    with pytest.raises(PipelineError, match=message) as e:
        make_config(datasets=[DatasetSpec("a", "file", "x.csv")], models=[ModelSpec("m", "transformer", "x")],
                    illusion_null=section)
    assert "\n" not in str(e.value) and str(e.value).count("config:") == 1


# --- The extraction engine -----------------------------------------------------------------------------------

def _build(*flags):
    return config_from_args(parser().parse_args(["build", "--dataset", "name=a,source=file,path=a.csv", "--model",
                                                 "/m", *flags]))


def test_engine_flags_build_an_engine_spec_that_no_hash_sees():
    from pipeline.config import EngineSpec

    local = _build()
    ray = _build("--engine", "ray", "--address", "ray://head:10001", "--ray-actors", "4", "--ray-shards", "/shared/s",
                 "--ray-rows-per-shard", "64")
    assert local.engine == EngineSpec()
    assert ray.engine == EngineSpec("ray", "ray://head:10001", 4, "/shared/s", 64)
    # how extraction runs, not what it stores: the config JSON (and so the manifest hash) is the same
    assert ray.to_json() == local.to_json() and '"engine"' not in ray.to_json()
    assert ray.engine.shard_dir(ray.warehouse, "bert") == Path("/shared/s/bert")
    assert local.engine.shard_dir("w/x.duckdb", "bert") == Path("w/x.duckdb.ray-shards/bert")


@pytest.mark.parametrize("flags, message", [
    (["--address", "auto"], "--address: only with --engine ray (the engine is 'local')"),
    (["--ray-actors", "3", "--ray-shards", "/s"], "--ray-actors, --ray-shards: only with --engine ray"),
    (["--engine", "ray", "--ray-actors", "0"], "--ray-actors must be a positive integer, got 0"),
    (["--engine", "ray", "--ray-rows-per-shard", "-5"], "--ray-rows-per-shard must be a positive integer, got -5"),
    (["--engine", "ray", "--address", " "], "--address must be auto, host:port or ray://host:port, got ' '"),
])
def test_bad_engine_flags_are_one_line_naming_the_flag(flags, message):
    with pytest.raises(PipelineError) as e:
        _build(*flags)
    assert str(e.value).startswith(message)


def test_engine_from_toml_and_flags_on_top(tmp_path):
    toml = tmp_path / "c.toml"
    toml.write_text('[engine]\nkind = "ray"\nactors = 3\n[[datasets]]\nname = "a"\nsource = "file"\npath = "x.csv"\n'
                    '[[models]]\nrun_id = "m"\nkind = "transformer"\npath = "x"\n')
    assert make_config(**load_toml(toml)).engine.actors == 3
    args = parser().parse_args(["build", "--config", str(toml), "--address", "auto"])
    engine = config_from_args(args).engine
    assert (engine.kind, engine.address, engine.actors) == ("ray", "auto", 3)
    toml.write_text(toml.read_text().replace("actors = 3", "actors = 3\nnodes = 2"))
    with pytest.raises(PipelineError, match=r"config \[engine\]: unknown key\(s\) nodes"):
        make_config(**load_toml(toml))


@pytest.mark.parametrize("name", ["studies-research.toml", "drift-research.toml"])
def test_the_shipped_research_configs_are_valid(name):
    """Every config in configs/ loads and validates (research data or not: only the settings are read here);
    the studies config runs the attention study as the study did, on the fine-tuned encoder."""
    raw = load_toml(Path(__file__).resolve().parent.parent / "configs" / name)
    cfg = make_config(**raw)
    assert cfg.models and cfg.datasets
    if name == "studies-research.toml":
        assert cfg.attention.datasets == ("stsb",) and cfg.attention.finetune_epochs == 2


def test_the_demo_samples_the_movie_snippets_instead_of_taking_the_positive_first_rows():
    """The movie snippets file lists its positive snippets first: the demo (and any --limit of it) takes a seeded
    sample, so both polarities are there; the other corpora keep their first rows."""
    from pipeline.corpora import load_dataset

    cfg = config_from_args(parser().parse_args(["build", "--preset", "demo", "--limit", "300"]))
    movies = next(d for d in cfg.datasets if d.name == "movies")
    assert movies.sample and movies.limit == 300
    assert not any(d.sample for d in cfg.datasets if d.name != "movies")
    y = load_dataset(movies, None, cfg.seed).frame["label"].astype(float)
    assert len(y) == 300 and 0.35 < (y > 0).mean() < 0.65  # the whole set: 5,242 positive, 5,326 negative
    full = config_from_args(parser().parse_args(["build", "--preset", "demo"]))
    assert {d.name: (d.limit, d.sample) for d in full.datasets}["movies"] == (5000, True)
