"""Sentiment neuron (Radford et al. 2017 and its ablation study): necessary, sufficient, or an artefact?"""
import altair as alt
import duckdb
import pandas as pd
import streamlit as st

from analysis import sentiment as an
from ui import charts, data
from ui.db import connection
from ui.tables import details, table
from ui.selection import set_params
from warehouse import queries

IMDB_NOTE = ("IMDB is not available offline. To study it, save the reviews as a file and add it as a dataset with "
             "binary labels: `python -m pipeline build --dataset name=imdb,source=file,path=imdb.csv,text=review,"
             "label=sentiment,label_kind=binary ...` (any binary-labelled file or Hugging Face dataset is studied "
             "automatically). Reviews longer than `sentiment.long_chars` characters (300 by default) also get the "
             "attack word ten times, the study's IMDB-10.")

st.title("Sentiment neuron")
st.caption("Radford et al. (2017) found one LSTM unit whose value predicts sentiment. The ablation study "
           "(\"the sentiment neuron\": deleted, alone, every unit left out and alone, random subsets, pooling, "
           "adversarial trailing words) asks whether that unit is necessary, sufficient, or an artefact of the "
           "features. Here the same protocol runs on this warehouse's models and sentiment datasets.")

con = connection()


@st.cache_data(max_entries=16, show_spinner=False)
def _predictions(ident: tuple, run_id: str, dataset: str, penalty: str):
    """Every stored test prediction, Table 3 and the majority-class accuracy: read and computed once per
    (file, run, dataset, penalty), not on every rerun."""
    preds = queries.sentiment_predictions(connection(), run_id, dataset, penalty)
    return preds, an.table3(preds), an.majority_accuracy(preds)



def url_select(label: str, options: list, param: str, key: str, where=st.sidebar, fmt=None):
    """A selectbox whose value comes from and goes back to st.query_params[param] (unknown values: first)."""
    current = st.query_params.get(param)
    index = options.index(current) if current in options else 0
    value = where.selectbox(label, options, index=index, key=key, format_func=fmt or str)
    set_params(**{param: str(value)})
    return value


try:
    runs = queries.sentiment_runs(con)
except duckdb.CatalogException:
    runs = pd.DataFrame()
if runs.empty:
    st.info("This warehouse has no sentiment results. The sentiment stage runs in `python -m pipeline build` when a "
            "dataset has sentiment labels: the demo's movies, amazon, nyt and tweets (`--preset demo`), the research "
            "presets sst2, mr and cr, or any dataset declared `label_kind=binary` (`sentiment.enabled=true`).")
    st.markdown(IMDB_NOTE)
    st.stop()

run_id = url_select("Model run", runs["run_id"].tolist(), "run", "senti_run")
run = runs.set_index("run_id").loc[run_id]
status = queries.sentiment_datasets(con, run_id)
done = status[status["status"] == "done"]
if done.empty:
    st.warning(f"No dataset of run `{run_id}` had enough labelled rows for the study.")
    table(status, "sentiment_datasets", key="senti_status_only")
    st.stop()
dataset = url_select("Dataset", done["dataset"].tolist(), "dataset", f"senti_ds_{run_id}")
features = queries.sentiment_features(con, run_id)
suite_features = features.loc[features["suite"], "feature"].tolist()
classifiers = queries.sentiment_classifiers(con, run_id, dataset)
feature_names = suite_features + [f for f in features["feature"] if f not in suite_features]
feature = url_select("Feature set", feature_names, "feature", f"senti_feat_{run_id}",
                     fmt=lambda f: f"{f} (full suite)" if f in suite_features else f"{f} (weights only)")
penalties = sorted(classifiers["penalty"].unique().tolist())
penalty = url_select("Penalty", penalties, "penalty", f"senti_pen_{run_id}",
                     fmt=lambda p: {"l1": "L1 (the original)", "l2": "L2"}.get(p, p))

