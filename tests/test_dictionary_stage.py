"""The dictionary stage through ``pipeline build``: a tiny random BERT with sites ("resid", "sae") over the three
small file datasets gives the runs ``tiny`` and ``tiny-sae``, the latter's units the features of a TopK SAE the
stage trains on the last layer's token states.

References are made here without the pipeline's runner or encoder: the token states from the model folder loaded
with transformers, one text at a time, unpadded, special tokens dropped; the SAE read back from the SAELens folder
the stage saved and applied with numpy (pre = (x - b_dec) W_enc + b_enc, each token's k largest kept and ReLU'd),
then pooled by max and mean over each text's tokens.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

import warehouse
from pipeline.config import ModelSpec, make_config
from pipeline.errors import PipelineError
from warehouse.contracts import violations
from tests.conftest import ROOT, small_datasets, tiny_model_spec

OFF = {name: {"enabled": False} for name in ("anisotropy", "sentiment", "attention")}
OFF |= {"layer_scores": {"locality": False}, "illusion_null": {"directions": 200}}
SAE = {"expansion": 4, "k": 8, "seed": 3}


def build_with_dictionary(target, tiny_model_dir, fixture_files, lines=None, cache=None, **section):
    """The small datasets x the tiny model with a dictionary run; the slow studies off. ``cache``: where the
    trained SAE is saved (default: next to the warehouse, never the user's cache)."""
    from pipeline.build import build

    cfg = make_config(datasets=small_datasets(fixture_files), cache=str(cache or Path(target).parent / "cache"),
                      models=[tiny_model_spec(tiny_model_dir, sites=("resid", "sae"))], warehouse=str(target), topk=5,
                      progress=False, separability_per_dataset=0, dictionary={**SAE, **section}, **OFF)
    return build(cfg, log=(lines.append if lines is not None else lambda *_: None))


_SHARED: dict = {}


def shared_build(tmp_path_factory, tiny_model_dir, fixture_files):
    """(path, log lines, report) of one build with a dictionary run per test session (this module and the browser
    test read the same file; treat it as read-only)."""
    if "built" not in _SHARED:
        path = tmp_path_factory.mktemp("dictionary-warehouse") / "w.duckdb"
        lines: list[str] = []
        report = build_with_dictionary(path, tiny_model_dir, fixture_files, lines)
        _SHARED["built"] = (path, lines, report)
    return _SHARED["built"]


@pytest.fixture(scope="module")
def built(tmp_path_factory, tiny_model_dir, fixture_files):
    return shared_build(tmp_path_factory, tiny_model_dir, fixture_files)


def _query(path, sql, params=()):
    con = warehouse.connect_read_only(path)
    try:
        return con.execute(sql, list(params)).df()
    finally:
        con.close()


@pytest.fixture(scope="module")
def reference(built, tiny_model_dir, fixture_files):
    """dataset -> (token states float32 [sum T, 32] at the last layer, T per text), made with transformers."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    from pipeline.corpora import load_dataset

    tok = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    model = AutoModel.from_pretrained(str(tiny_model_dir), attn_implementation="eager").eval()
    out = {}
    for spec in small_datasets(fixture_files):
        texts = load_dataset(spec, None, 0, False).frame["text"].tolist()
        states, lengths = [], []
        for text in texts:
            enc = tok(text, truncation=True, max_length=32, return_special_tokens_mask=True, return_tensors="pt")
            keep = enc.pop("special_tokens_mask")[0] == 0
            with torch.no_grad():
                hidden = model(**enc, output_hidden_states=True).hidden_states[-1][0]
            states.append(hidden[keep].numpy())
            lengths.append(int(keep.sum()))
        out[spec.name] = (np.concatenate(states).astype(np.float32), np.array(lengths))
    return out


def _numpy_encode(path, x):
    """The stage's trained SAE, read back from its SAELens folder, applied by hand."""
    from safetensors.numpy import load_file

    row = _query(path, "select path, k from dictionaries where run_id = 'tiny-sae'").iloc[0]
    w = load_file(f"{row['path']}/sae_weights.safetensors")
    cfg = json.loads(open(f"{row['path']}/cfg.json").read())
    assert cfg["d_in"] == 32 and cfg["d_sae"] == 128 and cfg["k"] == int(row["k"]) == 8
    pre = (x.astype(np.float64) - w["b_dec"]) @ w["W_enc"] + w["b_enc"]
    kept = np.argsort(-pre, axis=1, kind="stable")[:, :8]
    acts = np.zeros_like(pre)
    rows = np.arange(len(x))[:, None]
    acts[rows, kept] = np.maximum(pre[rows, kept], 0)
    return acts


def test_build_gives_a_dictionary_run(built):
    path, lines, report = built
    runs = _query(path, "select run_id, n_layers, hidden_size, poolings from runs order by run_id")
    assert runs["run_id"].tolist() == ["tiny", "tiny-sae"]
    sae = runs.iloc[1]
    assert (sae["n_layers"], sae["hidden_size"], list(sae["poolings"])) == (1, 128, ["max", "mean"])
    assert _query(path, "select name from layers where run_id = 'tiny-sae'")["name"].tolist() == \
        ["blocks.1.hook_resid_post.hook_sae_acts_post"]
    d = _query(path, "select * from dictionaries").iloc[0]
    assert (d["base_run_id"], d["layer"], d["origin"], d["kind"], d["d_in"], d["n_features"], d["seed"]) == \
        ("tiny", 2, "trained", "sae-topk", 32, 128, 3)
    # The studies that read only the warehouse ran on the features; the ones that run the model did not.
    logged = set(_query(path, "select stage from stage_log where key like 'tiny-sae%'")["stage"])
    assert logged == {"dictionary", "histograms", "distances", "layer_scores", "illusion_null", "quantiles",
                      "token_states", "token_topk"}
    assert any("extract tiny-sae: skipped (a dictionary run" in line for line in lines)
    con = warehouse.connect_read_only(path)
    try:
        assert violations(con) == []
    finally:
        con.close()


def test_stored_features_equal_the_sae_applied_by_hand(built, reference):
    path = built[0]
    for dataset, (x, lengths) in reference.items():
        acts = _numpy_encode(path, x)
        bounds = np.concatenate([[0], np.cumsum(lengths)])
        expected = {"max": np.stack([acts[a:b].max(0) for a, b in zip(bounds[:-1], bounds[1:])]),
                    "mean": np.stack([acts[a:b].mean(0) for a, b in zip(bounds[:-1], bounds[1:])])}
        for pooling, want in expected.items():
            got = np.array(_query(path, "select vec from activations where run_id = 'tiny-sae' and layer = 0 and "
                                        "pooling = ? and dataset = ? order by sentence_id",
                                  [pooling, dataset])["vec"].tolist())
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4, err_msg=f"{dataset} {pooling}")
        # the drift lists of a feature are its top sentences (neuron_topk through the extract writer)
        top = _query(path, "select unit, sentence_ids from neuron_topk where run_id = 'tiny-sae' and pooling = "
                           "'max' and dataset = ? and side = 'top' order by unit", [dataset])
        for unit in (0, 64, 127):
            col = expected["max"][:, unit]
            assert col[int(top["sentence_ids"][unit][0])] == pytest.approx(col.max(), abs=1e-4)


