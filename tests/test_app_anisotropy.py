"""Anisotropy page with AppTest on a warehouse built with the stage: the tiny BERT and the real textgenrnn LSTM."""
from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from streamlit.dataframe_util import convert_arrow_bytes_to_pandas_df
from streamlit.testing.v1 import AppTest

import pipeline.stages as stages
from analysis.anisotropy import decimals
from pipeline.build import build
from pipeline.config import PACKAGED_TEXTGENRNN, ModelSpec, make_config
from tests.conftest import small_datasets, tiny_model_spec

ROOT = Path(__file__).resolve().parent.parent
SETTINGS = {"words": 25, "contexts": 6, "min_contexts": 3, "baseline_words": 40, "mev_sets": 20}


def build_anisotropy_warehouse(path: Path, tiny_model_dir, fixture_files, lstm: bool = True) -> Path:
    models = [tiny_model_spec(tiny_model_dir)]
    if lstm:
        models.append(ModelSpec("lstm", "lstm", PACKAGED_TEXTGENRNN, 512, 64))
    cfg = make_config(datasets=small_datasets(fixture_files), models=models, warehouse=str(path), topk=5,
                      progress=False, separability_per_dataset=0, anisotropy=SETTINGS)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(stages, "RUN_STAGES", ("anisotropy",))
        build(cfg, log=lambda *_: None)
    return path


@pytest.fixture(scope="module")
def aniso_warehouse(tmp_path_factory, tiny_model_dir, fixture_files) -> Path:
    return build_anisotropy_warehouse(tmp_path_factory.mktemp("aniso-app") / "w.duckdb", tiny_model_dir,
                                      fixture_files)


def page(monkeypatch, path, **params) -> AppTest:
    monkeypatch.setenv("ILLUSION_WAREHOUSE", str(path))
    at = AppTest.from_file(str(ROOT / "views" / "anisotropy.py"), default_timeout=60)
    at.query_params.update(params)
    return at


def charts(at) -> list[dict]:
    """Every chart's Vega-Lite spec, with its data frames (Streamlit ships them as Arrow) under "frames"."""
    out = []
    for c in at.get("vega_lite_chart"):
        spec = json.loads(c.proto.spec)
        spec["frames"] = [convert_arrow_bytes_to_pandas_df(d.data.data) for d in c.proto.datasets]
        out.append(spec)
    return out


def plotted(spec: dict, field: str) -> dict:
    """{(dataset, layer): value} of a line chart's data."""
    (frame,) = spec["frames"]
    return {(r["dataset"], r["layer"]): r[field] for r in frame.to_dict("records")}


def test_page_charts_the_stored_curves_and_states_the_trend(monkeypatch, aniso_warehouse):
    at = page(monkeypatch, aniso_warehouse, run="tiny", layer="2")
    at.run()
    assert not at.exception
    con = duckdb.connect(str(aniso_warehouse), read_only=True)
    stored = con.execute("select dataset, layer, self_sim, self_sim_adj, baseline from anisotropy_layers "
                         "where run_id = 'tiny'").df()
    con.close()
    specs = charts(at)
    titles = [s.get("title") for s in specs]
    for title in ["Self-similarity", "Self-similarity, anisotropy-adjusted", "Intra-sentence similarity",
                  "Maximum explainable variance", "Anisotropy baseline: cosine of random words"]:
        assert title in [t if isinstance(t, str) else (t or {}).get("text") for t in titles], title
    self_chart = next(s for s in specs if s.get("title") == "Self-similarity")
    got = plotted(self_chart, "self_sim")
    assert len(got) == len(stored) == 4 * 3  # 3 datasets + pooled, 3 layers
    for r in stored.itertuples():
        assert got[(r.dataset, r.layer)] == pytest.approx(r.self_sim)
    pooled = stored[stored["dataset"] == "(pooled)"].sort_values("layer")
    first, last = pooled["self_sim"].iloc[0], pooled["self_sim"].iloc[-1]
    text = " ".join(m.value for m in at.markdown)
    d = decimals(first, last)  # the tiny random BERT barely changes across layers: enough decimals to differ
    assert f"from {first:.{d}f} at layer 0 (hook_embed) to {last:.{d}f} at layer 2" in text
    assert ("**falls**" in text) == (last < first)
    assert "The study's four findings" in " ".join(h.value for h in at.subheader)
    assert "Self-similarity falls in higher layers" in text
    # every table has its CSV button; formulas are on the page
    assert len(at.get("download_button")) >= len(at.dataframe)
    assert any("SelfSim" in x.value for x in at.get("latex"))
    # two runs with rows: the comparison chart and its caveat from the numbers
    assert "Runs compared (pooled)" in [h.value for h in at.subheader]
    assert "mean random-word cosine per line" in text and "lstm cell" in text


