"""Distribution-shift page with AppTest on the small warehouse: the numbers shown equal scipy / numpy on the
stored vectors."""
from pathlib import Path

import numpy as np
import pytest
from scipy import stats
from streamlit.testing.v1 import AppTest

import warehouse
from analysis.drift import random_direction

ROOT = Path(__file__).resolve().parent.parent
DATASETS = ("news", "pairs", "questions")


def _app(monkeypatch, path, **params) -> AppTest:
    monkeypatch.setenv("ILLUSION_WAREHOUSE", str(path))
    at = AppTest.from_file(str(ROOT / "views" / "shift.py"), default_timeout=60)
    for k, v in params.items():
        at.query_params[k] = v
    return at


def _vectors(path, layer=2, pooling="cls"):
    con = warehouse.connect_read_only(path)
    out = {d: np.array(con.execute("select vec from activations where run_id = 'tiny' and layer = ? and pooling = ? "
                                   "and dataset = ? order by sentence_id", [layer, pooling, d]).df()["vec"].tolist())
           for d in DATASETS}
    con.close()
    return out


def _frame(at, column):
    return next(df.value for df in at.dataframe if column in df.value.columns)


def test_unit_panel_equals_scipy_on_the_stored_vectors(monkeypatch, small_warehouse):
    at = _app(monkeypatch, small_warehouse, layer="2", pooling="cls", unit="5", k="4", a="news", b="pairs").run()
    assert not at.exception
    x = _vectors(small_warehouse)
    pairs = _frame(at, "rbo_text")
    assert len(pairs) == 3
    for row in pairs.itertuples():
        va, vb = x[row.a][:, 5], x[row.b][:, 5]
        ks = stats.ks_2samp(va, vb)
        assert row.ks == pytest.approx(ks.statistic) and row.ks_p == pytest.approx(ks.pvalue)
        assert row.wasserstein == pytest.approx(stats.wasserstein_distance(va, vb), rel=1e-5)
        assert (row.n_a, row.n_b) == (len(va), len(vb))
    # pooled top 4 over all datasets together
    pooled = _frame(at, "rank")
    allv = np.concatenate([x[d][:, 5] for d in DATASETS])
    np.testing.assert_allclose(pooled["value"], np.sort(allv)[::-1][:4], rtol=1e-5)
    shares = _frame(at, "share_of_top")
    n = sum(len(v) for v in x.values())
    assert shares.set_index("dataset")["share"].to_dict() == pytest.approx({d: len(x[d]) / n for d in DATASETS})
    assert shares["in_top"].sum() == 4
    # the layer table: every unit, news vs pairs, equal to a per-unit scipy loop, each row linking to drift
    layer = _frame(at, "drift")
    assert len(layer) == 32 and layer["ks"].is_monotonic_decreasing
    for row in layer.itertuples():
        va, vb = x["news"][:, row.unit], x["pairs"][:, row.unit]
        assert row.ks == pytest.approx(stats.ks_2samp(va, vb).statistic)
        assert row.wasserstein == pytest.approx(stats.wasserstein_distance(va, vb), rel=1e-5, abs=1e-9)
    assert layer["drift"].iloc[0].startswith("/drift?run=tiny&layer=2&pooling=cls&dir=neuron&unit=")
    assert layer["drift"].iloc[0].endswith(f"unit={layer['unit'].iloc[0]}&ds=news%2Cpairs")
    # the page's own link to the drift page carries the direction and datasets, not this page's parameters
    link = next(m.value for m in at.markdown if "neuron-drift page](/drift?" in m.value)
    assert "unit=5" in link and "k=4" in link and "ds=news%2Cpairs%2Cquestions" in link and "a=news" not in link
    assert len(at.get("vega_lite_chart")) == 3


def test_a_random_direction_and_the_url(monkeypatch, small_warehouse):
    at = _app(monkeypatch, small_warehouse, layer="2", pooling="cls", dir="random", seed="7",
              ds="news,questions").run()
    assert not at.exception
    x = _vectors(small_warehouse)
    w = random_direction(7, 32)
    pairs = _frame(at, "rbo_text")
    assert pairs[["a", "b"]].values.tolist() == [["news", "questions"]]
    assert pairs["wasserstein"].iloc[0] == pytest.approx(stats.wasserstein_distance(x["news"] @ w,
                                                                                   x["questions"] @ w), rel=1e-3)
    # (duckdb's list_inner_product sums in float32; numpy here in float64)
    at.selectbox(key="shift_b").set_value("questions").run()
    assert not at.exception and at.query_params["b"] in ("questions", ["questions"])
    at.number_input(key="shift_rbo_p").set_value(0.5).run()
    assert not at.exception and at.query_params["rbo_p"] in ("0.5", ["0.5"])


def test_one_dataset_and_a_constant_unit_say_so(monkeypatch, small_warehouse):
    at = _app(monkeypatch, small_warehouse, layer="0", pooling="cls", unit="1", ds="news", a="pairs", b="pairs").run()
    assert not at.exception
    infos = " ".join(i.value for i in at.info)
    # [CLS] at the embedding output is the same vector for every sentence; one dataset has no pairs; A = B
    assert "same value" in infos and "two or more datasets" in infos and "two different datasets" in infos
