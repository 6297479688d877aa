"""Nearest sentences: analysis.neighbours.nearest against sklearn, the warehouse's SQL against it, the page with
AppTest, and the typed-text path through the tiny model."""
from pathlib import Path

import numpy as np
import pytest
from sklearn.neighbors import NearestNeighbors
from streamlit.testing.v1 import AppTest

import warehouse
from analysis.neighbours import cosine_similarities, nearest
from ui.links import neighbours_link, with_neighbour_links
from warehouse import queries

ROOT = Path(__file__).resolve().parent.parent
DATASETS = ["news", "pairs", "questions"]


# --- analysis.neighbours.nearest -------------------------------------------------------------------------

def test_nearest_matches_sklearn_brute_cosine():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((300, 24)).astype(np.float32)
    q = rng.standard_normal((7, 24)).astype(np.float32)
    nn = NearestNeighbors(n_neighbors=9, metric="cosine", algorithm="brute").fit(x.astype(np.float64))
    dist, ref = nn.kneighbors(q.astype(np.float64))
    ids, sims = nearest(x, q, 9)
    assert ids.shape == sims.shape == (7, 9)
    np.testing.assert_array_equal(ids, ref)
    np.testing.assert_allclose(sims, 1 - dist, atol=1e-5)
    # one query as a vector gives the same as its row of the batch
    one_ids, one_sims = nearest(x, q[3], 9)
    np.testing.assert_array_equal(one_ids, ids[3])
    np.testing.assert_allclose(one_sims, sims[3], rtol=1e-6)


def test_nearest_excludes_the_query_row_like_sklearn_without_self():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((200, 16)).astype(np.float32)
    nn = NearestNeighbors(n_neighbors=6, metric="cosine", algorithm="brute").fit(x.astype(np.float64))
    rows = [0, 17, 199]
    _, ref = nn.kneighbors(x[rows].astype(np.float64))  # each row's first neighbour is itself
    ids, sims = nearest(x, x[rows], 5, exclude=rows)
    assert (ref[:, 0] == rows).all()
    np.testing.assert_array_equal(ids, ref[:, 1:])
    assert all(r not in i for r, i in zip(rows, ids))


def test_nearest_tie_rule_and_undefined_rows():
    # rows 1, 3 and 5 are the same vector (exact ties), row 4 is zero (cosine undefined), row 2 the query's opposite
    x = np.array([[1, 0, 0], [1, 1, 0], [-1, 0, 0], [1, 1, 0], [0, 0, 0], [1, 1, 0], [0, 1, 0]], np.float32)
    ids, sims = nearest(x, np.array([1, 1, 0], np.float32), 10, exclude=3)
    # by hand: cos([1,1,0], .) = 1 for rows 1, 5; 1/sqrt(2) for rows 0, 6; -1/sqrt(2) for row 2; row 4 left out
    assert ids.tolist() == [1, 5, 0, 6, 2]
    np.testing.assert_allclose(sims, [1, 1, 2 ** -0.5, 2 ** -0.5, -(2 ** -0.5)], rtol=1e-6)
    # the same identical rows far into a large matrix still tie exactly (no BLAS remainder effects)
    rng = np.random.default_rng(2)
    big = rng.standard_normal((5003, 33)).astype(np.float32)
    big[::7] = big[0]
    s = cosine_similarities(big, rng.standard_normal(33))[0]
    assert np.unique(s[::7]).size == 1
    ids, _ = nearest(big, big[0], 10, exclude=0)
    assert ids.tolist() == list(range(7, 71, 7))
    with pytest.raises(ValueError, match="k must be"):
        nearest(x, x[0], 0)
    with pytest.raises(ValueError, match="values per vector"):
        nearest(x, np.ones(4), 2)


# --- the SQL against numpy on the small warehouse ----------------------------------------------------------

