"""Anisotropy: how contextual are the representations, layer by layer (Ethayarajh 2019)."""
import difflib

import streamlit as st

from analysis import anisotropy_view as av
from analysis.anisotropy import POOLED, mark_word
from ui import anisotropy_model as model
from ui import anisotropy_sections as sections
from ui import url
from ui.db import connection
from ui.selection import select_run
from ui.tables import table
from ui import progress

RANK_OPTIONS = {"mev_adj": "adjusted MEV (MEV − its chance level for the word's number of contexts)",
                "mev": "raw MEV"}


def summary(sel, layers, words) -> None:
    pooled = layers[layers["dataset"] == POOLED].sort_values("layer")
    first = pooled.iloc[0]
    if words.empty:
        st.warning(f"No word of run `{sel.run_id}` has enough contexts (anisotropy.min_contexts) in any dataset, so "
                   "the stage measured nothing: lower `--set anisotropy.min_contexts=...` or add text.")
    st.markdown(
        f"Run `{sel.run_id}` ({sel.run['model_name']}): {int(first['n_words'])} pooled words plus up to "
        f"{int(layers[layers['dataset'] != POOLED]['n_words'].max())} per dataset, each in up to "
        f"{int(words['n_contexts'].max()) if len(words) else 0} sentences; "
        f"{int(pooled['n_sentences'].iloc[0])} sentences for intra-sentence similarity; {int(first['n_baseline'])} "
        "random words for the baseline. *(pooled)* treats every dataset as one corpus.")


def word_lookup(run_id: str, words, static_all, order: tuple, samples: list[str]) -> None:
    st.subheader("Word lookup")
    word = st.text_input("Word (lower-case letters; e.g. one of the most static words below)", url.get("word"),
                         key="aniso_word").strip().lower()
    url.set_params(word=word)
    if not word:
        st.caption("Most static words of this run (pooled, by their lowest MEV over the layers): "
                   + ", ".join(f"`{w}`" for w in static_all["word"].head(8)))
        return
    rows = model.word(run_id, word)
    if rows.empty:
        close = difflib.get_close_matches(word, words["word"].tolist(), n=6)
        st.warning(f"'{word}' is not among the {len(words):,} sampled words of run `{run_id}` (a word needs "
                   "enough contexts in a dataset and a place in the sample)."
                   + (f" Close: {', '.join(close)}." if close else ""))
        return
    rows = av.word_rows(rows)
    st.markdown(f"**{word}**: in {rows['dataset'].nunique()} sample(s), "
                f"{int(rows['n_contexts'].max())} contexts at most.")
    c1, c2 = st.columns(2)
    # the titles name the word (a new spec per looked-up word, not per rerun): the tests find the charts by them
    sections.curve(c1, rows, "self_sim", f"'{word}': self-similarity", "SelfSim", order, tuple(samples))
    sections.curve(c2, rows, "mev", f"'{word}': maximum explainable variance", "MEV", order, tuple(samples))
    table(rows.drop(columns=["layer_label", "n_sentences", "n_words"]), f"anisotropy_word_{word}",
          key="aniso_word_table")
    in_samples = [s for s in samples if s in set(rows["dataset"])]
    sample = url.selectbox("Contexts from", in_samples, "wsample", "aniso_wsample")
    ctx = model.word_contexts(run_id, word, sample)
    st.markdown("\n".join(f"{i}. {mark_word(r.text, r.char_start, r.char_end)} — *{r.dataset} "
                          f"#{r.sentence_id}*{'' if r.used else ' (not used: cut off by truncation)'}"
                          for i, r in enumerate(ctx.itertuples(), 1)))
    table(ctx, f"anisotropy_contexts_{word}", key="aniso_ctx_table")


def static_words(sel, samples: list[str]) -> None:
    st.subheader(f"Most static and most contextual words · layer {sel.layer} ({sel.layer_name})")
    c1, c2 = st.columns([3, 1])
    sample = url.selectbox("Dataset", samples, "sample", "aniso_sample", where=c1)
    k = url.number_input("Words per table", "k", 15, 1, 500, key="aniso_k", where=c2)
    by = url.radio("Rank the static words by", list(RANK_OPTIONS), "by", "aniso_by", format_func=RANK_OPTIONS.get,
                   horizontal=True)
    sections.word_tables(sel.run_id, sel.layer, sample, k, by)


st.title("Anisotropy")
st.caption("How contextual are contextualized word representations? (Ethayarajh 2019; the \"BERT Visualization\" "
           "study on SNLI). Per layer: how much a word's vector changes across its contexts, how alike the words "
           "of one sentence are, and how alike any two random words are, the anisotropy that the adjusted "
           "metrics subtract.")
sel = select_run(connection(), pooling=False)  # the anisotropy measures are per token: no pooling
progress.wait_for("anisotropy", sel.run_id)
layers = model.layers(sel.run_id)
if layers.empty:
    st.info(f"This warehouse has no anisotropy results for run `{sel.run_id}`. Build them with "
            "`python -m pipeline build --preset demo` (the anisotropy stage runs by default; "
            "`--set anisotropy.words=400` sets the words sampled per dataset, `--set anisotropy.enabled=false` "
            "skips it).")
    st.stop()
names = av.layer_names(layers)
layers = av.with_labels(layers)
order = tuple(av.axis_label(i, n) for i, n in names.items())
samples = av.samples(layers)
pooled = layers[layers["dataset"] == POOLED].sort_values("layer")
words = model.word_list(sel.run_id)
summary(sel, layers, words)
sections.definitions()
sections.curves(layers, order, tuple(samples))
sections.depth(layers, pooled, names.tolist(), samples)
static_all = model.static_across(sel.run_id, POOLED, 50)
sections.findings(sel.run_id, pooled, static_all)
word_lookup(sel.run_id, words, static_all, order, samples)
static_words(sel, samples)
sections.runs_compared()
