"""Anisotropy: how contextual are the representations, layer by layer (Ethayarajh 2019)."""
import difflib

import altair as alt
import pandas as pd
import streamlit as st

from analysis.anisotropy import (CONE_BASELINE, POOLED, STATIC_MEV, compare_runs_text, context_overlap, depth_groups,
                                 depth_trend, mark_word, relative_depth, study_findings, trend_sentence)
from ui import charts
from ui.db import connection
from ui.direction import url_int
from ui.selection import select_run, set_params
from ui.tables import table
from warehouse import queries

st.title("Anisotropy")
st.caption("How contextual are contextualized word representations? (Ethayarajh 2019; the \"BERT Visualization\" "
           "study on SNLI). Per layer: how much a word's vector changes across its contexts, how alike the words "
           "of one sentence are, and how alike any two random words are, the anisotropy that the adjusted "
           "metrics subtract.")

con = connection()
sel = select_run(con, pooling=False)  # the anisotropy measures are per token: no pooling
layers = queries.anisotropy_layers(con, sel.run_id)
if layers.empty:
    st.info(f"This warehouse has no anisotropy results for run `{sel.run_id}`. Build them with "
            "`python -m pipeline build --preset demo` (the anisotropy stage runs by default; "
            "`--set anisotropy.words=400` sets the words sampled per dataset, `--set anisotropy.enabled=false` "
            "skips it).")
    st.stop()

names = layers.drop_duplicates("layer").set_index("layer")["layer_name"]


def axis_label(layer: int, name: str) -> str:
    """A short axis label: 0: embed, 3: blocks.2, 1: lstm1.cell."""
    return f"{int(layer)}: " + str(name).replace("hook_embed", "embed").replace(".hook_resid_post", "")


layers["layer_label"] = [axis_label(i, n) for i, n in zip(layers["layer"], layers["layer_name"])]
order = [axis_label(i, n) for i, n in names.items()]
samples = [POOLED] + sorted(d for d in layers["dataset"].unique() if d != POOLED)
pooled = layers[layers["dataset"] == POOLED].sort_values("layer")
first = pooled.iloc[0]

words = queries.anisotropy_word_list(con, sel.run_id)
if words.empty:
    st.warning(f"No word of run `{sel.run_id}` has enough contexts (anisotropy.min_contexts) in any dataset, so "
               "the stage measured nothing: lower `--set anisotropy.min_contexts=...` or add text.")
st.markdown(
    f"Run `{sel.run_id}` ({sel.run['model_name']}): {int(first['n_words'])} pooled words plus up to "
    f"{int(layers[layers['dataset'] != POOLED]['n_words'].max())} per dataset, each in up to "
    f"{int(words['n_contexts'].max()) if len(words) else 0} sentences; "
    f"{int(pooled['n_sentences'].iloc[0])} sentences for intra-sentence similarity; {int(first['n_baseline'])} "
    "random words for the baseline. *(pooled)* treats every dataset as one corpus.")

