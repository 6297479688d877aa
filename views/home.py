"""Home: what this warehouse holds (run, datasets with examples), how it was built, and a sentence search."""
import altair as alt
import streamlit as st

from ui import charts, data, progress, url
from ui.db import connection
from ui.selection import select_run
from ui.tables import table
from warehouse import queries

st.title("Illusion Lab")
st.caption("Does what a neuron seems to mean on one dataset survive on another? "
           "This warehouse holds one or more model runs over several datasets.")

con = connection()
progress.note_running()
sel = select_run(con, layer=False, pooling=False)  # the home page is about the run
run = sel.run

st.subheader(f"Run `{sel.run_id}`")
cols = st.columns([3, 1, 1, 1, 1])
cols[0].metric("Model", run["model_name"].split("/")[-1], help=run["model_name"])
cols[1].metric("Layers stored", int(run["n_layers"]))
cols[2].metric("Hidden size", int(run["hidden_size"]))
cols[3].metric("Heads", "—" if run["n_heads"] is None or run["n_heads"] != run["n_heads"] else int(run["n_heads"]))
cols[4].metric("Max length", int(run["max_length"]))
st.caption(f"{run['model_kind']} · poolings: {', '.join(run['poolings'])} · loaded from `{run['model_path']}` · "
           f"code {run['code_version']} · built {run['built_at']:%Y-%m-%d %H:%M} UTC")

st.subheader("Datasets")
ds = data.meta("datasets", sel.run_id)


def datasets_chart(height: int):
    return alt.Chart(alt.NamedData("ds")).mark_bar().encode(
        x=alt.X("n_sentences:Q", title="sentences"),
        y=alt.Y("dataset:N", sort="-x", title=None, axis=alt.Axis(labelLimit=240, labelOverlap=False)),
        color=alt.Color("label_kind:N", title="label"),
        tooltip=["dataset:N", "n_sentences:Q", "label_kind:N", "mean_tokens:Q", "description:N"],
    ).properties(height=height)


charts.show(datasets_chart, (max(120, 36 * len(ds)),),
            {"ds": ds[["dataset", "n_sentences", "label_kind", "mean_tokens", "description"]]}, width="stretch")
st.markdown(f"**{len(ds)} datasets, {int(ds['n_sentences'].sum()):,} sentences in all.** "
            f"Lengths are in `{sel.run_id}`'s own units (tokens incl. special tokens, or characters).")
table(ds[["dataset", "description", "source", "label_kind", "n_sentences", "mean_tokens", "n_truncated",
          "has_pairs"]], "datasets", key="datasets_table")

st.subheader("Example sentences")
ex = queries.examples(con, per_dataset=3)
for name, group in ex.groupby("dataset", sort=True):
    with st.expander(f"{name}", expanded=False):
        for row in group.itertuples():
            label = "" if row.label != row.label else f"  ·  label {row.label:g}"
            if row.label_text:
                label = f"  ·  {row.label_text}"
            st.markdown(f"- {row.text}  \n  <small>#{row.sentence_id}{label}</small>", unsafe_allow_html=True)

st.subheader("Search sentences")
q_default = url.get("q")
c1, c2 = st.columns([2, 1])
pattern = c1.text_input("Text contains", value=q_default, key="search_q", placeholder="e.g. beverage")
chosen = c2.multiselect("In datasets", ds["dataset"].tolist(), key="search_ds")
url.set_params(q=pattern)
if pattern:
    hits = queries.search_sentences(con, pattern, chosen, limit=500)
    st.caption(f"{len(hits)} matches" + (" (first 500)" if len(hits) == 500 else ""))
    table(hits, "search", key="search_table")

st.subheader("How this warehouse was built")
log = queries.stage_log(con)
table(log, "stage_log", key="stage_table")
with st.expander("Manifest (schema version, code version, config)"):
    table(queries.manifest(con), "manifest", key="manifest_table")
