"""analysis/sentiment.py (the page's numbers) against hand-computed answers."""
import numpy as np
import pandas as pd
import pytest

from analysis import sentiment as an


def classifiers():
    rows = []
    for feature, acc in (("final", 0.90), ("mean", 0.85), ("concat", 0.91)):
        rows.append(dict(feature=feature, penalty="l1", model="all", n_units=4, c=0.25, n_nonzero=3,
                         dev_accuracy=acc, test_accuracy=acc, sn_unit=2))
    rows += [dict(feature="final", penalty="l1", model="sn_only", n_units=1, c=1.0, n_nonzero=1,
                  dev_accuracy=0.8, test_accuracy=0.8, sn_unit=2),
             dict(feature="final", penalty="l1", model="sn_deleted", n_units=3, c=0.25, n_nonzero=3,
                  dev_accuracy=0.895, test_accuracy=0.895, sn_unit=2)]
    return pd.DataFrame(rows)


def test_table1_orders_all_deleted_only_in_percent():
    t = an.table1(classifiers(), "final", "l1")
    assert t["features"].tolist() == ["All units", "SN deleted", "SN only"]
    assert np.allclose(t["test accuracy %"], [90.0, 89.5, 80.0])
    t2 = an.table2(classifiers(), "l1")
    assert t2["features"].tolist() == ["final", "mean", "concat(first, mean)"]
    assert np.allclose(t2["test accuracy %"], [90, 85, 91])


def units_frame():
    # 5 units; |weight| order: 3, 0, 4, 1, 2
    return pd.DataFrame({"unit": range(5), "weight": [0.5, -0.2, 0.01, -0.9, 0.3], "weight_rank": [1, 3, 4, 0, 2],
                         "single_accuracy": [0.6, 0.7, 0.5, 0.75, 0.55],
                         "ablation_accuracy": [0.88, 0.9, 0.91, 0.86, 0.89],
                         "cumulative_accuracy": [0.85, 0.7, np.nan, 0.86, 0.76]})


def test_parity_point_is_the_first_step_at_or_below_the_sn():
    u = units_frame()
    # removing unit 3 -> 0.86, then 0 -> 0.85, then 4 -> 0.76, then 1 -> 0.70
    assert an.parity_point(u, sn_only=0.80) == {"removed": 3, "remaining": 2, "accuracy": 0.76}
    assert an.parity_point(u, sn_only=0.86) == {"removed": 1, "remaining": 4, "accuracy": 0.86}
    assert an.parity_point(u, sn_only=0.5)["removed"] is None
    curve = an.cumulative_curve(u, all_accuracy=0.9)
    assert curve["removed"].tolist() == [0, 1, 2, 3, 4] and curve["remaining"].tolist() == [5, 4, 3, 2, 1]
    assert np.allclose(curve["accuracy"], [0.9, 0.86, 0.85, 0.76, 0.70])


def test_best_single_and_subset_share():
    u = units_frame()
    best = an.best_single(u, sn_unit=3)
    assert best["ablation_unit"] == 2 and best["ablation_accuracy"] == 0.91 and best["ablation_unit_alone"] == 0.5
    assert best["rival_unit"] == 1 and best["rival_accuracy"] == 0.7  # the best unit alone other than the SN
    assert an.subset_share([0.7, 0.8, 0.81, 0.9], 0.8) == 0.5  # strictly above


def predictions():
    # 4 test sentences; labels 1, 0, 1, 0
    rows = []
    clean = {"final": [0.9, 0.6, 0.3, 0.2], "mean": [0.8, 0.7, 0.4, 0.6]}  # final wrong: 1, 2; mean wrong: 1, 2, 3
    for f, ps in clean.items():
        for sid, (y, p) in enumerate(zip([1, 0, 1, 0], ps)):
            rows.append(dict(feature=f, attack="none", sentence_id=sid, y=y, p_positive=p))
    for sid, (y, p) in enumerate(zip([1, 0, 1, 0], [0.9, 0.9, 0.9, 0.9])):  # wonderful: everything positive
        rows.append(dict(feature="final", attack="wonderful_1", sentence_id=sid, y=y, p_positive=p))
    rows.append(dict(feature="final", attack="terrible_10", sentence_id=0, y=1, p_positive=0.1))
    return pd.DataFrame(rows)


