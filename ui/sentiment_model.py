"""The sentiment-neuron page's data: the stored results of the chosen run, dataset, feature set and penalty, and
the page model built from them (every number the page shows)."""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import streamlit as st

from analysis import sentiment as an
from analysis import sentiment_view as sv
from ui import data
from ui.db import connection
from warehouse import queries


def runs() -> pd.DataFrame:
    """The runs with sentiment results (none when the warehouse was built without the sentiment stage)."""
    if not data.has_tables("sentiment_datasets", "runs"):
        return pd.DataFrame()
    return queries.sentiment_runs(connection())


def datasets(run_id: str) -> pd.DataFrame:
    return queries.sentiment_datasets(connection(), run_id)


def features(run_id: str) -> pd.DataFrame:
    return queries.sentiment_features(connection(), run_id)


def classifiers(run_id: str, dataset: str) -> pd.DataFrame:
    return queries.sentiment_classifiers(connection(), run_id, dataset)


@st.cache_data(max_entries=16, show_spinner=False)
def _predictions(ident: tuple, run_id: str, dataset: str, penalty: str):
    preds = queries.sentiment_predictions(connection(), run_id, dataset, penalty)
    return preds, an.table3(preds), an.majority_accuracy(preds)


def predictions(run_id: str, dataset: str, penalty: str):
    """(every stored test prediction, Table 3, the majority-class accuracy), read and computed once per
    (file, run, dataset, penalty), not on every rerun."""
    return _predictions(data.identity(), run_id, dataset, penalty)


@dataclass
class Study:
    """Everything the page shows for one (run, dataset, feature set, penalty)."""
    units: pd.DataFrame
    acc: pd.DataFrame  # the classifiers, indexed by model
    acc_all: float
    sn: int
    sn_row: pd.Series
    polarity: str
    suite: bool  # every experiment ran (not just the all-units classifier)
    preds: pd.DataFrame
    t3: pd.DataFrame
    majority: float
    subsets: pd.DataFrame | None
    acc_only: float | None
    share: float | None


def study(run_id: str, dataset: str, feature: str, penalty: str, suite_feature: bool,
          clf: pd.DataFrame) -> Study:
    units = queries.sentiment_units(connection(), run_id, dataset, feature, penalty)
    acc = sv.accuracies(clf, feature, penalty)
    sn = int(acc.loc["all", "sn_unit"])
    sn_row = units.set_index("unit").loc[sn]
    suite = suite_feature and "sn_only" in acc.index
    preds, t3, majority = predictions(run_id, dataset, penalty)
    subsets = acc_only = share = None
    if suite:
        subsets = queries.sentiment_subsets(connection(), run_id, dataset, feature, penalty)
        acc_only = float(acc.loc["sn_only", "test_accuracy"])
        share = an.subset_share(subsets["test_accuracy"], acc_only)
    return Study(units, acc, float(acc.loc["all", "test_accuracy"]), sn, sn_row,
                 "positive" if sn_row["weight"] > 0 else "negative", suite, preds, t3, majority, subsets, acc_only,
                 share)