frow = features.set_index("feature").loc[feature]
drow = done.set_index("dataset").loc[dataset]
first = "final" if run["model_kind"] == "lstm" else "cls"
st.subheader(f"`{run_id}` · {dataset} · {feature} · {penalty.upper()}")
st.caption(f"{run['model_name']} · features: {', '.join(frow['layer_names'])} pooled "
           f"{' + '.join(frow['poolings'])}, {int(frow['n_units'])} units · {int(drow['n_labelled']):,} labelled "
           f"sentences ({int(drow['n_positive']):,} positive, {int(drow['n_negative']):,} negative; "
           f"{drow['rule']}) · seeded split {int(drow['n_train']):,} / {int(drow['n_dev']):,} / {int(drow['n_test']):,}")

units = queries.sentiment_units(con, run_id, dataset, feature, penalty)
t1 = an.table1(classifiers, feature, penalty)
acc = classifiers[(classifiers["feature"] == feature) & (classifiers["penalty"] == penalty)].set_index("model")
acc_all = float(acc.loc["all", "test_accuracy"])
sn = int(acc.loc["all", "sn_unit"])
sn_row = units.set_index("unit").loc[sn]
polarity = "positive" if sn_row["weight"] > 0 else "negative"
suite = bool(frow["suite"]) and "sn_only" in acc.index
preds, t3, majority = _predictions(data.identity(), run_id, dataset, penalty)

# ---- verdicts -------------------------------------------------------------------------------------------
st.markdown("#### Do the study's four findings hold here?")
if suite:
    subsets = queries.sentiment_subsets(con, run_id, dataset, feature, penalty)
    acc_only = float(acc.loc["sn_only", "test_accuracy"])
    share = an.subset_share(subsets["test_accuracy"], acc_only)
    verdicts = an.findings(acc_all, float(acc.loc["sn_deleted", "test_accuracy"]), acc_only, share,
                           an.attack_drop(t3, first), an.attack_drop(t3, "mean"), first, majority=majority)
    if len({v["statement"] for v in verdicts}) == 1 and all(v["holds"] is None for v in verdicts):
        st.markdown(f"**None of the four findings is measurable here.** {verdicts[0]['statement']}")
    else:
        for v in verdicts:
            icon = {True: "✅ holds", False: "❌ does not hold", None: "➖ not measured"}[v["holds"]]
            st.markdown(f"**{v['finding']}: {icon}.** {v['statement']}")
    st.caption(f"Rules (from the numbers, not hard-coded): deleting the SN costs at most {an.DELETE_POINTS:g} point; "
               f"all units beat the SN alone by at least {an.ALONE_POINTS:g} point; more than half the random "
               f"subsets beat the SN alone; one trailing word costs the {first} features at least "
               f"{an.ATTACK_POINTS:g} points and the mean-pooled at most half as much. Finding 4 compares the "
               f"{first} and mean feature sets whatever the feature set chosen above.")
else:
    st.info(f"Only the all-units classifier ran on `{feature}` (not in `sentiment.suite_features`); choose "
            f"{', '.join(f'`{f}`' for f in suite_features) or 'a suite feature set'} for every experiment.")

# ---- weights (Figs. 1 and 6) ----------------------------------------------------------------------------
st.markdown("#### Weights of the all-units classifier (Figs. 1 and 6)")
w = units.assign(role=lambda d: d["unit"].map(lambda u: "sentiment neuron" if u == sn else "other unit"))


def weights_chart():
    return alt.Chart(alt.NamedData("weights")).mark_bar().encode(
        x=alt.X("unit:Q", title="unit"), y=alt.Y("weight:Q", title="weight (standardised features)"),
        color=alt.Color("role:N", scale=alt.Scale(domain=["sentiment neuron", "other unit"],
                                                  range=["#d62728", "#9ecae1"]), title=None),
        tooltip=["unit:Q", "layer_name:N", "pooling:N", "neuron:Q", alt.Tooltip("weight:Q", format="+.4f"),
                 "weight_rank:Q"],
    ).properties(height=260)


charts.show(weights_chart, (), {"weights": w[["unit", "weight", "role", "layer_name", "pooling", "neuron",
                                               "weight_rank"]]}, width="stretch")