def test_token_level_lists_and_span_states_are_the_features_at_every_token(built, reference):
    """The stages that run text through the run's runner (token_topk, token_states) see a dictionary run as the
    base model under its dictionary: every feature at every own token, as the numpy SAE gives it."""
    from analysis.spans import decode_states

    path = built[0]
    for dataset, (x, lengths) in reference.items():
        acts = _numpy_encode(path, x)
        bounds = np.concatenate([[0], np.cumsum(lengths)])
        per_text = [acts[a:b] for a, b in zip(bounds[:-1], bounds[1:])]
        top = _query(path, "select unit, sentence_ids, positions, vals from token_topk where run_id = 'tiny-sae' "
                           "and layer = 0 and dataset = ? and side = 'top' order by unit", [dataset])
        assert len(top) == 128
        best = np.array([t.max(0) if len(t) else np.full(128, -np.inf) for t in per_text])  # [N, F]
        for unit in (0, 5, 64, 127):
            r = top.iloc[unit]
            sid, pos = int(r["sentence_ids"][0]), int(r["positions"][0])
            assert r["vals"][0] == pytest.approx(best[:, unit].max(), abs=1e-4)
            assert per_text[sid][pos, unit] == pytest.approx(r["vals"][0], abs=1e-4)
            assert sorted(r["vals"], reverse=True) == pytest.approx(list(r["vals"]))
        states = _query(path, "select sentence_id, n_units, dtype, scale, max_error, states from token_states "
                              "where run_id = 'tiny-sae' and dataset = ? order by sentence_id", [dataset])
        assert len(states) == len(per_text) and (states["dtype"] == "float16").all()
        for r in states.itertuples():
            got = decode_states(r.states, r.n_units, r.dtype, r.scale)
            np.testing.assert_allclose(got, per_text[r.sentence_id], atol=float(r.max_error) + 1e-4, rtol=0)


