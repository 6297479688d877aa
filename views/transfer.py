"""Explanation transfer: write an explanation of a unit from its quantile examples on one dataset, score it on the
held-out examples of every dataset, and see where it holds and where it breaks."""
import streamlit as st

from ui import charts, data, progress, url
from ui import transfer_model as model
from ui.db import connection
from ui.direction import select_datasets, select_direction
from ui.selection import select_run
from ui.tables import details, table

NUM = {c: st.column_config.NumberColumn(c, format="%.3f")
       for c in ("f1", "f1_lo", "f1_hi", "chance_f1", "precision", "recall", "drop", "drop_lo", "drop_hi", "p_value",
                 "value", "mean", "variance", "skewness", "kurtosis", "threshold", "density")}
HELP = {"keywords": "Keywords, comma-separated (whole words, any case)",
        "regex": "Regular expression (case-insensitive search)",
        "sentence": "The explanation in your words, e.g. 'mentions of food and cooking'"}


def examples(s: model.Sample, reference: str) -> None:
    st.subheader(f"Its examples on {reference}, by activation quantile")
    where = "stored by the build" if s.stored else "drawn here: the build stored none for this layer or direction"
    st.caption(f"The explain half of a seeded sample ({where}). Sentences from each of the 10 quantiles of the "
               "activating sentences (10 the strongest) and non-activating ones (quantile 0). Activating: above 0 for "
               "a sparse unit, above its median on the dataset for a dense one (a residual dimension). The other "
               "half of every dataset's sample is held out to score the explanation.")
    shown = model.explain_examples(s, reference)
    if not (shown["quantile"] > 0).any():
        st.info(f"This unit has no activating sentence on {reference} (it is constant there, or never above its "
                "threshold): there is nothing to explain on it. Choose another dataset or unit.")
    table(shown, f"transfer_explain_{reference}", key="transfer_explain_table", column_config=NUM)


def explanation(sel, direction) -> tuple[str, str, bool]:
    st.subheader("The explanation")
    kinds = list(model.KINDS)
    kind = st.radio("Explanation as", kinds, horizontal=True, key="transfer_kind", format_func=model.KINDS.get,
                    index=kinds.index(url.url_choice("expl_kind", kinds, "keywords")))
    if kind == "annotation":
        patterns = model.annotation_patterns(sel, direction)
        if patterns.empty:
            st.info("No blind annotation has a written pattern for this run yet (the Blind annotation page).")
            url.set_params(expl=None, expl_kind=None, ann=None)
            return kind, "", False
        ids = patterns["task_id"].astype(int).tolist()
        label = {int(r.task_id): f"{r.pattern} ({r.annotator}, {r.dataset}, {r.direction_id})"
                 for r in patterns.itertuples()}
        tid = url.selectbox("Pattern", ids, "ann", key="transfer_ann", format_func=label.get)
        text = str(patterns.set_index("task_id").loc[tid, "pattern"])
    elif kind == "labelled":
        text = st.text_area("Example sentences from the chosen datasets, one per line: '+ ' for the concept, '- ' for "
                            "not (nearest centroid in this layer's centred space)", value=url.get("expl"),
                            key="transfer_text", height=120)
    else:
        text = st.text_input(HELP[kind], value=url.get("expl"), key="transfer_text")
    judge = False
    if kind in ("sentence", "annotation"):
        cfg = model.llm_config()
        if cfg is not None:
            judge = st.checkbox(f"Score with the LLM judge ({cfg['model']} at {cfg['url']})", key="transfer_judge",
                                value=url.get("judge") == "1")
        if not judge:
            st.caption("Without an LLM judge a sentence is scored as the keyword rule of its content words "
                       "(function words and words such as 'neuron' or 'mentions' left out); set ILLUSION_LLM_URL and "
                       "ILLUSION_LLM_MODEL for an OpenAI-compatible judge (a local vLLM or Ollama).")
    if not text.strip():
        url.set_params(expl=None, expl_kind=None, judge=None)
        return kind, "", False
    url.set_params(expl=None if kind == "annotation" else text, expl_kind=kind, judge="1" if judge else None,
                   **({} if kind == "annotation" else {"ann": None}))
    return kind, text, judge


def results(r: model.Scores, reference: str) -> None:
    st.subheader("Where it holds and where it breaks")
    st.markdown(f"**{r.statement}**")
    charts.show(model.f1_chart, (reference,), {"table": r.table}, width="stretch")
    table(r.table, "transfer_scores", key="transfer_scores_table", column_config=NUM)
    st.caption("Detection on the held-out examples (delphi): does the explanation pick the activating examples out "
               "of the non-activating ones? precision, recall and F1 (sklearn's definitions); f1_lo/f1_hi: 95% BCa "
               "bootstrap interval; chance_f1: a random rule saying yes as often (grey tick); drop: F1 here minus F1 on "
               f"{reference}, with its bootstrap interval and a two-sided permutation p-value (scipy.stats). breaks: "
               "F1 significantly lower (p < 0.05, the interval below 0); holds: no significant drop and F1's interval above "
               "chance; at chance: no significant drop, but not clearly above chance.")
    st.subheader("Per quantile")
    charts.show(model.quantile_chart, (), {"quantiles": r.quantiles}, width="stretch")
    table(r.quantiles, "transfer_quantiles", key="transfer_quantiles_table", column_config=NUM)
    st.caption("Each quantile's held-out examples against the dataset's held-out non-activating ones: an explanation "
               "that only describes the strongest activations has recall near 1 at quantile 10 and falls off below.")
    box, is_open = details("The held-out examples and the explanation's answers", "transfer_held_box")
    if is_open:
        with box:
            table(r.heldout, "transfer_heldout", key="transfer_heldout_table", column_config=NUM)


st.title("Explanation transfer")
st.caption("An explanation of a unit written on one dataset, scored on held-out examples of every dataset: the "
           "interpretability illusion as a number. Explanation tools score on the text they explained; this page "
           "scores on the others too.")
sel = select_run(connection())
progress.wait_for("extract", sel.run_id)
direction = select_direction(int(sel.run["hidden_size"]))
datasets = select_datasets(data.meta("datasets", sel.run_id)["dataset"].tolist())
reference = url.selectbox("Explanation written on", datasets, "ref", key="transfer_ref")
s = model.sample(sel, direction, datasets)
st.subheader(f"{direction.label} · layer {sel.layer} ({sel.layer_name}) · {sel.pooling}")
examples(s, reference)
with st.expander("The unit's activation on each dataset (summary statistics)"):
    table(model.stats_table(s), "transfer_stats", key="transfer_stats_table", column_config=NUM)
kind, text, judge = explanation(sel, direction)
if not text:
    st.info("Write an explanation (or choose keywords, a regex, labelled sentences or an annotation's pattern) to "
            "score it on every dataset.")
    st.stop()
try:
    if kind == "labelled" and (missing := model.missing_examples(datasets, text)):
        st.warning(f"{len(missing)} example(s) not found in the chosen datasets, ignored: " + "; ".join(missing[:3]))
    scores = model.score(sel, s, datasets, reference, kind, text, judge)
except ValueError as e:
    st.error(str(e))
    st.stop()
results(scores, reference)
