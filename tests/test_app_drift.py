"""Neuron drift page with AppTest on the small warehouse (tiny model, real pipeline)."""
import json
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

import warehouse
from analysis.drift import random_direction

ROOT = Path(__file__).resolve().parent.parent


def _app(monkeypatch, path, **params) -> AppTest:
    monkeypatch.setenv("ILLUSION_WAREHOUSE", str(path))
    at = AppTest.from_file(str(ROOT / "views" / "drift.py"), default_timeout=60)
    for k, v in params.items():
        at.query_params[k] = v
    return at


def _matrix(path, dataset, layer=2, pooling="cls"):
    con = warehouse.connect_read_only(path)
    x = np.array(con.execute("select vec from activations where run_id = 'tiny' and layer = ? and pooling = ? "
                             "and dataset = ? order by sentence_id", [layer, pooling, dataset]).df()["vec"].tolist())
    texts = [r[0] for r in con.execute("select text from sentences where dataset = ? order by sentence_id",
                                       [dataset]).fetchall()]
    con.close()
    return x, texts


def _top_table(at):
    """The sentence table of the list shown (top unless the URL says list=bottom or list=random)."""
    return next(df.value for df in at.dataframe if "rank" in df.value.columns)


def test_neuron_top_k_per_dataset_matches_numpy(monkeypatch, small_warehouse):
    at = _app(monkeypatch, small_warehouse, unit="5", k="4").run()
    assert not at.exception
    top = _top_table(at)
    for dataset in ("news", "questions", "pairs"):
        x, texts = _matrix(small_warehouse, dataset)
        expected = np.argsort(-x[:, 5], kind="stable")[:4]
        got = top[top.dataset == dataset]
        assert got["sentence_id"].tolist() == expected.tolist()
        assert got["text"].tolist() == [texts[i] for i in expected]
        # shown in the side-by-side columns too, with its score
        assert any(texts[expected[0]] in m.value and f"{x[expected[0], 5]:+.3f}" in m.value for m in at.markdown)
    assert at.query_params["unit"] == ["5"] or at.query_params["unit"] == "5"


def test_changing_the_neuron_changes_the_view_and_url(monkeypatch, small_warehouse):
    at = _app(monkeypatch, small_warehouse).run()
    before = _top_table(at)
    at.number_input(key="dir_unit_32").set_value(9).run()
    assert not at.exception
    after = _top_table(at)
    x, _ = _matrix(small_warehouse, "news")
    assert after[after.dataset == "news"]["sentence_id"].tolist() == np.argsort(-x[:, 9], kind="stable")[:10].tolist()
    assert not before.equals(after)
    assert dict(at.query_params)["unit"] in (["9"], "9")


def test_random_direction_by_seed(monkeypatch, small_warehouse):
    at = _app(monkeypatch, small_warehouse, dir="random", seed="7", k="3", ds="news,pairs").run()
    assert not at.exception
    top = _top_table(at)
    assert set(top.dataset) == {"news", "pairs"}
    w = random_direction(7, 32)
    for dataset in ("news", "pairs"):
        x, _ = _matrix(small_warehouse, dataset)
        s = x @ w
        got = top[top.dataset == dataset]
        assert got["sentence_id"].tolist() == np.argsort(-s, kind="stable")[:3].tolist()
        np.testing.assert_allclose(got["value"], np.sort(s)[::-1][:3], rtol=1e-4)


def test_pasted_vector_and_its_errors(monkeypatch, small_warehouse):
    at = _app(monkeypatch, small_warehouse, dir="vector").run()
    assert not at.exception and "Paste a vector of 32 numbers" in at.info[0].value
    at.text_area(key="dir_vec").input("1 2 3").run()
    assert "has 3 values; this layer has 32" in at.error[0].value
    vec = " ".join(["0"] * 31 + ["1"])  # the last neuron
    at.text_area(key="dir_vec").input(vec).run()
    assert not at.exception and not at.error
    x, _ = _matrix(small_warehouse, "questions")
    top = _top_table(at)
    assert top[top.dataset == "questions"]["sentence_id"].tolist() == np.argsort(-x[:, 31], kind="stable")[:10].tolist()


def test_overlap_matrix_and_global_share(monkeypatch, small_warehouse):
    at = _app(monkeypatch, small_warehouse, unit="3", k="5").run()
    overlap = next(df.value for df in at.dataframe if "iou" in df.value.columns)
    assert len(overlap) == 9 and (overlap[overlap.a == overlap.b]["iou"] == 1).all()
    # recompute one pair by hand from numpy
    xa, _ = _matrix(small_warehouse, "news")
    xb, _ = _matrix(small_warehouse, "questions")
    ta, tb = np.sort(xa[:, 3])[::-1][:5], np.sort(xb[:, 3])[::-1][:5]
    inter = min(ta.max(), tb.max()) - max(ta.min(), tb.min())
    union = max(ta.max(), tb.max()) - min(ta.min(), tb.min())
    got = overlap.set_index(["a", "b"]).loc[("news", "questions"), "iou"]
    assert got == pytest.approx(max(inter, 0) / union, rel=1e-4)
    # the global share over all 32 neurons and 3 pairs
    hits = 0
    mats = {d: _matrix(small_warehouse, d)[0] for d in ("news", "pairs", "questions")}
    pairs = [("news", "pairs"), ("news", "questions"), ("pairs", "questions")]
    for u in range(32):
        tops = {d: np.sort(m[:, u])[::-1][:5] for d, m in mats.items()}
        hits += sum(min(tops[a].max(), tops[b].max()) >= max(tops[a].min(), tops[b].min()) for a, b in pairs)
    assert at.metric[0].value == f"{hits / 96:.0%}"


