"""The span-match page's result sections: the heatmap of the selected units, their matches, their co-activation and
the contrast sets' test (views/spans.py draws the widgets that choose them)."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from analysis import spans_view as sv
from analysis.spans import coactivation, contrast as contrast_test, parse_phrases, phrase_selectivity, span_timecourse
from ui import charts, url
from ui import spans_charts as ch
from ui import spans_model as model
from ui.spans import highlight
from ui.tables import details, table


def heatmap(keys, row, states, sel, thr, i0, i1, unit_word) -> None:
    text, starts, ends = sv.sentence(keys, row)
    h = sv.heatmap(text, starts, ends, states, sel, thr, i0, i1)
    charts.show(ch.heatmap_chart, (h["width"], h["cells_height"], h["lim"]),
                {name: h[name] for name in ("letters", "cells", "count")})
    st.caption(f"The selected units (rows{', first 60' if len(sel) > 60 else ''}) at every {unit_word[:-1].lower()} "
               f"of the sentence (columns; the span in red). Outlined cells are ≥ {thr:g}. Bottom: how many of the "
               f"{len(sel)} selected units are on at each step.")
    box, is_open = details("Heatmap values", key="sp_heat_open")
    if is_open:
        with box:
            table(h["cells"], "span_heatmap", key="sp_heat_table")


def matches(block, row, sel, thr, i0, i1) -> None:
    st.subheader("2. Matches: where else are these units on?")
    k = len(sel)
    c1, c2 = st.columns(2)
    min_on = url.number_input(f"A step is on when at least this many of the {k} units are on", "m", k, 1, k,
                              key=f"sp_m_{k}", where=c1)
    n_show = url.number_input("Matches shown", "n", 20, 5, 500, key="sp_n", where=c2, step=5)
    found, ms = model.matches(block, sel, i1 - i0, thr, int(min_on))
    if found.empty:
        st.info("No stored span has that many of the selected units on.")
        return
    m = sv.label_matches(found, block.keys, row, i0, i1)
    st.markdown(f"**{len(m):,}** matching spans in {block.n_steps:,} stored steps ({ms:.0f} ms); "
                f"**{int((m['n_on'] == k).sum()):,}** with all {k} units on throughout, "
                f"{int(((m['n_on'] == k) & (m['len_diff'] == 0)).sum()):,} of them as long as the span. "
                f"Ranked by units on throughout, then closeness of length to the span's {i1 - i0}.")
    top = sv.match_contexts(m.head(int(n_show)), block.keys)
    st.markdown("\n".join(f"{i + 1}. `{r.n_on}/{k}` {highlight(r.left, r.match, r.right)}  ·  {r.dataset} "
                          f"#{r.sentence_id}" + ("  ·  *(the selected span)*" if r.query else "")
                          for i, r in enumerate(top.itertuples())))
    table(top[["dataset", "sentence_id", "left", "match", "right", "start", "end", "length", "n_on", "mean_on",
               "len_diff", "query"]], "span_matches", key="sp_match_table")
    hist, hist_n = sv.match_words(m, block.keys)
    st.markdown(f"**Matched words** (words overlapping each of the top {hist_n} matches, each counted once "
                "per match)")
    shown = hist.head(30)
    charts.show(ch.words_chart, (16 * len(shown) + 10,), {"words": shown[["word", "matches"]]}, width="stretch")
    table(hist, "span_matched_words", key="sp_words_table")


def coactivations(block, sel, thr) -> None:
    st.subheader("3. Co-activation of the selected units")
    k = len(sel)
    jac, n_on_steps = coactivation(block.columns(sel), thr)
    pairs, mean = sv.coactivation_pairs(sel, jac)
    charts.show(ch.coactivation_chart, (min(700, 24 * k + 40),), {"pairs": pairs}, width="stretch")
    st.caption(f"Jaccard overlap of the steps at which each unit is ≥ {thr:g}, over all {block.n_steps:,} "
               f"stored steps. Mean over pairs: {mean:.2f} (1 = always on together). Steps on per "
               f"unit: {', '.join(f'{u}: {n:,}' for u, n in zip(sel[:12], n_on_steps[:12]))}"
               f"{' …' if k > 12 else ''}.")
    table(pairs.merge(pd.DataFrame({"unit_a": sel, "steps_on_a": n_on_steps})), "span_coactivation",
          key="sp_coact_table")


def contrast(block, run_id: str, hidden: int, phr_a: list, phr_b: list, pool: str) -> None:
    occ, missing = sv.occurrences(block.keys, block, {"A": phr_a, "B": phr_b}, pool)
    if missing:
        st.warning(f"Not in the stored sentences of {run_id} ({len(block.keys):,} sampled), so left out: "
                   + "; ".join(missing))
    n_a, n_b = sv.count_sets(occ)
    if n_a < 2 or n_b < 2:
        st.info(f"Found {n_a} occurrence(s) of set A and {n_b} of set B in the stored sentences; the test needs at "
                "least 2 of each. Try more or shorter phrases, or store more sentences (token_states.per_dataset).")
        st.stop()
    va, vb = sv.set_vectors(occ)
    results(contrast_test(va, vb), hidden, n_a, n_b)
    pts, ratio = sv.contrast_points(occ, va, vb)
    # the axis titles carry the variance shares as whole percents: they change with the sets, not per rerun
    charts.show(ch.pca_chart, (f"PC1 ({ratio[0]:.0%} of variance)", f"PC2 ({ratio[1]:.0%})"),
                {"points": pts[["set", "phrase", "dataset", "sentence_id", "context", "pc1", "pc2"]]},
                width="stretch")
    st.caption(f"PCA of the {len(pts)} occurrence vectors (all {hidden} units, centred), coloured by set.")
    table(pts, "span_contrast_points", key="sp_contrast_points")


def results(res: pd.DataFrame, hidden: int, n_a: int, n_b: int) -> None:
    sig_units, best = res[res["p_holm"] < 0.05], res.iloc[0]
    if len(sig_units):
        st.success(f"{len(sig_units)} of {hidden} units separate the sets (Holm-adjusted p < 0.05; {n_a} vs {n_b} "
                   f"occurrences). Best: unit {int(best['unit'])}, mean {best['mean_a']:+.3f} (A) vs "
                   f"{best['mean_b']:+.3f} (B), p = {best['p_value']:.2g}.")
    else:
        st.warning(f"No unit separates the sets after Holm correction over {hidden} units ({n_a} vs {n_b} "
                   f"occurrences; smallest raw p = {best['p_value']:.2g}, unit {int(best['unit'])}, adjusted "
                   f"{best['p_holm']:.2g}). On this model and layer the hypothesis is not supported by these phrases.")
    sci = {c: st.column_config.NumberColumn(format="%.2e") for c in ("p_value", "p_holm")}
    table(res.head(20), "span_contrast_top", key="sp_contrast_top", column_config=sci)
    box, is_open = details(f"All {hidden} units", key="sp_contrast_open")
    if is_open:
        with box:
            table(res, "span_contrast", key="sp_contrast_all", column_config=sci)


def timing(block, row, sel, thr, i0, i1, unit_word: str, after: int = 20) -> None:
    st.subheader("4. Timing and decay after the span")
    text, starts, ends = sv.sentence(block.keys, row)
    phrase = text[int(starts[i0]):int(ends[i1 - 1])]
    spans = sv.phrase_spans(block.keys, phrase)
    shown = sel[:12]
    curve, decay = span_timecourse([block.sentence(r) for r, _, _ in spans], [(a, b) for _, a, b in spans], shown,
                                   before=3, after=after, threshold=thr)
    charts.show(ch.timecourse_chart, (thr,), {
        "curve": curve, "rules": pd.DataFrame({"x": [0], "what": ["the span's last unit"]}),
        "thr": pd.DataFrame({"y": [thr], "what": [f"on at >= {thr:g}"]})}, width="stretch")
    st.caption(f"The mean state of {len(shown)} selected unit(s){' (the first 12)' if len(sel) > 12 else ''} around "
               f"the {len(spans)} stored occurrence(s) of “{phrase}” (whole words, any case"
               f"{', the first 200' if len(spans) == 200 else ''}), from 3 {unit_word} before it to {after} after "
               f"its end; n per step in the tooltip. After the study's small-sample check of a chunking neuron's "
               f"activation timing and decay.")
    fell = decay.dropna(subset=["steps_to_below"])
    if len(fell):
        st.markdown(f"Median {unit_word} until a unit on at the span's end falls below {thr:g}: "
                    + ", ".join(f"unit {int(u)}: {v:g}" for u, v in zip(fell["unit"], fell["steps_to_below"])) + ".")
    table(decay, "span_decay", key="sp_decay_table")


def selectivity(block, thr) -> None:
    st.subheader("5. Selectivity across phrases")
    st.caption(f"Several phrases, one per line (e.g. idioms). A unit responds to a phrase when it is ≥ {thr:g} at "
               "every step of most (≥ 50%) of its stored occurrences; it is selective for it when it also stays off "
               "over most occurrences of the phrase's words used elsewhere (each word alone, outside the phrase). "
               "Units ranked by how many phrases they are selective for, then by response minus control.")
    typed = st.text_area("Phrases", url.get("sel_ph"), key="sp_sel_ph", height=110,
                         placeholder="weather the storm\ndragging its feet\nbreak the ice")
    url.set_params(sel_ph=typed.strip())
    phrases = parse_phrases(typed)
    if not phrases:
        return
    keys = block.keys
    per_phrase, per_unit = phrase_selectivity(keys["text"].tolist(), keys["starts"].tolist(),
                                              keys["ends"].tolist(), block.sentence, phrases, thr)
    found = sorted(set(per_phrase["phrase"])) if len(per_phrase) else []
    missing = [p for p in phrases if p not in found]
    if missing:
        st.warning("Not in the stored sentences, so left out: " + "; ".join(missing))
    if per_unit.empty:
        return
    one = int(((per_unit["selective_for"] == 1) & (per_unit["responds_to"] == 1)).sum())
    many = int((per_unit["responds_to"] >= 3).sum())
    st.markdown(f"Of {int((per_unit['responds_to'] > 0).sum())} units that respond to at least one of the "
                f"{len(found)} phrases, **{one}** respond to exactly one and are selective for it; **{many}** respond "
                f"to three or more.")
    top = per_unit.head(20)["unit"].tolist()
    cells = per_phrase[per_phrase["unit"].isin(top)].copy()
    cells["unit"] = pd.Categorical(cells["unit"], categories=top, ordered=True)
    charts.show(ch.selectivity_chart, (18 * len(top) + 30,), {"cells": cells.sort_values("unit")}, width="stretch")
    table(per_unit, "span_selectivity", key="sp_selectivity_table")
    box, is_open = details("Every unit × phrase", key="sp_selectivity_open")
    if is_open:
        with box:
            table(per_phrase.drop(columns=["responds", "selective"]), "span_selectivity_phrases",
                  key="sp_selectivity_phrases")