with st.expander("Definitions (formulas)", expanded=False):
    st.markdown("A **word** is a run of letters (inner apostrophes allowed), lower-cased. Its **vector** at a layer, "
                "in one sentence, is the mean of the model's units whose character span lies inside the word: its "
                "WordPieces for a transformer (a word split into pieces is the mean of its pieces), its characters "
                "for the character LSTM. A unit that crosses the word's edge is never used; a word cut off by "
                "truncation has no vector. A context is a sentence, counted once (a repeated text too).")
    st.markdown("**Self-similarity** of word $w$ with vectors $v_1 \\dots v_n$ in $n$ different sentences, "
                "averaged over the sampled words:")
    st.latex(r"\mathrm{SelfSim}_\ell(w) = \frac{1}{n(n-1)/2}\sum_{i<j}\cos\big(v_i^{(\ell)}, v_j^{(\ell)}\big)")
    st.markdown("**Intra-sentence similarity** of a sentence with word vectors $w_1 \\dots w_m$ ($m \\ge 2$), "
                "averaged over the sentences the stage ran:")
    st.latex(r"\vec s^{(\ell)} = \frac1m\sum_i w_i^{(\ell)}, \qquad "
             r"\mathrm{IntraSim}_\ell(s) = \frac1m\sum_{i}\cos\big(w_i^{(\ell)}, \vec s^{(\ell)}\big)")
    st.markdown("**Anisotropy baseline**: the mean cosine over all pairs of $N$ word vectors drawn uniformly from "
                "the word tokens, at most one per sentence (so every pair is from two different contexts):")
    st.latex(r"\mathrm{Baseline}_\ell = \frac{1}{N(N-1)/2}\sum_{i<j}\cos\big(r_i^{(\ell)}, r_j^{(\ell)}\big)")
    st.markdown("**Maximum explainable variance** of a word: the first principal component's share of the variance "
                "of its centred context matrix $X \\in \\mathbb R^{n\\times H}$ (as sklearn's "
                "`PCA().explained_variance_ratio_[0]`), with $\\sigma_1 \\ge \\sigma_2 \\ge \\dots$ the singular "
                "values of $X - \\bar X$:")
    st.latex(r"\mathrm{MEV}_\ell(w) = \frac{\sigma_1^2}{\sum_k \sigma_k^2}")
    st.markdown("**Adjusted** (for anisotropy): subtract the same layer's baseline from self-similarity and "
                "intra-sentence similarity; from MEV, subtract the mean MEV of random sets of $n$ baseline word "
                "vectors (the same $n$ as the word's contexts, since MEV is larger by chance with fewer contexts):")
    st.latex(r"\mathrm{SelfSim}^{adj} = \mathrm{SelfSim} - \mathrm{Baseline},\quad "
             r"\mathrm{IntraSim}^{adj} = \mathrm{IntraSim} - \mathrm{Baseline},\quad "
             r"\mathrm{MEV}^{adj}(w) = \mathrm{MEV}(w) - \mathbb E\big[\mathrm{MEV}(\text{$n$ random words})\big]")
    st.markdown("Stored: the metrics per word, per sentence and per layer, and every context's sentence and "
                "character span (tables `anisotropy_layers`, `anisotropy_words`, `anisotropy_sentences`, "
                "`anisotropy_contexts`), not the word vectors themselves.")


def curve_chart(column: str, title: str, axis: str, order: tuple, samples: tuple, height: int = 280):
    """One metric across layers, a line per dataset (pooled thick). Streamlit fits the whole chart into its
    frame, so ``axis`` (the y title) stays short and the legend on the side: otherwise the plot is squashed."""
    base = alt.Chart(alt.NamedData("curve")).encode(
        x=alt.X("layer_label:O", sort=list(order), title="layer", axis=alt.Axis(labelAngle=-30, labelLimit=120)),
        y=alt.Y(f"{column}:Q", title=axis, scale=alt.Scale(zero=False)),
        color=alt.Color("dataset:N", sort=list(samples), title=None),
        strokeDash=alt.condition(alt.datum.dataset == POOLED, alt.value([1, 0]), alt.value([5, 3])),
        strokeWidth=alt.condition(alt.datum.dataset == POOLED, alt.value(3.5), alt.value(1.5)),
        tooltip=["dataset:N", "layer:Q", "layer_name:N", alt.Tooltip(f"{column}:Q", format=".4f"), "n_words:Q",
                 "n_sentences:Q"],
    )
    return (base.mark_line() + base.mark_point(size=30, filled=True)).properties(title=title, height=height)


def curve(where, df: pd.DataFrame, column: str, title: str, axis: str) -> None:
    """Draw ``column`` of ``df`` across layers in ``where``, shipping only the columns the chart draws or shows.
    The spec is cached per metric, title and run (its layer order and datasets)."""
    cols = ["layer_label", "dataset", "layer", "layer_name", column, "n_words", "n_sentences"]
    charts.show(curve_chart, (column, title, axis, tuple(order), tuple(samples)), {"curve": df[cols]}, where=where,
                width="stretch")


