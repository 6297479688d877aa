"""The sentiment-neuron page's headline numbers, as pure functions of the stored classifiers and units (the
study's tables and verdicts are in analysis/sentiment.py)."""
from __future__ import annotations

import pandas as pd

SN, OTHER = "sentiment neuron", "other unit"


def accuracies(classifiers: pd.DataFrame, feature: str, penalty: str) -> pd.DataFrame:
    """The classifiers of one feature set and penalty, indexed by model (all, sn_deleted, sn_only, ...)."""
    return classifiers[(classifiers["feature"] == feature) & (classifiers["penalty"] == penalty)].set_index("model")


def with_roles(units: pd.DataFrame, sn: int) -> pd.DataFrame:
    """``units`` with a ``role`` column: the sentiment neuron or another unit."""
    return units.assign(role=units["unit"].map(lambda u: SN if u == sn else OTHER))


def runner_up(units: pd.DataFrame) -> pd.Series | None:
    """The unit with the second-largest |weight| (weight_rank 2), or None for a single unit."""
    return units.sort_values("weight_rank").iloc[1] if len(units) > 1 else None


def clean_texts(preds: pd.DataFrame) -> pd.DataFrame:
    """One row per test sentence (label y and text), indexed by sentence_id, from the clean predictions."""
    return preds[preds["attack"] == "none"].drop_duplicates("sentence_id").set_index("sentence_id")


def first_feature(model_kind: str) -> str:
    """The feature set the study attacks: the final state of an LSTM, the last token of a decoder, [CLS] of a
    transformer."""
    return {"lstm": "final", "decoder": "last"}.get(model_kind, "cls")
