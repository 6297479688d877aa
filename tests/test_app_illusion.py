"""Illusion-score page and the drift page's hypothesis tester, with AppTest on the small warehouse."""
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

import warehouse
from analysis.illusion import illusion_scores

ROOT = Path(__file__).resolve().parent.parent


def _layer(path, layer=2, pooling="cls"):
    con = warehouse.connect_read_only(path)
    df = con.execute("select dataset, sentence_id, vec, text from activations join sentences "
                     "using (dataset, sentence_id) where run_id = 'tiny' and layer = ? and pooling = ? "
                     "order by dataset, sentence_id", [layer, pooling]).df()
    con.close()
    return np.array(df["vec"].tolist()), df


def test_illusion_page_ranks_every_neuron(monkeypatch, small_warehouse):
    monkeypatch.setenv("ILLUSION_WAREHOUSE", str(small_warehouse))
    at = AppTest.from_file(str(ROOT / "views" / "illusion.py"), default_timeout=60)
    at.query_params["k"] = "3"
    at.run()
    assert not at.exception
    x, df = _layer(small_warehouse)
    expected = illusion_scores(x, df["dataset"].to_numpy(), k=3)
    shown = at.dataframe[-1].value  # the full table
    assert len(shown) == 32
    np.testing.assert_allclose(shown.sort_values("unit")["robustness"], expected["robustness"], rtol=1e-5)
    robust = at.dataframe[0].value
    assert robust["unit"].tolist() == expected.nlargest(15, "robustness")["unit"].tolist()
    link = urlparse(robust["explore"].iloc[0])
    params = parse_qs(link.query)
    assert link.path == "/drift" and params["unit"] == [str(robust["unit"].iloc[0])] and params["k"] == ["3"]


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
