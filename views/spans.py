"""Span match (LSTMVis, Strobelt et al.): the units on across a selected span, where else they are on, how they
co-activate, and which units separate two sets of phrases. Works on the stored token states (no model here)."""
import time

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

from analysis.spans import (THRESHOLD, char_span_units, coactivation, contrast, find_matches, find_occurrences,
                            match_context, matched_words, parse_phrases, pca_2d, phrase_vector, units_on, word_spans)
from ui import charts, data
from ui import spans as ui
from ui.db import connection
from ui.tables import details, table
from warehouse import queries

st.title("Span match")
st.caption("LSTMVis (Strobelt et al. 2016): select a span of text and a threshold; the hidden units that stay on "
           "across it are the hypothesis. Then find every other span of the stored corpus where the same units are "
           "on, see how the units co-activate, and test a hypothesis with two contrasting sets of phrases.")

con = connection()
avail = data.meta("span_layers")  # sums over every stored state: read once per file
if avail.empty:
    st.info("This warehouse has no token states. Build with the token_states stage enabled (the default; "
            "`python -m pipeline build ... --set token_states.per_dataset=500`).")
    st.stop()

# --- run and layer (the LSTM by default, as in LSTMVis; its last hidden stream) ---
run_ids = list(dict.fromkeys(avail["run_id"]))
lstm_runs = avail.loc[avail["model_kind"] == "lstm", "run_id"].tolist()
run_id = st.sidebar.selectbox("Model run", run_ids, key="sp_run",
                              index=run_ids.index(ui.url_choice("run", run_ids, (lstm_runs or run_ids)[0])))
mine = avail[avail["run_id"] == run_id].set_index("layer")
layer_ids = mine.index.tolist()
hidden_layers = [i for i in layer_ids if str(mine.loc[i, "layer_name"]).endswith(".hidden")]
layer = st.sidebar.selectbox("Layer", layer_ids, key=f"sp_layer_{run_id}",
                             index=layer_ids.index(ui.url_choice("layer", layer_ids,
                                                                 (hidden_layers or layer_ids)[-1])),
                             format_func=lambda i: f"{i}: {mine.loc[i, 'layer_name']}")
info = mine.loc[layer]
ui.set_params(run=run_id, layer=layer)
is_lstm = info["model_kind"] == "lstm"
unit_word = "characters" if is_lstm else "WordPieces"
hidden = int(info["hidden_size"])
st.caption(f"Stored for **{run_id}** ({info['model_name']}), layer {layer} ({info['layer_name']}): "
           f"{int(info['n_sentences']):,} sampled sentences, {int(info['n_steps']):,} steps ({unit_word}), "
           f"{hidden} units per step stored as {info['dtypes']}: {float(info['bytes_per_step']):.0f} bytes per "
           f"step; largest quantisation error {float(info['max_error']):.4f}. Everything below works from these "
           "stored states (the dashboard does not run the model).")
block = ui.block(run_id, layer, hidden)
keys = block.keys
# plain arrays: pandas .at costs tens of microseconds a call, and the lists below index thousands of rows
k_text, k_dataset, k_sid = keys["text"].to_numpy(), keys["dataset"].to_numpy(), keys["sentence_id"].to_numpy()
k_starts, k_ends = keys["starts"].to_numpy(), keys["ends"].to_numpy()
row_of = {(d, int(i)): r for r, (d, i) in enumerate(zip(keys["dataset"], keys["sentence_id"]))}

# --- 1. sentence ---
st.subheader("1. Select a sentence and a span")
c1, c2 = st.columns([2, 3])
with c1:
    q = st.text_input("Search the stored sentences", st.query_params.get("q", ""), key="sp_q")
if q.strip():
    hits = queries.span_search(con, run_id, q.strip(), 200)
    options = [row_of[(d, int(i))] for d, i in zip(hits["dataset"], hits["sentence_id"])]
    if not options:
        st.warning(f"No stored sentence of {run_id} contains {q.strip()!r}.")
else:  # the first 40 stored sentences of every dataset; the search box reaches the rest
    options = keys.groupby("dataset", sort=False).head(40).index.tolist()
sent = st.query_params.get("sent", "")
ds, _, sid = sent.rpartition(":")
wanted = row_of.get((ds, int(sid))) if sid.isdigit() else None
if wanted is not None and wanted not in options:
    options = [wanted] + options