second = units.sort_values("weight_rank").iloc[1] if len(units) > 1 else None
st.markdown(
    f"The **sentiment neuron** (largest |weight|) is unit **{sn}**: neuron {int(sn_row['neuron'])} of "
    f"`{sn_row['layer_name']}`, {sn_row['pooling']} pooling, weight **{sn_row['weight']:+.3f}** — polarity "
    f"**{polarity}**: the higher its activation, the more "
    f"{'positive' if polarity == 'positive' else 'negative'} the predicted sentiment."
    + (f" The next largest |weight| is {abs(second['weight']):.3f} (unit {int(second['unit'])}); the SN's is "
       f"{abs(sn_row['weight']) / max(abs(second['weight']), 1e-12):.2f}x as large." if second is not None else "")
    + f" [Its top sentences on the drift page](drift?run={run_id}&layer={int(sn_row['layer'])}"
      f"&pooling={sn_row['pooling']}&unit={int(sn_row['neuron'])}).")

# ---- Table 1 ---------------------------------------------------------------------------------------------
st.markdown("#### Table 1: all units, SN deleted, SN only")
table(t1, "sentiment_table1", key="senti_t1")
st.caption(f"Majority class on the test split: {100 * majority:.2f}% (always answering the more frequent class)"
           + (f"; all units are {100 * (acc_all - majority):+.2f} points from it"
              + (", so these features barely carry sentiment here." if 100 * (acc_all - majority) < an.SIGNAL_POINTS else ".")
              if majority == majority else "."))
if not suite:
    st.stop()

# ---- Figs. 2 and 3 ---------------------------------------------------------------------------------------
best = an.best_single(units, sn)
acc_only = float(acc.loc["sn_only", "test_accuracy"])
st.markdown("#### Every unit left out (Fig. 2) and every unit alone (Fig. 3)")
c1, c2 = st.columns(2)
marks = units.assign(role=lambda d: d["unit"].map(lambda u: "sentiment neuron" if u == sn else "other unit"))


def per_unit_chart(field: str, title: str, rule_color: str | None):
    """Each unit's accuracy (``field``), the SN in red, and a dashed reference line."""
    color = alt.Color("role:N", scale=alt.Scale(domain=["sentiment neuron", "other unit"],
                                                range=["#d62728", "#4c78a8"]), title=None)
    rule = alt.Chart(alt.NamedData("ref"))
    rule = rule.mark_rule(strokeDash=[4, 3], color=rule_color) if rule_color else rule.mark_rule(strokeDash=[4, 3])
    return (
        alt.Chart(alt.NamedData("units")).mark_circle(size=22).encode(
            x=alt.X("unit:Q"), y=alt.Y(f"{field}:Q", title=title, scale=alt.Scale(zero=False)),
            color=color, tooltip=["unit:Q", "layer_name:N", "neuron:Q", alt.Tooltip(f"{field}:Q", format=".4f")])
        + rule.encode(y="y:Q")
    )


def per_unit(field: str, title: str, ref: float, rule_color: str | None = None) -> None:
    charts.show(per_unit_chart, (field, title, rule_color),
                {"units": marks[["unit", field, "role", "layer_name", "neuron"]], "ref": pd.DataFrame({"y": [ref]})},
                width="stretch")


with c1:
    per_unit("ablation_accuracy", "test accuracy without the unit", acc_all)
    st.caption(f"Dashed: all units ({100 * acc_all:.2f}%). Leaving out unit {best['ablation_unit']} helps most: "
               f"{100 * best['ablation_accuracy']:.2f}% ({100 * (best['ablation_accuracy'] - acc_all):+.2f} points); "
               f"alone that unit reaches {100 * best['ablation_unit_alone']:.2f}%.")
