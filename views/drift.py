"""Neuron drift: a neuron's (or direction's) top sentences per dataset side by side (Bolukbasi et al. 2021)."""
import altair as alt
import pandas as pd
import streamlit as st

from analysis.drift import (HIST_BINS, extremes_from_scores, histogram_frame, neuron_view, random_baseline,
                            range_overlap, score_histograms)
from analysis.illusion import centroid_hits, concept_hits, hypothesis_table, parse_labelled
from ui import charts, data
from ui.db import connection
from ui.direction import select_datasets_and_k, select_direction
from ui.selection import select_run, set_params
from ui.tables import table
from warehouse import queries

st.title("Neuron drift")
st.caption("An Interpretability Illusion for BERT (Bolukbasi et al. 2021): a neuron's top-activating sentences "
           "can show a clear pattern within each dataset and a different one on every other dataset.")

con = connection()
sel = select_run(con)
dim = int(sel.run["hidden_size"])
direction = select_direction(dim)
all_ds = data.meta("datasets", sel.run_id)["dataset"].tolist()
datasets, k = select_datasets_and_k(all_ds, key="drift_k")

stored_k = data.meta("stored_topk")
if direction.unit is not None and k <= stored_k:
    # Everything precomputed per neuron (neuron_topk, neuron_histograms), read once per layer: no query here.
    view = neuron_view(data.neuron_layer(sel.run_id, sel.layer, sel.pooling), direction.unit, datasets, k)
    top, bottom, rand, hists = view["top"], view["bottom"], view["random"], view["hist"]
    lo, hi = float(hists["lo"].min()), float(hists["hi"].max())
    n_scored = int(sum(int(c.sum()) for c in hists["counts"]))
    hist = histogram_frame(hists)
else:
    if direction.unit is not None:
        scores = queries.neuron_scores(con, sel.run_id, sel.layer, sel.pooling, direction.unit, datasets)
    else:
        scores = queries.direction_scores(con, sel.run_id, sel.layer, sel.pooling, direction.vector, datasets)
    top = extremes_from_scores(scores, k, "top")
    bottom = extremes_from_scores(scores, k, "bottom")
    if k <= stored_k:  # the same random sentences as a neuron gets, scored by this direction
        rand = queries.random_sentences(con, sel.run_id, datasets, k)
        rand = rand.merge(scores, on=["dataset", "sentence_id"])
    else:
        rand = random_baseline(scores, k, seed=0)
    lo, hi, n_scored = float(scores["value"].min()), float(scores["value"].max()), len(scores)
    hist = score_histograms(scores)
    rand = rand.sort_values(["dataset", "value"], ascending=[True, False], ignore_index=True)
    rand = rand.assign(rank=rand.groupby("dataset").cumcount() + 1)[["dataset", "rank", "sentence_id", "value"]]
ranges = top.groupby("dataset")["value"].agg(["min", "max"])

st.subheader(f"{direction.label} · layer {sel.layer} ({sel.layer_name}) · {sel.pooling}")


def histogram_chart(kind: str, k: int):
    # the axis names the kind of score, not the neuron: one cached spec serves every neuron
    x_title = "activation" if kind == "neuron" else "projection on the direction"
    return (
        alt.Chart(alt.NamedData("hist")).mark_line(interpolate="step-after", opacity=0.85).encode(
            x=alt.X("bin_start:Q", title=x_title),
            y=alt.Y("density:Q", title="density"),
            color=alt.Color("dataset:N"),
            tooltip=["dataset:N", alt.Tooltip("bin_start:Q", format=".3f"), alt.Tooltip("bin_end:Q", format=".3f"),
                     "count:Q"],
        ).properties(height=220)
        + alt.Chart(alt.NamedData("cut")).mark_rule(strokeDash=[4, 3]).encode(
            x="value:Q", color="dataset:N", tooltip=["dataset:N", alt.Tooltip("value:Q", title=f"top-{k} cut-off")])
    )


if hi - lo <= 1e-6 * max(1.0, abs(lo), abs(hi)):
    # e.g. [CLS] at the embedding output: the same token embedding for every sentence, so no ranking exists
    st.info(f"{direction.label} has the same value ({lo:+.6f}) on all {n_scored:,} "
            f"sentences here, so its top and bottom sentences are arbitrary (ties go to the lowest sentence id)."
            + (" At the embedding output the [CLS] vector is the [CLS] token's embedding, identical for every input."
               if sel.layer == 0 and sel.pooling == "cls" else ""))
else:
    cut = ranges["min"].rename("value").reset_index()
    charts.show(histogram_chart, (direction.kind, k), {"hist": hist, "cut": cut}, width="stretch")
    st.caption(f"Score distribution per dataset ({HIST_BINS} bins over each dataset's own range; density, so "
               f"sizes do not matter); dashed: each dataset's top-{k} cut-off. {n_scored:,} sentences.")


def sentence_lists(frame: pd.DataFrame) -> dict[str, str]:
    """Per dataset, its rows as a numbered markdown list (rank, score, text)."""
    out: dict[str, list[str]] = {}
    for d, rank, value, text in zip(frame["dataset"], frame["rank"], frame["value"], frame["text"]):
        out.setdefault(d, []).append(f"{int(rank)}. `{value:+.3f}` {text}")
    return {d: "\n".join(lines) for d, lines in out.items()}


lists = {"top": (f"Top {k}", top), "bottom": (f"Bottom {k}", bottom),
         "random": (f"{k} random sentences (the baseline)", rand)}
which = st.query_params.get("list", "top")
which = st.segmented_control("Sentences per dataset", list(lists), format_func=lambda w: lists[w][0],
                             default=which if which in lists else "top", key="drift_list") or "top"