def test_span_match_and_the_drift_pages_token_list_show_a_feature(monkeypatch, built):
    path = built[0]
    monkeypatch.setenv("ILLUSION_WAREHOUSE", str(path))
    spans = AppTest.from_file(str(ROOT / "views" / "spans.py"), default_timeout=90)
    spans.query_params.update({"run": "tiny-sae"})
    spans.run()
    assert not spans.exception
    assert spans.sidebar.selectbox[0].value == "tiny-sae"
    assert any("hook_sae_acts_post" in str(o) for o in spans.sidebar.selectbox[1].options)
    top = _query(path, "select sentence_ids, vals from token_topk where run_id = 'tiny-sae' and dataset = 'news' "
                       "and unit = 5 and side = 'top'").iloc[0]
    drift = AppTest.from_file(str(ROOT / "views" / "drift.py"), default_timeout=90)
    drift.query_params.update({"run": "tiny-sae", "unit": "5", "k": "3", "list": "top_token", "layer": "0",
                               "pooling": "max"})
    drift.run()
    assert not drift.exception
    table = next(df.value for df in drift.dataframe if "token" in df.value.columns)
    assert table[table.dataset == "news"]["sentence_id"].tolist() == list(top["sentence_ids"][:3])
    assert f"`{top['vals'][0]:+.3f}`" in "\n".join(m.value for m in drift.markdown)


def test_typed_text_neighbours_of_a_feature_run(monkeypatch, built):
    """The neighbours page's typed text on the dictionary run: a stored sentence's text, typed in, is its own
    nearest neighbour (its features computed live by the base model under the recorded dictionary)."""
    path = built[0]
    text = _query(path, "select text from sentences where dataset = 'news' and sentence_id = 2")["text"].iloc[0]
    monkeypatch.setenv("ILLUSION_WAREHOUSE", str(path))
    at = AppTest.from_file(str(ROOT / "views" / "neighbours.py"), default_timeout=90)
    at.query_params.update({"run": "tiny-sae", "layer": "0", "pooling": "max", "text": text, "k": "3"})
    at.run()
    assert not at.exception, at.exception
    assert at.radio(key="nn_mode").value == "typed"
    names = _query(path, "select dataset from datasets order by dataset")["dataset"].tolist()
    tables = dict(zip(names, (df.value for df in at.dataframe)))  # one table per dataset, in the order shown
    assert len(at.dataframe) == len(names)
    news = tables["news"]
    assert news["sentence_id"].iloc[0] == 2 and news["similarity"].iloc[0] == pytest.approx(1, abs=1e-4)


def test_the_dictionary_runner_pools_as_the_stage_and_checks_its_dictionary(built, tmp_path):
    """The runner the dashboard's typed-text neighbours use: a stored sentence typed in gives its stored vector;
    a dictionary file that is not the one recorded is refused by name."""
    import shutil

    from pipeline.models.dictionary_runner import dictionary_runner
    from warehouse import queries

    path = built[0]
    con = warehouse.connect_read_only(path)
    try:
        entry = queries.dictionary_runs(con).iloc[0].to_dict()
        spec_json = con.execute("select spec_json from runs where run_id = 'tiny-sae'").fetchone()[0]
    finally:
        con.close()
    spec = ModelSpec(**{k: v for k, v in json.loads(spec_json).items() if k in ModelSpec.__dataclass_fields__})
    runner = dictionary_runner(spec, entry)
    assert runner.layer_names == ["blocks.1.hook_resid_post.hook_sae_acts_post"] and runner.hidden_size == 128
    rows = _query(path, "select a.sentence_id, a.pooling, a.vec, s.text from activations a join sentences s "
                        "using (dataset, sentence_id) where a.run_id = 'tiny-sae' and a.dataset = 'questions' "
                        "and a.sentence_id < 3 order by a.sentence_id, a.pooling")
    enc = runner.encode(rows["text"].drop_duplicates().tolist())
    for r in rows.itertuples():
        want = np.asarray(r.vec)
        got = enc.vectors[0, list(runner.poolings).index(r.pooling), r.sentence_id]
        np.testing.assert_allclose(got, want, atol=1e-4 + 1e-3 * np.abs(want).max())
    # another dictionary at the recorded path: refused, naming it
    other = tmp_path / "other"
    shutil.copytree(entry["path"], other)
    from safetensors.numpy import load_file, save_file

    w = load_file(str(other / "sae_weights.safetensors"))
    w["b_enc"] = w["b_enc"] + 1.0
    save_file(w, str(other / "sae_weights.safetensors"))
    with pytest.raises(PipelineError, match="not the dictionary run 'tiny-sae' was built with"):
        dictionary_runner(spec, {**entry, "path": str(other)})
    with pytest.raises(PipelineError, match="is not on this machine"):
        dictionary_runner(spec, {**entry, "path": str(tmp_path / "gone")})


