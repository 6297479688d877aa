"""Outliers (paper Section 5.2.2): are the sentences that top many neurons the layer's most distant ones?"""
import altair as alt
import streamlit as st

from analysis import outliers_view as ov
from ui import charts, data
from ui import outliers_model as model
from ui.db import connection
from ui.direction import select_datasets_and_k
from ui.links import neighbour_table
from ui.selection import select_run
from ui.tables import table
from ui import progress

FRACTION = 0.01  # the paper's "most distant 1%"
PAPER_SHARE = 0.48  # QQP, BERT-base, top 10 of 768 neurons


st.title("Outliers")
st.caption("Paper Section 5.2.2: the sentences that are top-k for many neurons at once. Are they the layer's "
           "outliers, the sentences farthest from the rest of their dataset?")

con = connection()
sel = select_run(con)
progress.wait_for("distances", sel.run_id)
all_ds = data.meta("datasets", sel.run_id)["dataset"].tolist()
max_k = data.meta("stored_topk") or 50
datasets, k = select_datasets_and_k(all_ds, key="out_k", max_k=max_k)

with st.expander("Definitions", expanded=False):
    st.markdown(
        f"""
The paper, for QQP: *"Taking the pairwise Euclidean distances between every QQP sentence, these three sentences
have the highest mean distances. This pattern holds across the entire distribution: the 20 most distant QQP
sentences all have at least 11 top activations and the most distant 1% of sentences account for 48% of all
top activations."*

- **count**: how many neurons of the layer have the sentence among their top-{k} in its dataset.
- **mean distance**: the mean Euclidean distance from the sentence to every other sentence of the same dataset,
  in the layer's full space; **distance rank** 1 is the most distant of its dataset.
- **outlier share**: the most distant 1% of each dataset (rounded up, at least one sentence) are its outliers;
  the share is the top-{k} slots they hold over all top-{k} slots (neurons × {k} per dataset). Over several
  datasets the slots are pooled. If distance did not matter the share would be about 1%.
""")

dist = model.distances(sel, datasets)
members = model.membership(sel, datasets, k)
if members.empty:
    st.warning("No top-k lists are stored for this run, layer and pooling.")
    st.stop()
df = ov.counted(dist, members)
per, share = ov.per_dataset(df, FRACTION)

m1, m2, m3 = st.columns(3)
m1.metric(f"Top-{k} slots held by the most distant 1%", f"{share:.1%}")
m2.metric(f"Top-{k} slots", f"{int(per['slots'].sum()):,}")
m3.metric("Unique top-k sentences", f"{int(per['unique_topk_sentences'].sum()):,}")
n_out = int(per["outliers"].sum())
st.markdown(
    f"**Here:** the {n_out} most distant sentences (1% of each of {len(datasets)} dataset(s), layer {sel.layer} "
    f"{sel.layer_name}, {sel.pooling}) hold **{share:.1%}** of all top-{k} slots, {share / FRACTION:.1f}× "
    f"what 1% of sentences would hold if distance did not matter.  \n"
    f"**Paper:** on QQP (BERT-base, top 10 of 768 neurons) the most distant 1% hold **48%** of the top "
    f"activations; the three sentences that top the most neurons (56, 40 and 32 top activations) are the three "
    f"with the highest mean distance, and the 20 most distant all have at least 11. "
    + ("This layer shows the same concentration, if weaker." if 0.1 <= share < PAPER_SHARE else
       "This layer matches or exceeds the paper's concentration." if share >= PAPER_SHARE else
       "This layer shows much less concentration than the paper."))

st.markdown("**Per dataset**")
table(per, "outlier_shares", key="out_per")

st.markdown(f"**Sentences that are top-{k} for the most neurons**")
neighbour_table(ov.most_counted(df), sel, "topk_outliers", key="out_top")
plot, cut, rho = ov.scatter(df, per, FRACTION)


def outlier_chart(k: int):
    points = alt.Chart(alt.NamedData("plot")).mark_circle(opacity=0.5).encode(
        x=alt.X("distance_rank:Q", scale=alt.Scale(type="log"),
                title="mean-distance rank in its dataset (1 = most distant)"),
        y=alt.Y("count:Q", title=f"neurons with the sentence in their top-{k}"),
        color=alt.Color("dataset:N"),
        tooltip=["dataset:N", "sentence_id:Q", "count:Q", "distance_rank:Q", "sentences:Q", "text:N"],
    )
    rules = alt.Chart(alt.NamedData("cut")).mark_rule(strokeDash=[4, 4]).encode(x="distance_rank:Q",
                                                                                   color="dataset:N")
    return (points + rules).properties(height=320)


charts.show(outlier_chart, (int(k),), {"plot": plot, "cut": cut}, width="stretch")
st.caption("Every sentence that is top-k at least once; dashed lines: each dataset's most distant 1% lie to "
           f"their left. Spearman correlation of count with distance rank over these sentences: "
           f"{rho:.2f} "
           "(negative: the more distant, the more neurons).")
