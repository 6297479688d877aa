"""Cached reads for the span-match page: one (run, layer)'s stored token states as a single numpy block, read once
per warehouse file (keyed by its identity, so a rebuilt warehouse is read afresh) and matched in memory."""
from __future__ import annotations

import streamlit as st

from analysis.spans import StateBlock, stack_rows
from ui.data import identity
from ui.db import connection
from warehouse import queries


@st.cache_resource(max_entries=4, show_spinner=False)
def _units(ident: tuple, run_id: str):
    # the same for every layer of the run
    return queries.span_units(connection(), run_id)


@st.cache_resource(max_entries=6, show_spinner="Reading the stored token states…")
def _block(ident: tuple, run_id: str, layer: int, hidden: int) -> StateBlock:
    con = connection()
    units = _units(ident, run_id)
    rows = queries.span_state_rows(con, run_id, layer)
    if list(zip(rows["dataset"], rows["sentence_id"])) != list(zip(units["dataset"], units["sentence_id"])):
        raise RuntimeError(f"token_states of {run_id} layer {layer} do not cover the same sentences as token_units")
    return stack_rows(rows["states"], rows["n_units"], rows["dtype"], rows["scale"], units, hidden)


def block(run_id: str, layer: int, hidden: int) -> StateBlock:
    """Every stored step of (run, layer); shared between sessions, do not modify."""
    return _block(identity(), run_id, layer, hidden)


_MD_SPECIAL = str.maketrans({c: "\\" + c for c in "\\`*_{}[]()#+-.!|<>$~:"})


def md(text: str) -> str:
    """Text shown literally inside st.markdown (no accidental emphasis, links or LaTeX)."""
    return " ".join(text.split("\n")).translate(_MD_SPECIAL)


def highlight(left: str, match: str, right: str) -> str:
    """Markdown of a match in its context, the match bold on an orange background. Spaces at the match's edges
    stay outside the markup (markdown emphasis cannot start or end with a space)."""
    core = match.strip()
    if not core:
        return md(left + match + right)
    lead, trail = match[: len(match) - len(match.lstrip())], match[len(match.rstrip()):]
    return f"{md(left)}{lead}:orange-background[**{md(core)}**]{trail}{md(right)}"