def _layer(path, layer, pooling):
    con = warehouse.connect_read_only(path)
    df = con.execute("select dataset, sentence_id, vec from activations where run_id = 'tiny' and layer = ? "
                     "and pooling = ? order by dataset, sentence_id", [layer, pooling]).df()
    texts = con.execute("select dataset, sentence_id, text from sentences").df()
    con.close()
    blocks = {d: np.array(g["vec"].tolist(), np.float32) for d, g in df.groupby("dataset")}
    for d, g in df.groupby("dataset"):
        assert g["sentence_id"].tolist() == list(range(len(g)))  # rows are sentence ids
    return blocks, {(d, i): t for d, i, t in zip(texts["dataset"], texts["sentence_id"], texts["text"])}


def _expected(blocks, q, k, query=None):
    """Per dataset, numpy's (ids, sims) for query vector q; ``query`` = (dataset, sid) is left out."""
    out = {}
    for d, x in blocks.items():
        ex = query[1] if query and query[0] == d else None
        out[d] = nearest(x, q, k, exclude=ex)
    return out


def _check(df, expected, texts, k, blocks=None, q=None, tol=None):
    """The SQL's lists equal numpy's. With ``tol`` (for near-degenerate spaces, e.g. the random tiny BERT's
    [CLS] past layer 0, where every similarity is 0.99998..0.999999 and float32 sums in another order may swap
    two neighbours): at a rank where the ids differ, numpy's own similarity of the SQL's sentence must be within
    ``tol`` of numpy's at that rank."""
    assert list(df.columns) == ["dataset", "rank", "sentence_id", "similarity", "text"]
    for d, (ids, sims) in expected.items():
        got = df[df["dataset"] == d]
        assert got["rank"].tolist() == list(range(1, len(ids) + 1))
        np.testing.assert_allclose(got["similarity"], sims, atol=2e-6)
        if tol is None:
            assert got["sentence_id"].tolist() == ids.tolist(), d
        else:
            full = cosine_similarities(blocks[d], q)[0]
            assert got["sentence_id"].is_unique
            for rank, (g, e) in enumerate(zip(got["sentence_id"], ids)):
                assert g == e or abs(full[g] - sims[rank]) <= tol, (d, rank, g, e)
        assert got["text"].tolist() == [texts[(d, int(i))] for i in got["sentence_id"]]
        assert len(got) == min(k, len(ids))


@pytest.mark.parametrize("layer,pooling,tol", [(2, "mean", None), (1, "mean", None), (0, "mean", None),
                                               (2, "cls", 1e-6)])
def test_nearest_sentences_sql_equals_numpy(small_warehouse, layer, pooling, tol):
    blocks, texts = _layer(small_warehouse, layer, pooling)
    con = warehouse.connect_read_only(small_warehouse)
    try:
        for d, sid in [("news", 0), ("questions", 23), ("pairs", 7), ("pairs", 0)]:
            for k in (1, 5, 30):  # 30: more than any dataset holds, so every sentence but the query comes back
                df = queries.nearest_sentences(con, "tiny", layer, pooling, d, sid, DATASETS, k)
                q = blocks[d][sid]
                _check(df, _expected(blocks, q, k, query=(d, sid)), texts, k, blocks, q, tol)
                assert not ((df["dataset"] == d) & (df["sentence_id"] == sid)).any()
        # the datasets filter
        df = queries.nearest_sentences(con, "tiny", layer, pooling, "news", 3, ["questions"], 4)
        assert set(df["dataset"]) == {"questions"} and len(df) == 4
        # a sentence with no vector here: nothing
        assert queries.nearest_sentences(con, "tiny", layer, pooling, "news", 999, DATASETS, 4).empty
    finally:
        con.close()


