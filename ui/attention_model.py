"""The attention-clusters page's data: the stored attention tables of the chosen run and dataset, and the live
clustering, metrics and tests of the clusters shown (cached: a rerun that only redraws recomputes nothing)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from analysis.attention import ClusterSpec, cluster, cluster_metrics, covariate_tests
from ui import data
from ui.db import connection
from warehouse import queries


def runs() -> pd.DataFrame:
    """The runs with attention results (none when the warehouse was built without the attention stage)."""
    if not data.has_tables("attention_layers", "runs"):
        return pd.DataFrame()
    return queries.attention_runs(connection())


def datasets(run_id: str) -> pd.DataFrame:
    return queries.attention_datasets(connection(), run_id)


def layers(run_id: str, dataset: str) -> pd.DataFrame:
    return queries.attention_layers(connection(), run_id, dataset)


def points(run_id: str, dataset: str, layer: int) -> pd.DataFrame:
    return queries.attention_points(connection(), run_id, dataset, layer)


def tests(run_id: str, dataset: str) -> pd.DataFrame:
    return queries.attention_tests(connection(), run_id, dataset)


def quality(run_id: str, dataset: str) -> pd.DataFrame:
    return queries.attention_quality(connection(), run_id, dataset)


def heads(run_id: str) -> pd.DataFrame:
    return queries.attention_heads(connection(), run_id)


def labels(points: pd.DataFrame, xy: np.ndarray, feature_set: str, spec: ClusterSpec | None) -> np.ndarray:
    """Each item's cluster: the stored default clustering of the feature set, or ``spec`` run live on ``xy``."""
    return points[f"cluster_{feature_set}"].to_numpy() if spec is None else cluster(xy, spec)


@st.cache_data(max_entries=64, show_spinner=False)
def metrics(xy: np.ndarray, labels: np.ndarray) -> dict:
    # a pure function of the points and labels shown: a rerun that only redraws does not recompute it
    return cluster_metrics(xy, labels)


@st.cache_data(max_entries=64, show_spinner=False)
def live_tests(covariates: pd.DataFrame, labels: np.ndarray):
    return covariate_tests(covariates, labels)


@st.cache_data(max_entries=16, show_spinner="Clustering the layer with every algorithm…")
def multiples(points: pd.DataFrame, xy: np.ndarray, best: pd.DataFrame) -> pd.DataFrame:
    # five clusterings of the same points: only recomputed when the layer, feature set or stored choices change
    from analysis.attention_figures import small_multiples

    return small_multiples(points, xy, best)
