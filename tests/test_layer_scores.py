"""The layer_scores stage against the analysis functions run on the stored vectors, and the pages reading it."""
import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

import warehouse
from analysis.illusion import illusion_scores
from analysis.illusion_null import illusion_null_scores, null_consistency
from analysis.locality import locality_all_neurons
from analysis.monotonicity import frequent_tokens, monotonic_direction, quintile_counts, token_matrix
from pipeline.stages import layer_scores
from tests.conftest import ROOT, small_datasets, tiny_model_spec
from warehouse import queries

K, MIN_COUNT = 3, 2  # small enough for the 16-24-sentence test datasets to have tokens and locality


@pytest.fixture(scope="module")
def scored(tmp_path_factory, tiny_model_dir, fixture_files):
    from pipeline.build import build
    from pipeline.config import make_config

    patch = pytest.MonkeyPatch()
    patch.setattr(layer_scores, "DEFAULT_K", K)
    patch.setattr(layer_scores, "DEFAULT_MIN_COUNT", MIN_COUNT)
    path = tmp_path_factory.mktemp("layer-scores") / "w.duckdb"
    cfg = make_config(datasets=small_datasets(fixture_files), models=[tiny_model_spec(tiny_model_dir)],
                      warehouse=str(path), topk=5, progress=False)
    try:
        build(cfg, log=lambda *_: None)
    finally:
        patch.undo()
    return path


def layers(con):
    return con.execute("select layer, pooling from layers, (select unnest(poolings) as pooling from runs) "
                       "order by all").fetchall()


def test_stored_scores_equal_the_analysis_on_the_stored_vectors(scored):
    con = warehouse.connect_read_only(scored)
    names = [r[0] for r in con.execute("select dataset from datasets order by dataset").fetchall()]
    long = queries.run_tokens(con, "tiny", names)
    tokens = frequent_tokens(long, MIN_COUNT, datasets=names)
    assert tokens, "the fixture should have tokens occurring twice in every dataset"
    datasets, stored_tokens, _ = queries.stored_monotonicity(con, "tiny", 0, "mean", MIN_COUNT)
    assert sorted(datasets) == names and stored_tokens == tokens
    checked = 0
    for layer, pooling in layers(con):
        x, keys = queries.layer_matrix(con, "tiny", layer, pooling, names)
        ds = keys["dataset"].to_numpy()
        got = queries.stored_illusion_scores(con, "tiny", layer, pooling, K)
        want = illusion_scores(x, ds, k=K)
        assert got["unit"].tolist() == list(range(x.shape[1]))
        for col in ("consistency", "baseline_mean", "baseline_std", "robustness"):
            np.testing.assert_allclose(got[col], want[col], rtol=1e-9, atol=1e-12, equal_nan=True)
        _, _, directions = queries.stored_monotonicity(con, "tiny", layer, pooling, MIN_COUNT)
        for name in names:
            block = x[ds == name]
            np.testing.assert_allclose(queries.stored_locality(con, "tiny", layer, pooling, name, K),
                                       locality_all_neurons(block, k=K), rtol=1e-9, equal_nan=True)
            m = token_matrix(long[long["dataset"] == name], len(block), tokens)
            assert np.array_equal(directions[name], monotonic_direction(quintile_counts(block, m)))
            checked += 1
    assert checked >= 6
    # another k or threshold is not stored: the pages compute it themselves
    assert queries.stored_illusion_scores(con, "tiny", 0, "mean", K + 1).empty
    assert queries.stored_locality(con, "tiny", 0, "mean", names[0], K + 1) is None
    assert queries.stored_monotonicity(con, "tiny", 0, "mean", MIN_COUNT + 1) is None
    con.close()


def test_stored_null_equals_the_analysis_on_the_stored_vectors(scored):
    """The illusion_null stage (k = the patched DEFAULT_K, 1,000 Gaussian directions, seed 0): per neuron and per
    random direction, what analysis.illusion_null gives on the stored vectors."""
    con = warehouse.connect_read_only(scored)
    names = [r[0] for r in con.execute("select dataset from datasets order by dataset").fetchall()]
    scored_layers = nan_layers = 0
    for layer, pooling in layers(con):
        x, keys = queries.layer_matrix(con, "tiny", layer, pooling, names)
        ds = keys["dataset"].to_numpy()
        null = null_consistency(x, ds, 1000, "gaussian", K, 0)
        got = queries.stored_illusion_null_scores(con, "tiny", layer, pooling, K)
        assert got["unit"].tolist() == list(range(x.shape[1])) and set(got["null_kind"]) == {"gaussian"}
        assert got["n_null"].iloc[0] == np.isfinite(null).sum() and got["seed"].iloc[0] == 0
        np.testing.assert_allclose(queries.stored_illusion_null(con, "tiny", layer, pooling, K, "gaussian"), null,
                                   rtol=1e-12, equal_nan=True)
        if np.isfinite(null).sum() < 2:  # [CLS] at the embedding output: one vector for every sentence
            assert got[["z", "p_value", "q_value"]].isna().all().all()
            nan_layers += 1
            continue
        want, _ = illusion_null_scores(x, ds, k=K, n_null=1000, kind="gaussian", seed=0)
        for col in ("consistency", "z", "percentile", "p_value", "q_value"):
            np.testing.assert_allclose(got[col], want[col], rtol=1e-9, atol=1e-12, equal_nan=True)
        scored_layers += 1
    assert scored_layers >= 4 and nan_layers <= 1
    con.close()


