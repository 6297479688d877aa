"""The direction under study (a neuron, a seeded random direction, or a pasted vector), kept in the URL."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import streamlit as st

from analysis.drift import one_hot, parse_vector, random_direction
from ui import url

KINDS = {"neuron": "Neuron", "random": "Random direction", "vector": "Pasted vector"}


@dataclass(frozen=True)
class Direction:
    kind: str  # neuron | random | vector
    vector: np.ndarray  # float64 [hidden_size]
    unit: int | None  # the neuron index when kind == neuron
    label: str  # e.g. "neuron 17", "random:42"


def select_datasets_and_k(all_datasets: list[str], key: str, max_k: int = 50, min_k: int = 1) -> tuple[list[str], int]:
    """The datasets multiselect and the k input side by side, both in the URL (ds, k)."""
    c1, c2 = st.columns([4, 1])
    with c1:
        datasets = select_datasets(all_datasets)
    with c2:
        k = url.number_input("k", "k", 10, min_k, max_k, key=key)
    return datasets, k


def select_direction(dim: int) -> Direction:
    kinds = list(KINDS)
    kind = st.radio("Direction", kinds, index=kinds.index(url.url_choice("dir", kinds, "neuron")),
                    format_func=KINDS.get, horizontal=True, key="dir_kind")
    if kind == "neuron":
        unit = st.number_input(f"Neuron (0 to {dim - 1})", 0, dim - 1, url.url_int("unit", 0, 0, dim - 1),
                               key=f"dir_unit_{dim}")
        url.set_params(dir=kind, unit=unit, seed=None, vec=None)
        return Direction(kind, one_hot(int(unit), dim), int(unit), f"neuron {unit}")
    if kind == "random":
        seed = st.number_input("Seed (the direction's id)", 0, 2**31 - 1, url.url_int("seed", 0, 0, 2**31 - 1),
                               key="dir_seed")
        url.set_params(dir=kind, seed=seed, unit=None, vec=None)
        return Direction(kind, random_direction(int(seed), dim), None, f"random:{seed}")
    text = st.text_area(f"Direction: {dim} numbers separated by commas or spaces", url.get("vec"),
                        key="dir_vec", height=100)
    if not text.strip():
        st.info(f"Paste a vector of {dim} numbers (e.g. a probe's weights) to study its direction.")
        st.stop()
    try:
        vec = parse_vector(text, dim)
    except ValueError as e:
        st.error(str(e))
        st.stop()
    url.set_params(dir=kind, vec=",".join(f"{v:.6g}" for v in vec), unit=None, seed=None)
    return Direction(kind, vec, None, "pasted vector")


def select_datasets(all_datasets: list[str]) -> list[str]:
    chosen = url.multiselect("Datasets", all_datasets, "ds", key="drift_ds", default=all_datasets)
    if not chosen:
        st.info("Choose at least one dataset.")
        st.stop()
    return chosen