if not options:
    st.stop()
with c2:
    row = st.selectbox("Sentence", options, index=options.index(wanted) if wanted in options else 0,
                       key=f"sp_sent_{q.strip()}",
                       format_func=lambda r: f"{k_dataset[r]} #{k_sid[r]}: {k_text[r][:100]}")
sent = f"{keys.at[row, 'dataset']}:{keys.at[row, 'sentence_id']}"
ui.set_params(q=q.strip(), sent=sent)
text = keys.at[row, "text"]
starts, ends = np.asarray(keys.at[row, "starts"]), np.asarray(keys.at[row, "ends"])
seen = text[: int(ends[-1])] if len(ends) else ""
words = word_spans(seen)
if not words:
    st.warning("This sentence has no words the model read.")
    st.stop()
if keys.at[row, "truncated"]:
    st.caption(f"The model read only the first {len(starts)} {unit_word} of this text.")

w0, _, w1 = st.query_params.get("span", "").partition("-")
w0, w1 = (int(w0), int(w1)) if w0.isdigit() and w1.isdigit() and int(w0) <= int(w1) < len(words) else (0, 0)
c1, c2, c3 = st.columns([5, 1, 2])
with c1:
    if len(words) > 1:
        w0, w1 = st.select_slider("Span (words)", options=list(range(len(words))), value=(w0, w1),
                                  format_func=lambda i: words[i][2], key=f"sp_span_{row}")
    else:
        st.markdown(f"Span: the only word, {ui.md(words[0][2])}")
with c2:
    thr = st.number_input("Threshold", -100.0, 100.0, ui.url_float("thr", THRESHOLD, -100.0, 100.0), 0.05,
                          key="sp_thr", format="%.2f")
with c3:
    strict = st.checkbox("Off just before and after (LSTMVis)", st.query_params.get("strict") == "1",
                         key="sp_strict")
ui.set_params(span=f"{w0}-{w1}", thr=f"{thr:g}", strict="1" if strict else None)
a, b = words[w0][0], words[w1][1]
i0, i1 = char_span_units(starts, ends, a, b)
states = block.sentence(row)  # [T, H]
on = units_on(states, i0, i1, thr, strict)
st.markdown(f"Span: **{ui.md(text[a:b])}** ({unit_word} {i0}–{i1 - 1}, {i1 - i0} steps). "
            f"**{len(on)}** of {hidden} units are ≥ {thr:g} at every step of it"
            + (", and below it just before and just after." if strict else "."))

sig = f"{sent}.{i0}.{i1}.{thr:g}.{int(strict)}"  # the selection the URL's hand-picked units belong to
url_units = st.query_params.get("units", "")
default = [int(u) for u in url_units.split(",") if u.isdigit() and int(u) < hidden] \
    if url_units and st.query_params.get("usig") == sig else on.tolist()
chosen = st.multiselect("Selected units (the units on over the span; remove or add to refine)", list(range(hidden)),
                        default=default, key=f"sp_units_{sig}")
ui.set_params(units=",".join(map(str, chosen)) if sorted(chosen) != on.tolist() else None,
              usig=sig if sorted(chosen) != on.tolist() else None)
sel = np.array(sorted(chosen), dtype=int)

