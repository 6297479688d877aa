"""Anisotropy stage: the sample, the subword rule on a real tokenizer, and the stored metrics recomputed
independently (the Hugging Face model run on its own, scipy, sklearn)."""
from __future__ import annotations

from collections import Counter

import duckdb
import numpy as np
import pytest
import torch
from scipy.spatial.distance import pdist
from sklearn.decomposition import PCA

import pipeline.stages as stages
import warehouse
from analysis.anisotropy import POOLED, word_spans, word_vectors
from pipeline.build import build
from pipeline.config import make_config
from pipeline.errors import PipelineError
from pipeline.stages.anisotropy import _baseline_draw, plan_sample, run_stage
from tests.conftest import small_datasets, tiny_model_spec

SETTINGS = {"words": 25, "contexts": 6, "min_contexts": 3, "baseline_words": 40, "mev_sets": 20}


def test_plan_samples_distinct_contexts_and_caps():
    texts = {
        "a": ["the cat sat", "The dog ran", "the cat ran", "the cat sat", "a cat", "the end", "cat dog cat"],
        "b": ["the bird sang", "the cat slept", "cat and dog", "the dog"],
    }
    plan = plan_sample(texts, words=10, contexts=3, min_contexts=2, baseline_words=5, seed=0)
    a, b, pooled = plan.samples
    assert (a.name, b.name, pooled.name) == ("a", "b", POOLED)
    # "the cat sat" (row 3) repeats row 0: one context, the first row
    assert all(s != 3 for occ in a.contexts.values() for _, s in occ)
    for sample in plan.samples:
        for w, occ in sample.contexts.items():
            assert 2 <= len(occ) <= 3 and len(set(occ)) == len(occ)
            for d, s in occ:
                assert w in [x for _, _, x in word_spans(texts[d][s])]
                assert s in plan.run[d]
    # cat: rows 0, 2, 4, 6 of a (4 distinct contexts, capped at 3); "sat" has one context (row 3 repeats row 0)
    assert len(a.contexts["cat"]) == 3 and "sat" not in a.contexts
    # pooled: "sang" (1 context) no; "dog" in a (1, 6) and b (2, 3): 4 contexts, capped at 3
    assert "sang" not in pooled.contexts and len(pooled.contexts["dog"]) == 3
    assert {d for d, _ in pooled.contexts["dog"]} <= {"a", "b"}
    # the baseline: one word per run sentence at most, each a real word index
    for sample in plan.samples:
        sents = [(d, s) for d, s, _ in sample.baseline]
        assert len(sents) == len(set(sents)) == min(5, sum(len(v) for v in plan.run.values())
                                                    if sample is pooled else len(plan.run[sample.name]))
        assert all(0 <= k < len(word_spans(texts[d][s])) for d, s, k in sample.baseline)


def test_plan_is_seeded_and_caps_words():
    rng = np.random.default_rng(0)
    vocab = [f"w{chr(97 + i)}{chr(97 + j)}" for i in range(10) for j in range(10)]
    texts = {"d": [" ".join(rng.choice(vocab, 8)) for _ in range(200)]}
    one = plan_sample(texts, words=7, contexts=4, min_contexts=5, baseline_words=30, seed=1)
    again = plan_sample(texts, words=7, contexts=4, min_contexts=5, baseline_words=30, seed=1)
    other = plan_sample(texts, words=7, contexts=4, min_contexts=5, baseline_words=30, seed=2)
    assert one.samples[0].contexts == again.samples[0].contexts and one.samples[0].baseline == again.samples[0].baseline
    assert one.samples[0].contexts != other.samples[0].contexts
    assert len(one.samples[0].contexts) == 7 and all(len(v) == 4 for v in one.samples[0].contexts.values())
    every = plan_sample(texts, words=0, contexts=4, min_contexts=5, baseline_words=30, seed=1)
    assert len(every.samples[0].contexts) == len(vocab)  # 0: every eligible type