def test_density_and_quality_equal_numpy_counts(built, reference):
    path = built[0]
    from pipeline.models.dictionary import load_saelens

    folder = _query(path, "select path from dictionaries")["path"].iloc[0]
    sae = load_saelens(folder)
    for dataset, (x, _) in reference.items():
        acts = _numpy_encode(path, x)
        stored = _query(path, "select unit, n_tokens, n_active, density from dictionary_density where run_id = "
                              "'tiny-sae' and dataset = ? order by unit", [dataset])
        np.testing.assert_array_equal(stored["n_active"], (acts != 0).sum(0))
        np.testing.assert_allclose(stored["density"], (acts != 0).mean(0), rtol=1e-12)
        assert (stored["n_tokens"] == len(x)).all()
        q = _query(path, "select * from dictionary_quality where dataset = ?", [dataset]).iloc[0]
        x_hat = acts @ sae.W_dec.astype(np.float64) + sae.b_dec
        ev = 1 - np.sum((x - x_hat) ** 2) / np.sum((x - x.mean(0)) ** 2)
        assert q["explained_variance"] == pytest.approx(ev, abs=1e-4)
        assert q["n_dead"] == int(np.sum((acts != 0).sum(0) == 0))
        assert q["l0"] == pytest.approx((acts != 0).sum(1).mean(), rel=1e-9)


def test_an_unchanged_rebuild_reuses_and_a_new_k_retrains(built, tiny_model_dir, fixture_files, tmp_path):
    import shutil

    path = tmp_path / "w.duckdb"
    shutil.copyfile(built[0], path)
    again = build_with_dictionary(path, tiny_model_dir, fixture_files)  # another path: not "up to date", all reused
    assert {v for stage in again.stages.values() for v in stage.values()} == {"reused"}
    report = build_with_dictionary(path, tiny_model_dir, fixture_files, k=4)
    assert set(report.stages["dictionary"].values()) == {"computed"}
    assert report.stages["extract"] == {f"tiny/{d}": "reused" for d in ("questions", "pairs", "news")}
    assert _query(path, "select k from dictionaries")["k"].tolist() == [4]
    assert _query(path, "select max(l0) from dictionary_quality").iloc[0, 0] <= 4


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _sae_folder(folder, d_in=32, d_sae=64, activation="relu", weights=True):
    from safetensors.numpy import save_file

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    cfg = {"d_in": d_in, "d_sae": d_sae, "architecture": "standard", "activation_fn_str": activation,
           "apply_b_dec_to_input": True, "normalize_activations": "none", "hook_name": "blocks.1.hook_resid_post"}
    (folder / "cfg.json").write_text(json.dumps(cfg))
    if weights:
        save_file({"W_enc": rng.normal(size=(d_in, d_sae)).astype(np.float32),
                   "b_enc": np.zeros(d_sae, np.float32),
                   "W_dec": rng.normal(size=(d_sae, d_in)).astype(np.float32),
                   "b_dec": np.zeros(d_in, np.float32)}, str(folder / "sae_weights.safetensors"))
    return folder


