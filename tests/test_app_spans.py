"""Span-match page with AppTest: the shared small warehouse (tiny transformer, token states of its last layer) and,
with the real textgenrnn weights, a warehouse with the LSTM run (the page's default)."""
import re
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

import warehouse
from analysis.spans import decode_states, word_spans

ROOT = Path(__file__).resolve().parent.parent


def _others() -> dict:
    """The other per-run stages, off in the warehouses built here (only the token states matter)."""
    from pipeline.config import SECTIONS

    return {name: {"enabled": False} for name in SECTIONS if name != "token_states"}


def _app(monkeypatch, path, **params) -> AppTest:
    monkeypatch.setenv("ILLUSION_WAREHOUSE", str(path))
    at = AppTest.from_file(str(ROOT / "views" / "spans.py"), default_timeout=90)
    for k, v in params.items():
        at.query_params[k] = v
    return at


def _stored(path, run_id, layer, dataset, sentence_id):
    """(text, starts, ends, float32 [T, H]) of one stored sentence, decoded here with numpy."""
    con = warehouse.connect_read_only(path)
    try:
        text, starts, ends = con.execute(
            "select s.text, u.starts, u.ends from token_units u join sentences s using (dataset, sentence_id) "
            "where u.run_id = ? and u.dataset = ? and u.sentence_id = ?", [run_id, dataset, sentence_id]).fetchone()
        n, dtype, scale, blob = con.execute(
            "select n_units, dtype, scale, states from token_states where run_id = ? and layer = ? and dataset = ? "
            "and sentence_id = ?", [run_id, layer, dataset, sentence_id]).fetchone()
    finally:
        con.close()
    return text, np.array(starts), np.array(ends), decode_states(blob, n, dtype, scale)


def _on_by_hand(states, i0, i1, thr, strict=False):
    on = [u for u in range(states.shape[1]) if all(states[t, u] >= thr for t in range(i0, i1))]
    if strict:
        on = [u for u in on if (i0 == 0 or states[i0 - 1, u] < thr) and (i1 == len(states) or states[i1, u] < thr)]
    return on


def _span_units(starts, ends, text, w0, w1):
    words = word_spans(text)
    a, b = words[w0][0], words[w1][1]
    hit = [i for i, (s, e) in enumerate(zip(starts, ends)) if e > a and s < b]
    return hit[0], hit[-1] + 1


def _n_on(at) -> int:
    m = next(m.value for m in at.markdown if "units are ≥" in m.value)
    return int(re.search(r"\*\*(\d+)\*\* of \d+ units", m).group(1))


def test_selected_span_units_heatmap_and_matches(monkeypatch, small_warehouse):
    at = _app(monkeypatch, small_warehouse, sent="news:3", span="1-2").run()
    assert not at.exception
    assert at.selectbox(key="sp_run").value == "tiny" and at.selectbox(key="sp_layer_tiny").value == 2
    text, starts, ends, states = _stored(small_warehouse, "tiny", 2, "news", 3)
    i0, i1 = _span_units(starts, ends, text, 1, 2)
    want = _on_by_hand(states, i0, i1, 0.3)
    assert 0 < len(want) < 32 and _n_on(at) == len(want)
    chosen = next(w for w in at.multiselect if w.key.startswith("sp_units_"))
    assert sorted(chosen.value) == want
    # the heatmap's values are a table only while their expander is open
    assert not any("unit" in d.value.columns and "step" in d.value.columns for d in at.dataframe)
    at.session_state["sp_heat_open"] = True
    at.run()
    heat = next(d.value for d in at.dataframe if "unit" in d.value.columns and "step" in d.value.columns)
    assert len(heat) == len(starts) * len(want) and sorted(set(heat["unit"])) == want
    matches = next(d.value for d in at.dataframe if "match" in d.value.columns)
    # the selected span itself is inside a match (every selected unit is on across it)
    mine = matches[matches["query"]]
    assert len(mine) == 1 and mine["n_on"].iloc[0] == len(want)
    assert text[starts[i0]:ends[i1 - 1]] in mine["match"].iloc[0]
    assert matches["n_on"].is_monotonic_decreasing
    assert any("Matched words" in m.value for m in at.markdown)
    if len(want) >= 2:
        coact = next(d.value for d in at.dataframe if "jaccard" in d.value.columns)
        assert len(coact) == len(want) ** 2 and np.allclose(coact.query("unit_a == unit_b")["jaccard"], 1.0)

    # a wider span, then LSTMVis's strict rule: the page follows, and so does the URL
    at.select_slider(key="sp_span_" + str(_row(at))).set_value((0, 3)).run()
    i0, i1 = _span_units(starts, ends, text, 0, 3)
    assert not at.exception and _n_on(at) == len(_on_by_hand(states, i0, i1, 0.3))
    at.checkbox(key="sp_strict").check().run()
    assert _n_on(at) == len(_on_by_hand(states, i0, i1, 0.3, strict=True))
    at.number_input(key="sp_thr").set_value(0.1).run()
    assert _n_on(at) == len(_on_by_hand(states, i0, i1, 0.1, strict=True))
    params = {k: (v[0] if isinstance(v, list) else v) for k, v in dict(at.query_params).items()}
    assert params["span"] == "0-3" and params["strict"] == "1" and params["thr"] == "0.1"
    assert params["sent"] == "news:3"


def _row(at) -> int:
    return next(int(w.key.removeprefix("sp_span_")) for w in at.select_slider if w.key.startswith("sp_span_"))