def test_contexts_are_a_uniform_sample():
    # one word in 10 sentences, 2 contexts kept: over many seeds each sentence is kept ~20% of the time
    texts = {"d": [f"word {i}" for i in range(10)]}  # digits are not words
    counts = Counter()
    for seed in range(1500):
        plan = plan_sample(texts, words=1, contexts=2, min_contexts=2, baseline_words=2, seed=seed)
        counts.update(s for _, s in plan.samples[0].contexts["word"])
    share = np.array([counts[i] for i in range(10)]) / 1500
    assert np.abs(share - 0.2).max() < 0.05


def test_baseline_draw_is_uniform_over_tokens():
    # sentence 0 has 1 word, sentence 1 has 9: one draw picks sentence 1 about 90% of the time
    spans = {"d": [word_spans("a"), word_spans("b c d e f g h i j")]}
    picks = [_baseline_draw(spans, [("d", 0), ("d", 1)], 1, np.random.default_rng(s))[0][1] for s in range(2000)]
    assert np.mean(picks) == pytest.approx(0.9, abs=0.03)
    both = _baseline_draw(spans, [("d", 0), ("d", 1)], 5, np.random.default_rng(0))
    assert sorted(s for _, s, _ in both) == [0, 1]  # never two words of one sentence


def test_bad_settings_name_the_parameter(tiny_spec, small_specs, tmp_path):
    for bad, match in [({"contexts": 1}, "anisotropy.contexts"), ({"words": -1}, "anisotropy.words"),
                       ({"min_contexts": 30}, "anisotropy.min_contexts"), ({"mev_sets": 0}, "anisotropy.mev_sets"),
                       ({"baseline_words": "many"}, "anisotropy.baseline_words")]:
        with pytest.raises(PipelineError, match=match):
            make_config(datasets=small_specs, models=[tiny_spec], warehouse=str(tmp_path / "w.duckdb"),
                        anisotropy=bad)


# ------------------------------------------------------------------------------------------------------
# The stage in a real build (tiny random BERT), checked against the model run independently
# ------------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def built(tmp_path_factory, tiny_model_dir, fixture_files):
    path = tmp_path_factory.mktemp("aniso") / "w.duckdb"
    cfg = make_config(datasets=small_datasets(fixture_files), models=[tiny_model_spec(tiny_model_dir)],
                      warehouse=str(path), topk=5, progress=False, separability_per_dataset=0,
                      anisotropy=SETTINGS)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(stages, "RUN_STAGES", ("anisotropy",))
        report = build(cfg, log=lambda *_: None)
    assert report.stages["anisotropy"] == {"tiny": "computed"}
    return path, cfg


@pytest.fixture(scope="module")
def reference(tiny_model_dir):
    from transformers import AutoTokenizer, BertModel

    tok = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    model = BertModel.from_pretrained(str(tiny_model_dir), attn_implementation="eager").eval()
    return tok, model


def word_vector_alone(reference, text: str, start: int, end: int) -> np.ndarray:
    """[L, H]: the text run alone through the HF model; the word's tokens found by the tokenizer's own
    char_to_token map (not by offsets), averaged."""
    tok, model = reference
    enc = tok(text, return_tensors="pt", truncation=True, max_length=32)
    ids = sorted({enc.char_to_token(0, c) for c in range(start, end)} - {None})
    with torch.inference_mode():
        hs = model(**enc, output_hidden_states=True).hidden_states
    return np.stack([h[0, ids].numpy().mean(0) for h in hs])


def test_subword_rule_on_the_real_tokenizer(reference, tiny_spec):
    from pipeline.models.transformer import TransformerRunner

    tok, _ = reference
    text = "The beverage was cold."
    pieces = tok.tokenize("beverage")
    assert len(pieces) > 1 and pieces[1].startswith("##")  # the tiny vocab has no "beverage": it splits
    runner = TransformerRunner(tiny_spec)
    ts = runner.token_states([text])[0]
    start = text.index("beverage")
    vecs, n_units = word_vectors(ts.offsets, ts.states, np.array([[start, start + 8]]))
    assert n_units[0] == len(pieces)
    np.testing.assert_allclose(vecs[:, 0], word_vector_alone(reference, text, start, start + 8), atol=1e-5)
    # the pieces are exactly the units covering "beverage": their strings glue back to it
    inside = [u for u, (a, b) in zip(ts.units, ts.offsets) if a >= start and b <= start + 8]
    assert "".join(u.removeprefix("##") for u in inside) == "beverage"


