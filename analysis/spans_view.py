"""The span-match page's numbers, as pure functions of the stored token states (see analysis/spans.py for the
definitions): the heatmap of the selected units, the match list, the co-activation pairs and the contrast sets'
occurrences. ``keys`` is a StateBlock's key frame (one row per stored sentence: dataset, sentence_id, text,
starts, ends, ...); a sentence's states are float32 [T, H]."""
from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.numerics import pca_2d
from analysis.spans import (StateBlock, char_span_units, find_occurrences, match_context, matched_words,
                            phrase_vector)

HEATMAP_ROWS = 60  # units drawn in the heatmap; the table has them all
MATCH_WORD_ITEMS = 500  # top matches counted in the matched-words histogram


def parse_sentence(param: str, row_of: dict) -> int | None:
    """The block row of a ``dataset:sentence_id`` URL value, or None when it names no stored sentence."""
    ds, _, sid = param.rpartition(":")
    return row_of.get((ds, int(sid))) if sid.isdigit() else None


def parse_span(param: str, n_words: int) -> tuple[int, int]:
    """(first word, last word) of a ``w0-w1`` URL value, or (0, 0) when it is not a span of ``n_words`` words."""
    w0, _, w1 = param.partition("-")
    if w0.isdigit() and w1.isdigit() and int(w0) <= int(w1) < n_words:
        return int(w0), int(w1)
    return 0, 0


def url_units(param: str, hidden: int) -> list[int]:
    """The unit ids of a comma-separated URL value that exist among ``hidden`` units."""
    return [int(u) for u in param.split(",") if u.isdigit() and int(u) < hidden]


def heatmap(text: str, starts, ends, states: np.ndarray, sel: np.ndarray, thr: float, i0: int, i1: int) -> dict:
    """The heatmap of units ``sel`` over one sentence: frames ``letters`` (one row per step), ``cells`` (step x the
    first HEATMAP_ROWS units: value, whether it is on) and ``count`` (units of ``sel`` on per step), and the
    chart's colour limit and size."""
    show = sel[:HEATMAP_ROWS]
    steps = np.arange(len(starts))
    units_text = [text[s:e] for s, e in zip(starts, ends)]
    cells = pd.DataFrame({
        "step": np.repeat(steps, len(show)), "unit": np.tile(show, len(steps)),
        "value": states[:, show].ravel(), "text": np.repeat(units_text, len(show)),
    })
    cells["on"] = cells["value"] >= thr
    return {
        "letters": pd.DataFrame({"step": steps, "text": [t.replace(" ", "␣") for t in units_text],
                                 "in_span": (steps >= i0) & (steps < i1)}),
        "cells": cells,
        "count": pd.DataFrame({"step": steps, "n_on": (states[:, sel] >= thr).sum(axis=1), "text": units_text}),
        "lim": float(max(abs(cells["value"]).max(), abs(thr), 1e-6)),
        "width": min(1400, max(300, 12 * len(steps))),
        "cells_height": min(1000, 16 * len(show) + 10),
    }


def label_matches(matches: pd.DataFrame, keys: pd.DataFrame, row: int, i0: int, i1: int) -> pd.DataFrame:
    """``matches`` (find_matches) with each match's dataset and sentence_id, and ``query``: whether it overlaps
    the selected span [i0, i1) of block row ``row``."""
    m = matches.copy()
    m["dataset"] = keys["dataset"].to_numpy()[m["sentence"]]
    m["sentence_id"] = keys["sentence_id"].to_numpy()[m["sentence"]]
    m["query"] = (m["sentence"] == row) & (m["start"] < i1) & (m["end"] > i0)
    return m


def _char_spans(frame: pd.DataFrame, keys: pd.DataFrame):
    """(block row, first character, end character) of each match in ``frame``."""
    k_starts, k_ends = keys["starts"].to_numpy(), keys["ends"].to_numpy()
    return [(i, int(k_starts[i][a]), int(k_ends[i][b - 1])) for i, a, b in
            zip(frame["sentence"], frame["start"], frame["end"])]


def match_contexts(top: pd.DataFrame, keys: pd.DataFrame) -> pd.DataFrame:
    """``top`` with the text left of each match, the match and the text right of it."""
    texts = keys["text"].to_numpy()
    out = top.copy()
    contexts = [match_context(texts[i], a, b) for i, a, b in _char_spans(top, keys)]
    out["left"], out["match"], out["right"] = zip(*contexts)
    return out


