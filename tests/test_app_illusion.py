"""Illusion-score page and the drift page's hypothesis tester, with AppTest on the small warehouse."""
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

import warehouse
from analysis.illusion import illusion_scores
from analysis.illusion_null import illusion_null_scores, null_summary
from warehouse import queries

ROOT = Path(__file__).resolve().parent.parent


def _layer(path, layer=2, pooling="cls"):
    con = warehouse.connect_read_only(path)
    df = con.execute("select dataset, sentence_id, vec, text from activations join sentences "
                     "using (dataset, sentence_id) where run_id = 'tiny' and layer = ? and pooling = ? "
                     "order by dataset, sentence_id", [layer, pooling]).df()
    con.close()
    return np.array(df["vec"].tolist()), df


def test_illusion_page_ranks_every_neuron(monkeypatch, small_warehouse):
    """k = 3 is not the stored view: the page computes both scores, which must equal the analysis functions on
    the stored vectors; the headline is null_summary's verdict; the tables rank by z against random
    directions."""
    monkeypatch.setenv("ILLUSION_WAREHOUSE", str(small_warehouse))
    at = AppTest.from_file(str(ROOT / "views" / "illusion.py"), default_timeout=60)
    at.query_params["k"] = "3"
    at.run()
    assert not at.exception
    x, df = _layer(small_warehouse)
    ds = df["dataset"].to_numpy()
    expected = illusion_scores(x, ds, k=3)
    null_frame, null = illusion_null_scores(x, ds, k=3)
    shown = at.dataframe[-1].value.sort_values("unit")  # the full table
    assert len(shown) == 32
    np.testing.assert_allclose(shown["robustness"], expected["robustness"], rtol=1e-5)
    for ours, theirs in (("z_null", "z"), ("percentile", "percentile"), ("p_value", "p_value"),
                         ("q_value", "q_value")):
        np.testing.assert_allclose(shown[ours], null_frame[theirs], rtol=1e-9, equal_nan=True)
    verdict = null_summary(null_frame, int(np.isfinite(null).sum()))["verdict"]
    assert at.subheader[0].value.lower() == verdict.lower() + "."
    top = at.dataframe[0].value
    assert top["unit"].tolist() == null_frame.nlargest(15, "z")["unit"].tolist()
    link = urlparse(top["explore"].iloc[0])
    params = parse_qs(link.query)
    assert link.path == "/drift" and params["unit"] == [str(top["unit"].iloc[0])] and params["k"] == ["3"]


def test_illusion_page_reads_the_stored_null_at_the_default_view(monkeypatch, small_warehouse):
    """At the stored view (every dataset, k = 10) the page shows the build's null, and a stricter q cannot
    pass more neurons."""
    monkeypatch.setenv("ILLUSION_WAREHOUSE", str(small_warehouse))
    con = warehouse.connect_read_only(small_warehouse)
    stored = queries.stored_illusion_null_scores(con, "tiny", 2, "cls", 10)
    con.close()
    assert len(stored) == 32 and stored["n_null"].iloc[0] == 1000
    at = AppTest.from_file(str(ROOT / "views" / "illusion.py"), default_timeout=60)
    at.run()
    assert not at.exception
    shown = at.dataframe[-1].value.sort_values("unit")
    np.testing.assert_allclose(shown["q_value"], stored["q_value"], rtol=1e-12, equal_nan=True)
    passes = {}
    for q in ("0.1", "0.01"):
        at.selectbox(key="ill_q").set_value(float(q)).run()
        assert not at.exception and at.query_params["q"] == q
        passes[q] = int(at.subheader[0].value.split(" of ")[0])
        assert passes[q] == int((stored["q_value"] <= float(q)).sum())
    assert passes["0.01"] <= passes["0.1"]


