"""Attention of one item: every head of every layer, and one head's token-to-token lines (the BertViz view)."""
import streamlit as st

from ui import attention_example_charts as ch
from ui import attention_example_model as m
from ui import charts, data, progress, url
from ui.links import neighbours_link
from ui.tables import details, table

st.title("Attention of one item")
st.caption("How much each token attends to every other token, in every head of every layer, for one sentence or "
           "pair, encoded as the attention study encodes it ([CLS] a [SEP] b [SEP]); then one head in full and as "
           "lines from each query token (left) to the tokens it attends to (right).")

live = m.live_available()
runs = m.runs()
if not live:
    runs = runs[runs["n_examples"] > 0]
if runs.empty:
    progress.wait_for("attention")
    st.info("Nothing to show: no transformer run has stored attention examples "
            "(`--set attention.examples=12`, the default, stores them)" + ("." if live else "; " + m.LIVE_MISSING))
    st.stop()
run_id = url.selectbox("Model run", runs["run_id"].tolist(), "run", "ax_run", where=st.sidebar)
run = runs.set_index("run_id").loc[run_id]
dsets = m.datasets(run_id)
if not live:
    dsets = dsets[dsets["n_examples"] > 0]
dataset = url.selectbox("Dataset", dsets["dataset"].tolist(), "dataset", "ax_dataset", where=st.sidebar)
dinfo = dsets.set_index("dataset").loc[dataset]
n_blocks, n_heads = int(run["n_blocks"]), int(run["n_heads"])
layer = int(url.selectbox("Layer (block)", list(range(1, n_blocks + 1)), "layer", "ax_layer", where=st.sidebar,
                          format_func=lambda i: f"{i}: blocks.{i - 1}", default=n_blocks - 1))
head = int(url.selectbox("Head", list(range(n_heads)), "head", "ax_head", where=st.sidebar))

stored_items = m.stored_items(run_id, dataset)
stored_ids = stored_items["sentence_id"].tolist()
if live:
    n = int(dinfo["n_sentences"])
    default = stored_ids[0] if stored_ids else 0
    sid = url.number_input(f"Sentence id (0 to {n - 1})", "sentence", default, 0, n - 1, key=f"ax_sid_{dataset}")
else:
    texts = dict(zip(stored_items["sentence_id"], stored_items["text"]))
    asked = url.get("sentence", None)
    if asked is not None and asked not in map(str, stored_ids):
        st.info(f"{dataset} #{asked} has no stored attention, and this deployment cannot run the model: pick one "
                "of the stored items.")
    sid = int(url.selectbox("Stored item", stored_ids, "sentence", f"ax_item_{dataset}",
                            format_func=lambda i: f"#{i}: {texts[i][:90]}"))
    st.caption(m.LIVE_MISSING)

sent = m.sentence(dataset, sid)
pair = bool(dinfo["is_pair"])
st.markdown(f"**{dataset} #{sid}**: {sent['text']}" + (f"  \n**b:** {sent['text_b']}" if pair else ""))
stored = m.stored(run_id, dataset, sid)
sources = (["stored"] if stored is not None else []) + (["live"] if live else [])
source = url.radio("Weights from", sources, "source", "ax_source", horizontal=True,
                   format_func={"stored": "stored sample", "live": "the model, live"}.get) \
    if len(sources) > 1 else sources[0]
try:
    item = stored if source == "stored" else m.live(run_id, sent["text"], sent["text_b"] if pair else None)
except m.ModelUnavailable as e:
    if stored is None:
        st.error(str(e))
        st.stop()
    st.warning(f"{e}; showing the stored weights.")
    item = stored
st.markdown(m.source_line(item, run["model_name"], dinfo["encoder"]))
pooling = data.run_info(run_id)["poolings"][0]
st.markdown(f"[Nearest sentences to this one (layer {layer}, {pooling}) →]"
            f"({neighbours_link(run_id, layer, pooling, dataset, sid)})")

grid, block = m.grid(item)
n_tok = len(item.tokens)
st.subheader(f"Every head of every layer · {n_tok} tokens")
charts.show(ch.grid_chart, (max(28, min(64, 720 // n_heads)), "query (down) × key (across), per head and layer"),
            {"grid": grid})
if block > 1:
    st.caption(f"{n_tok} tokens: each small map averages blocks of {block} × {block} tokens; the chosen head below "
               "has every weight.")

st.subheader(f"Layer {layer}, head {head}")
weights = m.head(item, layer, head)
c1, c2 = st.columns([3, 2])
charts.show(ch.head_heatmap, (f"Layer {layer}, head {head}: query × key",), {"head": weights}, where=c1,
            width="stretch")
charts.show(ch.lines_chart, (n_tok, f"Layer {layer}, head {head}: query → key"),
            {"lines": m.lines(item, layer, head), "tokens": m.tokens(item)}, where=c2, width="stretch")
st.caption(f"Lines for weights of at least {m.LINE_MIN:g}, as opaque as the weight; each query's weights sum to 1.")
table(weights[["layer", "head", "from_index", "from_token", "to_index", "to_token", "weight"]],
      f"attention_{run_id}_{dataset}_{sid}_layer{layer}_head{head}", key="ax_weights",
      column_config={"weight": st.column_config.NumberColumn(format="%.5f")})
st.download_button("Download every layer and head (CSV)", lambda: m.all_weights_csv(item),
                   file_name=f"attention_{run_id}_{dataset}_{sid}.csv", mime="text/csv", key="dl_ax_all",
                   on_click="ignore")

if stored_ids:
    box, is_open = details(f"The {len(stored_ids)} stored items of {dataset}", key="ax_stored_open")
    if is_open:
        with box:
            listed = stored_items.assign(attention=[m.link(run_id, dataset, i, layer, head) for i in stored_ids])
            table(listed, f"attention_examples_{dataset}", key="ax_stored",
                  column_config={"attention": st.column_config.LinkColumn("attention", display_text="open")})