def test_a_users_dictionary_and_bad_ones(built, tiny_model_dir, fixture_files, tmp_path, reference):
    """A directions file is read and applied (x @ unit rows); every bad dictionary is one line naming the file
    and the parameter. A build with one (an SAE of another width, found when the stage meets the site; a path
    that does not exist, found before any model work) leaves the live warehouse as it was; the file's own faults
    (no weights, an unknown activation, a directions array of the wrong shape) are the loader's, which the
    stage calls with the site's width."""
    import shutil

    from pipeline.models.dictionary import load_dictionary

    path = tmp_path / "w.duckdb"
    shutil.copyfile(built[0], path)
    before = _digest(path)
    np.save(tmp_path / "dirs.npy", np.ones((32, 5), np.float32))
    in_build = {
        "d_in": (_sae_folder(tmp_path / "wide", d_in=48), ["cfg.json", "d_in is 48", "blocks.1.hook_resid_post",
                                                          "32 wide"]),
        "missing": (tmp_path / "nothing-here", ["nothing-here", "dictionary.path"]),
    }
    loader = {
        "weights": (_sae_folder(tmp_path / "noweights", weights=False), ["noweights", "sae_weights.safetensors"]),
        "activation": (_sae_folder(tmp_path / "gelu", activation="gelu"), ["cfg.json", "activation_fn 'gelu'"]),
        "shape": (tmp_path / "dirs.npy", ["dirs.npy", "shape (32, 5)", "transposed"]),
    }
    for what, (where, words) in {**in_build, **loader}.items():
        with pytest.raises(PipelineError) as e:
            if what in in_build:
                build_with_dictionary(path, tiny_model_dir, fixture_files, path=str(where))
            else:
                load_dictionary(where, d_in=32, site="blocks.1.hook_resid_post")
        message = str(e.value)
        assert "\n" not in message and all(w in message for w in words), (what, message)
        assert message.startswith(str(where)), (what, message)
        assert _digest(path) == before, what
    rng = np.random.default_rng(1)
    directions = rng.normal(size=(6, 32)).astype(np.float32)
    np.save(tmp_path / "good.npy", directions)
    build_with_dictionary(path, tiny_model_dir, fixture_files, path=str(tmp_path / "good.npy"))
    d = _query(path, "select origin, kind, activation, n_features, k is null as no_k from dictionaries").iloc[0]
    assert d.tolist() == ["loaded", "directions", "linear", 6, True]
    unit = directions / np.linalg.norm(directions, axis=1, keepdims=True)
    x, lengths = reference["news"]
    bounds = np.concatenate([[0], np.cumsum(lengths)])
    proj = x.astype(np.float64) @ unit.T
    want = np.stack([proj[a:b].mean(0) for a, b in zip(bounds[:-1], bounds[1:])])
    got = np.array(_query(path, "select vec from activations where run_id = 'tiny-sae' and pooling = 'mean' and "
                                "dataset = 'news' order by sentence_id")["vec"].tolist())
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_sites_and_section_are_checked():
    with pytest.raises(PipelineError, match="sites"):
        ModelSpec("t", "lstm", "packaged:textgenrnn", sites=("resid", "sae"))
    assert ModelSpec("m", "transformer", "x", sites=("resid", "sae")).run_specs()[1].run_id == "m-sae"
    assert ModelSpec("m", "transformer", "x").sites == ("resid",)  # a dictionary is asked for, never a default
    for bad in ({"poolings": ["cls"]}, {"k": 0}, {"expansion": -1}, {"layer": "last"}):
        with pytest.raises(PipelineError, match=r"dictionary\."):
            make_config(datasets=[], models=[], dictionary=bad)


def test_pool_tokens_and_training_sample():
    from pipeline.stages.dictionary import pool_tokens, training_sample

    acts = np.arange(12, dtype=np.float32).reshape(6, 2)
    out = pool_tokens(acts, np.array([2, 0, 4]))
    np.testing.assert_array_equal(out[0], [[2, 3], [0, 0], [10, 11]])
    np.testing.assert_allclose(out[1], [[1, 2], [0, 0], [7, 8]])
    counts = {"a": np.full(100, 10), "b": np.full(5, 10)}
    sample = training_sample(counts, budget=200, seed=0)
    assert len(sample["a"]) == 10 and len(sample["b"]) == 5  # 100 tokens each, or all of b
    assert np.array_equal(sample["a"], training_sample(counts, 200, 0)["a"])


