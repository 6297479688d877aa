"""Nearest sentences: the k stored sentences closest by cosine to a stored sentence (or typed text), per dataset."""
import streamlit as st

from ui import charts, data, url
from ui import neighbours_model as nm
from ui.db import connection
from ui.links import neighbour_columns, with_neighbour_links
from ui.selection import select_run
from ui.url import set_params
from ui.tables import table

st.title("Nearest sentences")
st.caption("The sentences of each dataset whose vectors are closest to one sentence (cosine similarity, exact "
           "search over every stored vector) in the chosen run, layer and pooling: what the model treats as "
           "alike, within and across datasets.")

con = connection()
sel = select_run(con)
meta = data.meta("datasets", sel.run_id)
sizes = dict(zip(meta["dataset"], meta["n_sentences"].astype(int)))
all_ds = list(sizes)
qp = st.query_params

c1, c2 = st.columns([4, 1])
wanted = [d for d in qp.get("within", "").split(",") if d in all_ds] or all_ds
datasets = c1.multiselect("Neighbours from the datasets", all_ds, default=wanted, key="nn_within")
with c2:
    k = url.number_input("k", "k", 10, 1, 100, key="nn_k")
if not datasets:
    st.info("Choose at least one dataset to search.")
    st.stop()
set_params(within=",".join(datasets))

live = nm.live_available()
modes = {"stored": "A stored sentence", "typed": "Typed text"}
mode = st.radio("Query", list(modes), format_func=modes.get, horizontal=True, key="nn_mode", disabled=not live,
                index=1 if live and qp.get("text") else 0)
if not live:
    st.caption(nm.LIVE_MISSING)

if mode == "stored":
    set_params(text=None)
    with st.expander("Find a sentence by its words", expanded=False):
        pattern = st.text_input("Words (any case)", key="nn_find", placeholder="e.g. river")
        if pattern.strip():
            hits = nm.search(pattern, all_ds)
            labels = {f"{d}\t{i}": f"{d} #{i}: {t}" for d, i, t in zip(hits["dataset"], hits["sentence_id"],
                                                                         hits["text"])}
            st.selectbox(f"{len(hits)} match(es)" + (f" (the first {nm.SEARCH_LIMIT})" if len(hits) >=
                         nm.SEARCH_LIMIT else ""), list(labels), format_func=labels.get, index=None,
                         key="nn_hit", on_change=nm.pick_hit, placeholder="choose one to make it the query")
    ds_url = qp.get("ds", all_ds[0])
    if ds_url not in sizes:
        st.error(f"ds={ds_url!r}: no such dataset in this run (one of {', '.join(all_ds)}).")
        st.stop()
    a, b = st.columns([1, 1])
    dataset = a.selectbox("Dataset of the query sentence", all_ds, index=all_ds.index(ds_url), key="nn_ds")
    raw = qp.get("sid", "0") if dataset == ds_url else "0"
    n = sizes[dataset]
    sid = int(raw) if raw.strip().lstrip("-").isdigit() else None
    text = nm.sentence_text(dataset, sid) if sid is not None and 0 <= sid < n else None
    if text is None:
        st.error(f"sid={raw!r}: {dataset} has no such sentence (ids run from 0 to {n - 1}).")
        st.stop()
    sid = int(b.number_input(f"Sentence id (0 to {n - 1})", 0, n - 1, sid, key=f"nn_sid_{dataset}"))
    set_params(ds=dataset, sid=str(sid))
    text = nm.sentence_text(dataset, sid)
    st.markdown(f"**Query:** {dataset} #{sid}: {text}")
    res = nm.stored_neighbours(sel, dataset, sid, datasets, k)
    what = f"{dataset} #{sid}"
else:
    text = st.text_area("Text to run through the model", qp.get("text", ""), key="nn_text", height=80)
    if not text.strip():
        st.info("Type a sentence: it is run through the run's model and compared with every stored sentence.")
        st.stop()
    set_params(text=text)
    try:
        res = nm.typed_neighbours(sel, text, datasets, k)
    except nm.ModelUnavailable as e:
        st.error(str(e))
        st.stop()
    what = "the typed text"

st.subheader(f"Nearest {k} to {what} · layer {sel.layer} ({sel.layer_name}) · {sel.pooling}")
if res.empty:
    st.warning("No stored vector to compare with for this run, layer and pooling.")
    st.stop()
charts.show(nm.rank_chart, (int(k),), {"ranks": res}, width="stretch")
st.caption("Cosine similarity of each dataset's nearest sentences by rank"
           + (" (the query sentence itself left out)." if mode == "stored" else "."))

res = with_neighbour_links(res, sel)
for name in datasets:
    part = res[res["dataset"] == name][["rank", "sentence_id", "similarity", "text", "neighbours"]]
    st.markdown(f"**{name}** ({sizes[name]:,} sentences)")
    if part.empty:
        st.caption("No other sentence with a vector here.")
        continue
    table(part.reset_index(drop=True), f"neighbours_{name}", key=f"nn_table_{name}",
          column_config=neighbour_columns())
    if part["similarity"].min() > 1 - 1e-6:
        st.caption("Every vector here points the same way (e.g. [CLS] at the embedding output), so the order "
                   "is by sentence id.")