def test_one_direction_by_hand(scored):
    """One (neuron, token, dataset): its counts per quintile from a plain sort, then the stored direction."""
    con = warehouse.connect_read_only(scored)
    _, tokens, directions = queries.stored_monotonicity(con, "tiny", 1, "mean", MIN_COUNT)
    x, keys = queries.layer_matrix(con, "tiny", 1, "mean", ["news"])
    long = queries.run_tokens(con, "tiny", ["news"])
    con.close()
    for unit in range(3):
        for t, token in enumerate(tokens[:5]):
            order = sorted(range(len(x)), key=lambda i: (x[i, unit], i))
            groups = np.array_split(np.array(order), 5)
            per_sentence = long[long["token"] == token].groupby("sentence_id")["n"].sum()
            counts = [int(per_sentence.reindex(g).fillna(0).sum()) for g in groups]
            d = np.diff(counts)
            expected = 1 if (d > 0).all() else -1 if (d < 0).all() else 0
            assert directions["news"][unit, t] == expected


def run_page(monkeypatch, path, page, **params):
    monkeypatch.setenv("ILLUSION_WAREHOUSE", str(path))
    at = AppTest.from_file(str(ROOT / "views" / page), default_timeout=120)
    at.query_params.update({k: str(v) for k, v in params.items()})
    at.run()
    assert not at.exception, at.exception
    return at


def test_the_pages_show_the_stored_scores_and_compute_other_views(monkeypatch, scored):
    con = warehouse.connect_read_only(scored)
    stored = queries.stored_illusion_scores(con, "tiny", 1, "mean", K)
    x, keys = queries.layer_matrix(con, "tiny", 1, "mean", ["news", "questions"])
    con.close()
    at = run_page(monkeypatch, scored, "illusion.py", run="tiny", layer=1, pooling="mean", k=K)
    shown = next(d.value for d in at.dataframe if len(d.value) == len(stored)).sort_values("unit")
    np.testing.assert_allclose(shown["robustness"], stored["robustness"], equal_nan=True)
    # two of the three datasets: not stored, computed on the page from the vectors
    at = run_page(monkeypatch, scored, "illusion.py", run="tiny", layer=1, pooling="mean", k=K, ds="news,questions")
    shown = next(d.value for d in at.dataframe if len(d.value) == len(stored)).sort_values("unit")
    want = illusion_scores(x, keys["dataset"].to_numpy(), k=K)
    np.testing.assert_allclose(shown["robustness"], want["robustness"], equal_nan=True)
    assert not np.allclose(shown["robustness"], stored["robustness"], equal_nan=True)
    # the monotonicity page at the stored threshold and k
    con = warehouse.connect_read_only(scored)
    names, _, directions = queries.stored_monotonicity(con, "tiny", 1, "mean", MIN_COUNT)
    con.close()
    at = run_page(monkeypatch, scored, "tokens.py", run="tiny", layer=1, pooling="mean", k=K, min_count=MIN_COUNT)
    shown = at.dataframe[0].value  # Table 3
    from analysis.monotonicity import table3
    chosen = at.multiselect(key="drift_ds").value
    want = table3({d: directions[d] for d in chosen})
    np.testing.assert_allclose(shown["monotonic"], want["monotonic"])
    assert shown["datasets"].tolist() == want["datasets"].tolist()
    con = warehouse.connect_read_only(scored)
    loc = queries.stored_locality(con, "tiny", 1, "mean", at.selectbox(key="loc_ds").value, K)
    con.close()
    shown = at.dataframe[-1].value.sort_values("unit")  # every neuron's L
    np.testing.assert_allclose(shown["L"], loc, equal_nan=True)


@pytest.mark.parametrize("settings", [{"enabled": False}, {"locality": False}])
def test_the_stage_can_be_turned_off_or_skip_locality(tmp_path, tiny_model_dir, fixture_files, settings):
    from pipeline.build import build
    from pipeline.config import SECTIONS, make_config

    others = {name: {"enabled": False} for name in SECTIONS if name != "layer_scores"}
    path = tmp_path / "w.duckdb"
    cfg = make_config(datasets=small_datasets(fixture_files), models=[tiny_model_spec(tiny_model_dir)],
                      warehouse=str(path), topk=5, progress=False, separability_per_dataset=0,
                      layer_scores=settings, **others)
    report = build(cfg, log=lambda *_: None)
    con = warehouse.connect_read_only(path)
    n = {t: con.execute(f"select count(*) from {t}").fetchone()[0] for t in ("illusion_scores", "neuron_locality")}
    con.close()
    if settings == {"enabled": False}:
        assert "tiny" not in report.stages.get("layer_scores", {}) and n == {"illusion_scores": 0, "neuron_locality": 0}
    else:
        assert report.stages["layer_scores"] == {"tiny": "computed"}
        assert n["illusion_scores"] > 0 and n["neuron_locality"] == 0
