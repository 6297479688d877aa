"""The outliers page's data: each sentence's mean distance (computed by the build) and its top-k count, cached
per warehouse file."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from analysis.outliers import distance_rank
from ui import data
from ui.db import connection
from warehouse import queries


@st.cache_data(max_entries=8, show_spinner=False)
def _distances(ident: tuple, run_id: str, layer: int, pooling: str, datasets: tuple) -> pd.DataFrame:
    # computed by the build (pipeline/stages/distances.py, analysis.outliers.mean_distance): O(n^2) per dataset
    dist = queries.sentence_distances(connection(), run_id, layer, pooling, list(datasets))
    groups = dist["dataset"].to_numpy()
    d = dist["mean_distance"].to_numpy()
    return dist.assign(distance_rank=distance_rank(d, groups),
                       sentences=dist.groupby("dataset")["sentence_id"].transform("size").to_numpy())


@st.cache_data(max_entries=8, show_spinner=False)
def _membership(ident: tuple, run_id: str, layer: int, pooling: str, datasets: tuple, k: int) -> pd.DataFrame:
    return queries.topk_membership(connection(), run_id, layer, pooling, list(datasets), k)


def distances(sel, datasets: list[str]) -> pd.DataFrame:
    """Every sentence's mean distance, its rank in its dataset (1 = most distant) and its dataset's size."""
    return _distances(data.identity(), sel.run_id, sel.layer, sel.pooling, tuple(datasets))


def membership(sel, datasets: list[str], k: int) -> pd.DataFrame:
    """How many neurons have each sentence in their top-k (sentences in no top-k are left out)."""
    return _membership(data.identity(), sel.run_id, sel.layer, sel.pooling, tuple(datasets), int(k))
