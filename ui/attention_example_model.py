"""Data for the per-example attention page: one item's attention in every head and block, read from the
warehouse's stored sample (attention_examples) or computed live by the run's own model when the pipeline (torch,
transformers) is installed here.

The dashboard runs from requirements.txt alone (Community Cloud has no torch), so the pipeline is imported by name
and only for a live computation; without it the page offers the stored items only.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass

import numpy as np
import pandas as pd
import streamlit as st

from analysis.attention_example import grid_frame, labels, lines_frame, token_frame, unpack, weights_frame
from ui.data import identity
from ui.db import connection
from ui.links import attention_link as link  # noqa: F401  (the page links its stored items)
from ui.neighbours_model import ModelUnavailable, load_run_model
from ui.neighbours_model import live_available  # noqa: F401  (the same test: torch and transformers importable)
from warehouse import queries

LIVE_MISSING = ("Live attention needs the pipeline installed (torch and transformers: `pip install -r "
                "pipeline/requirements.txt`); this deployment shows the stored items only.")
LINE_MIN = 0.02  # the lines chart leaves out weights below this (the table and downloads have them all)


@dataclass(frozen=True)
class ItemAttention:
    """One item's attention: tokens [T], weights float32 [n_blocks, H, T, T] (block l is layer l + 1), where
    they came from ("live" or "stored") and, when stored, the packing's dtype and recorded max error."""

    tokens: tuple
    weights: np.ndarray
    source: str
    dtype: str | None = None
    max_error: float | None = None


def runs() -> pd.DataFrame:
    """run_id, model_name, n_blocks, n_heads, n_examples of every transformer run."""
    return queries.attention_example_runs(connection())


def datasets(run_id: str) -> pd.DataFrame:
    return queries.attention_example_datasets(connection(), run_id)


def stored_items(run_id: str, dataset: str) -> pd.DataFrame:
    return queries.attention_example_items(connection(), run_id, dataset)


def sentence(dataset: str, sentence_id: int) -> dict | None:
    return queries.attention_example_sentence(connection(), dataset, sentence_id)


@st.cache_data(max_entries=32, show_spinner=False)
def _stored(ident: tuple, run_id: str, dataset: str, sentence_id: int) -> ItemAttention | None:
    row = queries.attention_example(connection(), run_id, dataset, sentence_id)
    if row is None:
        return None
    w = unpack(row["weights"], row["dtype"], row["scale"], row["n_layers"], row["n_heads"], row["n_tokens"])
    return ItemAttention(tuple(row["tokens"]), w, "stored", row["dtype"], float(row["max_error"]))


def stored(run_id: str, dataset: str, sentence_id: int) -> ItemAttention | None:
    """The item's stored attention, or None when it is not in the stored sample."""
    return _stored(identity(), run_id, dataset, int(sentence_id))


@st.cache_resource(max_entries=2, show_spinner="Loading the run's model…")
def _runner(ident: tuple, run_id: str):
    transformer = importlib.import_module("pipeline.models.transformer")
    # eager attention: the fast SDPA path returns no weights
    return load_run_model(run_id, lambda spec: transformer.TransformerRunner(spec, attentions=True))


@st.cache_data(max_entries=32, show_spinner="Running the model on the item…")
def _live(ident: tuple, run_id: str, text: str, text_b: str | None) -> ItemAttention:
    runner = _runner(ident, run_id)
    stage = importlib.import_module("pipeline.stages.attention")
    tokens, att = stage.item_attentions(runner.model, runner.tokenizer, text, text_b, runner.max_length)
    return ItemAttention(tuple(tokens), att, "live")


def live(run_id: str, text: str, text_b: str | None) -> ItemAttention:
    """The item's attention computed now by the run's model, as the build computes it (ModelUnavailable when it
    cannot be loaded here)."""
    if not live_available():
        raise ModelUnavailable(LIVE_MISSING)
    return _live(identity(), run_id, text, text_b)


def source_line(item: ItemAttention, model_name: str, encoder: str = "pretrained") -> str:
    """The plain line saying where the weights shown come from. ``encoder``: the dataset's attention_encoders
    entry (the stored weights of a 'finetuned' dataset came from the fine-tuned copy, which is not kept: live
    weights are always the pretrained model's)."""
    if item.source == "live":
        return f"Weights: **live**, computed now by the run's model ({model_name}, eager attention)." + (
            " This dataset's clusters and stored items came from a copy fine-tuned on its train split, which is "
            "not kept: these live weights are the **pretrained** encoder's, not the fine-tuned one's."
            if encoder == "finetuned" else "")
    return (f"Weights: **stored** (attention_examples, packed as {item.dtype}; largest decoding error "
            f"{item.max_error:.1e}), not recomputed" + (
                ", from the **fine-tuned** copy of the encoder the attention clusters used." if encoder == "finetuned"
                else "."))


def grid(item: ItemAttention) -> tuple[pd.DataFrame, int]:
    """The head x layer grid's frame (layer, head, i, j, weight) and its token block size."""
    return grid_frame(item.weights)


def head(item: ItemAttention, layer: int, head_: int) -> pd.DataFrame:
    """Every weight of one head (layer 1-based) in long form, with position-prefixed token labels."""
    df = weights_frame(item.weights, item.tokens, [layer], [head_])
    names = np.asarray(labels(item.tokens), dtype=object)
    return df.assign(from_label=names[df["from_index"].to_numpy()], to_label=names[df["to_index"].to_numpy()])


def lines(item: ItemAttention, layer: int, head_: int) -> pd.DataFrame:
    return lines_frame(item.weights[layer - 1, head_], item.tokens, LINE_MIN)


def tokens(item: ItemAttention) -> pd.DataFrame:
    return token_frame(item.tokens)


def all_weights_csv(item: ItemAttention) -> bytes:
    """Every layer's and head's weights as CSV (layer, head, from_index, from_token, to_index, to_token, weight)."""
    return weights_frame(item.weights, item.tokens).to_csv(index=False).encode()