def test_table3_compares_each_attack_with_clean_accuracy_on_the_same_texts():
    t = an.table3(predictions()).set_index(["feature", "attack"])
    w = t.loc[("final", "wonderful_1")]
    assert w["n"] == 4 and w["word"] == "Wonderful" and w["times"] == 1
    assert w["clean accuracy %"] == 50.0 and w["attacked accuracy %"] == 50.0
    ten = t.loc[("final", "terrible_10")]
    assert ten["n"] == 1 and ten["clean accuracy %"] == 100.0 and ten["attacked accuracy %"] == 0.0
    assert ten["change (points)"] == -100.0
    assert an.attack_drop(an.table3(predictions()), "final") == 0.0
    assert an.attack_drop(an.table3(predictions()), "mean") is None


def test_misclassified_overlap():
    ov = an.misclassified_overlap(predictions(), "final", "mean")
    assert ov["n_a"] == 2 and ov["n_b"] == 3 and ov["n_both"] == 2 and ov["n_union"] == 3
    assert ov["jaccard"] == pytest.approx(2 / 3) and ov["share_of_a"] == 1.0
    assert ov["both"] == [1, 2] and ov["only_b"] == [3] and ov["only_a"] == []


def test_findings_follow_the_numbers():
    study = an.findings(0.9176, 0.9187, 0.8852, 0.8, 39.6, 0.8)  # the study's SST numbers
    assert [f["holds"] for f in study] == [True, True, True, True]
    assert "+0.11 points" in study[0]["statement"] and "80.0% of the random subsets" in study[2]["statement"]
    other = an.findings(0.90, 0.85, 0.895, 0.3, 2.0, 1.5, first_name="cls")
    assert [f["holds"] for f in other] == [False, False, False, False]
    assert "-5.00 points" in other[0]["statement"] and "0.50 points apart" in other[1]["statement"]
    assert "CLS" in other[3]["finding"] and "less than 5 points" in other[3]["statement"]
    hurt_both = an.findings(0.9, 0.9, 0.8, 0.9, 30.0, 20.0)
    assert hurt_both[3]["holds"] is False and "mean-pooled features are hurt too" in hurt_both[3]["statement"]
    missing = an.findings(0.9, 0.9, 0.8, None, None, 1.0)
    assert missing[2]["holds"] is None and missing[3]["holds"] is None


def test_findings_are_not_measured_when_all_units_do_not_beat_the_majority_class():
    # textgenrnn final states on CR (measured): all units 64.0%, majority class 64.0%, "SN" unit 0 alone 64.0%
    flat = an.findings(0.640, 0.640, 0.640, 0.0, 0.0, 2.9, majority=0.640)
    assert [f["holds"] for f in flat] == [None] * 4
    assert all("majority class (64.00%)" in f["statement"] for f in flat)
    # 1.9 points above the majority: still within SIGNAL_POINTS (2); 2.1 points: judged as usual
    assert [f["holds"] for f in an.findings(0.659, 0.659, 0.60, 0.9, 9.0, 1.0, majority=0.640)] == [None] * 4
    judged = an.findings(0.661, 0.661, 0.60, 0.9, 9.0, 1.0, majority=0.640)
    assert [f["holds"] for f in judged] == [True, True, True, True]
    # the study's SST numbers with SST's majority (about 50%) are judged as before
    assert [f["holds"] for f in an.findings(0.9176, 0.9187, 0.8852, 0.8, 39.6, 0.8, majority=0.5)] == [True] * 4


def test_majority_accuracy_counts_each_test_sentence_once():
    # 3 test sentences (2 negative, 1 positive), each predicted by two feature sets and one attack row
    pred = pd.DataFrame({"feature": ["cls", "cls", "cls", "mean", "mean", "mean", "cls"],
                         "attack": ["none"] * 6 + ["wonderful_1"],
                         "sentence_id": [1, 2, 3, 1, 2, 3, 3], "y": [0, 0, 1, 0, 0, 1, 1],
                         "p_positive": [0.1] * 7})
    assert an.majority_accuracy(pred) == pytest.approx(2 / 3)
    assert np.isnan(an.majority_accuracy(pred.iloc[:0]))