def test_illusion_page_needs_two_datasets(monkeypatch, small_warehouse):
    monkeypatch.setenv("ILLUSION_WAREHOUSE", str(small_warehouse))
    at = AppTest.from_file(str(ROOT / "views" / "illusion.py"), default_timeout=60)
    at.query_params["ds"] = "news"
    at.run()
    assert not at.exception and "at least two" in at.info[0].value


def test_hypothesis_tester_counts_hits_by_hand(monkeypatch, small_warehouse):
    monkeypatch.setenv("ILLUSION_WAREHOUSE", str(small_warehouse))
    at = AppTest.from_file(str(ROOT / "views" / "drift.py"), default_timeout=60)
    at.query_params.update({"unit": "4", "k": "5"})
    at.run()
    at.text_input(key="hyp_text").input("the").run()
    assert not at.exception
    result = next(df.value for df in at.dataframe if "p_adjusted" in df.value.columns).set_index("dataset")
    x, df = _layer(small_warehouse)
    for name, group in df.groupby("dataset"):
        has = group["text"].str.contains(r"(?<!\w)the(?!\w)", case=False, regex=True).to_numpy()
        top = np.argsort(-x[df["dataset"] == name][:, 4], kind="stable")[:5]
        assert result.loc[name, "base_rate"] == pytest.approx(has.mean())
        assert result.loc[name, "top_rate"] == pytest.approx(has[top].mean())
    assert any("datasets (Holm-adjusted p < 0.05)" in m.value for m in at.markdown)
    assert dict(at.query_params)["hyp"] in (["the"], "the")
    at.radio(key="hyp_kind").set_value("regex").run()
    at.text_input(key="hyp_text").input("(unclosed").run()
    assert "invalid regex" in at.error[0].value


def test_hypothesis_from_labelled_sentences(monkeypatch, small_warehouse):
    from analysis.illusion import centroid_hits

    monkeypatch.setenv("ILLUSION_WAREHOUSE", str(small_warehouse))
    x, df = _layer(small_warehouse)
    news, questions = df[df.dataset == "news"]["text"].tolist(), df[df.dataset == "questions"]["text"].tolist()
    examples = f"+ {news[0]}\n+ {news[1]}\n- {questions[0]}\n- {questions[1]}\n+ not a sentence in the data"
    at = AppTest.from_file(str(ROOT / "views" / "drift.py"), default_timeout=60)
    at.query_params.update({"unit": "4", "k": "5", "hyp_kind": "labelled"})
    at.run()
    at.text_area(key="hyp_text").input(examples).run()
    assert not at.exception
    assert "1 example(s) not found" in at.warning[0].value
    rows = {t.casefold(): i for i, t in enumerate(df["text"])}
    hits = centroid_hits(x, [rows[news[0].casefold()], rows[news[1].casefold()]],
                         [rows[questions[0].casefold()], rows[questions[1].casefold()]])
    result = next(d.value for d in at.dataframe if "p_adjusted" in d.value.columns).set_index("dataset")
    for name in ("news", "pairs", "questions"):
        assert result.loc[name, "base_rate"] == pytest.approx(hits[(df["dataset"] == name).to_numpy()].mean())
    assert any("the labelled concept for neuron 4" in m.value for m in at.markdown)


@pytest.mark.parametrize("k", ["10", "3"])  # the stored view, and one computed on the page
def test_illusion_page_where_no_direction_keeps_a_centroid(monkeypatch, small_warehouse, k):
    """[CLS] at the embedding output is one vector for every sentence: no null can be drawn, and the page says
    so instead of failing."""
    monkeypatch.setenv("ILLUSION_WAREHOUSE", str(small_warehouse))
    at = AppTest.from_file(str(ROOT / "views" / "illusion.py"), default_timeout=60)
    at.query_params.update({"layer": "0", "pooling": "cls", "k": k})
    at.run()
    assert not at.exception, at.exception
    assert len(at.warning) == 1 and "direction null cannot be drawn" in at.warning[0].value
    assert len(at.dataframe[-1].value) == 32 and "z_null" not in at.dataframe[-1].value.columns