def test_stored_tables_and_contracts(built):
    path, _ = built
    con = warehouse.connect_read_only(path)
    try:
        layers = con.execute("select * from anisotropy_layers order by dataset, layer").df()
        words = con.execute("select * from anisotropy_words").df()
        contexts = con.execute("select * from anisotropy_contexts").df()
        comments = con.execute("select table_name, column_name, comment from duckdb_columns() "
                               "where table_name like 'anisotropy%'").df()
    finally:
        con.close()
    assert set(layers["dataset"]) == {"questions", "pairs", "news", POOLED}
    assert len(layers) == 4 * 3 and (layers["n_words"] > 0).all() and (layers["n_baseline"] >= 2).all()
    assert comments["comment"].notna().all() and (comments["comment"].str.len() > 3).all()
    # the layer rows are the means of the word rows, and the adjusted ones subtract the baselines
    agg = words.groupby(["dataset", "layer"]).agg(self_sim=("self_sim", "mean"), mev=("mev", "mean"),
                                                  mev_random=("mev_random", "mean"), n=("word", "size"))
    merged = layers.merge(agg.reset_index(), on=["dataset", "layer"], suffixes=("", "_w"))
    np.testing.assert_allclose(merged["self_sim"], merged["self_sim_w"], atol=1e-12)
    np.testing.assert_allclose(merged["mev"], merged["mev_w"], atol=1e-12)
    assert (merged["n_words"] == merged["n"]).all()
    np.testing.assert_allclose(layers["self_sim_adj"], layers["self_sim"] - layers["baseline"], atol=1e-12)
    np.testing.assert_allclose(layers["intra_sim_adj"], layers["intra_sim"] - layers["baseline"], atol=1e-12)
    np.testing.assert_allclose(layers["mev_adj"], layers["mev"] - layers["mev_random"], atol=1e-12)
    w = words.merge(layers[["dataset", "layer", "baseline"]], on=["dataset", "layer"])
    np.testing.assert_allclose(w["self_sim_adj"], w["self_sim"] - w["baseline"], atol=1e-12)
    # every word keeps between min_contexts and contexts contexts, one per sentence
    used = contexts[contexts["used"]]
    n = used.groupby(["sample", "word"]).size()
    assert n.between(SETTINGS["min_contexts"], SETTINGS["contexts"]).all()
    per_word = words[words["layer"] == 0].set_index(["dataset", "word"])["n_contexts"]
    assert (per_word.sort_index() == n.rename_axis(["dataset", "word"]).sort_index()).all()


def test_self_similarity_and_mev_recomputed_from_the_model(built, reference):
    path, _ = built
    con = warehouse.connect_read_only(path)
    try:
        words = con.execute("select * from anisotropy_words where dataset in ('news', '(pooled)')").df()
        ctx = con.execute("select c.*, s.text from anisotropy_contexts c join sentences s using (dataset, sentence_id) "
                          "where used and sample in ('news', '(pooled)')").df()
    finally:
        con.close()
    checked = Counter()
    for (sample, word), grp in ctx.groupby(["sample", "word"]):
        if checked[sample] >= 3:
            continue
        vecs = np.stack([word_vector_alone(reference, r.text, r.char_start, r.char_end) for r in grp.itertuples()])
        assert all(r.text[r.char_start:r.char_end].lower() == word for r in grp.itertuples())
        stored = words[(words["dataset"] == sample) & (words["word"] == word)].sort_values("layer")
        for layer in range(vecs.shape[1]):
            x = vecs[:, layer]
            row = stored.iloc[layer]
            assert row["self_sim"] == pytest.approx(np.mean(1 - pdist(x, "cosine")), abs=2e-5)
            # all-equal vectors (e.g. a sentence-initial "the" at layer 0: same token, same position) have no
            # first component: NaN in both
            with np.errstate(invalid="ignore"):
                want = PCA().fit(x).explained_variance_ratio_[0] if np.ptp(x, 0).max() > 1e-6 else np.nan
            np.testing.assert_allclose(row["mev"], want, atol=2e-4, equal_nan=True)
        checked[sample] += 1
    assert checked == {"news": 3, POOLED: 3}


