"""Attention clusters: what each layer's attention groups together (the STS-B attention study)."""
import pandas as pd
import streamlit as st

from analysis import attention_view as av
from analysis.attention import (AGGLO_METRICS, ALGORITHMS, COVARIANCES, COVARIATE_LABELS, LINKAGES, ClusterSpec,
                                parse_ranges)
from ui import attention_charts as ch
from ui import attention_model as model
from ui import attention_sections as sections
from ui import charts, url
from ui import progress

FS_LABELS = {"summary": "summary features → 2-D", "autoencoder": "LSTM autoencoder (the study)"}
EXAMPLES = {"score": "0-0.5, 4.5-5", "length": "9-15, 20-22, 60-81", "structure": "0.95-1"}


def pick():
    """The run, dataset, layer and feature-set boxes of the sidebar."""
    runs = model.runs()
    if runs.empty:
        progress.wait_for("attention")
        st.info("This warehouse has no attention results. Build them with a transformer run, e.g. "
                "`python -m pipeline build --config <toml with the stsb research preset>` (the attention stage runs "
                "by default; `--set attention.per_dataset=1500`, `--set attention.ae_epochs=8`, "
                "`--set attention.enabled=false` skips it). LSTM runs have no attention.")
        st.stop()
    run_id = url.selectbox("Model run", runs["run_id"].tolist(), "run", "attn_run", where=st.sidebar)
    dsets = model.datasets(run_id)
    dataset = url.selectbox("Dataset", dsets["dataset"].tolist(), "dataset", "attn_dataset", where=st.sidebar)
    layers = model.layers(run_id, dataset)
    layer_ids = sorted(layers["layer"].unique().tolist())
    names = dict(zip(layers["layer"], layers["layer_name"]))
    layer = int(url.selectbox("Layer (block)", layer_ids, "layer", "attn_layer", where=st.sidebar,
                              format_func=lambda i: f"{i}: {names[i].replace('.hook_resid_post', '')}",
                              default=len(layer_ids) - 1))
    feature_sets = [f for f in ("summary", "autoencoder") if f in set(layers["feature_set"])]
    feature_set = url.selectbox("Feature set", feature_sets, "features", "attn_features", where=st.sidebar,
                                format_func=FS_LABELS.get)
    return (runs.set_index("run_id").loc[run_id], run_id, dsets.set_index("dataset").loc[dataset], dataset, layers,
            layer, feature_set)


def describe(run, run_id, dinfo, dataset, this, feature_set) -> None:
    st.markdown(f"Run `{run_id}` ({run['model_name']}, {int(run['n_layers']) - 1} blocks × {int(run['n_heads'])} "
                f"heads), dataset `{dataset}`: {int(dinfo['n_items'])} {'pairs' if dinfo['is_pair'] else 'sentences'}"
                + ("" if dinfo["has_score"] else "; no numeric label, so the covariates are length and structure")
                + ". " + (f"Autoencoder training loss (last epoch, standardised inputs): **{this['ae_loss']:.4f}** "
                          f"after {int(this['ae_epochs'])} epochs." if feature_set == "autoencoder"
                          else f"PCA of the {7 * int(run['n_heads'])} summary features; the 2 components explain "
                               f"{this['explained']:.1%} of their variance." if pd.notna(this["explained"]) else
                          "UMAP of the summary features."))
    st.markdown(av.encoder_sentence(dinfo, run["model_name"]))


def clustering(this, layer: int, feature_set: str, points, xy):
    """The clustering boxes of the sidebar; the labels shown and their caption."""
    st.sidebar.markdown("**Clustering**")
    stored_name = f"stored default ({this['algorithm']}, k={int(this['n_clusters'])})" \
        if pd.notna(this["algorithm"]) else "stored default"
    algo = url.selectbox("Algorithm", ["stored"] + list(ALGORITHMS), "algo", f"attn_algo_{layer}_{feature_set}",
                         where=st.sidebar, format_func=lambda a: stored_name if a == "stored" else a)
    spec = None
    if algo != "stored":
        k = st.sidebar.slider("k (clusters)", 2, 15, url.url_int("k", 4, 2, 15), key="attn_k",
                              disabled=algo == "dbscan")
        url.set_params(k=k)
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
    labels = model.labels(points, xy, feature_set, spec)
    live = model.metrics(xy, labels)
    shown = "the stored default: " + str(this["algorithm"]) + " " + str(this["params"] or "") if spec is None \
        else spec.algorithm + " " + spec.params()
    st.caption(f"Clusters shown: {shown} — {live['n_clusters']} clusters, {live['n_noise']} noise points; "
               f"silhouette {live['silhouette']:.3f}, Davies-Bouldin {live['davies_bouldin']:.3f}, "
               f"Calinski-Harabasz {live['calinski_harabasz']:.1f}.")
    return labels