set_params(list=which)
title, frame = lists[which]
frame = data.with_texts(frame)[["dataset", "rank", "sentence_id", "value", "text"]]
st.subheader(f"{title} per dataset")
md = sentence_lists(frame)
per_row = 3
# one row of columns, datasets i, i + 3, ... stacked in column i (one st.columns call however many datasets)
for i, col in enumerate(st.columns(per_row)):
    for name in datasets[i::per_row]:
        col.markdown(f"**{name}**\n\n" + md.get(name, ""))

with st.expander(f"{title} per dataset as a table"):
    table(frame, f"drift_{which}", key=f"drift_{which}_table")

st.subheader(f"Do the top-{k} score ranges overlap?")
overlap = range_overlap({d: (r["min"], r["max"]) for d, r in ranges.iterrows()})


def overlap_chart(n_datasets: int):
    return (
        alt.Chart(alt.NamedData("overlap")).mark_rect().encode(
            x=alt.X("a:N", title=None), y=alt.Y("b:N", title=None),
            color=alt.Color("iou:Q", scale=alt.Scale(domain=[0, 1]), title="overlap (IoU)"),
            tooltip=["a:N", "b:N", "overlaps:N", alt.Tooltip("iou:Q", format=".2f")],
        ).properties(height=60 + 40 * n_datasets)
        + alt.Chart(alt.NamedData("overlap")).mark_text(baseline="middle").encode(
            x="a:N", y="b:N", text=alt.Text("iou:Q", format=".2f"))
    )


charts.show(overlap_chart, (len(datasets),), {"overlap": overlap}, width="stretch")
st.caption(f"For {direction.label}: length of the intersection of two datasets' top-{k} score ranges over the "
           f"length of their union (0 = disjoint).")
table(overlap, "drift_overlap", key="drift_overlap_table")

if len(datasets) > 1:
    share, n = data.topk_overlap_share(sel.run_id, sel.layer, sel.pooling, datasets, k)
    st.metric(f"Neuron × dataset-pair top-{k} ranges that overlap (all {dim} neurons of this layer)",
              f"{share:.0%}", help=f"{n:,} comparisons. The paper reports 38% for BERT-base's final [CLS] "
                                   "on QQP, QNLI, Wikipedia and BookCorpus (top 10).")
    st.caption(f"Measured here: {share:.1%} of {n:,} neuron × dataset-pair comparisons on "
               f"{', '.join(datasets)}. The paper's figure is 38% (BERT-base, four other datasets); this is our "
               f"model's own number, not tuned to match.")

st.subheader("Test a hypothesis")
st.caption(f"State a concept; for each dataset, is it more frequent among the top {k} than in the dataset as a "
           "whole? One-sided hypergeometric test per dataset, Holm-corrected across datasets.")
kinds = ["keywords", "regex", "labelled"]
labels = {"keywords": "keywords", "regex": "regex", "labelled": "labelled sentences"}
hyp_kind = st.radio("Concept as", kinds, horizontal=True, key="hyp_kind", format_func=labels.get,
                    index=kinds.index(st.query_params.get("hyp_kind", "keywords"))
                    if st.query_params.get("hyp_kind", "keywords") in kinds else 0)
if hyp_kind == "labelled":
    hyp = st.text_area("Example sentences from the chosen datasets, one per line: '+ ' for the concept, '- ' for "
                       "not. A sentence is a hit when it is closer (cosine, centred space of this layer) to the "
                       "'+' examples' centroid than to the '-' examples' centroid.",
                       value=st.query_params.get("hyp", ""), key="hyp_text", height=120)
else:
    hyp = st.text_input("Keywords, comma-separated (whole words, any case)" if hyp_kind == "keywords"
                        else "Regular expression (case-insensitive search)", value=st.query_params.get("hyp", ""),
                        key="hyp_text", placeholder="e.g. movie, film, actor")
if hyp.strip():
    st.query_params.update({"hyp": hyp, "hyp_kind": hyp_kind})
    texts = data.dataset_texts(datasets)
    try:
        if hyp_kind == "labelled":
            pos, neg = parse_labelled(hyp)
            x_all, keys = data.layer_matrix(sel.run_id, sel.layer, sel.pooling, datasets)
            row_of = {t.casefold(): i for i, t in enumerate(texts["text"])}
            missing = [t for t in pos + neg if t.casefold() not in row_of]
            if missing:
                st.warning(f"{len(missing)} example(s) not found in the chosen datasets, ignored: "
                           + "; ".join(missing[:3]))
            hits = centroid_hits(x_all, [row_of[t.casefold()] for t in pos if t.casefold() in row_of],
                                 [row_of[t.casefold()] for t in neg if t.casefold() in row_of])
        else:
            hits = concept_hits(texts["text"].tolist(),
                                keywords=hyp.split(",") if hyp_kind == "keywords" else None,
                                regex=hyp if hyp_kind == "regex" else None)
    except ValueError as e:
        st.error(str(e))
        st.stop()
    hit_of = dict(zip(zip(texts["dataset"], texts["sentence_id"]), hits))
    per_dataset = {}
    for name in datasets:
        in_ds = texts["dataset"] == name
        ids = top.loc[top["dataset"] == name, "sentence_id"]
        per_dataset[name] = (int(sum(hit_of[(name, int(i))] for i in ids)), len(ids), int(hits[in_ds].sum()),
                             int(in_ds.sum()))
    verdict_table, verdict = hypothesis_table(per_dataset)
    name = f"“{hyp}”" if hyp_kind != "labelled" else "the labelled concept"
    st.markdown(f"**{name} for {direction.label}: {verdict}.**")
    table(verdict_table, "hypothesis", key="hyp_table")
else:
    for stale in ("hyp", "hyp_kind"):
        st.query_params.pop(stale, None)