def test_comparison_section(monkeypatch, built):
    """The illusion page on the dictionary run: the Mann-Whitney p-values shown are scipy's on the stored
    scores; the verdicts and the poolings follow the URL."""
    from scipy.stats import mannwhitneyu

    path = built[0]
    monkeypatch.setenv("ILLUSION_WAREHOUSE", str(path))
    at = AppTest.from_file(str(ROOT / "views" / "illusion.py"), default_timeout=60)
    at.query_params.update({"run": "tiny-sae", "dpool": "max", "npool": "cls"})
    at.run()
    assert not at.exception
    assert any(h.value.startswith("Dictionary features against") for h in at.header)
    feats = _query(path, "select consistency from illusion_null_scores where run_id = 'tiny-sae' and layer = 0 and "
                         "pooling = 'max' and k = 10")["consistency"].to_numpy()
    neurons = _query(path, "select consistency from illusion_null_scores where run_id = 'tiny' and layer = 2 and "
                           "pooling = 'cls' and k = 10")["consistency"].to_numpy()
    randoms = _query(path, "select consistency from illusion_null where run_id = 'tiny' and layer = 2 and "
                           "pooling = 'cls' and k = 10")["consistency"].to_numpy()
    feats, neurons, randoms = (a[np.isfinite(a)] for a in (feats, neurons, randoms))
    tests = next(df.value for df in at.dataframe if "p_greater" in df.value.columns)
    for row, other in zip(tests.itertuples(), (neurons, randoms)):
        assert row.p_greater == pytest.approx(mannwhitneyu(feats, other, alternative="greater").pvalue, rel=1e-12)
        assert row.p_two_sided == pytest.approx(mannwhitneyu(feats, other).pvalue, rel=1e-12)
        assert (row.n_features, row.n_other) == (len(feats), len(other))
        shown = [m.value for m in at.markdown if m.value.startswith("**Dictionary features")]
        assert row.verdict in " ".join(shown)
    quality = next(df.value for df in at.dataframe if "explained_variance" in df.value.columns)
    assert quality["dataset"].tolist() == ["news", "pairs", "questions"]
    assert at.query_params["dpool"] == "max" and at.query_params["npool"] == "cls"
    # the base run's page shows the same section (the dictionary reads one of its layers); with the z score each
    # group is set against the random directions of its own space
    at = AppTest.from_file(str(ROOT / "views" / "illusion.py"), default_timeout=60)
    at.query_params.update({"run": "tiny", "dscore": "z_null"})
    at.run()
    assert not at.exception and any(h.value.startswith("Dictionary features against") for h in at.header)
    assert at.query_params["dpool"] == "mean" and at.query_params["npool"] == "mean"
    z = {}
    for run, layer in (("tiny-sae", 0), ("tiny", 2)):
        z[run] = _query(path, "select z from illusion_null_scores where run_id = ? and layer = ? and pooling = 'mean' "
                              "and k = 10", [run, layer])["z"].to_numpy()
    null = _query(path, "select consistency from illusion_null where run_id = 'tiny' and layer = 2 and pooling = "
                        "'mean' and k = 10")["consistency"].to_numpy()
    null = null[np.isfinite(null)]
    z_random = (null - null.mean()) / null.std(ddof=1)
    feats, neurons = (a[np.isfinite(a)] for a in (z["tiny-sae"], z["tiny"]))
    tests = next(df.value for df in at.dataframe if "p_greater" in df.value.columns)
    assert tests["score"].tolist() == ["z_null", "z_null"]
    for row, other in zip(tests.itertuples(), (neurons, z_random)):
        assert row.p_two_sided == pytest.approx(mannwhitneyu(feats, other).pvalue, rel=1e-9)
        assert row.p_less == pytest.approx(mannwhitneyu(feats, other, alternative="less").pvalue, rel=1e-9)


def test_the_demo_preset_trains_the_budgeted_minilm_dictionary():
    from pipeline.cli import config_from_args, parser
    from pipeline.first_run import FIRST_LOOK

    cfg = config_from_args(parser().parse_args(["build", "--preset", "demo"]))
    assert [r.run_id for r in cfg.runs] == ["minilm", "minilm-sae", "textgenrnn"]
    assert (cfg.dictionary.expansion, cfg.dictionary.k, cfg.dictionary.poolings, cfg.dictionary.layer) == \
        (4.0, 32, ("max",), -1)
    cfg = config_from_args(parser().parse_args(["build", "--preset", "demo", "--set", "dictionary.expansion=8"]))
    assert cfg.dictionary.expansion == 8.0 and cfg.dictionary.poolings == ("max",)
    assert "dictionary.enabled=false" in FIRST_LOOK  # the first look stays a minute's build
    mine = config_from_args(parser().parse_args(["build", "--preset", "demo", "--model", "/m", "--kind",
                                                 "transformer"]))
    assert mine.dictionary.expansion == 8.0 and [r.run_id for r in mine.runs] == ["model"]


