"""The per-example attention page with AppTest (tiny BERT warehouse): the stored weights without the model, the
live weights with it, each equal to the model's output_attentions computed here independently; the links to it
from the attention page's items and from a sentence list."""
from __future__ import annotations

import json
from pathlib import Path

import duckdb
import numpy as np
import pytest
from streamlit.dataframe_util import convert_arrow_bytes_to_pandas_df
from streamlit.testing.v1 import AppTest

from analysis.attention_example import unpack
from tests.test_attention_example import example_warehouse, reference_attentions

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def ex_warehouse(tmp_path_factory, tiny_model_dir, fixture_files) -> Path:
    return example_warehouse(tmp_path_factory, tiny_model_dir, fixture_files)


def stored_row(path, dataset: str):
    con = duckdb.connect(str(path), read_only=True)
    row = con.execute("select e.*, s.text, s.text_b from attention_examples e join sentences s using (dataset, "
                      "sentence_id) where dataset = ? order by sentence_id limit 1", [dataset]).df().iloc[0]
    con.close()
    return row


def page(monkeypatch, path, live: bool, **params) -> AppTest:
    monkeypatch.setenv("ILLUSION_WAREHOUSE", str(path))
    if not live:  # as on Community Cloud: no torch, no transformers
        import ui.attention_example_model

        monkeypatch.setattr(ui.attention_example_model, "live_available", lambda: False)
    at = AppTest.from_file(str(ROOT / "views" / "attention_example.py"), default_timeout=90)
    at.query_params.update(params)
    return at


def chart_frames(at) -> list[dict]:
    out = []
    for c in at.get("vega_lite_chart"):
        spec = json.loads(c.proto.spec)
        out.append({d.name: convert_arrow_bytes_to_pandas_df(d.data.data) for d in c.proto.datasets} | {"spec": spec})
    return out


def shown_head(at):
    (df,) = [d.value for d in at.dataframe if "from_token" in d.value.columns]
    return df


@pytest.mark.parametrize("dataset", ["sts", "questions"])
def test_stored_weights_without_the_model(monkeypatch, ex_warehouse, tiny_model_dir, dataset):
    row = stored_row(ex_warehouse, dataset)
    sid = int(row["sentence_id"])
    at = page(monkeypatch, ex_warehouse, live=False, run="tiny", dataset=dataset, sentence=str(sid), layer="2",
              head="1")
    at.run()
    assert not at.exception
    assert any("Weights: **stored**" in md.value for md in at.markdown)
    assert not any("Weights: **live**" in md.value for md in at.markdown)
    assert any("Live attention needs the pipeline installed" in c.value for c in at.caption)
    stored = unpack(bytes(row["weights"]), row["dtype"], row["scale"], row["n_layers"], row["n_heads"],
                    row["n_tokens"])
    _, ref = reference_attentions(tiny_model_dir, row["text"], row["text_b"] if dataset == "sts" else None)
    df = shown_head(at)
    t = int(row["n_tokens"])
    assert df["from_token"].tolist()[::t] == list(row["tokens"])
    np.testing.assert_array_equal(df["weight"].to_numpy().reshape(t, t), stored[1, 1])
    assert np.abs(df["weight"].to_numpy().reshape(t, t) - ref[1, 1]).max() <= row["max_error"] + 1e-6
    grid = next(f["grid"] for f in chart_frames(at) if "grid" in f)
    assert len(grid) == 2 * 2 * t * t  # 2 layers x 2 heads, every token (t <= 32)
    cell = grid[(grid["layer"] == 1) & (grid["head"] == 0)].sort_values(["i", "j"])
    np.testing.assert_allclose(cell["weight"].to_numpy().reshape(t, t), stored[0, 0], atol=1e-7)
    downloads = [b.label for b in at.get("download_button")]
    assert f"Download attention_tiny_{dataset}_{sid}_layer2_head1.csv" in downloads
    assert any(f"/neighbours?run=tiny&layer=2&pooling=cls&ds={dataset}&sid={sid}" in md.value for md in at.markdown)
    if dataset == "questions":  # an item without stored weights, asked for without the model: said; a stored one shown
        con = duckdb.connect(str(ex_warehouse), read_only=True)
        missing = con.execute("select min(sentence_id) from sentences where dataset = 'questions' and sentence_id "
                              "not in (select sentence_id from attention_examples where dataset = 'questions')"
                              ).fetchone()[0]
        con.close()
        at = page(monkeypatch, ex_warehouse, live=False, run="tiny", dataset=dataset, sentence=str(missing))
        at.run()
        assert not at.exception and any(f"#{missing} has no stored attention" in i.value for i in at.info)
        assert any("Weights: **stored**" in md.value for md in at.markdown)