def test_word_lookup_shows_the_words_layers_and_contexts(monkeypatch, aniso_warehouse):
    con = duckdb.connect(str(aniso_warehouse), read_only=True)
    word, n = con.execute("select word, max(n_contexts) from anisotropy_words where run_id = 'tiny' and "
                          "dataset = 'news' group by word order by word limit 1").fetchone()
    rows = con.execute("select layer, self_sim, mev from anisotropy_words where run_id = 'tiny' and dataset = 'news' "
                       "and word = ? order by layer", [word]).df()
    texts = con.execute("select s.text from anisotropy_contexts c join sentences s using (dataset, sentence_id) "
                        "where c.run_id = 'tiny' and c.sample = 'news' and c.word = ?", [word]).df()["text"]
    con.close()
    at = page(monkeypatch, aniso_warehouse, run="tiny", wsample="news")
    at.run()
    at.text_input(key="aniso_word").input(word.upper()).run()
    assert not at.exception
    assert at.query_params["word"] == [word] or at.query_params["word"] == word
    specs = charts(at)
    lookup = next(s for s in specs if s.get("title") == f"'{word}': self-similarity")
    got = plotted(lookup, "self_sim")
    for r in rows.itertuples():
        assert got[("news", r.layer)] == pytest.approx(r.self_sim)
    word_table = next(d.value for d in at.dataframe if "mev_adj" in d.value.columns and "word" in d.value.columns
                      and set(d.value["word"]) == {word})
    assert len(word_table[word_table["dataset"] == "news"]) == 3
    ctx = next(d.value for d in at.dataframe if "char_start" in d.value.columns)
    assert sorted(ctx["text"]) == sorted(texts) and len(ctx) == n
    body = " ".join(m.value for m in at.markdown)
    assert f"**{word}**" in body.lower() or f"**{word.capitalize()}**" in body


def test_unknown_word_suggests_close_ones(monkeypatch, aniso_warehouse):
    at = page(monkeypatch, aniso_warehouse, run="tiny", word="thee")
    at.run()
    assert not at.exception
    warning = at.warning[0].value
    assert "'thee' is not among the" in warning and "the" in warning.split("Close:")[1]


def test_tables_follow_layer_and_dataset_in_the_url(monkeypatch, aniso_warehouse):
    at = page(monkeypatch, aniso_warehouse, run="tiny", layer="1", sample="questions", k="3")
    at.run()
    assert not at.exception
    con = duckdb.connect(str(aniso_warehouse), read_only=True)
    top_adj = con.execute("select word from anisotropy_words where run_id = 'tiny' and layer = 1 and "
                          "dataset = 'questions' and mev is not null order by mev_adj desc, word limit 3"
                          ).df()["word"].tolist()
    top = con.execute("select word from anisotropy_words where run_id = 'tiny' and layer = 1 and dataset = 'questions' "
                      "and mev is not null order by mev desc, word limit 3").df()["word"].tolist()
    low = con.execute("select word from anisotropy_words where run_id = 'tiny' and layer = 1 and dataset = 'questions' "
                      "order by self_sim, word limit 3").df()["word"].tolist()
    con.close()
    frames = [d.value for d in at.dataframe]
    static = next(f for f in frames if list(f.columns[:4]) == ["rank", "word", "n_contexts", "mev"])
    contextual = next(f for f in frames if list(f.columns[:4]) == ["rank", "word", "n_contexts", "self_sim"])
    assert static["word"].tolist() == top_adj and contextual["word"].tolist() == low
    at.radio(key="aniso_by").set_value("mev").run()  # the study's raw MEV
    assert at.query_params["by"] in ("mev", ["mev"])
    static = next(d.value for d in at.dataframe if list(d.value.columns[:4]) == ["rank", "word", "n_contexts", "mev"])
    assert static["word"].tolist() == top
    names = [b.label for b in at.get("download_button")]
    assert "Download anisotropy_static_questions_layer1.csv" in names
    across = next(f for f in frames if "same_left" in f.columns)
    assert len(across) == 3 and across["overlap"].between(0, 1).all() and across["same_left"].between(0, 1).all()
    assert any(m.value.startswith("Do the most static words owe it to their contexts?") for m in at.markdown)


def test_lstm_run_reads_depth_per_stream(monkeypatch, aniso_warehouse):
    at = page(monkeypatch, aniso_warehouse, run="lstm")
    at.run()
    assert not at.exception
    text = " ".join(m.value for m in at.markdown)
    assert "**hidden stream** (lstm1 → lstm2)" in text and "**cell stream** (lstm1 → lstm2)" in text
    assert "interleaves two streams" in " ".join(c.value for c in at.caption)


def test_run_without_rows_says_how_to_build(monkeypatch, small_warehouse, tmp_path, tiny_model_dir, fixture_files):
    path = tmp_path / "w.duckdb"
    cfg = make_config(datasets=small_datasets(fixture_files)[:1], models=[tiny_model_spec(tiny_model_dir)],
                      warehouse=str(path), topk=5, progress=False, separability_per_dataset=0,
                      anisotropy={"enabled": False})
    build(cfg, log=lambda *_: None)
    at = page(monkeypatch, path)
    at.run()
    assert not at.exception
    assert "no anisotropy results for run `tiny`" in at.info[0].value
    assert "python -m pipeline build" in at.info[0].value


def test_no_word_with_enough_contexts_still_renders(monkeypatch, tmp_path, tiny_model_dir, fixture_files):
    path = tmp_path / "w.duckdb"
    cfg = make_config(datasets=small_datasets(fixture_files)[:1], models=[tiny_model_spec(tiny_model_dir)],
                      warehouse=str(path), topk=5, progress=False, separability_per_dataset=0,
                      anisotropy={**SETTINGS, "contexts": 30, "min_contexts": 30})  # 24 questions: no word qualifies
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(stages, "RUN_STAGES", ("anisotropy",))
        build(cfg, log=lambda *_: None)
    at = page(monkeypatch, path, word="the")
    at.run()
    assert not at.exception
    assert "has enough contexts" in at.warning[0].value
    assert any(s.get("title") == "Intra-sentence similarity" for s in charts(at))
