"""Neuron drift: a neuron's (or direction's) top sentences per dataset side by side (Bolukbasi et al. 2021)."""
import streamlit as st

from analysis import drift_view as dv
from analysis.drift import HIST_BINS, range_overlap
from ui import charts, data, url
from ui import drift_charts as ch
from ui import drift_model as model
from ui.db import connection
from ui.direction import select_datasets_and_k, select_direction
from ui.links import neighbour_table
from ui.selection import select_drop, select_run
from ui.tables import details, table
from ui import progress

HYP_KINDS = {"keywords": "keywords", "regex": "regex", "labelled": "labelled sentences"}


def distribution(sel, direction, s: model.Scores, k: int) -> None:
    if dv.is_constant(s.lo, s.hi):
        # e.g. [CLS] at the embedding output: the same token embedding for every sentence, so no ranking exists
        st.info(f"{direction.label} has the same value ({s.lo:+.6f}) on all {s.n_scored:,} "
                f"sentences here, so its top and bottom sentences are arbitrary (ties go to the lowest sentence id)."
                + (" At the embedding output the [CLS] vector is the [CLS] token's embedding, identical for every "
                   "input." if sel.layer == 0 and sel.pooling == "cls" else ""))
        return
    cut = s.ranges["min"].rename("value").reset_index()
    charts.show(ch.histogram_chart, (direction.kind, k), {"hist": s.hist, "cut": cut}, width="stretch")
    st.caption(f"Score distribution per dataset ({HIST_BINS} bins over each dataset's own range; density, so "
               f"sizes do not matter); dashed: each dataset's top-{k} cut-off. {s.n_scored:,} sentences.")


def sentences(sel, direction, s: model.Scores, datasets: list[str], k: int) -> None:
    lists = {"top": (f"Top {k}", s.top), "bottom": (f"Bottom {k}", s.bottom),
             "random": (f"{k} random sentences (the baseline)", s.random)}
    if model.has_token_lists(sel, direction):
        lists |= {"top_token": (f"Top {k} by token", "top"), "bottom_token": (f"Bottom {k} by token", "bottom")}
    which = url.url_choice("list", list(lists), "top")
    which = st.segmented_control("Sentences per dataset", list(lists), format_func=lambda w: lists[w][0],
                                 default=which, key="drift_list") or "top"
    url.set_params(list=which)
    title, frame = lists[which]
    st.subheader(f"{title} per dataset")
    if which.endswith("_token"):
        frame = model.token_lists(sel, direction.unit, datasets, k, frame)
        st.caption(f"Each sentence through its {'strongest' if which == 'top_token' else 'weakest'} token "
                   f"(highlighted): the sentences whose {'maximal' if which == 'top_token' else 'minimal'} activation "
                   f"of {direction.label} over their own tokens is the most extreme, each sentence once. The "
                   f"other lists rank sentences by their pooled ({sel.pooling}) vector.")
        md = dv.token_lists(frame)
    else:
        frame = model.with_texts(frame)
        md = dv.sentence_lists(frame)
    per_row = 3
    # one row of columns, datasets i, i + 3, ... stacked in column i (one st.columns call however many datasets)
    for i, col in enumerate(st.columns(per_row)):
        for name in datasets[i::per_row]:
            col.markdown(f"**{name}**\n\n" + md.get(name, ""))
    with st.expander(f"{title} per dataset as a table"):
        neighbour_table(frame, sel, f"drift_{which}", key=f"drift_{which}_table")


def overlaps(sel, direction, s: model.Scores, datasets: list[str], k: int, dim: int, drop: int = 0) -> None:
    st.subheader(f"Do the top-{k} score ranges overlap?")
    overlap = range_overlap({d: (r["min"], r["max"]) for d, r in s.ranges.iterrows()})
    charts.show(ch.overlap_chart, (len(datasets),), {"overlap": overlap}, width="stretch")
    st.caption(f"For {direction.label}: length of the intersection of two datasets' top-{k} score ranges over the "
               f"length of their union (0 = disjoint).")
    table(overlap, "drift_overlap", key="drift_overlap_table")
    if len(datasets) > 1:
        share, n = model.overlap_share(sel, datasets, k)
        st.metric(f"Neuron × dataset-pair top-{k} ranges that overlap (all {dim} neurons of this layer"
                  + (", every sentence)" if drop else ")"),
                  f"{share:.0%}", help=f"{n:,} comparisons. The paper reports 38% for BERT-base's final [CLS] "
                                       "on QQP, QNLI, Wikipedia and BookCorpus (top 10).")
        st.caption(f"Measured here: {share:.1%} of {n:,} neuron × dataset-pair comparisons on "
                   f"{', '.join(datasets)}. The paper's figure is 38% (BERT-base, four other datasets); this is our "
                   f"model's own number, not tuned to match.")