if len(sel):
    show = sel[:60]
    steps = np.arange(len(starts))
    units_text = [text[s:e] for s, e in zip(starts, ends)]
    heat = pd.DataFrame({
        "step": np.repeat(steps, len(show)), "unit": np.tile(show, len(steps)),
        "value": states[:, show].ravel(), "text": np.repeat(units_text, len(show)),
    })
    heat["on"] = heat["value"] >= thr
    lim = float(max(abs(heat["value"]).max(), abs(thr), 1e-6))
    width = min(1400, max(300, 12 * len(steps)))

    def heatmap_chart(width: int, cells_height: int, lim: float):
        # lim (the colour domain) follows the span selection; widgets further down rerun with the cached spec
        x = alt.X("step:O", title=None, axis=alt.Axis(labels=False, ticks=False))
        letters = alt.Chart(alt.NamedData("letters")).mark_text(fontSize=11).encode(
            x=x, text="text:N", color=alt.condition("datum.in_span", alt.value("#d62728"), alt.value("#333")),
            tooltip=["step:Q", "text:N"]).properties(width=width, height=18)
        cells = alt.Chart(alt.NamedData("cells")).mark_rect().encode(
            x=x, y=alt.Y("unit:O", title="unit", axis=alt.Axis(labelOverlap=False)),
            color=alt.Color("value:Q", scale=alt.Scale(scheme="redblue", reverse=True, domain=[-lim, lim]),
                            title="state"),
            stroke=alt.condition("datum.on", alt.value("black"), alt.value(None)),
            tooltip=["step:Q", "text:N", "unit:Q", alt.Tooltip("value:Q", format=".3f"), "on:N"],
        ).properties(width=width, height=cells_height)
        bars = alt.Chart(alt.NamedData("count")).mark_bar().encode(
            x=x, y=alt.Y("n_on:Q", title="units on"), tooltip=["step:Q", "text:N", "n_on:Q"]
        ).properties(width=width, height=70)
        return alt.vconcat(letters, cells, bars, spacing=2).resolve_scale(x="shared")

    charts.show(heatmap_chart, (width, min(1000, 16 * len(show) + 10), lim), {
        "letters": pd.DataFrame({"step": steps, "text": [t.replace(" ", "␣") for t in units_text],
                                 "in_span": (steps >= i0) & (steps < i1)}),
        "cells": heat,
        "count": pd.DataFrame({"step": steps, "n_on": (states[:, sel] >= thr).sum(axis=1), "text": units_text})})
    st.caption(f"The selected units (rows{', first 60' if len(sel) > 60 else ''}) at every {unit_word[:-1].lower()} "
               f"of the sentence (columns; the span in red). Outlined cells are ≥ {thr:g}. Bottom: how many of the "
               f"{len(sel)} selected units are on at each step.")
    box, is_open = details("Heatmap values", key="sp_heat_open")
    if is_open:
        with box:
            table(heat, "span_heatmap", key="sp_heat_table")
else:
    st.info(f"No unit is ≥ {thr:g} at every step of this span"
            + (" with the strict rule" if strict else "") + ": lower the threshold, shorten the span, or add units "
            "by hand. The contrast sets below do not need a selection.")