def test_nearest_sentences_ties_go_to_the_lower_id(small_warehouse):
    """[CLS] at the embedding output is the same vector for every sentence: every similarity ties."""
    blocks, texts = _layer(small_warehouse, 0, "cls")
    assert all(np.unique(x, axis=0).shape[0] == 1 for x in blocks.values())
    con = warehouse.connect_read_only(small_warehouse)
    try:
        df = queries.nearest_sentences(con, "tiny", 0, "cls", "questions", 2, DATASETS, 5)
    finally:
        con.close()
    assert df[df.dataset == "questions"]["sentence_id"].tolist() == [0, 1, 3, 4, 5]
    assert df[df.dataset == "news"]["sentence_id"].tolist() == [0, 1, 2, 3, 4]
    _check(df, _expected(blocks, blocks["questions"][2], 5, query=("questions", 2)), texts, 5)


def test_nearest_to_vector_sql_equals_numpy(small_warehouse):
    blocks, texts = _layer(small_warehouse, 2, "mean")
    rng = np.random.default_rng(3)
    con = warehouse.connect_read_only(small_warehouse)
    try:
        for _ in range(3):
            q = rng.standard_normal(32).astype(np.float32)
            df = queries.nearest_to_vector(con, "tiny", 2, "mean", q, DATASETS, 6)
            _check(df, _expected(blocks, q, 6), texts, 6)
            # a vector, not a stored sentence: nothing is left out, 6 from each dataset, best first
            assert len(df) == 6 * len(DATASETS)
            assert all(part["similarity"].is_monotonic_decreasing for _, part in df.groupby("dataset"))
    finally:
        con.close()


# --- links --------------------------------------------------------------------------------------------------

def test_neighbour_links():
    import pandas as pd

    from ui.selection import Selection

    assert neighbours_link("tiny", 2, "cls", "news", 5) == \
        "/neighbours?run=tiny&layer=2&pooling=cls&ds=news&sid=5"
    assert neighbours_link("a b", 0, "mean", "x&y", 1) == "/neighbours?run=a+b&layer=0&pooling=mean&ds=x%26y&sid=1"
    df = pd.DataFrame({"dataset": ["news", "pairs"], "sentence_id": [3, 0], "text": ["a", "b"]})
    out = with_neighbour_links(df, Selection("tiny", 1, "blocks.0.hook_resid_post", "mean", {}))
    assert out["neighbours"].tolist() == ["/neighbours?run=tiny&layer=1&pooling=mean&ds=news&sid=3",
                                          "/neighbours?run=tiny&layer=1&pooling=mean&ds=pairs&sid=0"]
    assert "neighbours" not in df.columns


def test_neighbour_table_in_a_page():
    def page():
        import pandas as pd

        from ui.links import neighbour_table
        from ui.selection import Selection

        df = pd.DataFrame({"dataset": ["news", "news"], "sentence_id": [4, 9], "value": [0.5, 0.25]})
        neighbour_table(df, Selection("tiny", 2, "blocks.1.hook_resid_post", "cls", {}), "drift_top", key="t")

    at = AppTest.from_function(page).run()
    assert not at.exception
    shown = at.dataframe[0].value
    assert shown["neighbours"].tolist() == [neighbours_link("tiny", 2, "cls", "news", i) for i in (4, 9)]
    assert [b.label for b in at.get("download_button")] == ["Download drift_top.csv"]


# --- the page -----------------------------------------------------------------------------------------------

def _app(monkeypatch, path, **params) -> AppTest:
    monkeypatch.setenv("ILLUSION_WAREHOUSE", str(path))
    at = AppTest.from_file(str(ROOT / "views" / "neighbours.py"), default_timeout=60)
    for key, v in params.items():
        at.query_params[key] = v
    return at


def _tables(at, names=DATASETS):
    """The page's tables, one per dataset in the order shown (AppTest does not expose a dataframe's key)."""
    frames = [df.value for df in at.dataframe]
    assert len(frames) == len(names), (len(frames), names)
    return {f"nn_table_{d}": f for d, f in zip(names, frames)}


def _param(at, name):
    v = dict(at.query_params)[name]
    return v[0] if isinstance(v, list) else v


