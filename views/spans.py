"""Span match (LSTMVis, Strobelt et al.): the units on across a selected span, where else they are on, how they
co-activate, and which units separate two sets of phrases. Works on the stored token states (no model here)."""
import pandas as pd
import streamlit as st

from analysis import spans_view as sv
from analysis.spans import THRESHOLD, char_span_units, parse_phrases, units_on, word_spans
from ui import spans_model as model
from ui import spans_sections as sections
from ui import url
from ui.spans import md
from ui import progress


def pick_layer():
    """The run and layer boxes (the LSTM by default, as in LSTMVis; its last hidden stream)."""
    avail = model.layers()
    if avail.empty:
        progress.wait_for("token_states")
        st.info("This warehouse has no token states. Build with the token_states stage enabled (the default; "
                "`python -m pipeline build ... --set token_states.per_dataset=500`).")
        st.stop()
    run_ids = list(dict.fromkeys(avail["run_id"]))
    lstm_runs = avail.loc[avail["model_kind"] == "lstm", "run_id"].tolist()
    run_id = url.selectbox("Model run", run_ids, "run", "sp_run", where=st.sidebar,
                           default=run_ids.index((lstm_runs or run_ids)[0]))
    mine = avail[avail["run_id"] == run_id].set_index("layer")
    ids = mine.index.tolist()
    hidden_layers = [i for i in ids if str(mine.loc[i, "layer_name"]).endswith(".hidden")]
    layer = url.selectbox("Layer", ids, "layer", f"sp_layer_{run_id}", where=st.sidebar,
                          default=ids.index((hidden_layers or ids)[-1]),
                          format_func=lambda i: f"{i}: {mine.loc[i, 'layer_name']}")
    info = mine.loc[layer]
    st.caption(f"Stored for **{run_id}** ({info['model_name']}), layer {layer} ({info['layer_name']}): "
               f"{int(info['n_sentences']):,} sampled sentences, {int(info['n_steps']):,} steps ({unit_word(info)}), "
               f"{int(info['hidden_size'])} units per step stored as {info['dtypes']}: "
               f"{float(info['bytes_per_step']):.0f} bytes per step; largest quantisation error "
               f"{float(info['max_error']):.4f}. Everything below works from these stored states (the dashboard "
               "does not run the model).")
    return run_id, layer, int(info["hidden_size"]), unit_word(info)


def unit_word(info) -> str:
    return "characters" if info["model_kind"] == "lstm" else "WordPieces"


def pick_sentence(run_id: str, layer: int, hidden: int, keys: pd.DataFrame) -> int:
    st.subheader("1. Select a sentence and a span")
    c1, c2 = st.columns([2, 3])
    q = c1.text_input("Search the stored sentences", url.get("q"), key="sp_q").strip()
    if q:
        options = model.search(run_id, layer, hidden, q)
        if not options:
            st.warning(f"No stored sentence of {run_id} contains {q!r}.")
    else:  # the first 40 stored sentences of every dataset; the search box reaches the rest
        options = keys.groupby("dataset", sort=False).head(40).index.tolist()
    wanted = sv.parse_sentence(url.get("sent"), model.row_index(run_id, layer, hidden))
    if wanted is not None and wanted not in options:
        options = [wanted] + options
    if not options:
        st.stop()
    ds, sid, text = keys["dataset"].to_numpy(), keys["sentence_id"].to_numpy(), keys["text"].to_numpy()
    row = c2.selectbox("Sentence", options, index=options.index(wanted) if wanted in options else 0,
                       key=f"sp_sent_{q}", format_func=lambda r: f"{ds[r]} #{sid[r]}: {text[r][:100]}")
    url.set_params(q=q, sent=f"{keys.at[row, 'dataset']}:{keys.at[row, 'sentence_id']}")
    return row