def test_search_picks_among_stored_sentences(monkeypatch, small_warehouse):
    at = _app(monkeypatch, small_warehouse, q="river").run()
    assert not at.exception
    con = warehouse.connect_read_only(small_warehouse)
    want = con.execute("select count(*) from sentences where contains(lower(text), 'river')").fetchone()[0]
    con.close()
    box = at.selectbox(key="sp_sent_river")
    assert len(box.options) == want >= 2 and all("river" in o.lower() for o in box.options)
    assert dict(at.query_params)["q"] in (["river"], "river")


def test_contrast_sets_against_scipy(monkeypatch, small_warehouse):
    from scipy.stats import mannwhitneyu

    at = _app(monkeypatch, small_warehouse, a="how\nzebra crossing", b="said").run()
    assert not at.exception
    assert any("zebra crossing" in w.value for w in at.warning)  # not in the corpus: said so
    con = warehouse.connect_read_only(small_warehouse)
    rows = con.execute("select s.text, u.starts, u.ends, t.n_units, t.dtype, t.scale, t.states from token_units u "
                       "join sentences s using (dataset, sentence_id) join token_states t using "
                       "(run_id, dataset, sentence_id) where u.run_id = 'tiny' and t.layer = 2 "
                       "order by u.dataset, u.sentence_id").fetchall()
    con.close()
    vecs = {"how": [], "said": []}
    for text, starts, ends, n, dtype, scale, blob in rows:
        x = decode_states(blob, n, dtype, scale)
        for word in vecs:
            for m in re.finditer(rf"(?<!\w){word}(?!\w)", text, re.IGNORECASE):
                idx = [i for i, (s, e) in enumerate(zip(starts, ends)) if e > m.start() and s < m.end()]
                vecs[word].append(x[idx].mean(0))
    a, b = np.array(vecs["how"]), np.array(vecs["said"])
    p = np.array([mannwhitneyu(a[:, u], b[:, u]).pvalue for u in range(32)])
    top = next(d.value for d in at.dataframe if "p_holm" in d.value.columns)
    assert top["unit"].iloc[0] in np.flatnonzero(p == p.min()).tolist()
    assert top["p_value"].iloc[0] == pytest.approx(p.min())
    points = next(d.value for d in at.dataframe if "pc1" in d.value.columns)
    assert (points["set"] == "A").sum() == len(a) and (points["set"] == "B").sum() == len(b)
    verdict = (at.success[0].value if at.success else at.warning[-1].value)
    assert f"{len(a)} vs {len(b)}" in verdict


def test_page_says_what_to_do_without_token_states(monkeypatch, tmp_path, tiny_spec, small_specs):
    from pipeline.build import build
    from pipeline.config import make_config

    path = tmp_path / "w.duckdb"
    build(make_config(datasets=small_specs[:1], models=[tiny_spec], warehouse=str(path), progress=False,
                      separability_per_dataset=0, token_states={"enabled": False}, **_others()), log=lambda *_: None)
    at = _app(monkeypatch, path).run()
    assert not at.exception and "no token states" in at.info[0].value


@pytest.fixture(scope="module")
def lstm_warehouse(tmp_path_factory, tiny_model_dir, fixture_files):
    from pipeline.build import build
    from pipeline.config import PACKAGED_TEXTGENRNN, ModelSpec, make_config
    from tests.conftest import small_datasets, tiny_model_spec

    path = tmp_path_factory.mktemp("spans-lstm") / "w.duckdb"
    models = [tiny_model_spec(tiny_model_dir), ModelSpec("textgenrnn", "lstm", PACKAGED_TEXTGENRNN, 512, 64)]
    build(make_config(datasets=small_datasets(fixture_files), models=models, warehouse=str(path), topk=5,
                      progress=False, separability_per_dataset=0, **_others()), log=lambda *_: None)
    return path


@pytest.mark.real_cache
def test_lstm_is_the_default_with_its_last_hidden_stream(monkeypatch, lstm_warehouse):
    at = _app(monkeypatch, lstm_warehouse, sent="questions:2", span="3-4").run()
    assert not at.exception
    assert at.selectbox(key="sp_run").value == "textgenrnn"
    assert at.selectbox(key="sp_layer_textgenrnn").value == 2  # lstm2.hidden
    assert any("128 bytes per step" in c.value and "int8" in c.value for c in at.caption)
    text, starts, ends, states = _stored(lstm_warehouse, "textgenrnn", 2, "questions", 2)
    assert len(starts) == len(text)  # one unit per character
    i0, i1 = _span_units(starts, ends, text, 3, 4)
    assert _n_on(at) == len(_on_by_hand(states, i0, i1, 0.3))


def test_hand_picked_units_are_in_the_url_and_reproduce(monkeypatch, small_warehouse):
    at = _app(monkeypatch, small_warehouse, sent="news:3", span="1-2").run()
    box = next(w for w in at.multiselect if w.key.startswith("sp_units_"))
    keep = sorted(box.value)[:1]
    box.set_value(keep).run()
    assert not at.exception
    params = {k: (v[0] if isinstance(v, list) else v) for k, v in dict(at.query_params).items()}
    assert params["units"] == str(keep[0]) and params["usig"].startswith("news:3.")
    matches = next(d.value for d in at.dataframe if "match" in d.value.columns)
    assert set(matches["n_on"]) == {1}  # one selected unit: every match has it on throughout
    again = _app(monkeypatch, small_warehouse, **params).run()
    assert next(w for w in again.multiselect if w.key.startswith("sp_units_")).value == keep
    # another span: the hand-picked units no longer apply, the units on over the new span are selected
    other = _app(monkeypatch, small_warehouse, **{**params, "span": "0-0"}).run()
    text, starts, ends, states = _stored(small_warehouse, "tiny", 2, "news", 3)
    i0, i1 = _span_units(starts, ends, text, 0, 0)
    assert sorted(next(w for w in other.multiselect if w.key.startswith("sp_units_")).value) == \
        _on_by_hand(states, i0, i1, 0.3)
