"""The sentiment-neuron study's numbers, read back from the stored results (numpy/pandas only).

The stage (pipeline/stages/sentiment.py) stores every classifier's accuracy; these functions turn them into
the study's tables and into plain verdicts on its four findings:

1. Deleting the SN barely hurts (Table 1): holds when all units minus SN deleted is at most
   ``DELETE_POINTS`` accuracy points (the study's largest drop was 0.66 points).
2. The SN alone is worse than all units: holds when all units beat the SN alone by at least
   ``ALONE_POINTS`` points (the study: 0.8 to 3.2 points).
3. Most random subsets beat the SN alone (Fig. 5): holds when more than half of the random subsets have a
   higher test accuracy than the SN alone.
4. Final-state features fall to a trailing sentiment word, mean-pooled ones do not (Table 3): each feature
   set's drop is its clean accuracy minus its worse accuracy under the two single-word attacks; holds when the
   final-state ([CLS] for transformers) drop is at least ``ATTACK_POINTS`` points and the mean-pooled drop is
   at most half of it.

None of the four is measurable when the all-units classifier is within ``SIGNAL_POINTS`` of always answering
the majority class: then the features carry no sentiment to delete, isolate or attack, and the verdicts would
only describe a constant classifier.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

DELETE_POINTS = 1.0
ALONE_POINTS = 1.0
ATTACK_POINTS = 5.0
SIGNAL_POINTS = 2.0
MODEL_NAMES = {"all": "All units", "sn_deleted": "SN deleted", "sn_only": "SN only",
               "hindrance_removed": "Hindrance units removed"}


def table1(classifiers: pd.DataFrame, feature: str, penalty: str) -> pd.DataFrame:
    """Rows All units / SN deleted / SN only of one feature set and penalty: model, n_units, c, dev and test
    accuracy (in %)."""
    df = classifiers[(classifiers["feature"] == feature) & (classifiers["penalty"] == penalty)]
    df = df[df["model"].isin(list(MODEL_NAMES))].copy()
    df["order"] = df["model"].map({m: i for i, m in enumerate(MODEL_NAMES)})
    df = df.sort_values("order")
    return pd.DataFrame({"features": df["model"].map(MODEL_NAMES), "units": df["n_units"], "C": df["c"],
                         "nonzero weights": df["n_nonzero"], "dev accuracy %": 100 * df["dev_accuracy"],
                         "test accuracy %": 100 * df["test_accuracy"]}).reset_index(drop=True)


def majority_accuracy(pred: pd.DataFrame) -> float:
    """Accuracy of always answering the test split's more frequent class (the floor any classifier should
    beat), from the clean predictions' labels: one row per test sentence."""
    clean = pred[pred["attack"] == "none"].drop_duplicates("sentence_id")
    if not len(clean):
        return float("nan")
    share = float(clean["y"].mean())
    return max(share, 1.0 - share)


def table2(classifiers: pd.DataFrame, penalty: str,
           order=("final", "last", "cls", "mean", "concat", "min", "max", "abs")) -> pd.DataFrame:
    """The all-units classifier of each feature set (Table 2): feature, units, C, test accuracy %."""
    df = classifiers[(classifiers["model"] == "all") & (classifiers["penalty"] == penalty)].copy()
    df["order"] = df["feature"].map({f: i for i, f in enumerate(order)}).fillna(len(order))
    df = df.sort_values(["order", "feature"])
    return pd.DataFrame({"features": df["feature"].map(feature_label), "units": df["n_units"], "C": df["c"],
                         "test accuracy %": 100 * df["test_accuracy"]}).reset_index(drop=True)


def feature_label(feature: str) -> str:
    return {"concat": "concat(first, mean)", "min": "min-pool", "max": "max-pool",
            "abs": "abs-pool (largest magnitude)"}.get(feature, feature)


def accuracy_from_predictions(pred: pd.DataFrame) -> float:
    """Share of rows with (p_positive > 0.5) == y."""
    if not len(pred):
        return float("nan")
    return float(((pred["p_positive"] > 0.5).astype(int) == pred["y"]).mean())


