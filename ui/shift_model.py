"""The distribution-shift page's data: one unit's values on every stored sentence of each dataset (histograms on
shared bins, KS / Wasserstein per pair, RBO / Jaccard of the top-k lists, the pooled top-k), and the layer table
of every unit's shift between two datasets. The maths is in analysis.shift."""
from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

import numpy as np
import pandas as pd
import streamlit as st

from analysis import shift
from analysis.drift import extremes_from_scores
from ui import data
from ui.db import connection
from ui.links import DRIFT_PATH, drift_link
from warehouse import queries

WORDS = 20  # words per top-k word list


@dataclass
class Panel:
    scores: pd.DataFrame  # dataset, sentence_id, value: every stored sentence of the chosen datasets
    hist: pd.DataFrame  # analysis.shift.shared_histograms
    pairs: pd.DataFrame  # a, b, n_a, n_b, ks, ks_p, wasserstein, mean_diff, rbo_text, jaccard_text, rbo_words, ...
    top: pd.DataFrame  # dataset, rank, sentence_id, value, text: each dataset's top k
    words: dict[str, list[str]]  # each dataset's top words in its top k
    pooled: pd.DataFrame  # rank, dataset, sentence_id, value, text: the top k of all datasets together
    shares: pd.DataFrame  # analysis.shift.pooled_shares

    @property
    def constant(self) -> bool:
        return bool(len(self.scores)) and float(self.scores["value"].min()) == float(self.scores["value"].max())


@st.cache_data(max_entries=16, show_spinner=False)
def _scores(ident: tuple, run_id: str, layer: int, pooling: str, unit: int | None, vector: tuple,
            datasets: tuple) -> pd.DataFrame:
    con = connection()
    if unit is not None:
        return queries.neuron_scores(con, run_id, layer, pooling, unit, list(datasets))
    return queries.direction_scores(con, run_id, layer, pooling, list(vector), list(datasets))


def unit_scores(sel, direction, datasets: list[str]) -> pd.DataFrame:
    """Every stored sentence's value of the direction (a neuron's activation, or the projection)."""
    vector = () if direction.unit is not None else tuple(float(v) for v in direction.vector)
    return _scores(data.identity(), sel.run_id, sel.layer, sel.pooling, direction.unit, vector, tuple(datasets))


def values_by_dataset(scores: pd.DataFrame, datasets: list[str]) -> dict[str, np.ndarray]:
    return {d: scores.loc[scores["dataset"] == d, "value"].to_numpy(np.float64) for d in datasets}


def panel(sel, direction, datasets: list[str], k: int, p: float) -> Panel:
    s = unit_scores(sel, direction, datasets)
    values = values_by_dataset(s, datasets)
    top = data.with_texts(extremes_from_scores(s, k, "top"))
    texts = {d: top.loc[top["dataset"] == d, "text"].str.strip().tolist() for d in datasets}
    words = {d: shift.top_words(texts[d], WORDS) for d in datasets}
    pairs = shift.pair_stats(values)
    by_text = shift.list_agreement(texts, p).rename(columns={"rbo": "rbo_text", "jaccard": "jaccard_text",
                                                             "shared": "shared_text"})
    by_word = shift.list_agreement(words, p).rename(columns={"rbo": "rbo_words", "jaccard": "jaccard_words",
                                                             "shared": "shared_words"})
    pairs = pairs.merge(by_text, on=["a", "b"]).merge(by_word, on=["a", "b"])
    pooled = data.with_texts(shift.pooled_topk(s, k))[["rank", "dataset", "sentence_id", "value", "text"]]
    return Panel(s, shift.shared_histograms(values), pairs, top, words, pooled,
                 shift.pooled_shares(s, pooled, datasets))


@st.cache_data(max_entries=8, show_spinner="Comparing every unit of the layer…")
def _layer_table(ident: tuple, run_id: str, layer: int, pooling: str, a: str, b: str) -> pd.DataFrame:
    x, keys = data.layer_matrix(run_id, layer, pooling, [a, b])
    ds = keys["dataset"].to_numpy()
    table = shift.layer_shift(x[ds == a], x[ds == b])
    return table.sort_values(["ks", "wasserstein"], ascending=False, ignore_index=True)


def layer_table(sel, a: str, b: str) -> pd.DataFrame:
    """Every unit of the layer between datasets a and b, most shifted (KS) first, each with its drift-page link
    (on datasets a and b)."""
    table = _layer_table(data.identity(), sel.run_id, sel.layer, sel.pooling, a, b)
    links = [drift_link(sel.run_id, sel.layer, sel.pooling, int(u), [a, b]) for u in table["unit"]]
    return table.assign(drift=links)


SHIFT_ONLY = ("a", "b", "rbo_p")  # this page's own URL parameters; the rest (run, layer, dir, unit, ds, k) are shared
DRIFT_MAX_K = 50


def drift_url() -> str:
    """The drift page on this view's run, layer, pooling, direction and datasets (k only where drift allows it)."""
    params = {k: v for k, v in st.query_params.to_dict().items() if k not in SHIFT_ONLY}
    if int(params.get("k", 10)) > DRIFT_MAX_K:
        params.pop("k")
    return DRIFT_PATH + "?" + urlencode(params)


def word_lists(p: Panel) -> pd.DataFrame:
    return pd.DataFrame({"dataset": list(p.words), "top words in its top k": [", ".join(w) for w in p.words.values()]})


def shares_long(shares: pd.DataFrame) -> pd.DataFrame:
    """shares (analysis.shift.pooled_shares) as rows dataset, what, value for the shares chart."""
    return pd.concat([shares[["dataset"]].assign(what="pooled top k", value=shares["share_of_top"]),
                      shares[["dataset"]].assign(what="all sentences", value=shares["share"])], ignore_index=True)
