"""The anisotropy stage on the real textgenrnn LSTM: words are spans of characters, checked against the
runner's per-character states computed one text at a time (step_states), scipy and sklearn."""
from __future__ import annotations

import duckdb
import numpy as np
import pytest
from scipy.spatial.distance import pdist
from sklearn.decomposition import PCA

import warehouse
from pipeline.models.lstm import LSTMRunner
from pipeline.stages.anisotropy import run_stage
from tests.conftest import NEWS, QUESTIONS


@pytest.fixture(scope="module")
def runner() -> LSTMRunner:
    return LSTMRunner.from_fetched(run_id="lstm", max_length=512, batch_size=16)


@pytest.fixture(scope="module")
def stored(runner):
    texts = {"questions": [q for q, _, _ in QUESTIONS], "news": [n for n, _, _ in NEWS]}
    con = duckdb.connect()
    warehouse.create_schema(con)
    run_stage(con, "lstm", runner, texts, 4, words=12, contexts=5, min_contexts=3, baseline_words=30, mev_sets=30,
              seed=0)
    out = {t: con.execute(f"select * from {t}").df() for t in ("anisotropy_words", "anisotropy_contexts",
                                                               "anisotropy_layers", "anisotropy_sentences")}
    con.close()
    return texts, out


def char_span_vector(runner, text, a, b) -> np.ndarray:
    """[4, 128]: the mean of the states at characters a..b-1, from the text run on its own."""
    states = runner.step_states(text)
    return np.stack([states[name][a:b].mean(0) for name in runner.layer_names])


def test_lstm_words_are_means_of_their_character_states(runner, stored):
    texts, out = stored
    words, ctx = out["anisotropy_words"], out["anisotropy_contexts"]
    assert set(words["layer"]) == {0, 1, 2, 3}
    used = ctx[ctx["used"] & (ctx["sample"] == "news")]
    assert (used["n_units"] == used["char_end"] - used["char_start"]).all()  # one unit per character
    for word, grp in list(used.groupby("word"))[:4]:
        vecs = np.stack([char_span_vector(runner, texts["news"][r.sentence_id], r.char_start, r.char_end)
                         for r in grp.itertuples()])  # [n, 4, 128]
        rows = words[(words["dataset"] == "news") & (words["word"] == word)].sort_values("layer")
        for layer in range(4):
            x = vecs[:, layer]
            assert rows["self_sim"].iloc[layer] == pytest.approx(np.mean(1 - pdist(x, "cosine")), abs=1e-5)
            assert rows["mev"].iloc[layer] == pytest.approx(PCA().fit(x).explained_variance_ratio_[0], abs=1e-4)


def test_lstm_intra_sentence_similarity(runner, stored):
    from analysis.anisotropy import word_spans

    texts, out = stored
    sent = out["anisotropy_sentences"]
    sid = int(sent[sent["dataset"] == "questions"]["sentence_id"].iloc[0])
    text = texts["questions"][sid]
    vecs = np.stack([char_span_vector(runner, text, a, b) for a, b, _ in word_spans(text)])  # [W, 4, 128]
    for layer in range(4):
        x = vecs[:, layer]
        s = x.mean(0)
        want = np.mean(x @ s / np.linalg.norm(x, axis=1) / np.linalg.norm(s))
        got = sent[(sent["dataset"] == "questions") & (sent["sentence_id"] == sid) & (sent["layer"] == layer)]
        assert got["intra_sim"].iloc[0] == pytest.approx(want, abs=1e-5)


def test_lstm_layers_have_every_metric(stored):
    _, out = stored
    layers = out["anisotropy_layers"]
    assert len(layers) == 4 * 3  # 2 datasets + pooled, 4 streams
    cols = ["self_sim", "intra_sim", "baseline", "mev", "mev_random"]
    assert layers[cols].notna().all().all()
    assert layers["baseline"].between(-1, 1).all() and layers["mev"].between(0, 1).all()
