"""Token-level top examples (pipeline/stages/token_topk.py, analysis.extremes.StreamingExtremes) and the drift
page's "by token" lists, against a brute force over every token computed here with numpy."""
from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from analysis.extremes import StreamingExtremes, neuron_extremes

ROOT = Path(__file__).resolve().parent.parent


def test_streaming_extremes_equal_neuron_extremes_on_the_stacked_blocks():
    rng = np.random.default_rng(0)
    x = rng.integers(-3, 4, size=(57, 6)).astype(np.float32)  # many ties
    x[[4, 30]] = -np.inf  # rows without a value
    lo = x.copy()
    lo[[4, 30]] = np.inf
    tag = rng.integers(0, 1000, size=x.shape).astype(np.int32)
    acc = StreamingExtremes(5, ("tag",))
    for a in range(0, len(x), 11):  # blocks in row order
        acc.add(x[a:a + 11], lo[a:a + 11], {"tag": tag[a:a + 11]}, {"tag": tag[a:a + 11]})
    got = acc.result()
    top_i, top_v, _, _ = neuron_extremes(x, 5)
    _, _, bot_i, bot_v = neuron_extremes(lo, 5)
    np.testing.assert_array_equal(got["top"][0], top_i)
    np.testing.assert_array_equal(got["top"][1], top_v)
    np.testing.assert_array_equal(got["top"][2]["tag"], np.take_along_axis(tag, top_i, 0))
    np.testing.assert_array_equal(got["bottom"][0], bot_i)
    np.testing.assert_array_equal(got["bottom"][1], bot_v)


def _stored(path):
    con = duckdb.connect(str(path), read_only=True)
    try:
        rows = con.execute("select * from token_topk where run_id = 'tiny'").df()
        texts = {d: [t for (t,) in con.execute("select text from sentences where dataset = ? order by sentence_id",
                                               [d]).fetchall()] for d in rows["dataset"].unique()}
        k = con.execute("select max(len(vals)) from token_topk").fetchone()[0]
    finally:
        con.close()
    return rows, texts, k


def test_stored_token_lists_equal_a_brute_force_over_every_token(small_warehouse, tiny_spec):
    from pipeline.models import make_runner

    rows, texts, k = _stored(small_warehouse)
    runner = make_runner(tiny_spec)
    for dataset in ("news", "pairs"):
        states = runner.token_states(texts[dataset])
        n_layers = states[0].states.shape[0]
        assert set(rows[rows.dataset == dataset]["layer"]) == set(range(n_layers))
        for layer in (0, n_layers - 1):
            hi = np.stack([s.states[layer].max(0) for s in states])  # [N, H]: each sentence's strongest token
            lo = np.stack([s.states[layer].min(0) for s in states])
            top_i, top_v, _, _ = neuron_extremes(hi, k)
            _, _, bot_i, bot_v = neuron_extremes(lo, k)
            got = rows[(rows.dataset == dataset) & (rows.layer == layer)].set_index(["side", "unit"])
            for unit in (0, 7, hi.shape[1] - 1):
                for side, ids, vals in (("top", top_i, top_v), ("bottom", bot_i, bot_v)):
                    r = got.loc[(side, unit)]
                    assert list(r["sentence_ids"]) == ids[:, unit].tolist()
                    np.testing.assert_allclose(r["vals"], vals[:, unit], atol=1e-5)
                    for sid, pos, a, b, v in zip(r["sentence_ids"], r["positions"], r["starts"], r["ends"], r["vals"]):
                        s = states[sid]
                        assert s.states[layer][pos, unit] == pytest.approx(v, abs=1e-5)  # the token it came from
                        assert (a, b) == tuple(s.offsets[pos])
                        assert texts[dataset][sid][a:b]  # a real piece of the text


def test_drift_page_shows_the_by_token_list_with_the_token_highlighted(monkeypatch, small_warehouse):
    monkeypatch.setenv("ILLUSION_WAREHOUSE", str(small_warehouse))
    at = AppTest.from_file(str(ROOT / "views" / "drift.py"), default_timeout=60)
    at.query_params.update({"unit": "3", "k": "3", "list": "top_token", "layer": "2", "pooling": "cls"})
    at.run()
    assert not at.exception
    rows, texts, _ = _stored(small_warehouse)
    r = rows[(rows.dataset == "news") & (rows.layer == 2) & (rows.unit == 3) & (rows.side == "top")].iloc[0]
    sid, a, b = int(r["sentence_ids"][0]), int(r["starts"][0]), int(r["ends"][0])
    table = next(df.value for df in at.dataframe if "token" in df.value.columns)
    news = table[table.dataset == "news"]
    assert news["sentence_id"].tolist() == list(r["sentence_ids"][:3])
    assert news["token"].iloc[0] == texts["news"][sid][a:b]
    shown = "\n".join(m.value for m in at.markdown)
    assert f"`{r['vals'][0]:+.3f}`" in shown and ":orange-background[**" in shown
    assert at.query_params["list"] in (["top_token"], "top_token")