with c2:
    per_unit("single_accuracy", "test accuracy of the unit alone", acc_only, "#d62728")
    if best["rival_unit"] is not None:
        gap = 100 * (best["rival_accuracy"] - acc_only)
        st.caption(f"Dashed red: the SN alone ({100 * acc_only:.2f}%). The best other unit alone is unit "
                   f"{best['rival_unit']} at {100 * best['rival_accuracy']:.2f}% ({gap:+.2f} points from the SN): "
                   + ("it rivals the SN (within 1 point or better)." if gap >= -1 else "no other unit rivals the SN."))

# ---- Fig. 4 ----------------------------------------------------------------------------------------------
st.markdown("#### Cumulative ablation in |weight| order (Fig. 4)")
curve = an.cumulative_curve(units, acc_all)
parity = an.parity_point(units, acc_only)


def cumulative_chart():
    return (
        alt.Chart(alt.NamedData("curve")).mark_line().encode(
            x=alt.X("removed:Q", title="units removed (largest |weight| first)"),
            y=alt.Y("accuracy:Q", title="test accuracy", scale=alt.Scale(zero=False)),
            tooltip=["removed:Q", "remaining:Q", alt.Tooltip("accuracy:Q", format=".4f")])
        + alt.Chart(alt.NamedData("sn_only")).mark_rule(strokeDash=[4, 3], color="#d62728").encode(
            y="y:Q", tooltip=["label:N", alt.Tooltip("y:Q", format=".4f")])
    )


charts.show(cumulative_chart, (), {"curve": curve, "sn_only": pd.DataFrame({"y": [acc_only], "label": ["SN only"]})},
            width="stretch")
if parity["removed"] is None:
    st.markdown(f"Accuracy stays above the SN alone ({100 * acc_only:.2f}%, dashed red) until the last unit: "
                "no parity point.")
else:
    st.markdown(f"Accuracy first falls to the SN alone ({100 * acc_only:.2f}%, dashed red) after removing "
                f"**{parity['removed']}** units, with **{parity['remaining']}** left (the study: parity at about "
                f"100 of 4,096 units left).")
st.caption(f"Each step is a new classifier at the all-units classifier's C ({units['ablation_c'].iloc[0]:g}), as the "
           "single-unit ablations.")

# ---- Fig. 5 ----------------------------------------------------------------------------------------------
st.markdown("#### Random unit subsets vs the SN alone (Fig. 5)")
size = int(subsets["n_units"].iloc[0]) if len(subsets) else 0


def subsets_chart(size: int):
    return (
        alt.Chart(alt.NamedData("subsets")).mark_bar(opacity=0.8).encode(
            x=alt.X("test_accuracy:Q", bin=alt.Bin(maxbins=40), title=f"test accuracy of {size} random units"),
            y=alt.Y("count():Q", title="subsets"))
        + alt.Chart(alt.NamedData("sn_only")).mark_rule(color="#d62728", size=2).encode(
            x="x:Q", tooltip=["label:N", alt.Tooltip("x:Q", format=".4f")])
    )


charts.show(subsets_chart, (size,), {"subsets": subsets[["test_accuracy"]],
                                     "sn_only": pd.DataFrame({"x": [acc_only], "label": ["SN only"]})},
            width="stretch")
st.markdown(f"**{100 * share:.1f}%** of {len(subsets):,} random {size}-unit subsets beat the SN alone "
            f"({100 * acc_only:.2f}%, red); their median is {100 * subsets['test_accuracy'].median():.2f}%. "
            f"{int(subsets['has_sn'].sum())} subsets contain the SN. One C for all subsets "
            f"({units['subset_c'].iloc[0]:g}, the best mean dev accuracy over the first 50).")

# ---- Table 2 ---------------------------------------------------------------------------------------------
st.markdown("#### Table 2: feature sets (all units)")
t2 = an.table2(classifiers, penalty)
table(t2, "sentiment_table2", key="senti_t2")
st.caption(f"`concat` is {' + '.join(features.set_index('feature').loc['concat', 'poolings'])} side by side. "
           "Each classifier has its own C chosen on dev.")

# ---- Table 3 ---------------------------------------------------------------------------------------------
st.markdown("#### Table 3: trailing-word attack")
if t3.empty:
    st.info("The attack was not run (sentiment.adversarial = false).")
