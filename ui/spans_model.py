"""The span-match page's data: the layers with stored token states, one (run, layer)'s states as a block (see
ui/spans.py), the search over its sentences and the matches of a set of units."""
from __future__ import annotations

import time

import numpy as np
import streamlit as st

from analysis.spans import find_matches
from ui import data
from ui.db import connection
from ui.spans import block
from warehouse import queries

__all__ = ["block", "layers", "row_index", "search", "matches"]


def layers():
    """Every (run, layer) with stored token states and its sizes (sums over every stored state: read once per
    file). Shared, do not modify."""
    return data.meta("span_layers")


@st.cache_resource(max_entries=6, show_spinner=False)
def _row_index(ident: tuple, run_id: str, layer: int, hidden: int) -> dict:
    keys = block(run_id, layer, hidden).keys
    return {(d, int(i)): r for r, (d, i) in enumerate(zip(keys["dataset"], keys["sentence_id"]))}


def row_index(run_id: str, layer: int, hidden: int) -> dict:
    """{(dataset, sentence_id): row of the block}. Shared, do not modify."""
    return _row_index(data.identity(), run_id, layer, hidden)


def search(run_id: str, layer: int, hidden: int, q: str) -> list[int]:
    """Block rows of the stored sentences of ``run_id`` that contain ``q`` (at most 200)."""
    hits = queries.span_search(connection(), run_id, q, 200)
    row_of = row_index(run_id, layer, hidden)
    return [row_of[(d, int(i))] for d, i in zip(hits["dataset"], hits["sentence_id"])]


def matches(states, sel: np.ndarray, query_len: int, thr: float, min_on: int):
    """(find_matches of units ``sel`` over the whole block, milliseconds it took)."""
    t0 = time.perf_counter()
    found = find_matches(states.columns(sel), states.offsets, query_len, thr, min_on)
    return found, 1000 * (time.perf_counter() - t0)
