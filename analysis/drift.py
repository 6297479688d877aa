"""Neuron drift across datasets (Bolukbasi et al. 2021): directions, score histograms, top-k range overlap."""
from __future__ import annotations

import itertools
import re

import numpy as np
import pandas as pd


def random_direction(seed: int, dim: int) -> np.ndarray:
    """A reproducible random unit direction: standard normal draws from ``default_rng(seed)``, normalised.

    Returns float64 [dim]. The same (seed, dim) always gives the same direction, so ``random:<seed>`` is an id.
    """
    v = np.random.default_rng(seed).standard_normal(dim)
    return v / np.linalg.norm(v)


def one_hot(unit: int, dim: int) -> np.ndarray:
    """The direction of neuron ``unit``: its projection is exactly the neuron's activation."""
    if not 0 <= unit < dim:
        raise ValueError(f"neuron must be between 0 and {dim - 1}, got {unit}")
    v = np.zeros(dim)
    v[unit] = 1.0
    return v


def parse_vector(text: str, dim: int) -> np.ndarray:
    """A pasted direction: ``dim`` numbers separated by commas, spaces or newlines (brackets allowed).

    Raises ValueError with a one-line message when the count is wrong, a value is not a number, or the
    vector is all zeros.
    """
    parts = [p for p in re.split(r"[\s,;\[\]()]+", text.strip()) if p]
    try:
        v = np.array([float(p) for p in parts], dtype=np.float64)
    except ValueError:
        bad = next(p for p in parts if not _is_number(p))
        raise ValueError(f"pasted vector: {bad!r} is not a number") from None
    if len(v) != dim:
        raise ValueError(f"pasted vector has {len(v)} values; this layer has {dim} units")
    if not np.isfinite(v).all() or not v.any():
        raise ValueError("pasted vector must be finite and not all zeros")
    return v


def _is_number(s: str) -> bool:
    try:
        float(s)
        return True
    except ValueError:
        return False


def score_histograms(scores: pd.DataFrame, bins: int = 40) -> pd.DataFrame:
    """Per-dataset density histograms of a direction's scores on shared bin edges.

    scores: columns dataset, value. Returns columns dataset, bin_start, bin_end, count, density, where
    density = count / (n_dataset * bin_width), so each dataset's histogram integrates to 1 and datasets of
    different sizes can be overlaid.
    """
    values = scores["value"].to_numpy(dtype=np.float64)
    lo, hi = float(values.min()), float(values.max())
    if hi <= lo:
        hi = lo + 1e-9
    edges = np.linspace(lo, hi, bins + 1)
    width = edges[1] - edges[0]
    rows = []
    for dataset, group in scores.groupby("dataset", sort=True):
        counts, _ = np.histogram(group["value"].to_numpy(dtype=np.float64), bins=edges)
        rows.append(pd.DataFrame({"dataset": dataset, "bin_start": edges[:-1], "bin_end": edges[1:],
                                  "count": counts, "density": counts / (len(group) * width)}))
    return pd.concat(rows, ignore_index=True)


def range_overlap(ranges: dict[str, tuple[float, float]]) -> pd.DataFrame:
    """How much the top-k score ranges of each pair of datasets overlap.

    ranges: dataset -> (min, max) of its top-k scores. Returns a long frame (a, b, overlaps, iou) over ordered
    pairs including a == b: overlaps is True when the closed intervals intersect; iou = length of the
    intersection / length of the union (1 on the diagonal; 0 when disjoint).
    """
    rows = []
    for a, b in itertools.product(sorted(ranges), repeat=2):
        (lo_a, hi_a), (lo_b, hi_b) = ranges[a], ranges[b]
        inter = min(hi_a, hi_b) - max(lo_a, lo_b)
        union = max(hi_a, hi_b) - min(lo_a, lo_b)
        rows.append({"a": a, "b": b, "overlaps": inter >= 0,
                     "iou": 1.0 if union == 0 else max(inter, 0.0) / union})
    return pd.DataFrame(rows)


def overlap_share(extremes: pd.DataFrame) -> tuple[float, int]:
    """The paper's figure: over all neurons and unordered pairs of datasets, the share whose top-k activation
    ranges overlap (Bolukbasi et al. report 38% for BERT-base on QQP/QNLI/Wiki/Books).

    extremes: one row per (unit, dataset) with columns unit, dataset, lo, hi (min and max of the top k).
    Returns (share, number of neuron x pair comparisons).
    """
    lo = extremes.pivot(index="unit", columns="dataset", values="lo")
    hi = extremes.pivot(index="unit", columns="dataset", values="hi")
    hits, total = 0, 0
    for a, b in itertools.combinations(lo.columns, 2):
        inter = np.minimum(hi[a], hi[b]) - np.maximum(lo[a], lo[b])
        hits += int((inter >= 0).sum())
        total += len(inter)
    return (hits / total if total else float("nan")), total


def random_baseline(scores: pd.DataFrame, k: int, seed: int) -> pd.DataFrame:
    """k sentences drawn uniformly at random (seeded) from each dataset, with their scores, highest first."""
    picks = []
    for i, (dataset, group) in enumerate(scores.groupby("dataset", sort=True)):
        rng = np.random.default_rng([seed, i])
        idx = rng.choice(len(group), size=min(k, len(group)), replace=False)
        picks.append(group.iloc[idx])
    out = pd.concat(picks, ignore_index=True)
    return out.sort_values(["dataset", "value"], ascending=[True, False], ignore_index=True)


def extremes_from_scores(scores: pd.DataFrame, k: int, side: str = "top") -> pd.DataFrame:
    """The k highest (side='top') or lowest ('bottom') scores per dataset, ties to the lower sentence_id.

    scores: columns dataset, sentence_id, value. Returns dataset, rank (1 = most extreme), sentence_id, value.
    """
    ascending = side == "bottom"
    ordered = scores.sort_values(["dataset", "value", "sentence_id"], ascending=[True, ascending, True],
                                 kind="stable")
    out = ordered.groupby("dataset", sort=True).head(k).copy()
    out["rank"] = out.groupby("dataset").cumcount() + 1
    return out[["dataset", "rank", "sentence_id", "value"]].reset_index(drop=True)


def direction_from_id(direction_id: str, dim: int) -> np.ndarray:
    """The vector of a stored direction id: 'neuron:<unit>' (one-hot) or 'random:<seed>' (random_direction)."""
    kind, _, value = direction_id.partition(":")
    if kind == "neuron":
        return one_hot(int(value), dim)
    if kind == "random":
        return random_direction(int(value), dim)
    raise ValueError(f"direction id {direction_id!r}: expected neuron:<unit> or random:<seed>")
