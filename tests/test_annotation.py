"""Blind annotation: the result tables on hand-built frames, and the store on the small warehouse."""
import hashlib

import numpy as np
import pandas as pd
import pytest

import annotations as store
import warehouse
from analysis.annotation import (direction_patterns, patterns_per_direction, positives_per_pattern, table1,
                                 table6, task_verdicts)
from analysis.drift import extremes_from_scores, random_direction
from warehouse import queries


def _tasks():
    return pd.DataFrame({
        "task_id": [1, 2, 3, 4, 5, 6],
        "dataset": ["news", "news", "pairs", "news", "pairs", "news"],
        "condition": ["neuron", "neuron", "neuron", "random_direction", "random_sentences", "random_sentences"],
        "direction_id": ["neuron:1", "neuron:2", "neuron:1", "random:9", "sentences:3", "sentences:3"],
    })


def _ann(rows):
    return pd.DataFrame(rows, columns=["task_id", "annotator", "has_pattern", "pattern", "positive_ids"])


ANN = _ann([
    (1, "ann", True, "Sports", [1, 2, 3, 4]),
    (1, "bob", True, "sports ", [1, 2, 3]),
    (2, "ann", True, "Years", [5, 6, 7]),
    (2, "bob", False, None, []),                       # conflicting
    (3, "ann", True, "SPORTS; questions", [1, 2, 3, 4, 5]),
    (3, "bob", True, "Names", [1, 2]),                  # below the 3-positive threshold
    (4, "ann", False, None, []),
    (4, "bob", False, None, []),
    (5, "ann", False, None, []),                        # single annotator; task 6 unannotated
])


def test_verdicts_and_table1_conflicts():
    v = task_verdicts(_tasks(), ANN).set_index("task_id")["verdict"]
    assert v.to_dict() == {1: "pattern", 2: "conflicting", 3: "pattern", 4: "no pattern", 5: "no pattern"}
    t1 = table1(_tasks(), ANN).set_index(["condition", "dataset"])
    news = t1.loc[("neuron", "news")]
    assert (news["tasks"], news["pattern"], news["conflicting"]) == (2, 1, 1)
    assert news["pattern_rate"] == 0.5 and news["conflicting_rate"] == 0.5 and news["no_pattern_rate"] == 0
    allr = t1.loc[("neuron", "All")]
    assert allr["tasks"] == 3 and allr["pattern_rate"] == pytest.approx(2 / 3)
    assert allr["conflicting_rate"] == pytest.approx(1 / 3)
    assert t1.loc[("random_direction", "All"), "no_pattern_rate"] == 1
    rs = t1.loc[("random_sentences", "All")]
    assert rs["tasks"] == 1 and rs["single_annotator"] == 1  # task 6 has no annotation: not counted
    assert list(t1.index.get_level_values(0).unique()) == ["neuron", "random_direction", "random_sentences"]


def test_table6_per_annotator_rates():
    t6 = table6(_tasks(), ANN).set_index(["annotator", "condition"])
    assert t6.loc[("ann", "neuron"), "annotated"] == 3 and t6.loc[("ann", "neuron"), "pattern_rate"] == 1
    assert t6.loc[("ann", "neuron"), "patterns_named"] == 4  # 'SPORTS; questions' names two
    assert t6.loc[("bob", "neuron"), "with_pattern"] == 2
    assert t6.loc[("bob", "neuron"), "pattern_rate"] == pytest.approx(2 / 3)
    assert t6.loc[("ann", "all"), "annotated"] == 5 and t6.loc[("ann", "all"), "pattern_rate"] == pytest.approx(3 / 5)
    assert t6.loc[("bob", "all"), "annotated"] == 4 and t6.loc[("bob", "all"), "with_pattern"] == 2


def test_distinct_patterns_are_case_folded_across_datasets():
    d = direction_patterns(_tasks(), ANN).set_index("direction_id")
    # neuron:1 spans news (Sports, sports) and pairs (SPORTS; questions, Names): sports, questions, names.
    assert d.loc["neuron:1", "distinct_patterns"] == 3 and d.loc["neuron:1", "datasets"] == 2
    assert d.loc["neuron:2", "distinct_patterns"] == 1
    assert d.loc["random:9", "distinct_patterns"] == 0
    s = patterns_per_direction(_tasks(), ANN).set_index("condition")
    assert s.loc["neuron", "directions"] == 2 and s.loc["neuron", "mean"] == 2
    assert s.loc["neuron", "std"] == pytest.approx(np.std([3, 1], ddof=1))
    assert s.loc["random_direction", "mean"] == 0