# --- 2. matches ---
if len(sel):
    st.subheader("2. Matches: where else are these units on?")
    k = len(sel)
    c1, c2 = st.columns(2)
    with c1:
        min_on = st.number_input(f"A step is on when at least this many of the {k} units are on", 1, k,
                                 ui.url_int("m", k, 1, k), key=f"sp_m_{k}")
    with c2:
        n_show = st.number_input("Matches shown", 5, 500, ui.url_int("n", 20, 5, 500), 5, key="sp_n")
    ui.set_params(m=min_on, n=n_show)
    t0 = time.perf_counter()
    matches = find_matches(block.columns(sel), block.offsets, i1 - i0, thr, int(min_on))
    ms = 1000 * (time.perf_counter() - t0)
    if matches.empty:
        st.info("No stored span has that many of the selected units on.")
    else:
        m = matches.copy()
        m["dataset"] = keys["dataset"].to_numpy()[m["sentence"]]
        m["sentence_id"] = keys["sentence_id"].to_numpy()[m["sentence"]]
        m["query"] = (m["sentence"] == row) & (m["start"] < i1) & (m["end"] > i0)
        st.markdown(f"**{len(m):,}** matching spans in {block.n_steps:,} stored steps ({ms:.0f} ms); "
                    f"**{int((m['n_on'] == k).sum()):,}** with all {k} units on throughout, "
                    f"{int(((m['n_on'] == k) & (m['len_diff'] == 0)).sum()):,} of them as long as the span. "
                    f"Ranked by units on throughout, then closeness of length to the span's {i1 - i0}.")
        top = m.head(int(n_show)).copy()
        ctx = []
        for r in top.itertuples():
            st_, en_ = k_starts[r.sentence], k_ends[r.sentence]
            ctx.append(match_context(k_text[r.sentence], int(st_[r.start]), int(en_[r.end - 1])))
        top["left"], top["match"], top["right"] = zip(*ctx)
        lines = [f"{i + 1}. `{r.n_on}/{k}` {ui.highlight(r.left, r.match, r.right)}  ·  {r.dataset} "
                 f"#{r.sentence_id}" + ("  ·  *(the selected span)*" if r.query else "")
                 for i, r in enumerate(top.itertuples())]
        st.markdown("\n".join(lines))
        cols = ["dataset", "sentence_id", "left", "match", "right", "start", "end", "length", "n_on", "mean_on",
                "len_diff", "query"]
        table(top[cols], "span_matches", key="sp_match_table")
        hist_n = min(len(m), 500)
        head = m.head(hist_n)
        items = [(k_text[i], int(k_starts[i][a]), int(k_ends[i][b - 1]))
                 for i, a, b in zip(head["sentence"], head["start"], head["end"])]
        hist = matched_words(items)
        st.markdown(f"**Matched words** (words overlapping each of the top {hist_n} matches, each counted once "
                    "per match)")
        shown = hist.head(30)

        def words_chart(height: int):
            return alt.Chart(alt.NamedData("words")).mark_bar().encode(
                x=alt.X("matches:Q"), y=alt.Y("word:N", sort="-x", title=None, axis=alt.Axis(labelOverlap=False)),
                tooltip=["word:N", "matches:Q"]).properties(height=height)

        charts.show(words_chart, (16 * len(shown) + 10,), {"words": shown[["word", "matches"]]}, width="stretch")
        table(hist, "span_matched_words", key="sp_words_table")

    # --- 3. co-activation ---
    if k >= 2:
        st.subheader("3. Co-activation of the selected units")
        jac, n_on_steps = coactivation(block.columns(sel), thr)
        pairs = pd.DataFrame([(int(sel[i]), int(sel[j]), float(jac[i, j])) for i in range(k) for j in range(k)],
                             columns=["unit_a", "unit_b", "jaccard"])

        def coactivation_chart(height: int):
            return alt.Chart(alt.NamedData("pairs")).mark_rect().encode(
                x=alt.X("unit_a:O", title="unit"), y=alt.Y("unit_b:O", title="unit"),
                color=alt.Color("jaccard:Q", scale=alt.Scale(domain=[0, 1]), title="Jaccard"),
                tooltip=["unit_a:Q", "unit_b:Q", alt.Tooltip("jaccard:Q", format=".3f")]).properties(height=height)

        charts.show(coactivation_chart, (min(700, 24 * k + 40),), {"pairs": pairs}, width="stretch")
        off_diag = jac[~np.eye(k, dtype=bool)]
        st.caption(f"Jaccard overlap of the steps at which each unit is ≥ {thr:g}, over all {block.n_steps:,} "
                   f"stored steps. Mean over pairs: {np.nanmean(off_diag):.2f} (1 = always on together). Steps on per "
                   f"unit: {', '.join(f'{u}: {n:,}' for u, n in zip(sel[:12], n_on_steps[:12]))}"
                   f"{' …' if k > 12 else ''}.")
        table(pairs.merge(pd.DataFrame({"unit_a": sel, "steps_on_a": n_on_steps})), "span_coactivation",
              key="sp_coact_table")

# --- 4. contrast sets ---
st.subheader("4. Contrast sets")
st.caption("Two lists of phrases, one per line (e.g. idiomatic vs literal uses of a word). Each phrase is looked up "
           "in the stored sentences (case-insensitive, whole words): the dashboard cannot run the model, so only "
           "phrases that occur in the stored sample count. Each occurrence's vector is this layer's state over "
           "its span (mean, or the last unit). Per unit: difference of means and a two-sided Mann-Whitney U test, "
           "Holm-corrected over all units; and a PCA of the vectors. Read the p-values with care: occurrences of "
           "one phrase are not independent samples, and for a character model two sets of different words also "
           "differ in their letters.")
c1, c2, c3 = st.columns([2, 2, 1])
with c1:
    set_a = st.text_area("Set A", st.query_params.get("a", ""), key="sp_a", height=120,
                         placeholder="weather the storm\nweather the downturn")
with c2:
    set_b = st.text_area("Set B", st.query_params.get("b", ""), key="sp_b", height=120,
                         placeholder="the weather\nbad weather")
with c3:
    pool = st.radio("Vector of an occurrence", ["mean", "last"], key="sp_pool",
                    index=["mean", "last"].index(ui.url_choice("pool", ["mean", "last"], "mean")),
                    format_func={"mean": "mean over its span", "last": "state at its last unit"}.get)
