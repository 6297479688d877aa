"""The neuron-drift page's frames, as pure functions of a direction's scores and the stored texts (the scores,
extremes and histograms are in analysis/drift.py, the hypothesis tests in analysis/illusion.py)."""
from __future__ import annotations

import numpy as np
import pandas as pd


def ranked_random(rand: pd.DataFrame) -> pd.DataFrame:
    """Random sentences per dataset, highest score first, ranked from 1: dataset, rank, sentence_id, value."""
    rand = rand.sort_values(["dataset", "value"], ascending=[True, False], ignore_index=True)
    return rand.assign(rank=rand.groupby("dataset").cumcount() + 1)[["dataset", "rank", "sentence_id", "value"]]


def is_constant(lo: float, hi: float) -> bool:
    """Whether a score range is one value (up to float noise), so that no ranking exists."""
    return hi - lo <= 1e-6 * max(1.0, abs(lo), abs(hi))


def sentence_lists(frame: pd.DataFrame) -> dict[str, str]:
    """Per dataset, its rows as a numbered markdown list (rank, score, text)."""
    out: dict[str, list[str]] = {}
    for d, rank, value, text in zip(frame["dataset"], frame["rank"], frame["value"], frame["text"]):
        out.setdefault(d, []).append(f"{int(rank)}. `{value:+.3f}` {text}")
    return {d: "\n".join(lines) for d, lines in out.items()}


def _md_escape(text: str) -> str:
    """Text shown inside Streamlit markdown as itself (no emphasis, links, directives or HTML)."""
    return "".join("\\" + c if c in "\\`*_{}[]()<>#+-.!|:~$" else c for c in text)


def token_lists(frame: pd.DataFrame, window: int = 90) -> dict[str, str]:
    """Per dataset, its rows as a numbered markdown list (rank, value, the text with the extreme token
    highlighted); text further than ``window`` characters from the token is cut, marked with an ellipsis."""
    out: dict[str, list[str]] = {}
    for d, rank, value, text, a, b in zip(frame["dataset"], frame["rank"], frame["value"], frame["text"],
                                          frame["token_start"], frame["token_end"]):
        a, b = int(a), int(b)
        lo, hi = max(0, a - window), min(len(text), b + window)
        before = ("…" if lo else "") + _md_escape(text[lo:a])
        after = _md_escape(text[b:hi]) + ("…" if hi < len(text) else "")
        token = _md_escape(text[a:b]) or "∅"
        out.setdefault(d, []).append(f"{int(rank)}. `{value:+.3f}` {before}:orange-background[**{token}**]{after}")
    return {d: "\n".join(lines) for d, lines in out.items()}


def labelled_rows(texts: list[str], pos: list[str], neg: list[str]) -> tuple[list[int], list[int], list[str]]:
    """(rows of the '+' examples in ``texts``, rows of the '-' examples, examples not found); case-insensitive."""
    row_of = {t.casefold(): i for i, t in enumerate(texts)}
    missing = [t for t in pos + neg if t.casefold() not in row_of]
    return ([row_of[t.casefold()] for t in pos if t.casefold() in row_of],
            [row_of[t.casefold()] for t in neg if t.casefold() in row_of], missing)


def hypothesis_counts(texts: pd.DataFrame, hits: np.ndarray, top: pd.DataFrame,
                      datasets: list[str]) -> dict[str, tuple[int, int, int, int]]:
    """Per dataset: (hits among its top sentences, top sentences, hits in the dataset, sentences in it).
    ``hits`` is one bool per row of ``texts`` (dataset, sentence_id, text)."""
    hits = np.asarray(hits)
    hit_of = dict(zip(zip(texts["dataset"], texts["sentence_id"]), hits))
    out = {}
    for name in datasets:
        in_ds = (texts["dataset"] == name).to_numpy()
        ids = top.loc[top["dataset"] == name, "sentence_id"]
        out[name] = (int(sum(hit_of[(name, int(i))] for i in ids)), len(ids), int(hits[in_ds].sum()),
                     int(in_ds.sum()))
    return out