def test_positives_threshold():
    p = positives_per_pattern(_tasks(), ANN).set_index("condition")
    # neuron answers with a pattern: 4, 3, 3, 5 positives count; bob's 'Names' (2) is below the threshold.
    assert p.loc["neuron", "meaningful"] == 4 and p.loc["neuron", "below_threshold"] == 1
    assert p.loc["neuron", "mean"] == pytest.approx(15 / 4)
    assert (p.loc["neuron", "min"], p.loc["neuron", "max"]) == (3, 5)
    assert "random_direction" not in p.index  # no answer found a pattern there
    assert positives_per_pattern(_tasks(), ANN, min_positives=2).loc[0, "meaningful"] == 5


def test_empty_inputs_give_empty_tables():
    empty = _ann([])
    for f in (table1, table6, patterns_per_direction, positives_per_pattern):
        assert f(_tasks(), empty).empty


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_make_tasks_on_small_warehouse(small_warehouse, tmp_path):
    before = _sha(small_warehouse)
    path = tmp_path / "ann.duckdb"
    con = warehouse.connect_read_only(small_warehouse)
    try:
        made = store.make_tasks(con, "tiny", 2, "cls", ["news", "questions", "pairs"], n_neurons=2,
                                n_random_dirs=2, n_random_sets=2, k=10, seed=1, path=path)
        again = store.make_tasks(con, "tiny", 2, "cls", ["news", "questions", "pairs"], 2, 2, 2, k=10, seed=1,
                                 path=path)
        # k <= stored topk (5): from neuron_top; the random direction as the page computes it.
        small = store.plan_tasks(con, "tiny", 2, "cls", ["news"], 1, 1, 0, k=4, seed=3)
        scores = queries.direction_scores(con, "tiny", 2, "cls", random_direction(
            int(small.loc[small["condition"] == "random_direction", "direction_id"].iloc[0].split(":")[1]), 32),
            ["news"])
        unit = int(small.loc[small["condition"] == "neuron", "direction_id"].iloc[0].split(":")[1])
        top_neuron = queries.neuron_top(con, "tiny", 2, "cls", unit, ["news"], 4)["sentence_id"].tolist()
    finally:
        con.close()
    assert len(again) == 0  # identical tasks are not stored twice
    t = store.tasks(path)
    assert len(made) == len(t) == 3 * 6
    assert all(len(ids) == 10 and len(set(ids)) == 10 for ids in t["sentence_ids"])
    counts = t.groupby(["dataset", "condition"]).size()
    assert (counts == 2).all() and len(counts) == 9
    assert t["task_id"].tolist() == list(range(1, 19))
    assert t["condition"].tolist() != sorted(t["condition"])  # shuffled
    # the same neurons in every dataset
    assert t[t["condition"] == "neuron"].groupby("direction_id")["dataset"].nunique().eq(3).all()
    by = small.set_index("condition")["sentence_ids"]
    assert sorted(by["neuron"]) == sorted(top_neuron)
    assert sorted(by["random_direction"]) == sorted(extremes_from_scores(scores, 4)["sentence_id"].tolist())
    assert _sha(small_warehouse) == before

    first = store.next_task("ann", path)
    assert first["task_id"] == 1
    store.add_annotation(1, "ann", True, "Sports", first["sentence_ids"][:3], path)
    store.add_annotation(2, "bob", False, None, [], path)
    assert store.next_task("ann", path)["task_id"] == 2
    assert store.progress("ann", path) == (1, 18)
    a = store.annotations(path)  # a fresh connection: persisted in the separate file
    assert len(a) == 2 and a.set_index("annotator").loc["ann", "positive_ids"] == first["sentence_ids"][:3]
    store.add_annotation(1, "ann", False, None, [], path)  # a resubmission replaces
    assert len(store.annotations(path)) == 2 and not store.annotations(path)["has_pattern"].any()
    with pytest.raises(ValueError):
        store.add_annotation(999, "ann", True, "x", [], path)
    assert _sha(small_warehouse) == before


def test_default_path(monkeypatch, tmp_path):
    monkeypatch.delenv("ILLUSION_ANNOTATIONS", raising=False)
    monkeypatch.setenv("ILLUSION_WAREHOUSE", str(tmp_path / "w.duckdb"))
    assert store.default_path() == tmp_path / "w.duckdb.annotations.duckdb"
    monkeypatch.setenv("ILLUSION_ANNOTATIONS", str(tmp_path / "a.duckdb"))
    assert store.default_path() == tmp_path / "a.duckdb"
    assert store.tasks().empty and store.next_task("x") is None and store.progress("x") == (0, 0)


