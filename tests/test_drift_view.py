"""The drift page's frames (analysis/drift_view.py) on hand-made scores and texts."""
import numpy as np
import pandas as pd

from analysis import drift_view as dv


def test_ranked_random_by_hand():
    rand = pd.DataFrame({"dataset": ["b", "a", "a", "b", "a"], "sentence_id": [1, 2, 3, 4, 5],
                         "value": [0.1, -1.0, 2.0, 0.5, 0.0], "extra": 0})
    out = dv.ranked_random(rand)
    assert list(out.columns) == ["dataset", "rank", "sentence_id", "value"]
    assert list(zip(out["dataset"], out["rank"], out["sentence_id"])) == [
        ("a", 1, 3), ("a", 2, 5), ("a", 3, 2), ("b", 1, 4), ("b", 2, 1)]


def test_is_constant():
    assert dv.is_constant(0.5, 0.5) and dv.is_constant(1000.0, 1000.0005)
    assert not dv.is_constant(0.0, 0.01) and not dv.is_constant(1000.0, 1000.01)


def test_sentence_lists():
    frame = pd.DataFrame({"dataset": ["a", "b", "a"], "rank": [1, 1, 2], "value": [1.5, -0.25, 1.0],
                          "text": ["x", "y", "z"]})
    assert dv.sentence_lists(frame) == {"a": "1. `+1.500` x\n2. `+1.000` z", "b": "1. `-0.250` y"}


def test_labelled_rows_and_hypothesis_counts():
    texts = pd.DataFrame({"dataset": ["a", "a", "a", "b", "b"], "sentence_id": [0, 1, 2, 0, 1],
                          "text": ["Good film", "bad film", "a cat", "Good film", "dog"]})
    pos, neg, missing = dv.labelled_rows(texts["text"].tolist(), ["good FILM", "nope"], ["Bad film"])
    assert pos == [3] and neg == [1] and missing == ["nope"]  # the last of two equal texts wins
    hits = np.array([True, True, False, True, False])
    top = pd.DataFrame({"dataset": ["a", "a", "b"], "sentence_id": [1, 2, 1]})
    assert dv.hypothesis_counts(texts, hits, top, ["a", "b"]) == {"a": (1, 2, 2, 3), "b": (0, 1, 1, 2)}