def test_a_models_own_dictionary_table_overrides_the_shared_section(tmp_path, tiny_spec, small_specs):
    import dataclasses

    from pipeline.config import load_toml
    from pipeline.stages.dictionary import section_for, settings

    text = (ROOT / "CONFIG.md").read_text()
    block = next(b.split("```", 1)[0] for b in text.split("```toml")[1:] if "dictionary = {" in b)
    (tmp_path / "c.toml").write_text(block + '\n[dictionary]\nk = 16\nexpansion = 2\n')
    raw = load_toml(tmp_path / "c.toml")
    cfg = make_config(datasets=small_specs[:1], models=raw["models"], dictionary=raw["dictionary"])
    gpt2, pythia = cfg.models
    assert dict(gpt2.dictionary) == {"path": "/saes/gpt2-res-jb/blocks.8.hook_resid_pre", "layer": 8}
    sae = {m.run_id: m.run_specs()[-1] for m in cfg.models}
    assert [s.run_id for s in gpt2.run_specs()] == ["gpt2", "gpt2-mlp", "gpt2-sae"]
    # only the dictionary run carries the table: the model's other runs keep their inputs (and their reuse)
    assert [s.dictionary for s in gpt2.run_specs()[:2]] == [(), ()] and sae["gpt2"].dictionary == gpt2.dictionary
    a, b = section_for(cfg, sae["gpt2"]), section_for(cfg, sae["pythia"])
    assert (a.path, a.layer, a.k, a.expansion) == ("/saes/gpt2-res-jb/blocks.8.hook_resid_pre", 8, 16, 2.0)
    assert (b.path, b.layer, b.k, b.expansion) == ("", -1, 64, 16.0)
    assert settings(cfg, sae["pythia"], ["x"])["section"]["k"] == 64
    # the spec survives its JSON (runs.spec_json) and stays hashable
    back = ModelSpec(**json.loads(json.dumps(dataclasses.asdict(sae["gpt2"]))))
    assert back == sae["gpt2"] and hash(back) == hash(sae["gpt2"])
    assert "dictionary" not in tiny_spec.inputs() and sae["gpt2"].inputs()["dictionary"]
    with pytest.raises(PipelineError, match="model 'pythia-sae': dictionary has no setting 'width'"):
        section_for(cfg, dataclasses.replace(sae["pythia"], dictionary=(("width", 3),)))
    with pytest.raises(PipelineError, match=r"model 'pythia-sae': config: dictionary\.k must be"):
        section_for(cfg, dataclasses.replace(sae["pythia"], dictionary=(("k", 0),)))
    with pytest.raises(PipelineError, match='model \'m\': dictionary settings need the site "sae"'):
        ModelSpec("m", "transformer", "x", dictionary={"k": 4})


def test_the_readme_dictionary_example_is_a_valid_section(tmp_path, tiny_spec, small_specs):
    from dataclasses import replace

    from pipeline.build import plan_steps
    from pipeline.config import load_toml
    from pipeline.stages import stage_modules

    text = (ROOT / "README.md").read_text()
    blocks = [b.split("```", 1)[0] for b in text.split("```toml")[1:]]
    block = next(b for b in blocks if "[dictionary]" in b)
    (tmp_path / "c.toml").write_text(block)
    raw = load_toml(tmp_path / "c.toml")
    cfg = make_config(datasets=small_specs[:1], models=[tiny_spec], dictionary=raw["dictionary"])
    assert cfg.dictionary.layer == -1 and cfg.dictionary.path == raw["dictionary"]["path"] != ""
    # a model with the site: the missing folder is found when the build plans, before any model work
    sae = make_config(datasets=small_specs[:1], models=[replace(tiny_spec, sites=("resid", "sae"))],
                      dictionary=raw["dictionary"])
    with pytest.raises(PipelineError, match=r"minilm-blocks\.5: no such file or folder \(config dictionary\.path"):
        plan_steps(sae, stage_modules(), {small_specs[0].name: "h"})
