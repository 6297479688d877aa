"""The anisotropy page's result sections: the definitions, the per-layer curves, the depth trends, the study's
findings, the static-word tables and the runs compared (views/anisotropy.py draws the widgets that choose them)."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from analysis import anisotropy_view as av
from analysis.anisotropy import CONE_BASELINE, POOLED, STATIC_MEV, compare_runs_text, depth_groups, study_findings, \
    trend_sentence
from ui import anisotropy_charts as ch
from ui import anisotropy_model as model
from ui import charts, url
from ui.tables import table


def definitions() -> None:
    with st.expander("Definitions (formulas)", expanded=False):
        st.markdown("A **word** is a run of letters (inner apostrophes allowed), lower-cased. Its **vector** at a layer, "
                    "in one sentence, is the mean of the model's units whose character span lies inside the word: its "
                    "WordPieces for a transformer (a word split into pieces is the mean of its pieces), its characters "
                    "for the character LSTM. A unit that crosses the word's edge is never used; a word cut off by "
                    "truncation has no vector. A context is a sentence, counted once (a repeated text too).")
        st.markdown("**Self-similarity** of word $w$ with vectors $v_1 \\dots v_n$ in $n$ different sentences, "
                    "averaged over the sampled words:")
        st.latex(r"\mathrm{SelfSim}_\ell(w) = \frac{1}{n(n-1)/2}\sum_{i<j}\cos\big(v_i^{(\ell)}, v_j^{(\ell)}\big)")
        st.markdown("**Intra-sentence similarity** of a sentence with word vectors $w_1 \\dots w_m$ ($m \\ge 2$), "
                    "averaged over the sentences the stage ran:")
        st.latex(r"\vec s^{(\ell)} = \frac1m\sum_i w_i^{(\ell)}, \qquad "
                 r"\mathrm{IntraSim}_\ell(s) = \frac1m\sum_{i}\cos\big(w_i^{(\ell)}, \vec s^{(\ell)}\big)")
        st.markdown("**Anisotropy baseline**: the mean cosine over all pairs of $N$ word vectors drawn uniformly from "
                    "the word tokens, at most one per sentence (so every pair is from two different contexts):")
        st.latex(r"\mathrm{Baseline}_\ell = \frac{1}{N(N-1)/2}\sum_{i<j}\cos\big(r_i^{(\ell)}, r_j^{(\ell)}\big)")
        st.markdown("**Maximum explainable variance** of a word: the first principal component's share of the variance "
                    "of its centred context matrix $X \\in \\mathbb R^{n\\times H}$ (as sklearn's "
                    "`PCA().explained_variance_ratio_[0]`), with $\\sigma_1 \\ge \\sigma_2 \\ge \\dots$ the singular "
                    "values of $X - \\bar X$:")
        st.latex(r"\mathrm{MEV}_\ell(w) = \frac{\sigma_1^2}{\sum_k \sigma_k^2}")
        st.markdown("**Adjusted** (for anisotropy): subtract the same layer's baseline from self-similarity and "
                    "intra-sentence similarity; from MEV, subtract the mean MEV of random sets of $n$ baseline word "
                    "vectors (the same $n$ as the word's contexts, since MEV is larger by chance with fewer contexts):")
        st.latex(r"\mathrm{SelfSim}^{adj} = \mathrm{SelfSim} - \mathrm{Baseline},\quad "
                 r"\mathrm{IntraSim}^{adj} = \mathrm{IntraSim} - \mathrm{Baseline},\quad "
                 r"\mathrm{MEV}^{adj}(w) = \mathrm{MEV}(w) - \mathbb E\big[\mathrm{MEV}(\text{$n$ random words})\big]")
        st.markdown("Stored: the metrics per word, per sentence and per layer, and every context's sentence and "
                    "character span (tables `anisotropy_layers`, `anisotropy_words`, `anisotropy_sentences`, "
                    "`anisotropy_contexts`), not the word vectors themselves.")


def curve(where, df: pd.DataFrame, column: str, title: str, axis: str, order: tuple, samples: tuple) -> None:
    """Draw ``column`` of ``df`` across layers in ``where``, shipping only the columns the chart draws or shows.
    The spec is cached per metric, title and run (its layer order and datasets)."""
    cols = ["layer_label", "dataset", "layer", "layer_name", column, "n_words", "n_sentences"]
    charts.show(ch.curve_chart, (column, title, axis, order, samples), {"curve": df[cols]}, where=where,
                width="stretch")


def curves(layers: pd.DataFrame, order: tuple, samples: tuple) -> None:
    st.subheader("Per layer, per dataset and pooled")
    st.caption("Thick line: pooled (every dataset as one corpus); dashed: each dataset.")
    for raw, adj, label, short in [("self_sim", "self_sim_adj", "Self-similarity", "SelfSim"),
                                   ("intra_sim", "intra_sim_adj", "Intra-sentence similarity", "IntraSim"),
                                   ("mev", "mev_adj", "Maximum explainable variance", "MEV")]:
        c1, c2 = st.columns(2)
        curve(c1, layers, raw, label, short, order, samples)
        curve(c2, layers, adj, f"{label}, anisotropy-adjusted",
              f"{short} − {'random MEV' if raw == 'mev' else 'baseline'}", order, samples)
    c1, c2 = st.columns(2)
    curve(c1, layers, "baseline", "Anisotropy baseline: cosine of random words", "mean cosine", order, samples)
    curve(c2, layers, "mev_random", "MEV of random word sets (the MEV baseline)", "MEV", order, samples)
    table(layers.drop(columns=["layer_label"]), "anisotropy_layers", key="aniso_layers_table")


def depth(layers: pd.DataFrame, pooled: pd.DataFrame, names: list[str], samples: list[str]) -> None:
    st.subheader("Does self-similarity fall with depth on this model?")
    groups = depth_groups(names)
    for stream, idx in groups.items():
        sub = av.stream_rows(pooled, idx)
        where = "" if stream == "all layers" else f"**{stream} stream** (lstm1 → lstm2): "
        st.markdown(where + trend_sentence("Pooled self-similarity", sub, "self_sim") + " "
                    + trend_sentence("Adjusted for anisotropy, it", sub, "self_sim_adj") + " "
                    + trend_sentence("Intra-sentence similarity", sub, "intra_sim"))
    if len(groups) > 1:
        st.caption("The LSTM's layer index interleaves two streams (hidden and cell state of each LSTM layer), so "
                   "depth is read within a stream: lstm1 then lstm2.")
    per_ds = av.falls_per_dataset(layers, names, samples[1:])
    st.markdown(f"Per dataset, self-similarity falls with depth in **{sum(per_ds['self_sim'])} of "
                f"{len(samples) - 1}** datasets (adjusted: {sum(per_ds['self_sim_adj'])} of {len(samples) - 1}).")


def findings(run_id: str, pooled: pd.DataFrame, static_all: pd.DataFrame) -> None:
    top_overlap = model.overlaps(run_id, POOLED, static_all["word"].head(1).tolist())
    found = study_findings(pooled, static_all, top_overlap)
    st.subheader("The study's four findings on this run")
    st.markdown("\n".join(f"- {'✅ holds' if r.holds else '❌ does not hold'}: **{r.finding}**. Here: {r.measured}."
                          for r in found.itertuples()))
    st.caption(f"Thresholds that make the study's words explicit: \"high\" random-word cosine = above "
               f"{CONE_BASELINE}; MEV \"almost 1\" = at least {STATIC_MEV}. Depth trends: the last layer below the "
               "first and a negative Spearman ρ of depth vs value.")
    table(found, "anisotropy_findings", key="aniso_findings_table")


def word_tables(run_id: str, layer: int, sample: str, k: int, by: str) -> None:
    """The most static and most contextual words of one layer, and the words static at every layer."""
    static = model.static_words(run_id, layer, sample, k, by)
    contextual = model.contextual_words(run_id, layer, sample, k)
    c1, c2 = st.columns(2)
    with c1:
        st.markdown(f"**Most static** (highest {'adjusted ' if by == 'mev_adj' else ''}MEV: one direction explains "
                    "most of the word's variation)")
        if by == "mev" and len(static):
            few = static[static["n_contexts"] == static["n_contexts"].min()]
            st.caption(f"{len(few)} of these {len(static)} words have only {int(few['n_contexts'].iloc[0])} "
                       f"contexts, where random word sets already reach an MEV of {few['mev_random'].mean():.2f}: "
                       "raw MEV favours words with few contexts.")
        table(static, f"anisotropy_static_{sample}_layer{layer}", key="aniso_static_table")
    with c2:
        st.markdown("**Most contextual** (lowest self-similarity across contexts)")
        table(contextual, f"anisotropy_contextual_{sample}_layer{layer}", key="aniso_ctx_words_table")
    st.markdown(f"**Static at every layer** ({sample}: words ranked by their lowest MEV over all layers; overlap = "
                "mean word overlap (Jaccard) between the word's contexts, same_left = share of context pairs with "
                "identical text before the word)")
    across = model.static_across(run_id, sample, k)
    reference = av.reference_words(model.word_list(run_id)["word"].tolist())
    overlaps = model.overlaps(run_id, sample, across["word"].tolist() + reference)
    across = across.merge(overlaps[["word", "overlap", "same_left"]], on="word", how="left")
    table(across, f"anisotropy_static_every_layer_{sample}", key="aniso_static_across_table")
    ref = overlaps[overlaps["word"].isin(reference)]
    if len(across) and len(ref):
        st.markdown(
            f"Do the most static words owe it to their contexts? Their contexts overlap by "
            f"{across['overlap'].mean():.2f} on average (Jaccard of the sentences' words), against "
            f"{ref['overlap'].mean():.2f} for {len(ref)} sampled words spread over the vocabulary; "
            f"{int((across['same_left'] >= 0.5).sum())} of these {len(across)} words have the same text before them "
            f"in at least half of their context pairs (against {int((ref['same_left'] >= 0.5).sum())} of the "
            f"{len(ref)}). Near-duplicate contexts (e.g. SNLI hypotheses written from their premise) make a word look "
            "static; for a left-to-right model such as the LSTM an identical left context gives an identical vector.")


def runs_compared() -> None:
    compare = model.compare()
    if compare["run_id"].nunique() <= 1:
        return
    st.subheader("Runs compared (pooled)")
    both = av.runs_compared(compare)
    metric = url.radio("Metric", av.COMPARE_METRICS, "cmp", "aniso_cmp_metric", horizontal=True)
    # one spec per metric of the radio (seven at most)
    charts.show(ch.compare_chart, (metric,), {"runs": both[["depth", metric, "line", "run_id", "layer", "layer_name"]]},
                width="stretch")
    st.markdown(compare_runs_text(both, metric) + " Depth is not the same thing either: the LSTM has two "
                "recurrent layers with two state streams, read left to right over characters; the transformer "
                "stacks attention blocks over WordPieces, both directions.")
    table(both.drop(columns=["line"]), "anisotropy_runs_compared", key="aniso_cmp_table")
