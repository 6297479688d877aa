"""Attention clusters: what each layer's attention groups together (the STS-B attention study)."""
import altair as alt
import duckdb
import numpy as np
import pandas as pd
import streamlit as st

from analysis.attention import (AGGLO_METRICS, ALGORITHMS, COVARIANCES, COVARIATE_LABELS, LINKAGES, ClusterSpec,
                                cluster, cluster_metrics, in_ranges, parse_ranges, statement, study_check,
                                covariate_tests)
from ui import charts
from ui.db import connection
from ui.tables import details, table
from ui.selection import set_params
from warehouse import queries

st.title("Attention clusters")
st.caption("Each layer's attention, per item (an STS-B sentence pair encoded [CLS] a [SEP] b [SEP], or a single "
           "sentence), reduced to 2-D and clustered; do the clusters differ in gold similarity, length or grammatical "
           "structure? (The STS-B attention study: an LSTM autoencoder on the flattened attention, k-means / "
           "agglomerative / GMM / DBSCAN / spectral, Kruskal-Wallis and Mann-Whitney U.)")

con = connection()


@st.cache_data(max_entries=64, show_spinner=False)
def _metrics(xy: np.ndarray, labels: np.ndarray) -> dict:
    # a pure function of the points and labels shown: a rerun that only redraws does not recompute it
    return cluster_metrics(xy, labels)


@st.cache_data(max_entries=64, show_spinner=False)
def _tests(covariates: pd.DataFrame, labels: np.ndarray):
    return covariate_tests(covariates, labels)


def url_select(label: str, options: list, param: str, key: str, where=st.sidebar, fmt=None, default=0):
    """A selectbox whose value comes from and goes back to st.query_params[param] (unknown values: default)."""
    current = st.query_params.get(param)
    names = [str(o) for o in options]
    index = names.index(current) if current in names else default
    value = where.selectbox(label, options, index=index, key=key, format_func=fmt or str)
    set_params(**{param: str(value)})
    return value


try:
    runs = queries.attention_runs(con)
except duckdb.CatalogException:
    runs = pd.DataFrame()
if runs.empty:
    st.info("This warehouse has no attention results. Build them with a transformer run, e.g. "
            "`python -m pipeline build --config <toml with the stsb research preset>` (the attention stage runs "
            "by default; `--set attention.per_dataset=1500`, `--set attention.ae_epochs=8`, "
            "`--set attention.enabled=false` skips it). LSTM runs have no attention.")
    st.stop()

run_id = url_select("Model run", runs["run_id"].tolist(), "run", "attn_run")
run = runs.set_index("run_id").loc[run_id]
dsets = queries.attention_datasets(con, run_id)
dataset = url_select("Dataset", dsets["dataset"].tolist(), "dataset", "attn_dataset")
dinfo = dsets.set_index("dataset").loc[dataset]
layers = queries.attention_layers(con, run_id, dataset)
layer_ids = sorted(layers["layer"].unique().tolist())
layer_names = dict(zip(layers["layer"], layers["layer_name"]))
layer = int(url_select("Layer (block)", layer_ids, "layer", "attn_layer",
                       fmt=lambda i: f"{i}: {layer_names[i].replace('.hook_resid_post', '')}",
                       default=len(layer_ids) - 1))
feature_sets = [f for f in ("summary", "autoencoder") if f in set(layers["feature_set"])]
fs_labels = {"summary": "summary features → 2-D", "autoencoder": "LSTM autoencoder (the study)"}
feature_set = url_select("Feature set", feature_sets, "features", "attn_features", fmt=fs_labels.get)

score_label = "gold similarity" if dinfo["is_pair"] else "score / label"
cov_labels = COVARIATE_LABELS | {"score": score_label}
covs = ["score", "length", "structure"] if dinfo["has_score"] else ["length", "structure"]
if not dinfo["has_structure"]:
    covs.remove("structure")

points = queries.attention_points(con, run_id, dataset, layer)
xy_cols = ("sx", "sy") if feature_set == "summary" else ("ax", "ay")
xy = points[list(xy_cols)].to_numpy(dtype=np.float64)
this = layers[(layers["layer"] == layer) & (layers["feature_set"] == feature_set)].iloc[0]