else:
    shown = t3.assign(features=t3["feature"].map(an.feature_label))

    def attack_chart():
        return alt.Chart(alt.NamedData("attack")).mark_bar().encode(
            x=alt.X("attacked accuracy %:Q", scale=alt.Scale(domain=[0, 100])),
            y=alt.Y("features:N", title=None), color=alt.Color("features:N", legend=None),
            row=alt.Row("attack:N", title=None),
            tooltip=["features:N", "attack:N", "n:Q", alt.Tooltip("clean accuracy %:Q", format=".2f"),
                     alt.Tooltip("attacked accuracy %:Q", format=".2f"),
                     alt.Tooltip("change (points):Q", format="+.2f")]).properties(height=70)

    charts.show(attack_chart, (), {"attack": shown[["features", "attack", "n", "clean accuracy %",
                                                    "attacked accuracy %", "change (points)"]]})
    table(shown.drop(columns=["features"]), "sentiment_table3", key="senti_t3")
    st.caption(f"\" Wonderful\" or \" Terrible\" appended to every test text (`_1`), and ten times to the "
               f"{int(drow['n_long_test'])} test texts longer than the long_chars setting (`_10`, the study's "
               f"IMDB-10); the texts re-encoded by the model and scored by the classifiers trained on clean text. "
               f"{int(drow['n_cut_for_suffix'])} texts were shortened at the end so that the words fit in the "
               f"model's max_length. Clean accuracy is on the same texts.")

# ---- misclassification overlap ----------------------------------------------------------------------------
st.markdown(f"#### Misclassified by {first} and by mean features")
if {first, "mean"} <= set(preds["feature"]):
    ov = an.misclassified_overlap(preds, first, "mean")
    st.markdown(f"{first}: {ov['n_a']} test sentences wrong; mean: {ov['n_b']}; both: **{ov['n_both']}**, "
                f"{100 * ov['jaccard']:.1f}% of the {ov['n_union']} wrong by either (the study: 30-40%), "
                f"{100 * ov['share_of_a']:.1f}% of {first}'s and {100 * ov['share_of_b']:.1f}% of mean's errors.")
    texts = preds[preds["attack"] == "none"].drop_duplicates("sentence_id").set_index("sentence_id")
    for name, title, ids in (("both", "wrong with both", ov["both"]),
                             (f"{first}_only", f"wrong with {first} only", ov["only_a"]),
                             ("mean_only", "wrong with mean only", ov["only_b"])):
        box, is_open = details(f"{title} ({len(ids)})", key=f"senti_wrong_{name}_open")
        if is_open:
            ex = texts.loc[ids, ["y", "text"]].reset_index()
            with box:
                table(ex.rename(columns={"y": "label (1 positive)"}), f"sentiment_wrong_{name}",
                      key=f"senti_wrong_{name}")

# ---- details ---------------------------------------------------------------------------------------------
box, is_open = details("Every unit (weights, alone, left out, cumulative) and every random subset", key="senti_units_open")
if is_open:
    with box:
        table(units, "sentiment_units", key="senti_units")
        table(subsets, "sentiment_subsets", key="senti_subsets")
with st.expander("Protocol, datasets and IMDB"):
    st.markdown(
        "Per dataset: labels made binary (rule above), a seeded 70/10/20 split (the build seed and the dataset "
        "name, so every run sees the same split), features standardised with the training rows' mean and std, "
        "logistic regression with an L1 (the original study) or L2 penalty and an unpenalised intercept, sklearn's "
        "objective. C is chosen on dev from a light grid (`sentiment.c_grid`) for the all-units, SN-deleted and each "
        "single-unit classifier; the single-unit and cumulative ablations reuse the all-units C; the random subsets "
        "share one C. Every accuracy is on the test split. The many classifiers are solved in batches (one matrix "
        "product for all of them per step); a test checks them against sklearn.")
    table(status, "sentiment_datasets", key="senti_status")
    st.markdown(IMDB_NOTE)