def pick_units(keys, row, states, hidden, unit_word):
    """The span, threshold and units boxes: (sel, thr, i0, i1, strict)."""
    text, starts, ends = sv.sentence(keys, row)
    words = word_spans(text[: int(ends[-1])] if len(ends) else "")
    if not words:
        st.warning("This sentence has no words the model read.")
        st.stop()
    if keys.at[row, "truncated"]:
        st.caption(f"The model read only the first {len(starts)} {unit_word} of this text.")
    w0, w1 = sv.parse_span(url.get("span"), len(words))
    c1, c2, c3 = st.columns([5, 1, 2])
    if len(words) > 1:
        w0, w1 = c1.select_slider("Span (words)", options=list(range(len(words))), value=(w0, w1),
                                  format_func=lambda i: words[i][2], key=f"sp_span_{row}")
    else:
        c1.markdown(f"Span: the only word, {md(words[0][2])}")
    thr = c2.number_input("Threshold", -100.0, 100.0, url.url_float("thr", THRESHOLD, -100.0, 100.0), 0.05,
                          key="sp_thr", format="%.2f")
    strict = c3.checkbox("Off just before and after (LSTMVis)", url.get("strict") == "1", key="sp_strict")
    url.set_params(span=f"{w0}-{w1}", thr=f"{thr:g}", strict="1" if strict else None)
    a, b = words[w0][0], words[w1][1]
    i0, i1 = char_span_units(starts, ends, a, b)
    on = units_on(states, i0, i1, thr, strict)
    st.markdown(f"Span: **{md(text[a:b])}** ({unit_word} {i0}–{i1 - 1}, {i1 - i0} steps). "
                f"**{len(on)}** of {hidden} units are ≥ {thr:g} at every step of it"
                + (", and below it just before and just after." if strict else "."))
    sig = f"{url.get('sent')}.{i0}.{i1}.{thr:g}.{int(strict)}"  # the selection the URL's hand-picked units belong to
    default = sv.url_units(url.get("units"), hidden) if url.get("units") and url.get("usig") == sig else on.tolist()
    chosen = st.multiselect("Selected units (the units on over the span; remove or add to refine)",
                            list(range(hidden)), default=default, key=f"sp_units_{sig}")
    edited = sorted(chosen) != on.tolist()
    url.set_params(units=",".join(map(str, chosen)) if edited else None, usig=sig if edited else None)
    return sv.unit_array(chosen), thr, i0, i1, strict


def contrast_sets(block, run_id: str, hidden: int) -> None:
    st.subheader("6. Contrast sets")
    st.caption("Two lists of phrases, one per line (e.g. idiomatic vs literal uses of a word). Each phrase is looked "
               "up in the stored sentences (case-insensitive, whole words): the dashboard cannot run the model, so "
               "only phrases that occur in the stored sample count. Each occurrence's vector is this layer's state "
               "over its span (mean, or the last unit). Per unit: difference of means and a two-sided Mann-Whitney "
               "U test, Holm-corrected over all units; and a PCA of the vectors. Read the p-values with care: "
               "occurrences of one phrase are not independent samples, and for a character model two sets of "
               "different words also differ in their letters.")
    c1, c2, c3 = st.columns([2, 2, 1])
    set_a = c1.text_area("Set A", url.get("a"), key="sp_a", height=120,
                         placeholder="weather the storm\nweather the downturn")
    set_b = c2.text_area("Set B", url.get("b"), key="sp_b", height=120, placeholder="the weather\nbad weather")
    pool = c3.radio("Vector of an occurrence", ["mean", "last"], key="sp_pool",
                    index=["mean", "last"].index(url.url_choice("pool", ["mean", "last"], "mean")),
                    format_func={"mean": "mean over its span", "last": "state at its last unit"}.get)
    url.set_params(a=set_a.strip(), b=set_b.strip(), pool=None if pool == "mean" else pool)
    phr_a, phr_b = parse_phrases(set_a), parse_phrases(set_b)
    if not phr_a or not phr_b:
        st.info("Enter at least one phrase in each set.")
        st.stop()
    sections.contrast(block, run_id, hidden, phr_a, phr_b, pool)


st.title("Span match")
st.caption("LSTMVis (Strobelt et al. 2016): select a span of text and a threshold; the hidden units that stay on "
           "across it are the hypothesis. Then find every other span of the stored corpus where the same units are "
           "on, see how the units co-activate, and test a hypothesis with two contrasting sets of phrases.")
run_id, layer, hidden, word = pick_layer()
block = model.block(run_id, layer, hidden)
row = pick_sentence(run_id, layer, hidden, block.keys)
states = block.sentence(row)  # [T, H]
sel, thr, i0, i1, strict = pick_units(block.keys, row, states, hidden, word)
if len(sel):
    sections.heatmap(block.keys, row, states, sel, thr, i0, i1, word)
    sections.matches(block, row, sel, thr, i0, i1)
    if len(sel) >= 2:
        sections.coactivations(block, sel, thr)
    sections.timing(block, row, sel, thr, i0, i1, word)
else:
    st.info(f"No unit is ≥ {thr:g} at every step of this span" + (" with the strict rule" if strict else "")
            + ": lower the threshold, shorten the span, or add units by hand. The contrast sets below do not need "
            "a selection.")
sections.selectivity(block, thr)
contrast_sets(block, run_id, hidden)