st.markdown(f"Run `{run_id}` ({run['model_name']}, {int(run['n_layers']) - 1} blocks × {int(run['n_heads'])} heads), "
            f"dataset `{dataset}`: {int(dinfo['n_items'])} {'pairs' if dinfo['is_pair'] else 'sentences'}"
            + ("" if dinfo["has_score"] else "; no numeric label, so the covariates are length and structure")
            + ". " + (f"Autoencoder training loss (last epoch, standardised inputs): **{this['ae_loss']:.4f}** after "
                      f"{int(this['ae_epochs'])} epochs." if feature_set == "autoencoder"
                      else f"PCA of the {7 * int(run['n_heads'])} summary features; the 2 components explain "
                           f"{this['explained']:.1%} of their variance." if pd.notna(this["explained"]) else
                      "UMAP of the summary features."))

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


def pcols(df: pd.DataFrame) -> dict:
    """p-values in scientific notation (they reach 1e-280 here); everything else as Streamlit shows it."""
    return {c: st.column_config.NumberColumn(format="%.2e") for c in df.columns
            if c in ("p", "p_holm", "kw_p", "mw_min_p", "mw_max_p")}


# ---------------------------------------------------------------------------------------------------------
st.sidebar.markdown("**Clustering**")
stored_name = f"stored default ({this['algorithm']}, k={int(this['n_clusters'])})" if pd.notna(this["algorithm"]) \
    else "stored default"
algo = url_select("Algorithm", ["stored"] + list(ALGORITHMS), "algo", f"attn_algo_{layer}_{feature_set}",
                  fmt=lambda a: stored_name if a == "stored" else a)
spec = None
if algo != "stored":
    k = st.sidebar.slider("k (clusters)", 2, 15, int(st.query_params.get("k", 4)) if
                          str(st.query_params.get("k", "4")).isdigit() and 2 <= int(st.query_params.get("k", 4)) <= 15
                          else 4, key="attn_k", disabled=algo == "dbscan")
    set_params(k=str(k))
    opts = {}
    if algo == "agglomerative":
        opts["linkage"] = st.sidebar.selectbox("Linkage", LINKAGES, key="attn_linkage")
        opts["metric"] = st.sidebar.selectbox("Distance", AGGLO_METRICS, key="attn_metric",
                                              disabled=opts["linkage"] == "ward",
                                              help="Ward linkage needs the euclidean distance.")
    elif algo == "gmm":
        opts["covariance"] = st.sidebar.selectbox("Covariance", COVARIANCES, key="attn_cov")
    elif algo == "dbscan":
        opts["eps"] = st.sidebar.slider("eps (standardised units)", 0.05, 1.5, 0.3, 0.05, key="attn_eps")
        opts["min_samples"] = st.sidebar.slider("min_samples", 2, 50, 10, key="attn_minpts")
    spec = ClusterSpec(algo, k, **opts)
    labels = cluster(xy, spec)
else:
    labels = points[f"cluster_{feature_set}"].to_numpy()
points["cluster"] = np.where(labels < 0, "noise", labels.astype(str))
live = _metrics(xy, labels)
st.caption(f"Clusters shown: {'the stored default: ' + str(this['algorithm']) + ' ' + str(this['params'] or '') if spec is None else spec.algorithm + ' ' + spec.params()} "
           f"— {live['n_clusters']} clusters, {live['n_noise']} noise points; silhouette {live['silhouette']:.3f}, "
           f"Davies-Bouldin {live['davies_bouldin']:.3f}, Calinski-Harabasz {live['calinski_harabasz']:.1f}.")

# ---------------------------------------------------------------------------------------------------------
st.subheader(f"Layer {layer}: clusters and highlighted ranges")
url_hl = st.query_params.get("hl")
hl_cov = url_select("Highlight by", covs, "hl", "attn_hl", where=st, fmt=lambda c: cov_labels[c])
examples = {"score": "0-0.5, 4.5-5", "length": "9-15, 20-22, 60-81", "structure": "0.95-1"}
# the URL's ranges belong to the URL's covariate: another covariate starts from its example ranges
url_ranges = st.query_params.get("ranges") if url_hl in (None, hl_cov) else None
raw = st.text_input("Ranges (comma-separated, e.g. " + examples[hl_cov] + ")", url_ranges or examples[hl_cov],
                    key=f"attn_ranges_{hl_cov}")
try:
    ranges = parse_ranges(raw)
    set_params(ranges=str(raw))
except ValueError as e:
    st.warning(f"Could not read the ranges: {e}")
    ranges = []
which = in_ranges(points[hl_cov].to_numpy(dtype=np.float64), ranges)
points["highlight"] = [f"{ranges[i][0]:g}–{ranges[i][1]:g}" if i >= 0 else "other" for i in which]
hl_order = [f"{lo:g}–{hi:g}" for lo, hi in ranges] + ["other"]
# Each chart carries its own copy of the data to the browser: only the columns it draws or shows.
shown = points[list(dict.fromkeys([*xy_cols, "sentence_id", "cluster", "highlight", *covs, "score", "length",
                                   "structure", "text", "text_b"]))]