def normalisation(sel, direction, datasets: list[str], k: int) -> None:
    box, is_open = details("With and without normalising the sentence vectors (Appendix A)", key="drift_norm_open")
    if not is_open:
        return
    with box:
        sides, mean_jaccard, norms = model.normalisation(sel, direction.unit, datasets, k)
        st.markdown(f"Over every neuron of this layer and every chosen dataset, the top-{k} sets by raw activation "
                    f"and by the activation of the unit-length vector share **{mean_jaccard:.0%}** of their "
                    f"sentences on average (Jaccard). The study found them \"in general the same\" on BERT-base.")
        table(sides, "drift_normalisation", key="drift_norm_table")
        half = (int(sel.run["hidden_size"]) ** 0.5) / 2
        st.caption(f"Sentence-vector norms per dataset. The study saw BERT-base's concentrated around 14 ≈ "
                   f"sqrt(768)/2; the same rule of thumb here is sqrt({int(sel.run['hidden_size'])})/2 = {half:.1f}.")
        table(norms, "drift_norms", key="drift_norms_table")


def hypothesis(sel, direction, s: model.Scores, datasets: list[str], k: int) -> None:
    st.subheader("Test a hypothesis")
    st.caption(f"State a concept; for each dataset, is it more frequent among the top {k} than in the dataset as a "
               "whole? One-sided hypergeometric test per dataset, Holm-corrected across datasets.")
    kinds = list(HYP_KINDS)  # in the URL only with a concept
    kind = st.radio("Concept as", kinds, horizontal=True, key="hyp_kind", format_func=HYP_KINDS.get,
                    index=kinds.index(url.url_choice("hyp_kind", kinds, "keywords")))
    if kind == "labelled":
        hyp = st.text_area("Example sentences from the chosen datasets, one per line: '+ ' for the concept, '- ' for "
                           "not. A sentence is a hit when it is closer (cosine, centred space of this layer) to the "
                           "'+' examples' centroid than to the '-' examples' centroid.",
                           value=url.get("hyp"), key="hyp_text", height=120)
    else:
        hyp = st.text_input("Keywords, comma-separated (whole words, any case)" if kind == "keywords"
                            else "Regular expression (case-insensitive search)", value=url.get("hyp"),
                            key="hyp_text", placeholder="e.g. movie, film, actor")
    if not hyp.strip():
        url.set_params(hyp=None, hyp_kind=None)
        return
    url.set_params(hyp=hyp, hyp_kind=kind)
    try:
        missing = model.missing_examples(datasets, hyp) if kind == "labelled" else []
        if missing:
            st.warning(f"{len(missing)} example(s) not found in the chosen datasets, ignored: "
                       + "; ".join(missing[:3]))
        verdict_table, verdict = model.hypothesis(sel, datasets, s.top, kind, hyp)
    except ValueError as e:
        st.error(str(e))
        st.stop()
    name = f"“{hyp}”" if kind != "labelled" else "the labelled concept"
    st.markdown(f"**{name} for {direction.label}: {verdict}.**")
    table(verdict_table, "hypothesis", key="hyp_table")


st.title("Neuron drift")
st.caption("An Interpretability Illusion for BERT (Bolukbasi et al. 2021): a neuron's top-activating sentences "
           "can show a clear pattern within each dataset and a different one on every other dataset.")
sel = select_run(connection())
progress.wait_for("histograms", sel.run_id)
dim = int(sel.run["hidden_size"])
direction = select_direction(dim)
datasets, k = select_datasets_and_k(data.meta("datasets", sel.run_id)["dataset"].tolist(), key="drift_k")
drop = select_drop(sel.run_id, key="drift_drop")
scores = model.scores(sel, direction, datasets, k, drop)
st.subheader(f"{direction.label} · layer {sel.layer} ({sel.layer_name}) · {sel.pooling}"
             + (f" · most distant {drop}% left out" if drop else ""))
distribution(sel, direction, scores, k)
sentences(sel, direction, scores, datasets, k)
overlaps(sel, direction, scores, datasets, k, dim, drop)
if direction.unit is not None:
    normalisation(sel, direction, datasets, k)
hypothesis(sel, direction, scores, datasets, k)
