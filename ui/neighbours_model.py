"""Data for the nearest-sentences page: the warehouse's exact cosine search for a stored sentence, and for typed
text run live through the run's own model when the pipeline (torch, transformers) is installed.

The dashboard runs from requirements.txt alone (Community Cloud has no torch), so the pipeline is imported by
name, only when it is importable; without it the page offers stored sentences only.
"""
from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import json

import altair as alt
import pandas as pd
import streamlit as st

from ui.data import identity
from ui.db import connection
from warehouse import queries

LIVE_MISSING = ("Typed text needs the pipeline installed (torch and transformers: "
                "`pip install -r pipeline/requirements.txt`); this deployment searches stored sentences only.")
SEARCH_LIMIT = 50


class ModelUnavailable(RuntimeError):
    """The run's model cannot be loaded here (one line saying why)."""


def live_available() -> bool:
    """Whether typed text can be encoded here: the pipeline's model libraries are importable."""
    return all(importlib.util.find_spec(name) is not None for name in ("torch", "transformers"))


@st.cache_data(max_entries=64, show_spinner="Searching every stored vector…")
def _stored(ident: tuple, run_id: str, layer: int, pooling: str, dataset: str, sentence_id: int,
            datasets: tuple, k: int) -> pd.DataFrame:
    return queries.nearest_sentences(connection(), run_id, layer, pooling, dataset, sentence_id, datasets, k)


def stored_neighbours(sel, dataset: str, sentence_id: int, datasets: list[str], k: int) -> pd.DataFrame:
    """dataset, rank, sentence_id, similarity, text: the k nearest to a stored sentence, per dataset."""
    return _stored(identity(), sel.run_id, sel.layer, sel.pooling, dataset, int(sentence_id), tuple(datasets), k)


@st.cache_data(max_entries=64, show_spinner="Searching every stored vector…")
def _typed(ident: tuple, run_id: str, layer: int, pooling: str, vector: tuple, datasets: tuple,
           k: int) -> pd.DataFrame:
    return queries.nearest_to_vector(connection(), run_id, layer, pooling, list(vector), datasets, k)


def typed_neighbours(sel, text: str, datasets: list[str], k: int) -> pd.DataFrame:
    """The k nearest sentences to ``text`` run through the run's model, per dataset (ModelUnavailable when the
    model cannot be loaded here)."""
    vector = text_vector(sel.run_id, sel.layer, sel.pooling, text)
    return _typed(identity(), sel.run_id, sel.layer, sel.pooling, tuple(vector), tuple(datasets), k)


def load_run_model(run_id: str, make=None):
    """The run's model, rebuilt from its stored spec (runs.spec_json): ``make(spec)`` (default the pipeline's
    make_runner). ModelUnavailable, one line, when the run is unknown or its model cannot be loaded here."""
    spec_row = queries.run_spec(connection(), run_id)
    if spec_row is None:
        raise ModelUnavailable(f"run {run_id!r} is not in this warehouse")
    config = importlib.import_module("pipeline.config")
    errors = importlib.import_module("pipeline.errors")
    make = make or importlib.import_module("pipeline.models").make_runner
    raw = json.loads(spec_row["spec_json"])
    names = {f.name for f in dataclasses.fields(config.ModelSpec)}
    try:
        spec = config.ModelSpec(**{k: v for k, v in raw.items() if k in names})
        if spec.is_dictionary:  # the base model under the dictionary recorded for the run
            entry = queries.dictionary_runs(connection()).query("run_id == @run_id")
            if entry.empty:
                raise errors.PipelineError("no dictionaries row for the run")
            return importlib.import_module("pipeline.models.dictionary_runner").dictionary_runner(
                spec, entry.iloc[0].to_dict())
        return make(spec)
    except (errors.PipelineError, ImportError, OSError, ValueError) as e:
        raise ModelUnavailable(f"run {run_id!r}: its model {spec_row['model_path']!r} cannot be loaded here "
                               f"({str(e).splitlines()[0] if str(e) else type(e).__name__})") from None


@st.cache_resource(max_entries=2, show_spinner="Loading the run's model…")
def _runner(ident: tuple, run_id: str):
    return load_run_model(run_id)


@st.cache_data(max_entries=128, show_spinner="Running the model on the text…")
def _vector(ident: tuple, run_id: str, layer: int, pooling: str, text: str) -> tuple:
    runner = _runner(ident, run_id)
    if pooling not in runner.poolings or not 0 <= layer < len(runner.layer_names):
        raise ModelUnavailable(f"run {run_id!r}: the model has no layer {layer} with {pooling} pooling")
    enc = runner.encode([text])
    return tuple(float(v) for v in enc.vectors[layer, list(runner.poolings).index(pooling), 0])


def text_vector(run_id: str, layer: int, pooling: str, text: str) -> tuple:
    """The run's vector for ``text`` at (layer, pooling), computed as the build computed the stored ones."""
    if not live_available():
        raise ModelUnavailable(LIVE_MISSING)
    return _vector(identity(), run_id, int(layer), pooling, text)


def sentence_text(dataset: str, sentence_id: int) -> str | None:
    """The stored text of one sentence, or None when there is no such sentence."""
    df = queries.sentence_texts(connection(), pd.DataFrame({"dataset": [dataset], "sentence_id": [sentence_id]}))
    return str(df["text"].iloc[0]) if len(df) else None


def search(pattern: str, datasets: list[str]) -> pd.DataFrame:
    """Stored sentences containing ``pattern`` (any case), at most SEARCH_LIMIT."""
    return queries.search_sentences(connection(), pattern, datasets, limit=SEARCH_LIMIT)


def pick_hit() -> None:
    """Search-box callback: make the chosen hit the query sentence (in the URL; the dataset and id boxes then
    start again from it)."""
    choice = st.session_state.get("nn_hit")
    if not choice:
        return
    dataset, sid = choice.rsplit("\t", 1)
    st.query_params.update({"ds": dataset, "sid": sid})
    for key in [k for k in st.session_state if k == "nn_ds" or str(k).startswith("nn_sid_")]:
        del st.session_state[key]


def rank_chart(k: int):
    """Similarity by rank, one line per dataset (named data ``ranks``: dataset, rank, similarity, text)."""
    return alt.Chart(alt.NamedData("ranks")).mark_line(point=True).encode(
        x=alt.X("rank:Q", title="rank", scale=alt.Scale(domain=[1, max(k, 2)]),
                axis=alt.Axis(tickMinStep=1, format="d")),
        y=alt.Y("similarity:Q", title="cosine similarity", scale=alt.Scale(zero=False)),
        color=alt.Color("dataset:N"),
        tooltip=["dataset:N", "rank:Q", "sentence_id:Q", alt.Tooltip("similarity:Q", format=".4f"), "text:N"],
    ).properties(height=240)