def match_words(m: pd.DataFrame, keys: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """(matched_words over the first MATCH_WORD_ITEMS matches, how many were counted)."""
    head = m.head(min(len(m), MATCH_WORD_ITEMS))
    texts = keys["text"].to_numpy()
    return matched_words([(texts[i], a, b) for i, a, b in _char_spans(head, keys)]), len(head)


def coactivation_pairs(sel: np.ndarray, jac: np.ndarray) -> tuple[pd.DataFrame, float]:
    """Every ordered pair of selected units with its Jaccard overlap, and the mean over distinct pairs."""
    k = len(sel)
    pairs = pd.DataFrame([(int(sel[i]), int(sel[j]), float(jac[i, j])) for i in range(k) for j in range(k)],
                         columns=["unit_a", "unit_b", "jaccard"])
    return pairs, float(np.nanmean(jac[~np.eye(k, dtype=bool)]))


def occurrences(keys: pd.DataFrame, block: StateBlock, sets: dict[str, list[str]], pool: str):
    """(one row per occurrence of each phrase of each set in the stored texts, with its state vector ``vec``;
    the phrases that never occur, as "set: phrase"). Occurrences beyond what the model read are left out."""
    texts = keys["text"].tolist()
    records, missing = [], []
    for label, phrases in sets.items():
        for p in phrases:
            occ = find_occurrences(texts, p)
            if not occ:
                missing.append(f"{label}: {p}")
            for r, ca, cb in occ:
                span = char_span_units(keys.at[r, "starts"], keys.at[r, "ends"], ca, cb)
                if span is None:
                    continue
                records.append({"set": label, "phrase": p, "dataset": keys.at[r, "dataset"],
                                "sentence_id": int(keys.at[r, "sentence_id"]), "context": "".join(match_context(
                                    texts[r], ca, cb, 30)), "vec": phrase_vector(block.sentence(r), *span, pool)})
    return pd.DataFrame(records), missing


def set_vectors(occ: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """The occurrence vectors of set A [n_a, H] and of set B [n_b, H]."""
    return (np.stack(occ.loc[occ["set"] == "A", "vec"].to_list()),
            np.stack(occ.loc[occ["set"] == "B", "vec"].to_list()))


def contrast_points(occ: pd.DataFrame, va: np.ndarray, vb: np.ndarray) -> tuple[pd.DataFrame, np.ndarray]:
    """The occurrences (set A first, then B) with their first two principal components, and the components'
    variance shares."""
    coords, ratio = pca_2d(np.vstack([va, vb]))
    order = np.r_[np.flatnonzero(occ["set"] == "A"), np.flatnonzero(occ["set"] == "B")]
    return occ.drop(columns="vec").iloc[order].assign(pc1=coords[:, 0], pc2=coords[:, 1]), ratio


def count_sets(occ: pd.DataFrame) -> tuple[int, int]:
    """(occurrences of set A, occurrences of set B)."""
    if not len(occ):
        return 0, 0
    return int((occ["set"] == "A").sum()), int((occ["set"] == "B").sum())


def sentence(keys: pd.DataFrame, row: int) -> tuple[str, np.ndarray, np.ndarray]:
    """(text, starts, ends) of block row ``row``: each step's character span."""
    return keys.at[row, "text"], np.asarray(keys.at[row, "starts"]), np.asarray(keys.at[row, "ends"])


def unit_array(chosen) -> np.ndarray:
    """The chosen unit ids, sorted, as an int array."""
    return np.array(sorted(chosen), dtype=int)


def phrase_spans(keys: pd.DataFrame, phrase: str, limit: int = 200) -> list[tuple[int, int, int]]:
    """Block rows and unit spans [(row, i0, i1)] of the first ``limit`` occurrences of ``phrase`` in the stored
    texts that the model read in full."""
    out = []
    for r, a, b in find_occurrences(keys["text"].tolist(), phrase):
        span = char_span_units(keys.at[r, "starts"], keys.at[r, "ends"], a, b)
        if span is not None:
            out.append((r, *span))
            if len(out) == limit:
                break
    return out
