"""The attention-clusters page's result sections over the stored tables and the live clustering (views/attention.py
draws the widgets that choose them)."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from analysis import attention_view as av
from analysis.attention import statement, study_check
from ui import attention_charts as ch
from ui import attention_model as model
from ui import charts
from ui.links import attention_link
from ui.tables import details, table


def pcols(df: pd.DataFrame) -> dict:
    """p-values in scientific notation (they reach 1e-280 here); everything else as Streamlit shows it."""
    return {c: st.column_config.NumberColumn(format="%.2e") for c in df.columns
            if c in ("p", "p_holm", "kw_p", "mw_min_p", "mw_max_p")}


def definitions(this: pd.Series, layers: pd.DataFrame) -> None:
    with st.expander("Definitions", expanded=False):
        st.markdown(
            "- **Summary features** of each head, averaged over query positions $i$ of the item's attention $A$ "
            "(rows sum to 1): entropy $-\\sum_j A_{ij}\\log A_{ij}$, attention to [CLS] $A_{i0}$, to [SEP] "
            "$\\sum_{j\\in SEP}A_{ij}$, to itself $A_{ii}$, to the previous $A_{i,i-1}$ and next $A_{i,i+1}$ token, and "
            "the mean distance $\\sum_j A_{ij}|i-j|$: 7 per head.\n"
            "- **Autoencoder** (the study's method): each head's attention matrix, resized to a fixed grid and flattened, "
            "is a sequence; the heads are the features of each step. A BiLSTM encoder to a 2-D code and an LSTM decoder, "
            "MSE loss, Adam with learning rate 1e-3.\n"
            "- **Covariates**: the gold score; the WordPiece length with special tokens; the structure similarity, the "
            "cosine of the item's dependency-label counts (spaCy, sentence a then b) to those of the most frequent "
            "structure.\n"
            "- **Tests**: Kruskal-Wallis across clusters (effect size η² = (H − k + 1)/(n − k)) and two-sided "
            "Mann-Whitney U for every pair of clusters, Holm-corrected. DBSCAN noise is left out.\n"
            "- **Default clustering** per layer: the lowest mean rank under silhouette, Davies-Bouldin and "
            "Calinski-Harabasz (sklearn) among every algorithm × k × option scored by the build.")
        if pd.notna(this.get("top_structure")) or layers["top_structure"].notna().any():
            top = layers["top_structure"].dropna().iloc[0]
            st.markdown(f"Most frequent structure here: `{top}`")


def boxes_and_tests(points: pd.DataFrame, labels, covs: list[str], cov_labels: dict, layer: int) -> None:
    st.markdown("**Box plots per cluster**")
    cols = st.columns(len(covs))
    for col, c in zip(cols, covs):
        charts.show(ch.cluster_box, (c, cov_labels[c]), {"box": points[["cluster", c]]}, where=col, width="stretch")
    if len(covs) > 1:
        st.caption("Covariates are not independent: a split along one also separates those correlated with it. "
                   "Spearman ρ here: " + "; ".join(f"{cov_labels[a]} vs {cov_labels[b]} {rho:+.2f}"
                                                   for a, b, rho in av.spearman_pairs(points, covs)) + ".")
    live_tests, live_pairs = model.live_tests(points[covs], labels)
    st.markdown("**Tests on the clusters shown** (recomputed live)")
    table(live_tests, f"attention_live_tests_layer{layer}", key="attn_live_tests", column_config=pcols(live_tests))
    box, is_open = details("Pairwise Mann-Whitney U (Holm-corrected)", key="attn_pairs_open")
    if is_open:
        with box:
            table(live_pairs, f"attention_live_pairs_layer{layer}", key="attn_live_pairs",
                  column_config=pcols(live_pairs))


def stored_tests(run: pd.Series, run_id: str, dataset: str, feature_set: str, fs_label: str, covs: list[str]) -> None:
    st.subheader("Every layer: the stored tests (the study's Table 5)")
    tests = model.tests(run_id, dataset)
    mine = tests[tests["feature_set"] == feature_set]
    pivot = av.table5(mine, covs)
    st.caption(f"Per layer, on the stored default clusters of the {fs_label}: Kruskal-Wallis p, its effect "
               "size η², and the smallest Holm-adjusted pairwise Mann-Whitney p.")
    table(pivot, f"attention_table5_{feature_set}", key="attn_table5",
          column_config={c: st.column_config.NumberColumn(format="%.2e" if c.endswith("_p") else "%.3f")
                         for c in pivot.columns if c.endswith("_p") or c.endswith("eta2")})
    table(mine, f"attention_tests_{feature_set}", key="attn_tests", column_config=pcols(mine))
    st.markdown(statement(mine))
    check = study_check(mine, int(run["n_layers"]) - 1)
    st.markdown("**The study's findings on this run**")
    if check.empty:
        st.markdown("Nothing to check: the dataset has no score covariate and/or no length variation.")
    else:
        st.markdown("\n".join(f"- {'✅ holds' if r.holds else '❌ does not hold'}: **{r.finding}**. Here: {r.measured}."
                              for r in check.itertuples()))
        if not check["holds"].all():
            st.info("Where a finding does not hold, that is the result on this model, not an error: the study used "
                    "BERT-base fine-tuned on STS-B (12 blocks), here the encoder is frozen and may differ (MiniLM-L6 "
                    "is a 6-block sentence-embedding model distilled for mean pooling). Relative depth is compared, "
                    "so layer 6 of 12 corresponds to block 3 of 6.")
    charts.show(ch.eta_chart, (), {"eta": av.eta_by_layer(mine)}, width="stretch")


def quality(layers: pd.DataFrame, run_id: str, dataset: str, layer: int, feature_set: str) -> None:
    st.subheader("Cluster quality")
    st.caption("The stored default per layer (lowest consensus rank), then every clustering scored for the selected "
               "layer.")
    chosen = layers[layers["feature_set"] == feature_set].drop(columns=["top_structure"])
    table(chosen, f"attention_layers_{feature_set}", key="attn_layers_tbl")
    scored = model.quality(run_id, dataset)
    table(scored[(scored["layer"] == layer) & (scored["feature_set"] == feature_set)],
          f"attention_quality_layer{layer}_{feature_set}", key="attn_quality_tbl")
    box, is_open = details("Best of each algorithm per layer (per layer × algorithm)", key="attn_best_open")
    if is_open:
        with box:
            table(av.best_per_algorithm(scored, feature_set), f"attention_quality_by_algorithm_{feature_set}",
                  key="attn_best_tbl")


def regression_heads(run_id: str) -> None:
    st.subheader("Regression heads (the study's Table 3)")
    heads = model.heads(run_id)
    if heads.empty:
        st.info("No regression heads: they need a pair dataset with score labels and a train and a test split "
                "(e.g. the `stsb` research preset) and `attention.heads = true`.")
        return
    table(heads, "attention_heads", key="attn_heads")
    for ds, top, cls_r in av.best_heads(heads):
        note = "" if cls_r is None else (
            f" The study found [CLS] hard to beat (fine-tuned BERT); on this frozen encoder [CLS] reaches "
            f"r = {cls_r:.3f}, so that finding does not reproduce here.")
        st.markdown(f"`{ds}`: best head **{top['head']}** (Pearson {top['pearson']:.3f}, Spearman "
                    f"{top['spearman']:.3f}, MSE {top['mse']:.3f}; {int(top['n_train'])} train / "
                    f"{int(top['n_test'])} test pairs, frozen encoder)." + note)


def item_link(points: pd.DataFrame, run_id: str, dataset: str, layer: int) -> None:
    """Any item of the layer's points opens in the per-example attention page (every head and layer)."""
    texts = dict(zip(points["sentence_id"], points["text"]))
    sid = st.selectbox("One item's attention, every head and layer", sorted(texts), key="attn_item",
                       format_func=lambda i: f"#{i}: {str(texts[i])[:100]}")
    if sid is not None:
        st.markdown(f"[Open #{sid}'s attention, every head and layer →]"
                    f"({attention_link(run_id, dataset, sid, layer)})")


