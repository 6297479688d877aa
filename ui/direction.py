"""The direction under study (a neuron, a seeded random direction, or a pasted vector), kept in the URL."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import streamlit as st

from analysis.drift import one_hot, parse_vector, random_direction
from ui.selection import set_params

KINDS = {"neuron": "Neuron", "random": "Random direction", "vector": "Pasted vector"}


@dataclass(frozen=True)
class Direction:
    kind: str  # neuron | random | vector
    vector: np.ndarray  # float64 [hidden_size]
    unit: int | None  # the neuron index when kind == neuron
    label: str  # e.g. "neuron 17", "random:42"


def _int_param(name: str, default: int, lo: int, hi: int) -> int:
    try:
        v = int(st.query_params.get(name, default))
    except ValueError:
        return default
    return v if lo <= v <= hi else default


def url_int(label: str, param: str, default: int, lo: int, hi: int, key: str, where=st, **kwargs) -> int:
    """A number input whose value comes from and goes back to ``st.query_params[param]`` (bad values: default)."""
    default = min(max(default, lo), hi)
    value = where.number_input(label, lo, hi, _int_param(param, default, lo, hi), key=key, **kwargs)
    set_params(**{param: str(value)})
    return int(value)


def select_datasets_and_k(all_datasets: list[str], key: str, max_k: int = 50, min_k: int = 1) -> tuple[list[str], int]:
    """The datasets multiselect and the k input side by side, both in the URL (ds, k)."""
    c1, c2 = st.columns([4, 1])
    with c1:
        datasets = select_datasets(all_datasets)
    with c2:
        k = url_int("k", "k", 10, min_k, max_k, key=key)
    return datasets, k


def select_direction(dim: int) -> Direction:
    qp = st.query_params
    kinds = list(KINDS)
    kind = qp.get("dir", "neuron")
    kind = st.radio("Direction", kinds, index=kinds.index(kind if kind in kinds else "neuron"),
                    format_func=KINDS.get, horizontal=True, key="dir_kind")
    if kind == "neuron":
        unit = st.number_input(f"Neuron (0 to {dim - 1})", 0, dim - 1, _int_param("unit", 0, 0, dim - 1),
                               key=f"dir_unit_{dim}")
        set_params(dir=kind, unit=str(unit))
        for stale in ("seed", "vec"):
            qp.pop(stale, None)
        return Direction(kind, one_hot(int(unit), dim), int(unit), f"neuron {unit}")
    if kind == "random":
        seed = st.number_input("Seed (the direction's id)", 0, 2**31 - 1, _int_param("seed", 0, 0, 2**31 - 1),
                               key="dir_seed")
        set_params(dir=kind, seed=str(seed))
        for stale in ("unit", "vec"):
            qp.pop(stale, None)
        return Direction(kind, random_direction(int(seed), dim), None, f"random:{seed}")
    text = st.text_area(f"Direction: {dim} numbers separated by commas or spaces", qp.get("vec", ""),
                        key="dir_vec", height=100)
    if not text.strip():
        st.info(f"Paste a vector of {dim} numbers (e.g. a probe's weights) to study its direction.")
        st.stop()
    try:
        vec = parse_vector(text, dim)
    except ValueError as e:
        st.error(str(e))
        st.stop()
    set_params(dir=kind, vec=",".join(f"{v:.6g}" for v in vec))
    for stale in ("unit", "seed"):
        qp.pop(stale, None)
    return Direction(kind, vec, None, "pasted vector")


def select_datasets(all_datasets: list[str]) -> list[str]:
    wanted = [d for d in st.query_params.get("ds", "").split(",") if d in all_datasets] or all_datasets
    chosen = st.multiselect("Datasets", all_datasets, default=wanted, key="drift_ds")
    if not chosen:
        st.info("Choose at least one dataset.")
        st.stop()
    set_params(ds=",".join(chosen))
    return chosen
