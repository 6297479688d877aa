"""Illusion score: which neurons' top sentences agree across datasets, and which only seem to mean something."""
import urllib.parse

import altair as alt
import streamlit as st

from ui import charts, data
from ui.db import connection
from ui.direction import select_datasets_and_k
from ui.selection import select_run
from ui.tables import table

st.title("Illusion score")
st.caption("One number per neuron: do its top sentences in different datasets lie in the same region of the "
           "layer's space, more than random sentences of those datasets do?")

con = connection()
sel = select_run(con)
all_ds = data.meta("datasets", sel.run_id)["dataset"].tolist()
datasets, k = select_datasets_and_k(all_ds, key="ill_k")
if len(datasets) < 2:
    st.info("The illusion score compares datasets: choose at least two.")
    st.stop()

with st.expander("Definition", expanded=False):
    st.markdown(
        f"""
For neuron *u* and each dataset *D*, take the top-{k} sentences of *D* by activation of *u* (ties to the lower
sentence id) and their centroid *c_D(u)* in the layer's full space, after centring the space (the mean of all
sentences is subtracted: contextual embeddings share a large offset).

- **consistency(u)**: the mean over all pairs of datasets of the cosine between *c_A(u)* and *c_B(u)*, computed
  over every coordinate except *u* itself (the top set of *u* is high on *u* by construction).
- **baseline(u)**: the same statistic for {k} sentences drawn at random from each dataset, 20 seeded draws.
- **robustness(u)** = (consistency − baseline mean) / baseline std, a z-score. High: the neuron's top sentences
  of every dataset point to the same region (its meaning is more likely to transfer). Low: they agree no more
  than random sentences do (an illusion candidate).

Selecting sentences by one direction also selects the coordinates correlated with it, so on a real model most
neurons score above 0; read the ranking, not the sign.
""")

scores = data.illusion(sel.run_id, sel.layer, sel.pooling, datasets, k)
base = {"run": sel.run_id, "layer": sel.layer, "pooling": sel.pooling, "ds": ",".join(datasets), "k": k}
scores = scores.assign(explore=[f"/drift?{urllib.parse.urlencode({**base, 'unit': int(u)})}"
                                for u in scores["unit"]])


def robustness_chart():
    return alt.Chart(alt.NamedData("scores")).mark_bar().encode(
        x=alt.X("robustness:Q", bin=alt.Bin(maxbins=40), title="robustness (z-score vs random sets)"),
        y=alt.Y("count():Q", title="neurons"),
    ).properties(height=200)


charts.show(robustness_chart, (), {"scores": scores[["robustness"]]}, width="stretch")
st.caption(f"{len(scores)} neurons of layer {sel.layer} ({sel.layer_name}), {sel.pooling}, over "
           f"{', '.join(datasets)}; median robustness {scores['robustness'].median():.1f}.")
link = {"explore": st.column_config.LinkColumn("explorer", display_text="open")}
left, right = st.columns(2)
with left:
    st.markdown("**Most robust neurons**")
    st.dataframe(scores.nlargest(15, "robustness"), hide_index=True, column_config=link, key="ill_robust")
with right:
    st.markdown("**Most illusory neurons**")
    st.dataframe(scores.nsmallest(15, "robustness"), hide_index=True, column_config=link, key="ill_illusory")
table(scores, "illusion_scores", key="ill_all", column_config=link)