def test_locality_by_meaning_against_scipy_by_hand():
    import numpy as np
    import pandas as pd
    from scipy.stats import mannwhitneyu

    from analysis.annotation import locality_by_meaning

    v = pd.DataFrame({"dataset": ["a"] * 5 + ["b"] * 4,
                      "verdict": ["pattern", "pattern", "no pattern", "no pattern", "conflicting",
                                  "pattern", "no pattern", "no pattern", "no pattern"],
                      "L": [0.9, 0.8, 0.1, 0.2, 0.5, 0.7, 0.3, 0.4, 0.35]})
    out = locality_by_meaning(v).set_index("dataset")
    assert out.loc["a", "n_meaningful"] == 2 and out.loc["a", "n_meaningless"] == 2  # conflicting left out
    assert out.loc["a", "median_L_meaningful"] == pytest.approx(0.85)
    u, p = mannwhitneyu([0.9, 0.8, 0.7], [0.1, 0.2, 0.3, 0.4, 0.35], alternative="two-sided")
    assert out.loc["All", "U"] == u and out.loc["All", "p_value"] == pytest.approx(p)
    only_yes = locality_by_meaning(v[v.verdict == "pattern"]).set_index("dataset")
    assert np.isnan(only_yes.loc["All", "p_value"])
    # with the per-sentence means (Table 5 as reported): their means and their own Mann-Whitney p
    v["L_sentence"] = [0.05, 0.03, 0.01, 0.02, 0.9, 0.04, 0.0, 0.01, 0.02]
    out = locality_by_meaning(v).set_index("dataset")
    assert out.loc["All", "mean_L_sentence_meaningful"] == pytest.approx(np.mean([0.05, 0.03, 0.04]))
    assert out.loc["a", "mean_L_sentence_meaningless"] == pytest.approx(0.015)
    _, p = mannwhitneyu([0.05, 0.03, 0.04], [0.01, 0.02, 0.0, 0.01, 0.02], alternative="two-sided")
    assert out.loc["All", "p_value_sentence"] == pytest.approx(p)


def test_direction_from_id():
    import numpy as np

    from analysis.drift import direction_from_id, random_direction

    assert direction_from_id("neuron:3", 8).tolist() == [0, 0, 0, 1, 0, 0, 0, 0]
    assert np.array_equal(direction_from_id("random:5", 8), random_direction(5, 8))
    with pytest.raises(ValueError, match="expected neuron"):
        direction_from_id("sentences:1", 8)


def test_patterns_match_across_case_punctuation_lemmas_and_merges(tmp_path):
    import annotations as store
    from analysis.annotation import PatternMatcher, normalise_pattern, resolve_merges

    assert normalise_pattern("  Movie-Titles!! ") == "movie titles"
    lemma = lambda s: " ".join(w[:-1] if w.endswith("s") else w for w in s.split())  # a stand-in lemmatiser
    assert normalise_pattern("Movie titles.", lemma) == normalise_pattern("movie title", lemma) == "movie title"
    assert resolve_merges({"a": "b", "b": "c", "x": "y", "y": "x"}) == {"a": "c", "b": "c", "x": "x", "y": "x"}
    m = PatternMatcher(lemma, {"films": "Movie titles"})
    assert m("Films; movie title;  ; FILM") == ["movie title"]
    # the store keeps merges and refuses self-merges and cycles
    path = tmp_path / "a.duckdb"
    store.add_merge("film", "movie title", "ann", path)
    store.add_merge("cinema", "film", "ann", path)
    assert store.merges(path) == {"cinema": "film", "film": "movie title"}
    with pytest.raises(ValueError, match="already merged into"):
        store.add_merge("movie title", "cinema", "ann", path)
    with pytest.raises(ValueError, match="into itself"):
        store.add_merge("x", "x", "ann", path)
    store.remove_merge("cinema", path)
    assert store.merges(path) == {"film": "movie title"}


def test_merges_lower_the_distinct_pattern_counts():
    from analysis.annotation import PatternMatcher, pattern_counts

    plain = direction_patterns(_tasks(), ANN).set_index("direction_id")
    merged = direction_patterns(_tasks(), ANN, PatternMatcher(merges={"names": "sports"})).set_index("direction_id")
    assert plain.loc["neuron:1", "distinct_patterns"] == 3 and merged.loc["neuron:1", "distinct_patterns"] == 2
    counts = pattern_counts(_tasks(), ANN).set_index("pattern")
    assert counts.loc["sports", "answers"] == 3 and set(counts.loc["sports", "spellings"].split("; ")) == {
        "Sports", "sports", "SPORTS"}


def test_matcher_without_spacy_still_ignores_case_and_punctuation(monkeypatch, tmp_path):
    """The dashboard alone (Community Cloud) has no spaCy: patterns still match on case and punctuation."""
    import importlib

    from ui import annotate_model

    real = importlib.import_module

    def no_spacy(name, *a, **kw):
        if name == "spacy":
            raise ImportError("no spacy here")
        return real(name, *a, **kw)

    annotate_model._lemmatiser.clear()
    monkeypatch.setattr(importlib, "import_module", no_spacy)
    try:
        match, how = annotate_model.matcher(tmp_path / "none.duckdb")
        assert match.lemma is None and how.startswith("case and punctuation ignored")
        assert match("Movie Titles!") == ["movie titles"]
    finally:
        annotate_model._lemmatiser.clear()
