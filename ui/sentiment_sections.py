"""The sentiment-neuron page's result sections over its page model (ui/sentiment_model.Study); views/sentiment.py
draws the widgets that choose it."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from analysis import sentiment as an
from analysis import sentiment_view as sv
from ui import charts
from ui import sentiment_charts as ch
from ui.sentiment_model import Study
from ui.tables import details, table

IMDB_NOTE = ("IMDB is not available offline. To study it, save the reviews as a file and add it as a dataset with "
             "binary labels: `python -m pipeline build --dataset name=imdb,source=file,path=imdb.csv,text=review,"
             "label=sentiment,label_kind=binary ...` (any binary-labelled file or Hugging Face dataset is studied "
             "automatically). Reviews longer than `sentiment.long_chars` characters (300 by default) also get the "
             "attack word ten times, the study's IMDB-10.")


def weights(s: Study, run_id: str) -> None:
    st.markdown("#### Weights of the all-units classifier (Figs. 1 and 6)")
    w = sv.with_roles(s.units, s.sn)
    charts.show(ch.weights_chart, (), {"weights": w[["unit", "weight", "role", "layer_name", "pooling", "neuron",
                                                     "weight_rank"]]}, width="stretch")
    second, sn_row = sv.runner_up(s.units), s.sn_row
    st.markdown(
        f"The **sentiment neuron** (largest |weight|) is unit **{s.sn}**: neuron {int(sn_row['neuron'])} of "
        f"`{sn_row['layer_name']}`, {sn_row['pooling']} pooling, weight **{sn_row['weight']:+.3f}** — polarity "
        f"**{s.polarity}**: the higher its activation, the more "
        f"{'positive' if s.polarity == 'positive' else 'negative'} the predicted sentiment."
        + (f" The next largest |weight| is {abs(second['weight']):.3f} (unit {int(second['unit'])}); the SN's is "
           f"{abs(sn_row['weight']) / max(abs(second['weight']), 1e-12):.2f}x as large." if second is not None else "")
        + f" [Its top sentences on the drift page](drift?run={run_id}&layer={int(sn_row['layer'])}"
          f"&pooling={sn_row['pooling']}&unit={int(sn_row['neuron'])}).")


def table1(s: Study, t1: pd.DataFrame) -> None:
    st.markdown("#### Table 1: all units, SN deleted, SN only")
    table(t1, "sentiment_table1", key="senti_t1")
    line = an.hindrance_statement(s.acc, int(s.acc.loc["all", "n_units"])) if "n_units" in s.acc.columns else None
    if line:
        st.markdown(line)
    gap = 100 * (s.acc_all - s.majority)
    st.caption(f"Majority class on the test split: {100 * s.majority:.2f}% (always answering the more frequent class)"
               + (f"; all units are {gap:+.2f} points from it"
                  + (", so these features barely carry sentiment here." if gap < an.SIGNAL_POINTS else ".")
                  if s.majority == s.majority else "."))


def _per_unit(marks: pd.DataFrame, field: str, title: str, ref: float, rule_color: str | None = None) -> None:
    charts.show(ch.per_unit_chart, (field, title, rule_color),
                {"units": marks[["unit", field, "role", "layer_name", "neuron"]], "ref": pd.DataFrame({"y": [ref]})},
                width="stretch")


def single_units(s: Study) -> None:
    best = an.best_single(s.units, s.sn)
    st.markdown("#### Every unit left out (Fig. 2) and every unit alone (Fig. 3)")
    c1, c2 = st.columns(2)
    marks = sv.with_roles(s.units, s.sn)
    with c1:
        _per_unit(marks, "ablation_accuracy", "test accuracy without the unit", s.acc_all)
        st.caption(f"Dashed: all units ({100 * s.acc_all:.2f}%). Leaving out unit {best['ablation_unit']} helps "
                   f"most: {100 * best['ablation_accuracy']:.2f}% ({100 * (best['ablation_accuracy'] - s.acc_all):+.2f}"
                   f" points); alone that unit reaches {100 * best['ablation_unit_alone']:.2f}%.")
    with c2:
        _per_unit(marks, "single_accuracy", "test accuracy of the unit alone", s.acc_only, "#d62728")
        if best["rival_unit"] is not None:
            gap = 100 * (best["rival_accuracy"] - s.acc_only)
            st.caption(f"Dashed red: the SN alone ({100 * s.acc_only:.2f}%). The best other unit alone is unit "
                       f"{best['rival_unit']} at {100 * best['rival_accuracy']:.2f}% ({gap:+.2f} points from the SN): "
                       + ("it rivals the SN (within 1 point or better)." if gap >= -1 else
                          "no other unit rivals the SN."))


def cumulative(s: Study) -> None:
    st.markdown("#### Cumulative ablation in |weight| order (Fig. 4)")
    parity = an.parity_point(s.units, s.acc_only)
    charts.show(ch.cumulative_chart, (), {"curve": an.cumulative_curve(s.units, s.acc_all),
                                          "sn_only": pd.DataFrame({"y": [s.acc_only], "label": ["SN only"]})},
                width="stretch")
    if parity["removed"] is None:
        st.markdown(f"Accuracy stays above the SN alone ({100 * s.acc_only:.2f}%, dashed red) until the last unit: "
                    "no parity point.")
    else:
        st.markdown(f"Accuracy first falls to the SN alone ({100 * s.acc_only:.2f}%, dashed red) after removing "
                    f"**{parity['removed']}** units, with **{parity['remaining']}** left (the study: parity at about "
                    f"100 of 4,096 units left).")
    st.caption(f"Each step is a new classifier at the all-units classifier's C ({s.units['ablation_c'].iloc[0]:g}), "
               "as the single-unit ablations.")


def random_subsets(s: Study) -> None:
    st.markdown("#### Random unit subsets vs the SN alone (Fig. 5)")
    subsets = s.subsets
    size = int(subsets["n_units"].iloc[0]) if len(subsets) else 0
    charts.show(ch.subsets_chart, (size,), {"subsets": subsets[["test_accuracy"]],
                                            "sn_only": pd.DataFrame({"x": [s.acc_only], "label": ["SN only"]})},
                width="stretch")
    st.markdown(f"**{100 * s.share:.1f}%** of {len(subsets):,} random {size}-unit subsets beat the SN alone "
                f"({100 * s.acc_only:.2f}%, red); their median is {100 * subsets['test_accuracy'].median():.2f}%. "
                f"{int(subsets['has_sn'].sum())} subsets contain the SN. One C for all subsets "
                f"({s.units['subset_c'].iloc[0]:g}, the best mean dev accuracy over the first 50).")


def table2(classifiers: pd.DataFrame, penalty: str, features: pd.DataFrame) -> None:
    st.markdown("#### Table 2: feature sets (all units)")
    table(an.table2(classifiers, penalty), "sentiment_table2", key="senti_t2")
    st.caption(f"`concat` is {' + '.join(features.set_index('feature').loc['concat', 'poolings'])} side by side. "
               "Each classifier has its own C chosen on dev.")


def table3(s: Study, drow: pd.Series) -> None:
    st.markdown("#### Table 3: trailing-word attack")
    if s.t3.empty:
        st.info("The attack was not run (sentiment.adversarial = false).")
        return
    shown = s.t3.assign(features=s.t3["feature"].map(an.feature_label))
    charts.show(ch.attack_chart, (), {"attack": shown[["features", "attack", "n", "clean accuracy %",
                                                       "attacked accuracy %", "change (points)"]]})
    table(shown.drop(columns=["features"]), "sentiment_table3", key="senti_t3")
    st.caption(f"\" Wonderful\" or \" Terrible\" appended to every test text (`_1`), and ten times to the "
               f"{int(drow['n_long_test'])} test texts longer than the long_chars setting (`_10`, the study's "
               f"IMDB-10); the texts re-encoded by the model and scored by the classifiers trained on clean text. "
               f"{int(drow['n_cut_for_suffix'])} texts were shortened at the end so that the words fit in the "
               f"model's max_length. Clean accuracy is on the same texts.")


def misclassified(s: Study, first: str) -> None:
    st.markdown(f"#### Misclassified by {first} and by mean features")
    if not {first, "mean"} <= set(s.preds["feature"]):
        return
    ov = an.misclassified_overlap(s.preds, first, "mean")
    st.markdown(f"{first}: {ov['n_a']} test sentences wrong; mean: {ov['n_b']}; both: **{ov['n_both']}**, "
                f"{100 * ov['jaccard']:.1f}% of the {ov['n_union']} wrong by either (the study: 30-40%), "
                f"{100 * ov['share_of_a']:.1f}% of {first}'s and {100 * ov['share_of_b']:.1f}% of mean's errors.")
    texts = sv.clean_texts(s.preds)
    for name, title, ids in (("both", "wrong with both", ov["both"]),
                             (f"{first}_only", f"wrong with {first} only", ov["only_a"]),
                             ("mean_only", "wrong with mean only", ov["only_b"])):
        box, is_open = details(f"{title} ({len(ids)})", key=f"senti_wrong_{name}_open")
        if is_open:
            ex = texts.loc[ids, ["y", "text"]].reset_index()
            with box:
                table(ex.rename(columns={"y": "label (1 positive)"}), f"sentiment_wrong_{name}",
                      key=f"senti_wrong_{name}")