def cluster_scatter(x: str, y: str, clusters: tuple):
    return alt.Chart(alt.NamedData("points")).mark_circle(size=22, opacity=0.75).encode(
        x=alt.X(f"{x}:Q", title="dim 1"), y=alt.Y(f"{y}:Q", title="dim 2"),
        color=alt.Color("cluster:N", sort=list(clusters), scale=alt.Scale(scheme="tableau10")),
        tooltip=["sentence_id:Q", "cluster:N", "score:Q", "length:Q", alt.Tooltip("structure:Q", format=".2f"),
                 "text:N", "text_b:N"],
    ).properties(title="Coloured by cluster", height=380)


def range_scatter(x: str, y: str, hl_order: tuple, legend: str, title: str):
    palette = ["#d62728", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"]
    return alt.Chart(alt.NamedData("points")).mark_circle(size=22).encode(
        x=alt.X(f"{x}:Q", title="dim 1"), y=alt.Y(f"{y}:Q", title="dim 2"),
        color=alt.Color("highlight:N", sort=list(hl_order), scale=alt.Scale(
            domain=list(hl_order), range=palette[:len(hl_order) - 1] + ["#dddddd"]), title=legend),
        opacity=alt.condition(alt.datum.highlight == "other", alt.value(0.3), alt.value(0.95)),
        order=alt.Order("highlight_rank:Q"),
        tooltip=["sentence_id:Q", "cluster:N", "score:Q", "length:Q", alt.Tooltip("structure:Q", format=".2f"),
                 "text:N", "text_b:N"],
    ).transform_calculate(highlight_rank="datum.highlight == 'other' ? 0 : 1").properties(title=title, height=380)


# The cluster names change only with the clustering and the ranges only when edited: few specs per session.
clusters = tuple(sorted(points["cluster"].unique(), key=lambda c: (c == "noise", len(c), c)))
c1, c2 = st.columns(2)
charts.show(cluster_scatter, (*xy_cols, clusters), {"points": shown.drop(columns="highlight")}, where=c1,
            width="stretch")
hl_title = f"Highlighted: {cov_labels[hl_cov]} in {raw}"
charts.show(range_scatter, (*xy_cols, tuple(hl_order), cov_labels[hl_cov], hl_title), {"points": shown}, where=c2,
            width="stretch")
counts = points.groupby(["highlight", "cluster"]).size().unstack(fill_value=0)
st.caption("Highlighted items per cluster: " + "; ".join(
    f"{h}: " + ", ".join(f"c{c}={n}" for c, n in row.items() if n) for h, row in counts.iterrows() if h != "other"))

st.markdown("**Box plots per cluster**")


def cluster_box(field: str, label: str):
    return alt.Chart(alt.NamedData("box")).mark_boxplot(extent=1.5).encode(
        x=alt.X("cluster:N", title="cluster"), y=alt.Y(f"{field}:Q", title=label),
        color=alt.Color("cluster:N", legend=None)).properties(title=label, height=260)


cols = st.columns(len(covs))
for col, c in zip(cols, covs):
    charts.show(cluster_box, (c, cov_labels[c]), {"box": points[["cluster", c]]}, where=col, width="stretch")

if len(covs) > 1:
    rho = points[covs].corr(method="spearman")
    st.caption("Covariates are not independent: a split along one also separates those correlated with it. "
               "Spearman ρ here: " + "; ".join(f"{cov_labels[a]} vs {cov_labels[b]} {rho.loc[a, b]:+.2f}"
                                               for i, a in enumerate(covs) for b in covs[i + 1:]) + ".")
live_tests, live_pairs = _tests(points[covs], labels)
st.markdown("**Tests on the clusters shown** (recomputed live)")
table(live_tests, f"attention_live_tests_layer{layer}", key="attn_live_tests", column_config=pcols(live_tests))
box, is_open = details("Pairwise Mann-Whitney U (Holm-corrected)", key="attn_pairs_open")
if is_open:
    with box:
        table(live_pairs, f"attention_live_pairs_layer{layer}", key="attn_live_pairs",
              column_config=pcols(live_pairs))

# ---------------------------------------------------------------------------------------------------------
st.subheader("Every layer: the stored tests (the study's Table 5)")
tests = queries.attention_tests(con, run_id, dataset)
mine = tests[tests["feature_set"] == feature_set]
pivot = mine.pivot_table(index="layer", columns="covariate", values=["kw_p", "eta2", "mw_min_p"]).sort_index()
pivot.columns = [f"{c} {v}" for v, c in pivot.columns]
pivot = pivot.reset_index()[["layer"] + [f"{c} {v}" for c in covs for v in ("kw_p", "eta2", "mw_min_p")
                                         if f"{c} {v}" in pivot.columns]]
st.caption(f"Per layer, on the stored default clusters of the {fs_labels[feature_set]}: Kruskal-Wallis p, its effect "
           "size η², and the smallest Holm-adjusted pairwise Mann-Whitney p.")
table(pivot, f"attention_table5_{feature_set}", key="attn_table5",
      column_config={c: st.column_config.NumberColumn(format="%.2e" if c.endswith("_p") else "%.3f")
                     for c in pivot.columns if c.endswith("_p") or c.endswith("eta2")})
table(mine, f"attention_tests_{feature_set}", key="attn_tests", column_config=pcols(mine))
st.markdown(statement(mine))
n_blocks = int(run["n_layers"]) - 1
check = study_check(mine, n_blocks)
st.markdown("**The study's findings on this run**")
if check.empty:
    st.markdown("Nothing to check: the dataset has no score covariate and/or no length variation.")
else:
    st.markdown("\n".join(f"- {'✅ holds' if r.holds else '❌ does not hold'}: **{r.finding}**. Here: {r.measured}."
                          for r in check.itertuples()))
    if not check["holds"].all():
        st.info("Where a finding does not hold, that is the result on this model, not an error: the study used "
                "BERT-base fine-tuned on STS-B (12 blocks), here the encoder is frozen and may differ (MiniLM-L6 is "
                "a 6-block sentence-embedding model distilled for mean pooling). Relative depth is compared, so "
                "layer 6 of 12 corresponds to block 3 of 6.")

eta = mine.pivot_table(index="layer", columns="covariate", values="eta2").reset_index().melt(
    id_vars="layer", var_name="covariate", value_name="eta2")


def eta_chart():
    return alt.Chart(alt.NamedData("eta")).mark_line(point=True).encode(
        x=alt.X("layer:O"), y=alt.Y("eta2:Q", title="Kruskal-Wallis η²"),
        color=alt.Color("covariate:N", title=None)).properties(title="How strongly each layer's clusters separate "
                                                                     "each covariate", height=240)


charts.show(eta_chart, (), {"eta": eta}, width="stretch")

st.subheader("Cluster quality")
st.caption("The stored default per layer (lowest consensus rank), then every clustering scored for the selected layer.")
chosen = layers[layers["feature_set"] == feature_set].drop(columns=["top_structure"])
table(chosen, f"attention_layers_{feature_set}", key="attn_layers_tbl")
quality = queries.attention_quality(con, run_id, dataset)
table(quality[(quality["layer"] == layer) & (quality["feature_set"] == feature_set)],
      f"attention_quality_layer{layer}_{feature_set}", key="attn_quality_tbl")
best = quality[quality["feature_set"] == feature_set].dropna(subset=["rank"]).sort_values("rank").groupby(
    ["layer", "algorithm"]).head(1)
box, is_open = details("Best of each algorithm per layer (per layer × algorithm)", key="attn_best_open")
if is_open:
    with box:
        table(best.sort_values(["layer", "rank"]), f"attention_quality_by_algorithm_{feature_set}",
              key="attn_best_tbl")

st.subheader("Regression heads (the study's Table 3)")
heads = queries.attention_heads(con, run_id)
if heads.empty:
    st.info("No regression heads: they need a pair dataset with score labels and a train and a test split "
            "(e.g. the `stsb` research preset) and `attention.heads = true`.")
else:
    table(heads, "attention_heads", key="attn_heads")
    for ds, g in heads.groupby("dataset"):
        top = g.loc[g["pearson"].idxmax()]
        cls = g[g["head"] == "cls"]
        note = ""
        if not cls.empty and top["head"] != "cls":
            note = (f" The study found [CLS] hard to beat (fine-tuned BERT); on this frozen encoder [CLS] reaches "
                    f"r = {float(cls['pearson'].iloc[0]):.3f}, so that finding does not reproduce here.")
        st.markdown(f"`{ds}`: best head **{top['head']}** (Pearson {top['pearson']:.3f}, Spearman "
                    f"{top['spearman']:.3f}, MSE {top['mse']:.3f}; {int(top['n_train'])} train / "
                    f"{int(top['n_test'])} test pairs, frozen encoder)." + note)