def test_live_weights_of_any_item_are_output_attentions(monkeypatch, ex_warehouse, tiny_model_dir):
    con = duckdb.connect(str(ex_warehouse), read_only=True)
    stored = {r[0] for r in con.execute("select sentence_id from attention_examples where dataset = 'sts'").fetchall()}
    sid = min(set(range(40)) - stored)  # an item with no stored weights
    text, text_b = con.execute("select text, text_b from sentences where dataset = 'sts' and sentence_id = ?",
                               [sid]).fetchone()
    con.close()
    at = page(monkeypatch, ex_warehouse, live=True, run="tiny", dataset="sts", sentence=str(sid), layer="1",
              head="0")
    at.run()
    assert not at.exception
    assert any("Weights: **live**" in md.value for md in at.markdown)
    tokens, ref = reference_attentions(tiny_model_dir, text, text_b)
    df = shown_head(at)
    t = len(tokens)
    assert df["to_token"].tolist()[:t] == tokens
    np.testing.assert_allclose(df["weight"].to_numpy().reshape(t, t), ref[0, 0], atol=1e-6)
    lines = next(f["lines"] for f in chart_frames(at) if "lines" in f)
    assert len(lines) == int((ref[0, 0] >= 0.02 - 1e-7).sum())
    # a stored item can be shown both ways; the two agree within the recorded error
    row = stored_row(ex_warehouse, "sts")
    at = page(monkeypatch, ex_warehouse, live=True, run="tiny", dataset="sts", sentence=str(int(row["sentence_id"])),
              layer="2", head="1", source="live")
    at.run()
    assert not at.exception and at.radio[0].value == "live"
    live = shown_head(at)["weight"].to_numpy()
    at.radio[0].set_value("stored").run()
    assert any("Weights: **stored**" in md.value for md in at.markdown) and at.query_params["source"] == "stored"
    assert np.abs(shown_head(at)["weight"].to_numpy() - live).max() <= row["max_error"] + 1e-6


def test_links_from_the_attention_page_and_a_sentence_list(monkeypatch, ex_warehouse):
    monkeypatch.setenv("ILLUSION_WAREHOUSE", str(ex_warehouse))
    at = AppTest.from_file(str(ROOT / "views" / "attention.py"), default_timeout=90)
    at.query_params.update(run="tiny", dataset="sts", layer="1", features="summary")
    at.run()
    assert not at.exception
    con = duckdb.connect(str(ex_warehouse), read_only=True)
    first = con.execute("select min(sentence_id) from attention_points where dataset = 'sts' and layer = 1"
                        ).fetchone()[0]
    con.close()
    assert any(f"/attention_example?run=tiny&dataset=sts&sentence={first}&layer=1" in md.value for md in at.markdown)

    def script():
        import pandas as pd

        from ui.links import neighbour_table
        from ui.selection import Selection

        df = pd.DataFrame({"dataset": ["news", "news"], "sentence_id": [4, 9], "text": ["a", "b"]})
        neighbour_table(df, Selection("tiny", 2, "blocks.1.hook_resid_post", "cls", {"model_kind": "transformer"}),
                        "t1", key="t1")
        neighbour_table(df, Selection("lstm", 1, "lstm1.hidden", "final", {"model_kind": "lstm"}), "t2", key="t2")

    at = AppTest.from_function(script)
    at.run()
    assert not at.exception
    with_attn, without = at.dataframe[0].value, at.dataframe[1].value
    assert with_attn["attention"].tolist() == [f"/attention_example?run=tiny&dataset=news&sentence={i}&layer=2"
                                               for i in (4, 9)]
    assert "attention" not in without.columns and "neighbours" in without.columns