def highlighted(points, xy_cols, covs: list[str], cov_labels: dict, layer: int) -> None:
    st.subheader(f"Layer {layer}: clusters and highlighted ranges")
    url_hl = url.get("hl", None)
    hl_cov = url.selectbox("Highlight by", covs, "hl", "attn_hl", format_func=lambda c: cov_labels[c])
    # the URL's ranges belong to the URL's covariate: another covariate starts from its example ranges
    url_ranges = url.get("ranges", None) if url_hl in (None, hl_cov) else None
    raw = st.text_input("Ranges (comma-separated, e.g. " + EXAMPLES[hl_cov] + ")", url_ranges or EXAMPLES[hl_cov],
                        key=f"attn_ranges_{hl_cov}")
    try:
        ranges = parse_ranges(raw)
        url.set_params(ranges=raw)
    except ValueError as e:
        st.warning(f"Could not read the ranges: {e}")
        ranges = []
    points["highlight"], hl_order = av.highlight(points[hl_cov], ranges)
    # Each chart carries its own copy of the data to the browser: only the columns it draws or shows.
    shown = points[list(dict.fromkeys([*xy_cols, "sentence_id", "cluster", "highlight", *covs, "score", "length",
                                       "structure", "text", "text_b"]))]
    # The cluster names change only with the clustering and the ranges only when edited: few specs per session.
    c1, c2 = st.columns(2)
    charts.show(ch.cluster_scatter, (*xy_cols, av.cluster_order(points["cluster"])),
                {"points": shown.drop(columns="highlight")}, where=c1, width="stretch")
    charts.show(ch.range_scatter, (*xy_cols, tuple(hl_order), cov_labels[hl_cov],
                                   f"Highlighted: {cov_labels[hl_cov]} in {raw}"), {"points": shown}, where=c2,
                width="stretch")
    st.caption("Highlighted items per cluster: " + "; ".join(
        f"{h}: " + ", ".join(f"c{c}={n}" for c, n in row) for h, row in av.highlight_counts(points)))


st.title("Attention clusters")
st.caption("Each layer's attention, per item (an STS-B sentence pair encoded [CLS] a [SEP] b [SEP], or a single "
           "sentence), reduced to 2-D and clustered; do the clusters differ in gold similarity, length or grammatical "
           "structure? (The STS-B attention study: an LSTM autoencoder on the flattened attention, k-means / "
           "agglomerative / GMM / DBSCAN / spectral, Kruskal-Wallis and Mann-Whitney U.)")
run, run_id, dinfo, dataset, layers, layer, feature_set = pick()
cov_labels = COVARIATE_LABELS | {"score": "gold similarity" if dinfo["is_pair"] else "score / label"}
covs = av.covariates(bool(dinfo["has_score"]), bool(dinfo["has_structure"]))
points = model.points(run_id, dataset, layer)
xy_cols, xy = av.coordinates(points, feature_set)
this = layers[(layers["layer"] == layer) & (layers["feature_set"] == feature_set)].iloc[0]
describe(run, run_id, dinfo, dataset, this, feature_set)
sections.definitions(this, layers)
labels = clustering(this, layer, feature_set, points, xy)
points["cluster"] = av.cluster_names(labels)
highlighted(points, xy_cols, covs, cov_labels, layer)
sections.item_link(points, run_id, dataset, layer)
sections.small_multiples(run_id, dataset, points, xy, layer, feature_set)
sections.boxes_and_tests(points, labels, covs, cov_labels, layer)
sections.dataset_figures(points, covs, cov_labels, dataset)
sections.stored_tests(run, run_id, dataset, feature_set, FS_LABELS[feature_set], covs)
sections.quality(layers, run_id, dataset, layer, feature_set)
sections.regression_heads(run_id)