def dataset_figures(points: pd.DataFrame, covs: list[str], cov_labels: dict, dataset: str) -> None:
    """The study's Figs. 3 and 4: the whole dataset's gold scores and lengths, one box each, and their numbers."""
    from analysis.attention_figures import beyond_whiskers, dataset_distributions, skew_words

    shown = {c: cov_labels[c] for c in ("score", "length") if c in covs}
    st.subheader("The whole dataset (the study's Figs. 3 and 4)")
    dist = dataset_distributions(points, shown)
    cols = st.columns(len(shown))
    for col, r in zip(cols, dist.to_dict("records")):
        charts.show(ch.dataset_box, (r["label"], f"{dataset}: {r['label']}, every item"),
                    {"summary": pd.DataFrame([r]), "outliers": beyond_whiskers(points[r["covariate"]], r)},
                    where=col, width="stretch")
    st.caption("; ".join(f"{r.label}: median {r.median:g}, IQR {r.q1:g}–{r.q3:g}, skewness {r.skewness:+.2f} "
                         f"({skew_words(r.skewness)}), {r.outliers_low + r.outliers_high} point(s) beyond the "
                         f"whiskers" for r in dist.itertuples())
               + ". The study's STS-B test set: scores slightly left-skewed with no outliers, lengths right-skewed.")
    table(dist, f"attention_distributions_{dataset}", key="attn_dist")


def small_multiples(run_id: str, dataset: str, points: pd.DataFrame, xy, layer: int, feature_set: str) -> None:
    """Every algorithm's best stored clustering of the layer, side by side (the study's visual comparison)."""
    from analysis.attention_figures import best_of_each

    st.subheader(f"Layer {layer}: the five algorithms side by side")
    best = best_of_each(model.quality(run_id, dataset), layer, feature_set)
    if best.empty:
        st.info("No stored clusterings for this layer.")
        return
    frame = model.multiples(points[["sentence_id"]], xy, best)
    titles = tuple(dict.fromkeys(frame["title"]))
    charts.show(ch.multiples_chart, (titles, 200), {"multiples": frame})
    st.caption("Each algorithm's best-ranked clustering of this layer (lowest consensus rank in the stored "
               "scores below), recomputed on the points shown; the one-at-a-time view above can change its options.")
    table(best[["algorithm", "params", "k", "n_clusters", "n_noise", "silhouette", "davies_bouldin",
                "calinski_harabasz", "rank"]], f"attention_best_of_each_layer{layer}_{feature_set}",
          key="attn_best_each")