ui.set_params(a=set_a.strip(), b=set_b.strip(), pool=None if pool == "mean" else pool)
phr_a, phr_b = parse_phrases(set_a), parse_phrases(set_b)
if not phr_a or not phr_b:
    st.info("Enter at least one phrase in each set.")
    st.stop()
texts = keys["text"].tolist()
records, missing = [], []
for label, phrases in (("A", phr_a), ("B", phr_b)):
    for p in phrases:
        occ = find_occurrences(texts, p)
        if not occ:
            missing.append(f"{label}: {p}")
        for r, ca, cb in occ:
            span = char_span_units(keys.at[r, "starts"], keys.at[r, "ends"], ca, cb)
            if span is None:  # beyond what the model read (truncated)
                continue
            records.append({"set": label, "phrase": p, "dataset": keys.at[r, "dataset"],
                            "sentence_id": int(keys.at[r, "sentence_id"]), "context": "".join(match_context(
                                texts[r], ca, cb, 30)), "vec": phrase_vector(block.sentence(r), *span, pool)})
if missing:
    st.warning(f"Not in the stored sentences of {run_id} ({len(texts):,} sampled), so left out: "
               + "; ".join(missing))
occ_df = pd.DataFrame(records)
n_a = int((occ_df["set"] == "A").sum()) if len(occ_df) else 0
n_b = int((occ_df["set"] == "B").sum()) if len(occ_df) else 0
if n_a < 2 or n_b < 2:
    st.info(f"Found {n_a} occurrence(s) of set A and {n_b} of set B in the stored sentences; the test needs at least "
            "2 of each. Try more or shorter phrases, or store more sentences (token_states.per_dataset).")
    st.stop()
va = np.stack(occ_df.loc[occ_df["set"] == "A", "vec"].to_list())
vb = np.stack(occ_df.loc[occ_df["set"] == "B", "vec"].to_list())
res = contrast(va, vb)
sig_units = res[res["p_holm"] < 0.05]
best = res.iloc[0]
if len(sig_units):
    st.success(f"{len(sig_units)} of {hidden} units separate the sets (Holm-adjusted p < 0.05; {n_a} vs {n_b} "
               f"occurrences). Best: unit {int(best['unit'])}, mean {best['mean_a']:+.3f} (A) vs "
               f"{best['mean_b']:+.3f} (B), p = {best['p_value']:.2g}.")
else:
    st.warning(f"No unit separates the sets after Holm correction over {hidden} units ({n_a} vs {n_b} occurrences; "
               f"smallest raw p = {best['p_value']:.2g}, unit {int(best['unit'])}, adjusted "
               f"{best['p_holm']:.2g}). On this model and layer the hypothesis is not supported by these phrases.")
sci = {c: st.column_config.NumberColumn(format="%.2e") for c in ("p_value", "p_holm")}
table(res.head(20), "span_contrast_top", key="sp_contrast_top", column_config=sci)
box, is_open = details(f"All {hidden} units", key="sp_contrast_open")
if is_open:
    with box:
        table(res, "span_contrast", key="sp_contrast_all", column_config=sci)
coords, ratio = pca_2d(np.vstack([va, vb]))
order = np.r_[np.flatnonzero(occ_df["set"] == "A"), np.flatnonzero(occ_df["set"] == "B")]
pts = occ_df.drop(columns="vec").iloc[order].assign(pc1=coords[:, 0], pc2=coords[:, 1])


def pca_chart(x_title: str, y_title: str):
    return alt.Chart(alt.NamedData("points")).mark_circle(size=70, opacity=0.75).encode(
        x=alt.X("pc1:Q", title=x_title), y=alt.Y("pc2:Q", title=y_title), color=alt.Color("set:N"),
        tooltip=["set:N", "phrase:N", "dataset:N", "sentence_id:Q", "context:N"]).properties(height=380)


# the axis titles carry the variance shares as whole percents: they change with the contrast sets, not per rerun
charts.show(pca_chart, (f"PC1 ({ratio[0]:.0%} of variance)", f"PC2 ({ratio[1]:.0%})"),
            {"points": pts[["set", "phrase", "dataset", "sentence_id", "context", "pc1", "pc2"]]}, width="stretch")
st.caption(f"PCA of the {len(pts)} occurrence vectors (all {hidden} units, centred), coloured by set.")
table(pts, "span_contrast_points", key="sp_contrast_points")
