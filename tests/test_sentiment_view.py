"""The sentiment page's headline frames (analysis/sentiment_view.py) on hand-made tables."""
import pandas as pd

from analysis import sentiment_view as sv


def test_accuracies_roles_and_runner_up():
    clf = pd.DataFrame({"feature": ["cls", "cls", "mean", "cls"], "penalty": ["l1", "l1", "l1", "l2"],
                        "model": ["all", "sn_only", "all", "all"], "test_accuracy": [0.8, 0.6, 0.7, 0.75]})
    acc = sv.accuracies(clf, "cls", "l1")
    assert acc.index.tolist() == ["all", "sn_only"] and acc.loc["sn_only", "test_accuracy"] == 0.6
    units = pd.DataFrame({"unit": [0, 1, 2], "weight": [0.1, -0.9, 0.4], "weight_rank": [3, 1, 2]})
    assert sv.with_roles(units, 1)["role"].tolist() == [sv.OTHER, sv.SN, sv.OTHER]
    assert int(sv.runner_up(units)["unit"]) == 2
    assert sv.runner_up(units.head(1)) is None


def test_clean_texts_one_row_per_sentence():
    preds = pd.DataFrame({"sentence_id": [5, 5, 7, 5], "attack": ["none", "none", "none", "wonderful_1"],
                          "feature": ["cls", "mean", "cls", "cls"], "y": [1, 1, 0, 1],
                          "text": ["good", "good", "bad", "good Wonderful"]})
    texts = sv.clean_texts(preds)
    assert texts.index.tolist() == [5, 7] and texts.loc[5, "text"] == "good" and texts.loc[7, "y"] == 0
    assert sv.first_feature("lstm") == "final" and sv.first_feature("hf") == "cls"
    assert sv.first_feature("decoder") == "last"  # a decoder has no [CLS]; its last token is its final state
