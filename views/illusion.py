"""Illusion score: which neurons' top sentences agree across datasets more than random directions' do."""
import streamlit as st

from ui import charts, url
from ui import illusion_model as im
from ui import data
from ui.db import connection
from ui.direction import select_datasets_and_k
from ui.selection import select_drop, select_run
from ui.tables import details, table
from ui import progress

st.title("Illusion score")
st.caption("Do a neuron's top sentences in different datasets lie in the same region of the layer's space, more "
           "than the top sentences of a direction chosen at random do?")

con = connection()
sel = select_run(con)
progress.wait_for("illusion_null", sel.run_id)
all_ds = data.meta("datasets", sel.run_id)["dataset"].tolist()
datasets, k = select_datasets_and_k(all_ds, key="ill_k")
if len(datasets) < 2:
    st.info("The illusion score compares datasets: choose at least two.")
    st.stop()
alpha = url.selectbox("False discovery rate q", im.LEVELS, "q", key="ill_q", where=st.sidebar, default=1)
drop = select_drop(sel.run_id, key="ill_drop")

with st.expander("Definition", expanded=False):
    st.markdown(
        f"""
For a direction *v* of the layer and each dataset *D*, take the top-{k} sentences of *D* by their projection on
*v* (for neuron *u*, its activation; ties to the lower sentence id) and their centroid *c_D(v)* in the layer's
full space, after centring (the mean of all sentences is subtracted), with *v* itself projected out: the top set
is high along *v* by construction.

- **consistency(v)**: the mean over all pairs of datasets of the cosine between *c_A(v)* and *c_B(v)*.
- **Against random directions** (the headline): the same statistic for seeded random unit directions of the
  same layer. *percentile*: the share of random directions a neuron beats; *z_null* = (consistency − their
  mean) / their std; *p_value* = (1 + #random ≥ consistency) / (1 + #random); *q_value*: Benjamini-Hochberg
  across the layer's neurons. A neuron passes when q_value ≤ q.
- **Against random sentences** (*robustness*, the earlier score): the same statistic for {k} sentences drawn at
  random from each dataset, 20 seeded draws, as a z-score. Selecting on any direction also selects the
  coordinates correlated with it, so nearly every neuron beats random sentences: it cannot name an illusion.
""")

tab, null, info = im.scores(sel, datasets, k, drop)
if drop:
    st.caption(f"Each dataset's most distant {drop}% of sentences are left out (the study's outlier check); the "
               "scores and the random-direction null are computed here on the rest.")
where = f"layer {sel.layer} ({sel.layer_name}), {sel.pooling}, over {', '.join(datasets)}"
if info is None:
    st.warning("No random direction of this layer keeps a top-set centroid once its own direction is projected "
               "out (every vector points the same way, as [CLS] does at the embedding output): the direction "
               "null cannot be drawn here, so only the sentence baseline is shown.")
    rank_by = "robustness"
else:
    s = im.summary(tab, info, alpha)
    st.subheader(s["verdict"][0].upper() + s["verdict"][1:] + ".")
    st.caption(f"{where}; {info['n_null']:,} {info['kind']} random directions (seed {info['seed']}). The "
               f"smallest p-value they allow is {s['p_floor']:.4f}, so at least {s['min_joint_pass']} neurons "
               f"must pass together for any to pass at q = {alpha:g}.")
    charts.show(im.distribution_chart, (), {"dist": im.distributions(tab, null)}, width="stretch")
    st.caption("The neurons' consistency and the random directions', each as a share of its own count. A "
               "neuron to the right of the grey mass agrees across datasets more than a blind direction does.")
    rank_by = "z_null"

link = {"explore": st.column_config.LinkColumn("explorer", display_text="open"),
        "robustness": st.column_config.NumberColumn("z vs random sentences", format="%.1f"),
        "z_null": st.column_config.NumberColumn("z vs random directions", format="%.2f")}
top, bottom = im.ranked(tab, rank_by)
left, right = st.columns(2)
with left:
    st.markdown("**Most consistent neurons**")
    table(top, "illusion_most_consistent", key="ill_robust", column_config=link)
with right:
    st.markdown("**Most illusory neurons**")
    table(bottom, "illusion_most_illusory", key="ill_illusory", column_config=link)

with st.expander("Against random sentences (the earlier score)", expanded=False):
    charts.show(im.robustness_chart, (), {"scores": tab[["robustness"]]}, width="stretch")
    st.caption(f"{len(tab)} neurons of {where}; median robustness {tab['robustness'].median():.1f}.")
table(tab, "illusion_scores", key="ill_all", column_config=link)

dictionaries = im.dictionaries_of(sel.run_id)
if len(dictionaries):
    st.header("Dictionary features against neurons and random directions")
    ids = dictionaries["run_id"].tolist()
    chosen = url.selectbox("Dictionary run", ids, "dict", key="ill_dict") if len(ids) > 1 else ids[0]
    d = dictionaries[dictionaries["run_id"] == chosen].iloc[0].to_dict()
    runs = data.meta("runs")["run_id"].tolist()
    feature_pools = list(d["poolings"])
    base_pools = list(data.run_info(d["base_run_id"])["poolings"]) if d["base_run_id"] in runs else ["mean"]
    left, middle, right = st.columns(3)
    fpool = url.selectbox("Feature pooling", feature_pools, "dpool", key="ill_dpool", where=left,
                          default=feature_pools.index("mean") if "mean" in feature_pools else 0)
    npool = url.selectbox("Neuron pooling", base_pools, "npool", key="ill_npool", where=middle,
                          default=base_pools.index("mean") if "mean" in base_pools else 0)
    score = url.selectbox("Score", list(im.SCORE_TITLES), "dscore", key="ill_dscore", where=right,
                          format_func=im.SCORE_TITLES.get)
    values, tests, quality, density = im.dictionary_comparison(d, fpool, npool, score)
    st.caption(f"Are the {d['n_features']:,} features of {d['run_id']} ({d['kind']}, {d['origin']}, on "
               f"{d['site']} of {d['base_run_id']}) more robust across datasets than that layer's {d['d_in']} neurons "
               f"and than its random directions? The build's stored top-set consistency over all datasets "
               f"(k = {im.DICTIONARY_K}): features pooled by {fpool}, neurons and random directions by {npool}. "
               f"Mann-Whitney U at 0.05. A feature's consistency is measured in the features' space and a "
               f"neuron's in the layer's: the z score sets each against random directions of its own space.")
    for line in tests["verdict"]:
        st.markdown(f"**{line}**")
    if len(values):
        charts.show(im.comparison_chart, (score,), {"values": values}, width="stretch")
        charts.show(im.comparison_box_chart, (score,), {"values": values}, width="stretch")
    table(tests, "dictionary_comparison", key="ill_dict_tests")
    st.markdown("**Reconstruction and density per dataset**")
    table(quality, "dictionary_quality", key="ill_dict_quality")
    if len(density):
        charts.show(im.density_chart, (), {"density": density}, width="stretch")
    box, shown = details("Every score compared", key="ill_dict_values")
    if shown:
        with box:
            table(values, "dictionary_scores", key="ill_dict_values_table", column_config=link)