def test_page_defaults(monkeypatch, small_warehouse):
    at = _app(monkeypatch, small_warehouse).run()
    assert not at.exception, at.exception
    tables = _tables(at)
    assert set(tables) == {f"nn_table_{d}" for d in DATASETS}
    # the defaults: the last layer, the first pooling, the first dataset's sentence 0, k = 10
    blocks, _ = _layer(small_warehouse, 2, "cls")
    exp = _expected(blocks, blocks["news"][0], 10, query=("news", 0))
    full = {d: cosine_similarities(blocks[d], blocks["news"][0])[0] for d in DATASETS}
    for d in DATASETS:
        t = tables[f"nn_table_{d}"]
        assert list(t.columns) == ["rank", "sentence_id", "similarity", "text", "neighbours"]
        ids, sims = exp[d]
        assert len(t) == 10 and 0 not in (t["sentence_id"].tolist() if d == "news" else [])
        np.testing.assert_allclose(t["similarity"], sims, atol=2e-6)
        # the random tiny BERT's [CLS] similarities are all 0.99998..0.999999: near-ties may swap (see _check)
        assert all(g == e or abs(full[d][g] - s) <= 1e-6 for g, e, s in zip(t["sentence_id"], ids, sims))
        assert t["neighbours"].tolist() == [neighbours_link("tiny", 2, "cls", d, int(i)) for i in t["sentence_id"]]
    assert {b.label for b in at.get("download_button")} >= {f"Download neighbours_{d}.csv" for d in DATASETS}
    assert (_param(at, "ds"), _param(at, "sid"), _param(at, "k"), _param(at, "layer")) == ("news", "0", "10", "2")


def test_page_from_a_link(monkeypatch, small_warehouse):
    at = _app(monkeypatch, small_warehouse, run="tiny", layer="1", pooling="mean", ds="questions", sid="5",
              k="3", within="questions,pairs").run()
    assert not at.exception, at.exception
    blocks, texts = _layer(small_warehouse, 1, "mean")
    tables = _tables(at, ["questions", "pairs"])
    for d in ("questions", "pairs"):
        ids, sims = _expected(blocks, blocks["questions"][5], 3, query=("questions", 5))[d]
        assert tables[f"nn_table_{d}"]["sentence_id"].tolist() == ids.tolist()
        np.testing.assert_allclose(tables[f"nn_table_{d}"]["similarity"], sims, atol=2e-6)
    assert any(texts[("questions", 5)] in m.value for m in at.markdown)
    assert len(at.get("vega_lite_chart")) == 1
    # changing the sentence id changes the lists and the URL
    at.number_input(key="nn_sid_questions").set_value(6).run()
    assert not at.exception
    ids, _ = _expected(blocks, blocks["questions"][6], 3, query=("questions", 6))["questions"]
    assert _tables(at, ["questions", "pairs"])["nn_table_questions"]["sentence_id"].tolist() == ids.tolist()
    assert _param(at, "sid") == "6"


@pytest.mark.parametrize("params,message", [({"ds": "news", "sid": "99"}, "sid='99': news has no such sentence"),
                                            ({"ds": "news", "sid": "x"}, "sid='x'"),
                                            ({"ds": "nope", "sid": "1"}, "ds='nope': no such dataset")])
def test_page_bad_input_is_one_line(monkeypatch, small_warehouse, params, message):
    at = _app(monkeypatch, small_warehouse, **params).run()
    assert not at.exception
    assert len(at.error) == 1 and message in at.error[0].value and "\n" not in at.error[0].value
    assert not at.dataframe