def table3(pred: pd.DataFrame) -> pd.DataFrame:
    """Accuracy under each attack, per feature set (Table 3), from per-sentence predictions.

    pred: feature, attack, sentence_id, y, p_positive (attack 'none' = clean). Each attack row compares to
    the clean accuracy on the same sentences (long-text attacks cover only the long texts). Returns
    feature, attack, word, times, n, clean accuracy %, attacked accuracy %, change (points).
    """
    rows = []
    correct = pred.assign(correct=(pred["p_positive"] > 0.5).astype(int) == pred["y"])
    for feature, part in correct.groupby("feature", sort=False):
        clean = part[part["attack"] == "none"].set_index("sentence_id")["correct"]
        for attack, adv in part[part["attack"] != "none"].groupby("attack", sort=False):
            word, _, times = attack.rpartition("_")
            base = clean.reindex(adv["sentence_id"]).to_numpy(dtype=float)
            acc_clean, acc_adv = 100 * np.nanmean(base), 100 * adv["correct"].mean()
            rows.append({"feature": feature, "attack": attack, "word": word.capitalize(), "times": int(times),
                         "n": len(adv), "clean accuracy %": acc_clean, "attacked accuracy %": acc_adv,
                         "change (points)": acc_adv - acc_clean})
    cols = ["feature", "attack", "word", "times", "n", "clean accuracy %", "attacked accuracy %", "change (points)"]
    return pd.DataFrame(rows, columns=cols)


def parity_point(units: pd.DataFrame, sn_only: float) -> dict:
    """Fig. 4: removing units in |weight| order, the first step at which test accuracy is at or below the SN
    alone. units: weight_rank, cumulative_accuracy. Returns removed (units removed then; None if never),
    remaining (units left) and accuracy there."""
    curve = units.dropna(subset=["cumulative_accuracy"]).sort_values("weight_rank")
    n_units = len(units)
    below = curve[curve["cumulative_accuracy"] <= sn_only]
    if below.empty:
        return {"removed": None, "remaining": None, "accuracy": None}
    first = below.iloc[0]
    removed = int(first["weight_rank"]) + 1
    return {"removed": removed, "remaining": n_units - removed, "accuracy": float(first["cumulative_accuracy"])}


def cumulative_curve(units: pd.DataFrame, all_accuracy: float) -> pd.DataFrame:
    """Fig. 4 as (removed, remaining, accuracy): 0 removed is the all-units classifier."""
    curve = units.dropna(subset=["cumulative_accuracy"]).sort_values("weight_rank")
    n = len(units)
    removed = curve["weight_rank"].to_numpy() + 1
    return pd.DataFrame({"removed": np.concatenate([[0], removed]),
                         "remaining": n - np.concatenate([[0], removed]),
                         "accuracy": np.concatenate([[all_accuracy], curve["cumulative_accuracy"].to_numpy()])})


def subset_share(subset_accuracy, sn_only: float) -> float:
    """Share of random subsets whose test accuracy is strictly above the SN alone (Fig. 5)."""
    a = np.asarray(subset_accuracy, dtype=float)
    return float((a > sn_only).mean()) if len(a) else float("nan")


def best_single(units: pd.DataFrame, sn_unit: int) -> dict:
    """Fig. 2 and 3 in one line each: the ablation that helps most (highest accuracy with that unit left out)
    and the best unit alone other than the SN."""
    abl = units.sort_values(["ablation_accuracy", "unit"], ascending=[False, True]).iloc[0]
    others = units[units["unit"] != sn_unit].sort_values(["single_accuracy", "unit"], ascending=[False, True])
    alone = others.iloc[0] if len(others) else None
    return {"ablation_unit": int(abl["unit"]), "ablation_accuracy": float(abl["ablation_accuracy"]),
            "ablation_unit_alone": float(abl["single_accuracy"]),
            "rival_unit": None if alone is None else int(alone["unit"]),
            "rival_accuracy": None if alone is None else float(alone["single_accuracy"])}


def misclassified_overlap(pred: pd.DataFrame, a: str, b: str) -> dict:
    """Test sentences misclassified by feature set a and by b (clean): counts, the intersection, and its
    share of the union (Jaccard) and of each set. pred: feature, attack, sentence_id, y, p_positive."""
    clean = pred[pred["attack"] == "none"]
    wrong = {}
    for f in (a, b):
        part = clean[clean["feature"] == f]
        wrong[f] = set(part.loc[(part["p_positive"] > 0.5).astype(int) != part["y"], "sentence_id"].tolist())
    both = wrong[a] & wrong[b]
    union = wrong[a] | wrong[b]
    return {"n_a": len(wrong[a]), "n_b": len(wrong[b]), "n_both": len(both), "n_union": len(union),
            "jaccard": len(both) / len(union) if union else float("nan"),
            "share_of_a": len(both) / len(wrong[a]) if wrong[a] else float("nan"),
            "share_of_b": len(both) / len(wrong[b]) if wrong[b] else float("nan"),
            "both": sorted(both), "only_a": sorted(wrong[a] - wrong[b]), "only_b": sorted(wrong[b] - wrong[a])}


def attack_drop(t3: pd.DataFrame, feature: str) -> float | None:
    """Clean minus the worse single-word attacked accuracy (points) of one feature set; None if not stored."""
    rows = t3[(t3["feature"] == feature) & (t3["times"] == 1)]
    if rows.empty:
        return None
    return float((rows["clean accuracy %"] - rows["attacked accuracy %"]).max())