def test_intra_sentence_similarity_recomputed_from_the_model(built, reference):
    path, _ = built
    con = warehouse.connect_read_only(path)
    try:
        rows = con.execute("select a.*, s.text from anisotropy_sentences a join sentences s "
                           "using (dataset, sentence_id) where a.dataset = 'questions' order by sentence_id, layer").df()
    finally:
        con.close()
    for sid, grp in list(rows.groupby("sentence_id"))[:4]:
        text = grp["text"].iloc[0]
        vecs = np.stack([word_vector_alone(reference, text, a, b) for a, b, _ in word_spans(text)])  # [W, L, H]
        for layer, stored in zip(grp["layer"], grp["intra_sim"]):
            x = vecs[:, layer]
            s = x.mean(0)
            want = np.mean([v @ s / np.linalg.norm(v) / np.linalg.norm(s) for v in x])
            assert stored == pytest.approx(want, abs=2e-5)


def test_unchanged_inputs_are_reused_and_settings_recompute(built, tiny_model_dir, fixture_files):
    path, cfg = built
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(stages, "RUN_STAGES", ("anisotropy",))
        assert build(cfg, log=lambda *_: None).up_to_date
        con = duckdb.connect(str(path), read_only=True)
        before = con.execute("select * from anisotropy_words order by all").df()
        con.close()
        again = build(cfg.with_(topk=4), log=lambda *_: None)  # changes extraction, hence the stage's inputs
        assert again.stages["anisotropy"] == {"tiny": "computed"}
        con = duckdb.connect(str(path), read_only=True)
        after = con.execute("select * from anisotropy_words order by all").df()
        con.close()
        assert before.equals(after)  # same sample, same numbers: the stage is deterministic
        cfg2 = cfg.with_(anisotropy=cfg.anisotropy.__class__(**{**SETTINGS, "contexts": 4}))
        assert build(cfg2, log=lambda *_: None).stages["anisotropy"] == {"tiny": "computed"}
        con = duckdb.connect(str(path), read_only=True)
        assert con.execute("select max(n_contexts) from anisotropy_words").fetchone()[0] == 4
        con.close()


def test_disabled_stage_writes_nothing(tmp_path, tiny_spec, small_specs):
    cfg = make_config(datasets=small_specs[:1], models=[tiny_spec], warehouse=str(tmp_path / "w.duckdb"), topk=5,
                      progress=False, separability_per_dataset=0, anisotropy={"enabled": False})
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(stages, "RUN_STAGES", ("anisotropy",))
        assert "anisotropy" not in build(cfg, log=lambda *_: None).stages
    con = warehouse.connect_read_only(tmp_path / "w.duckdb")
    assert con.execute("select count(*) from anisotropy_words").fetchone()[0] == 0
    con.close()


def test_truncated_words_are_dropped(tiny_spec):
    """A word past max_length has no units: its context is kept but not used, and it never counts."""
    from pipeline.models.transformer import TransformerRunner

    runner = TransformerRunner(tiny_spec)  # max_length 32 WordPieces
    filler = " ".join(["the old bridge over the river was opened by the mayor"] * 4)
    texts = {"d": [f"a river {i} {filler} coffee" for i in range(4)] + [f"coffee and a river {i}" for i in range(4)]}
    con = duckdb.connect()
    warehouse.create_schema(con)
    run_stage(con, "tiny", runner, texts, 3, words=0, contexts=8, min_contexts=4, baseline_words=10, mev_sets=5,
              seed=0)
    ctx = con.execute("select word, sentence_id, n_units, used from anisotropy_contexts where sample = 'd' "
                      "and word = 'coffee' order by sentence_id").df()
    assert ctx["n_units"].tolist()[:4] == [0, 0, 0, 0] and not ctx["used"].iloc[:4].any()
    assert ctx["used"].iloc[4:].all()
    n = con.execute("select n_contexts from anisotropy_words where dataset = 'd' and word = 'coffee' and layer = 0"
                    ).fetchone()[0]
    assert n == 4
    con.close()