def test_page_search_picks_the_query(monkeypatch, small_warehouse):
    at = _app(monkeypatch, small_warehouse).run()
    at.text_input(key="nn_find").set_value("river").run()
    box = at.selectbox(key="nn_hit")
    con = warehouse.connect_read_only(small_warehouse)
    hits = queries.search_sentences(con, "river")
    con.close()
    assert len(hits) >= 2 and all("river" in t.lower() for t in hits["text"])
    assert box.options == [f"{d} #{i}: {t}" for d, i, t in zip(hits["dataset"], hits["sentence_id"], hits["text"])]
    d, sid = hits["dataset"].iloc[-1], str(hits["sentence_id"].iloc[-1])
    box.set_value(f"{d}\t{sid}").run()
    assert not at.exception
    assert (_param(at, "ds"), _param(at, "sid")) == (d, sid)
    assert any(f"**Query:** {d} #{sid}: {hits['text'].iloc[-1]}" in m.value for m in at.markdown)
    assert at.selectbox(key="nn_ds").value == d


# --- typed text through the tiny model ---------------------------------------------------------------------

def test_typed_text_gives_the_stored_neighbours(monkeypatch, small_warehouse):
    """A stored sentence's own text, typed in: the model gives (nearly) its stored vector, so it comes first
    with similarity 1, followed by the same neighbours as the stored-sentence query."""
    con = warehouse.connect_read_only(small_warehouse)
    try:
        text = con.execute("select text from sentences where dataset = 'news' and sentence_id = 4").fetchone()[0]
        stored = queries.nearest_sentences(con, "tiny", 2, "mean", "news", 4, DATASETS, 5)
    finally:
        con.close()
    at = _app(monkeypatch, small_warehouse, layer="2", pooling="mean", text=text, k="6").run()
    assert not at.exception, at.exception
    assert at.radio(key="nn_mode").value == "typed"
    tables = _tables(at)
    news = tables["nn_table_news"]
    assert news["sentence_id"].iloc[0] == 4 and news["similarity"].iloc[0] == pytest.approx(1, abs=1e-5)
    assert news["sentence_id"].iloc[1:].tolist() == stored[stored.dataset == "news"]["sentence_id"].tolist()
    for d in ("pairs", "questions"):
        got = tables[f"nn_table_{d}"]
        want = stored[stored.dataset == d]
        assert got["sentence_id"].iloc[:5].tolist() == want["sentence_id"].tolist()
        np.testing.assert_allclose(got["similarity"].iloc[:5], want["similarity"], atol=1e-4)
    assert _param(at, "text") == text


def test_typed_text_without_the_pipeline_says_so(monkeypatch, small_warehouse):
    from ui import neighbours_model

    monkeypatch.setattr(neighbours_model, "live_available", lambda: False)
    at = _app(monkeypatch, small_warehouse, text="anything at all").run()
    assert not at.exception
    assert at.radio(key="nn_mode").value == "stored" and at.radio(key="nn_mode").disabled
    assert any("Typed text needs the pipeline installed" in c.value for c in at.caption)
    assert set(_tables(at)) == {f"nn_table_{d}" for d in DATASETS}


@pytest.mark.parametrize("page, columns", [("drift.py", {"dataset", "sentence_id", "text"}),
                                           ("outliers.py", {"count", "dataset", "sentence_id", "text"})])
def test_sentence_lists_link_to_the_neighbours(monkeypatch, small_warehouse, page, columns):
    """The drift page's top-k table and the outliers page's most-counted table: every row links to that
    sentence's nearest sentences in the page's run, layer and pooling."""
    monkeypatch.setenv("ILLUSION_WAREHOUSE", str(small_warehouse))
    at = AppTest.from_file(str(ROOT / "views" / page), default_timeout=60)
    at.query_params.update({"run": "tiny", "layer": "1", "pooling": "mean", "k": "3"})
    at.run()
    assert not at.exception, at.exception
    linked = [df.value for df in at.dataframe if "neighbours" in df.value.columns]
    assert len(linked) == 1 and len(linked[0]) > 0 and columns <= set(linked[0].columns)
    t = linked[0]
    assert t["neighbours"].tolist() == [neighbours_link("tiny", 1, "mean", d, int(i))
                                        for d, i in zip(t["dataset"], t["sentence_id"])]