st.subheader("Per layer, per dataset and pooled")
st.caption("Thick line: pooled (every dataset as one corpus); dashed: each dataset.")
for raw, adj, label, short in [("self_sim", "self_sim_adj", "Self-similarity", "SelfSim"),
                               ("intra_sim", "intra_sim_adj", "Intra-sentence similarity", "IntraSim"),
                               ("mev", "mev_adj", "Maximum explainable variance", "MEV")]:
    c1, c2 = st.columns(2)
    curve(c1, layers, raw, label, short)
    curve(c2, layers, adj, f"{label}, anisotropy-adjusted", f"{short} − {'random MEV' if raw == 'mev' else 'baseline'}")
c1, c2 = st.columns(2)
curve(c1, layers, "baseline", "Anisotropy baseline: cosine of random words", "mean cosine")
curve(c2, layers, "mev_random", "MEV of random word sets (the MEV baseline)", "MEV")
table(layers.drop(columns=["layer_label"]), "anisotropy_layers", key="aniso_layers_table")

st.subheader("Does self-similarity fall with depth on this model?")
groups = depth_groups(names.tolist())
by_layer = pooled.set_index("layer")
for stream, idx in groups.items():
    sub = by_layer.loc[idx].reset_index()[["layer", "layer_name", "self_sim", "self_sim_adj", "intra_sim",
                                           "intra_sim_adj"]].rename(columns={"layer_name": "name"})
    where = "" if stream == "all layers" else f"**{stream} stream** (lstm1 → lstm2): "
    st.markdown(where + trend_sentence("Pooled self-similarity", sub, "self_sim") + " "
                + trend_sentence("Adjusted for anisotropy, it", sub, "self_sim_adj") + " "
                + trend_sentence("Intra-sentence similarity", sub, "intra_sim"))
if len(groups) > 1:
    st.caption("The LSTM's layer index interleaves two streams (hidden and cell state of each LSTM layer), so "
               "depth is read within a stream: lstm1 then lstm2.")
per_ds = {kind: [all(depth_trend(layers[layers["dataset"] == d].set_index("layer").loc[idx, kind])["falls"]
                     for idx in groups.values()) for d in samples[1:]] for kind in ("self_sim", "self_sim_adj")}
st.markdown(f"Per dataset, self-similarity falls with depth in **{sum(per_ds['self_sim'])} of "
            f"{len(samples) - 1}** datasets (adjusted: {sum(per_ds['self_sim_adj'])} of {len(samples) - 1}).")

static_all = queries.anisotropy_static_across(con, sel.run_id, POOLED, 50)
top_overlap = context_overlap(queries.anisotropy_contexts_of_words(con, sel.run_id, POOLED,
                                                                   static_all["word"].head(1).tolist()))
findings = study_findings(pooled, static_all, top_overlap)
st.subheader("The study's four findings on this run")
st.markdown("\n".join(f"- {'✅ holds' if r.holds else '❌ does not hold'}: **{r.finding}**. Here: {r.measured}."
                      for r in findings.itertuples()))
st.caption(f"Thresholds that make the study's words explicit: \"high\" random-word cosine = above {CONE_BASELINE}; "
           f"MEV \"almost 1\" = at least {STATIC_MEV}. Depth trends: the last layer below the first and a negative "
           "Spearman ρ of depth vs value.")
table(findings, "anisotropy_findings", key="aniso_findings_table")

# ---------------------------------------------------------------------------------------------------------
st.subheader("Word lookup")
word = st.text_input("Word (lower-case letters; e.g. one of the most static words below)",
                     st.query_params.get("word", ""), key="aniso_word").strip().lower()
if word:
    set_params(word=str(word))
else:
    st.query_params.pop("word", None)
    st.caption("Most static words of this run (pooled, by their lowest MEV over the layers): "
               + ", ".join(f"`{w}`" for w in static_all["word"].head(8)))
