"""The neuron-drift page's data: a direction's top, bottom and random sentences per dataset and its score
histograms (precomputed per neuron when the build stored them, else scored here), and the hypothesis test."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis import drift_view as dv
from analysis.drift import extremes_from_scores, histogram_frame, neuron_view, random_baseline, score_histograms
from analysis.illusion import centroid_hits, concept_hits, hypothesis_table, parse_labelled
from analysis.outliers import keep_rows
from ui import data, progress
from ui.db import connection
from warehouse import queries


@dataclass
class Scores:
    top: pd.DataFrame
    bottom: pd.DataFrame
    random: pd.DataFrame
    hist: pd.DataFrame
    lo: float
    hi: float
    n_scored: int

    @property
    def ranges(self) -> pd.DataFrame:
        """Each dataset's top-k score range: min, max, indexed by dataset."""
        return self.top.groupby("dataset")["value"].agg(["min", "max"])


def scores(sel, direction, datasets: list[str], k: int, drop: int = 0) -> Scores:
    """The direction's lists and histograms; ``drop``: each dataset's most distant ``drop`` % of sentences are
    left out first (scored here then, not read from the stored lists)."""
    stored_k = data.meta("stored_topk")
    if direction.unit is not None and k <= stored_k and not drop:
        # Everything precomputed per neuron (neuron_topk, neuron_histograms), read once per layer: no query here.
        view = neuron_view(data.neuron_layer(sel.run_id, sel.layer, sel.pooling), direction.unit, datasets, k)
        hists = view["hist"]
        return Scores(view["top"], view["bottom"], view["random"], histogram_frame(hists), float(hists["lo"].min()),
                      float(hists["hi"].max()), int(sum(int(c.sum()) for c in hists["counts"])))
    con = connection()
    if direction.unit is not None:
        s = queries.neuron_scores(con, sel.run_id, sel.layer, sel.pooling, direction.unit, datasets)
    else:
        s = queries.direction_scores(con, sel.run_id, sel.layer, sel.pooling, direction.vector, datasets)
    if drop:
        s = s[keep_rows(s, data.distant(sel.run_id, sel.layer, sel.pooling, datasets, drop))].reset_index(drop=True)
    if k <= stored_k and not drop:  # the same random sentences as a neuron gets, scored by this direction
        rand = queries.random_sentences(con, sel.run_id, datasets, k).merge(s, on=["dataset", "sentence_id"])
    else:
        rand = random_baseline(s, k, seed=0)
    return Scores(extremes_from_scores(s, k, "top"), extremes_from_scores(s, k, "bottom"), dv.ranked_random(rand),
                  score_histograms(s), float(s["value"].min()), float(s["value"].max()), len(s))


def has_token_lists(sel, direction) -> bool:
    """Whether the build stored token-level lists (token_topk) for this run and the direction is a unit."""
    return direction.unit is not None and data.has_tables("token_topk") and progress.done("token_topk", sel.run_id)


def token_lists(sel, unit: int, datasets: list[str], k: int, side: str) -> pd.DataFrame:
    """Per dataset, the k sentences whose extreme token (max for top, min for bottom) is most extreme."""
    return queries.token_top(connection(), sel.run_id, sel.layer, unit, side, datasets, k)


def normalisation(sel, unit: int, datasets: list[str], k: int):
    """(the unit's top-k per dataset by raw and by unit-length vectors, side by side; the layer's mean Jaccard of
    the two top-k sets over every unit and dataset; the norm statistics per dataset)."""
    from analysis.drift import normalisation_effect

    x, keys = data.layer_matrix(sel.run_id, sel.layer, sel.pooling, datasets)
    overlap, norms = normalisation_effect(x, keys["dataset"].to_numpy(), k)
    norm = np.linalg.norm(x.astype(np.float64), axis=1)
    raw, unit_len = x[:, unit].astype(np.float64), x[:, unit] / np.where(norm == 0, 1.0, norm)
    sides = []
    for name in datasets:
        idx = np.flatnonzero(keys["dataset"].to_numpy() == name)
        a = idx[np.argsort(-raw[idx], kind="stable")[:k]]
        b = idx[np.argsort(-unit_len[idx], kind="stable")[:k]]
        sides.append(pd.DataFrame({"dataset": name, "rank": np.arange(1, len(a) + 1),
                                   "sentence_id": keys["sentence_id"].to_numpy()[a], "value": raw[a],
                                   "sentence_id_normalised": keys["sentence_id"].to_numpy()[b],
                                   "value_normalised": unit_len[b], "in_both": np.isin(a, b)}))
    return pd.concat(sides, ignore_index=True), float(overlap["jaccard"].mean()), norms


def with_texts(frame: pd.DataFrame) -> pd.DataFrame:
    return data.with_texts(frame)[["dataset", "rank", "sentence_id", "value", "text"]]


def overlap_share(sel, datasets: list[str], k: int) -> tuple[float, int]:
    return data.topk_overlap_share(sel.run_id, sel.layer, sel.pooling, datasets, k)


def missing_examples(datasets: list[str], hyp: str) -> list[str]:
    """The labelled examples of ``hyp`` that are not sentences of ``datasets``. Raises ValueError."""
    pos, neg = parse_labelled(hyp)
    return dv.labelled_rows(data.dataset_texts(datasets)["text"].tolist(), pos, neg)[2]


def hypothesis(sel, datasets: list[str], top: pd.DataFrame, kind: str, hyp: str):
    """(verdict table, verdict) of the concept ``hyp`` among the top sentences of each dataset. Raises ValueError
    for a concept that cannot be read."""
    texts = data.dataset_texts(datasets)
    if kind == "labelled":
        pos, neg = parse_labelled(hyp)
        x_all, _ = data.layer_matrix(sel.run_id, sel.layer, sel.pooling, datasets)
        pos_rows, neg_rows, _ = dv.labelled_rows(texts["text"].tolist(), pos, neg)
        hits = centroid_hits(x_all, pos_rows, neg_rows)
    else:
        hits = concept_hits(texts["text"].tolist(), keywords=hyp.split(",") if kind == "keywords" else None,
                            regex=hyp if kind == "regex" else None)
    return hypothesis_table(dv.hypothesis_counts(texts, hits, top, datasets))