def test_out_of_range_url_values_fall_back_to_defaults(monkeypatch, small_warehouse):
    at = _app(monkeypatch, small_warehouse, unit="999", k="0", dir="nonsense").run()
    assert not at.exception
    assert at.number_input(key="dir_unit_32").value == 0 and at.number_input(key="drift_k").value == 10
    assert dict(at.query_params)["k"] in (["10"], "10")


def test_a_url_with_layer_0_opens_layer_0(monkeypatch, small_warehouse):
    # 0 is a layer (the embedding output), not a missing value: the URL must reproduce it, not the last layer
    at = _app(monkeypatch, small_warehouse, layer="0", unit="4", k="3").run()
    assert not at.exception
    assert at.sidebar.selectbox(key="sel_layer_tiny").value == 0
    assert any("layer 0 (" in h.value for h in at.subheader)
    x, _ = _matrix(small_warehouse, "news", layer=0)
    top = _top_table(at)
    assert top[top.dataset == "news"]["sentence_id"].tolist() == np.argsort(-x[:, 4], kind="stable")[:3].tolist()
    assert dict(at.query_params)["layer"] in (["0"], "0")


def test_a_neuron_constant_on_every_sentence_is_said_so(monkeypatch, small_warehouse):
    # [CLS] at the embedding output is the [CLS] token's embedding plus position 0: the same for every input
    x, _ = _matrix(small_warehouse, "news", layer=0)
    assert np.ptp(x[:, 4]) < 1e-6
    at = _app(monkeypatch, small_warehouse, layer="0", pooling="cls", unit="4").run()
    assert not at.exception
    assert any("has the same value" in i.value and "[CLS] token's embedding" in i.value for i in at.info)
    # a layer where the neuron varies draws its histogram instead
    at = _app(monkeypatch, small_warehouse, layer="2", pooling="cls", unit="4").run()
    assert not any("has the same value" in i.value for i in at.info)
    assert any(json.loads(c.proto.spec)["layer"][0]["data"] == {"name": "hist"} for c in at.get("vega_lite_chart"))


def _chart_frame(at, name):
    import pyarrow as pa

    for c in at.get("vega_lite_chart"):
        for ds in c.proto.datasets:
            if ds.name == name:
                return pa.ipc.open_stream(ds.data.data).read_pandas()
    raise AssertionError(f"no chart dataset {name}")


def test_histogram_and_random_baseline_match_numpy(monkeypatch, small_warehouse):
    # a neuron: from neuron_histograms; a random direction: from its scores. Same random sentences for both.
    from analysis.drift import random_draw

    at = _app(monkeypatch, small_warehouse, unit="6", k="4", list="random").run()
    assert not at.exception
    hist = _chart_frame(at, "hist")
    rand = _top_table(at)
    w = random_direction(3, 32)
    at_dir = _app(monkeypatch, small_warehouse, dir="random", seed="3", k="4", list="random").run()
    assert not at_dir.exception
    rand_dir = _top_table(at_dir)
    hist_dir = _chart_frame(at_dir, "hist")
    for dataset in ("news", "questions", "pairs"):
        x, texts = _matrix(small_warehouse, dataset)
        for frame, s in ((hist, x[:, 6]), (hist_dir, x @ w)):
            counts, edges = np.histogram(s, bins=40)
            mine = frame[frame.dataset == dataset]
            assert mine["count"].tolist() == counts.tolist()
            np.testing.assert_allclose(mine["bin_start"], edges[:-1], rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose((mine["density"] * (mine["bin_end"] - mine["bin_start"])).sum(), 1.0)
        drawn = random_draw(dataset, len(x), 4, seed=0)
        for frame, s in ((rand, x[:, 6]), (rand_dir, x @ w)):
            mine = frame[frame.dataset == dataset]
            assert sorted(mine["sentence_id"]) == sorted(drawn.tolist())
            order = drawn[np.argsort(-s[drawn], kind="stable")]  # shown highest first
            assert mine["sentence_id"].tolist() == order.tolist()
            np.testing.assert_allclose(mine["value"], s[order], rtol=1e-4, atol=1e-6)
            assert mine["text"].tolist() == [texts[i] for i in order]


def test_the_list_switch_shows_bottom_or_random_sentences_and_is_in_the_url(monkeypatch, small_warehouse):
    from analysis.drift import random_draw

    x, texts = _matrix(small_warehouse, "news")
    lowest = int(np.argsort(x[:, 2], kind="stable")[0])
    at = _app(monkeypatch, small_warehouse, unit="2", k="3", ds="news", list="bottom").run()
    assert not at.exception
    assert any(h.value == "Bottom 3 per dataset" for h in at.subheader)
    assert any(texts[lowest] in m.value and f"{x[lowest, 2]:+.3f}" in m.value for m in at.markdown)
    at = _app(monkeypatch, small_warehouse, unit="2", k="3", ds="news", list="random").run()
    assert not at.exception
    drawn = random_draw("news", len(x), 3, seed=0)
    col = next(m.value for m in at.markdown if m.value.startswith("**news**"))
    assert all(texts[i] in col for i in drawn)
    assert dict(at.query_params)["list"] in (["random"], "random")