if word:
    rows = queries.anisotropy_word(con, sel.run_id, word)
    if rows.empty:
        close = difflib.get_close_matches(word, words["word"].tolist(), n=6)
        st.warning(f"'{word}' is not among the {len(words):,} sampled words of run `{sel.run_id}` (a word needs "
                   "enough contexts in a dataset and a place in the sample)."
                   + (f" Close: {', '.join(close)}." if close else ""))
    else:
        rows["layer_label"] = [axis_label(i, n) for i, n in zip(rows["layer"], rows["layer_name"])]
        rows["n_sentences"] = rows["n_contexts"]
        rows["n_words"] = 1
        st.markdown(f"**{word}**: in {rows['dataset'].nunique()} sample(s), "
                    f"{int(rows['n_contexts'].max())} contexts at most.")
        c1, c2 = st.columns(2)
        # the titles name the word (a new spec per looked-up word, not per rerun): the tests find the charts by them
        curve(c1, rows, "self_sim", f"'{word}': self-similarity", "SelfSim")
        curve(c2, rows, "mev", f"'{word}': maximum explainable variance", "MEV")
        table(rows.drop(columns=["layer_label", "n_sentences", "n_words"]), f"anisotropy_word_{word}",
              key="aniso_word_table")
        in_samples = [s for s in samples if s in set(rows["dataset"])]
        wanted = st.query_params.get("wsample")
        sample = st.selectbox("Contexts from", in_samples, key="aniso_wsample",
                              index=in_samples.index(wanted) if wanted in in_samples else 0)
        set_params(wsample=str(sample))
        ctx = queries.anisotropy_word_contexts(con, sel.run_id, word, sample)
        st.markdown("\n".join(f"{i}. {mark_word(r.text, r.char_start, r.char_end)} — *{r.dataset} "
                              f"#{r.sentence_id}*{'' if r.used else ' (not used: cut off by truncation)'}"
                              for i, r in enumerate(ctx.itertuples(), 1)))
        table(ctx, f"anisotropy_contexts_{word}", key="aniso_ctx_table")

# ---------------------------------------------------------------------------------------------------------
st.subheader(f"Most static and most contextual words · layer {sel.layer} ({sel.layer_name})")
c1, c2 = st.columns([3, 1])
wanted = st.query_params.get("sample")
sample = c1.selectbox("Dataset", samples, index=samples.index(wanted) if wanted in samples else 0,
                      key="aniso_sample")
set_params(sample=str(sample))
k = url_int("Words per table", "k", 15, 1, 500, key="aniso_k", where=c2)
rank_options = {"mev_adj": "adjusted MEV (MEV − its chance level for the word's number of contexts)",
                "mev": "raw MEV"}
by = st.radio("Rank the static words by", list(rank_options), format_func=rank_options.get, horizontal=True,
              index=list(rank_options).index(st.query_params.get("by", "mev_adj"))
              if st.query_params.get("by") in rank_options else 0, key="aniso_by")
set_params(by=str(by))
static = queries.anisotropy_static_words(con, sel.run_id, sel.layer, sample, k, by)
contextual = queries.anisotropy_contextual_words(con, sel.run_id, sel.layer, sample, k)
c1, c2 = st.columns(2)
with c1:
    st.markdown(f"**Most static** (highest {'adjusted ' if by == 'mev_adj' else ''}MEV: one direction explains "
                "most of the word's variation)")
    if by == "mev" and len(static):
        few = static[static["n_contexts"] == static["n_contexts"].min()]
        st.caption(f"{len(few)} of these {len(static)} words have only {int(few['n_contexts'].iloc[0])} contexts, "
                   f"where random word sets already reach an MEV of {few['mev_random'].mean():.2f}: raw MEV "
                   "favours words with few contexts.")
    table(static, f"anisotropy_static_{sample}_layer{sel.layer}", key="aniso_static_table")
with c2:
    st.markdown("**Most contextual** (lowest self-similarity across contexts)")
    table(contextual, f"anisotropy_contextual_{sample}_layer{sel.layer}", key="aniso_ctx_words_table")