def findings(acc_all: float, acc_deleted: float, acc_only: float, share: float | None,
             drop_first: float | None, drop_mean: float | None, first_name: str = "final",
             majority: float | None = None) -> list[dict]:
    """The study's four findings on these numbers (accuracies as fractions, drops in points): each a dict
    with finding, holds (True/False, None when not measured) and a plain statement. ``majority`` is the
    accuracy of always answering the test split's more frequent class; when all units do not beat it by
    SIGNAL_POINTS, no finding is measurable."""
    label = {"final": "Final-state", "last": "Last-token"}.get(first_name, first_name.upper())
    names = ["Deleting the SN barely hurts (Table 1)", "The SN alone is worse than all units",
             "Most random subsets beat the SN alone (Fig. 5)",
             f"{label} features fall to a trailing word, mean-pooled features do not (Table 3)"]
    if majority is not None and majority == majority and 100 * (acc_all - majority) < SIGNAL_POINTS:
        why = (f"Not measurable: all units reach {100 * acc_all:.2f}%, within {SIGNAL_POINTS:g} points of always "
               f"answering the majority class ({100 * majority:.2f}%), so the {first_name} features carry no "
               "sentiment here for the SN to hold or lose.")
        return [{"finding": n, "holds": None, "statement": why} for n in names]
    out = []
    delta = 100 * (acc_all - acc_deleted)
    holds = bool(delta <= DELETE_POINTS)
    verdict = ("it barely hurts, as in the study (at most 0.66 points there)." if holds else
               f"a loss of more than {DELETE_POINTS:g} point, so here the SN carries information the other "
               "units do not.")
    out.append({"finding": names[0], "holds": holds,
                "statement": f"Deleting the SN changes test accuracy from {100 * acc_all:.2f}% to "
                             f"{100 * acc_deleted:.2f}% ({-delta:+.2f} points): {verdict}"})
    gap = 100 * (acc_all - acc_only)
    holds = bool(gap >= ALONE_POINTS)
    verdict = ("the SN alone is clearly worse, as in the study." if holds else
               f"less than {ALONE_POINTS:g} point apart, so here the SN alone is about as good as all units.")
    out.append({"finding": names[1], "holds": holds,
                "statement": f"The SN alone reaches {100 * acc_only:.2f}%, all units {100 * acc_all:.2f}% "
                             f"({gap:.2f} points apart): {verdict}"})
    name = names[2]
    if share is None or share != share:
        out.append({"finding": name, "holds": None, "statement": "Random subsets were not run for this feature set."})
    else:
        holds = bool(share > 0.5)
        verdict = ("most do, as in the study." if holds else
                   "most do not, so here the SN alone beats a typical random subset.")
        out.append({"finding": name, "holds": holds,
                    "statement": f"{100 * share:.1f}% of the random subsets beat the SN alone: {verdict}"})
    name = names[3]
    if drop_first is None or drop_mean is None:
        out.append({"finding": name, "holds": None,
                    "statement": "The trailing-word attack was not run (sentiment.adversarial), or one of the two "
                                 "feature sets is missing."})
    else:
        holds = bool(drop_first >= ATTACK_POINTS and drop_mean <= drop_first / 2)
        if holds:
            verdict = f"the {first_name} features are fragile and the mean-pooled robust, as in the study."
        elif drop_first < ATTACK_POINTS:
            verdict = f"the {first_name} features lose less than {ATTACK_POINTS:g} points here."
        else:
            verdict = "the mean-pooled features are hurt too (more than half as much)."
        out.append({"finding": name, "holds": holds,
                    "statement": f"One trailing word costs the {first_name} features up to {drop_first:.1f} "
                                 f"points and the mean-pooled features up to {drop_mean:.1f} points: {verdict}"})
    return out


def hindrance_statement(classifiers: pd.DataFrame, n_units: int) -> str | None:
    """The study's check that removing every "hindrance" unit at once does not help much, in words (None when
    there was no such unit). ``classifiers``: one feature set and penalty, indexed by model."""
    if "hindrance_removed" not in classifiers.index:
        return None
    a = float(classifiers.loc["all", "test_accuracy"])
    h = classifiers.loc["hindrance_removed"]
    removed = n_units - int(h["n_units"])
    gain = 100 * (float(h["test_accuracy"]) - a)
    verdict = ("a small change, as the study found (the classifier 'learns around' them)" if abs(gain) < DELETE_POINTS
               else "more than the study's 'no substantial improvement'")
    return (f"Removing all {removed} hindrance units at once (each helps when removed alone; chosen on the test "
            f"split, as in the study, so this is optimistic): {100 * float(h['test_accuracy']):.2f}% vs "
            f"{100 * a:.2f}% with all units ({gain:+.2f} points), {verdict}.")