st.markdown(f"**Static at every layer** ({sample}: words ranked by their lowest MEV over all layers; overlap = mean "
            "word overlap (Jaccard) between the word's contexts, same_left = share of context pairs with identical "
            "text before the word)")
across = queries.anisotropy_static_across(con, sel.run_id, sample, k)
all_words = queries.anisotropy_word_list(con, sel.run_id)["word"].tolist()
reference = all_words[:: max(1, len(all_words) // 100)]  # an even spread of ~100 sampled words, for comparison
overlaps = context_overlap(queries.anisotropy_contexts_of_words(con, sel.run_id, sample,
                                                                across["word"].tolist() + reference))
across = across.merge(overlaps[["word", "overlap", "same_left"]], on="word", how="left")
table(across, f"anisotropy_static_every_layer_{sample}", key="aniso_static_across_table")
ref = overlaps[overlaps["word"].isin(reference)]
if len(across) and len(ref):
    st.markdown(
        f"Do the most static words owe it to their contexts? Their contexts overlap by "
        f"{across['overlap'].mean():.2f} on average (Jaccard of the sentences' words), against "
        f"{ref['overlap'].mean():.2f} for {len(ref)} sampled words spread over the vocabulary; "
        f"{int((across['same_left'] >= 0.5).sum())} of these {len(across)} words have the same text before them "
        f"in at least half of their context pairs (against {int((ref['same_left'] >= 0.5).sum())} of the "
        f"{len(ref)}). Near-duplicate contexts (e.g. SNLI hypotheses written from their premise) make a word look "
        "static; for a left-to-right model such as the LSTM an identical left context gives an identical vector.")

# ---------------------------------------------------------------------------------------------------------
compare = queries.anisotropy_compare(con)
if compare["run_id"].nunique() > 1:
    st.subheader("Runs compared (pooled)")
    parts = []
    for run_id, grp in compare.groupby("run_id"):
        pos = relative_depth(grp.sort_values("layer")["layer_name"].tolist())
        g = grp.merge(pos, on="layer")
        g["line"] = [run_id if s == "" else f"{run_id} {s}" for s in g["stream"]]
        parts.append(g)
    both = pd.concat(parts, ignore_index=True)
    metric = st.radio("Metric", ["self_sim_adj", "self_sim", "intra_sim_adj", "intra_sim", "baseline", "mev_adj",
                                 "mev"], horizontal=True, key="aniso_cmp_metric",
                      index=["self_sim_adj", "self_sim", "intra_sim_adj", "intra_sim", "baseline", "mev_adj",
                             "mev"].index(st.query_params.get("cmp", "self_sim_adj"))
                      if st.query_params.get("cmp") in {"self_sim_adj", "self_sim", "intra_sim_adj", "intra_sim",
                                                        "baseline", "mev_adj", "mev"} else 0)
    set_params(cmp=str(metric))

    def compare_chart(metric: str):
        return alt.Chart(alt.NamedData("runs")).mark_line(point=True).encode(
            x=alt.X("depth:Q", title="relative depth (transformer: block / blocks, embedding output = 0; "
                                      "LSTM: layer / 2)", scale=alt.Scale(domain=[0, 1])),
            y=alt.Y(f"{metric}:Q", title=metric, scale=alt.Scale(zero=False)),
            color=alt.Color("line:N", title="run / stream"),
            tooltip=["run_id:N", "layer:Q", "layer_name:N", alt.Tooltip(f"{metric}:Q", format=".4f")],
        ).properties(height=320)

    # one spec per metric of the radio (seven at most)
    charts.show(compare_chart, (metric,), {"runs": both[["depth", metric, "line", "run_id", "layer", "layer_name"]]},
                width="stretch")
    st.markdown(compare_runs_text(both, metric) + " Depth is not the same thing either: the LSTM has two "
                "recurrent layers with two state streams, read left to right over characters; the transformer "
                "stacks attention blocks over WordPieces, both directions.")
    table(both.drop(columns=["line"]), "anisotropy_runs_compared", key="aniso_cmp_table")
