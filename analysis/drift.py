"""Neuron drift across datasets (Bolukbasi et al. 2021): directions, score histograms, top-k range overlap."""
from __future__ import annotations

import itertools
import re
import zlib

import numpy as np
import pandas as pd

from analysis.extremes import neuron_extremes


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


# Bins of a neuron's per-dataset histogram, on the page and in the warehouse's neuron_histograms.
HIST_BINS = 40


def value_histogram(values, bins: int = HIST_BINS) -> tuple[float, float, np.ndarray]:
    """(lo, hi, counts [bins]) of one dataset's scores: ``bins`` equal-width bins from the minimum to the
    maximum, the last bin closed (np.histogram's). A constant input (hi == lo) puts every value in bin 0."""
    lo, hi, counts = value_histograms(np.asarray(values).reshape(-1, 1), bins)
    return float(lo[0]), float(hi[0]), counts[0]


def value_histograms(x: np.ndarray, bins: int = HIST_BINS, columns: int = 128
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """value_histogram of every column of x [N, H] at once: lo [H], hi [H], counts [H, bins] (int64).

    The same bins as ``np.histogram(x[:, u], bins, range=(lo, hi))``, edge cases included: its index
    arithmetic in float64 and its one-ulp corrections against np.linspace's edges. One call per column cost
    ~70 us x H x datasets x layers at build time. Columns are taken ``columns`` at a time to bound memory.
    """
    x = np.asarray(x)
    n, h = x.shape
    lo, hi = x.min(axis=0).astype(np.float64), x.max(axis=0).astype(np.float64)
    counts = np.zeros((h, bins), dtype=np.int64)
    counts[hi <= lo, 0] = n  # constant columns: every value in bin 0
    varying = np.flatnonzero(hi > lo)
    for start in range(0, len(varying), columns):
        cols = varying[start:start + columns]
        first, last = lo[cols], hi[cols]
        block = x[:, cols].astype(np.float64)  # [N, C]
        edges = np.linspace(first, last, bins + 1)  # [bins + 1, C]: np.histogram's edges (no zero step)
        idx = ((block - first) / (last - first) * bins).astype(np.intp)
        idx[idx == bins] -= 1
        rows = np.arange(len(cols))
        idx[block < edges[idx, rows]] -= 1
        idx[(block >= edges[idx + 1, rows]) & (idx != bins - 1)] += 1
        flat = idx + rows * bins  # one bincount for the whole block
        counts[cols] = np.bincount(flat.ravel(), minlength=len(cols) * bins).reshape(len(cols), bins)
    return lo, hi, counts


def histogram_frame(hists: pd.DataFrame) -> pd.DataFrame:
    """Per-dataset histograms (columns dataset, lo, hi, counts: a list per row, as value_histogram gives or
    neuron_histograms stores) as one long frame: dataset, bin_start, bin_end, count, density.

    density = count / (n_dataset * bin_width), so each dataset's histogram integrates to 1 and datasets of
    different sizes can be overlaid. Each dataset keeps its own bins (its own range at full resolution).
    A dataset on which the score is constant has no bin width and is left out.
    """
    keep = (hists["hi"] > hists["lo"]).to_numpy()
    if not keep.any():
        return pd.DataFrame({"dataset": pd.Series(dtype=object), "bin_start": pd.Series(dtype=float),
                             "bin_end": pd.Series(dtype=float), "count": pd.Series(dtype=np.int64),
                             "density": pd.Series(dtype=float)})
    counts = np.array([np.asarray(c, dtype=np.int64) for c in hists["counts"][keep]])  # [D, bins]
    lo, hi = hists["lo"].to_numpy(np.float64)[keep], hists["hi"].to_numpy(np.float64)[keep]
    bins = counts.shape[1]
    edges = lo[:, None] + (hi - lo)[:, None] * np.linspace(0.0, 1.0, bins + 1)[None, :]  # [D, bins + 1]
    width = (hi - lo) / bins
    return pd.DataFrame({
        "dataset": np.repeat(hists["dataset"].to_numpy()[keep], bins),
        "bin_start": edges[:, :-1].ravel(), "bin_end": edges[:, 1:].ravel(), "count": counts.ravel(),
        "density": (counts / (counts.sum(axis=1, keepdims=True) * width[:, None])).ravel()})


def score_histograms(scores: pd.DataFrame, bins: int = HIST_BINS) -> pd.DataFrame:
    """histogram_frame of value_histogram per dataset. scores: columns dataset, value."""
    rows = [(dataset, *value_histogram(group["value"], bins)) for dataset, group in scores.groupby("dataset", sort=True)]
    return histogram_frame(pd.DataFrame(rows, columns=["dataset", "lo", "hi", "counts"]))


def neuron_view(layer: dict[str, dict], unit: int, datasets: list[str], k: int) -> dict[str, pd.DataFrame]:
    """One neuron's part of a per-layer block (warehouse.queries.neuron_layer) for the chosen datasets: ``hist``
    (dataset, lo, hi, counts) and ``top``, ``bottom``, ``random`` (dataset, rank, sentence_id, value), the first
    k of each stored list (rank 1 = most extreme; random: the draw's first k, highest value first)."""
    names = [d for d in datasets if d in layer]
    hist = pd.DataFrame({"dataset": names, "lo": [float(layer[d]["lo"][unit]) for d in names],
                         "hi": [float(layer[d]["hi"][unit]) for d in names],
                         "counts": [layer[d]["counts"][unit] for d in names]})

    def long(ids_of, vals_of) -> pd.DataFrame:
        ids = [ids_of(layer[d])[:k] for d in names]
        vals = [vals_of(layer[d])[:k] for d in names]
        n = [len(i) for i in ids]
        return pd.DataFrame({
            "dataset": np.repeat(np.array(names, dtype=object), n),
            "rank": np.concatenate([np.arange(1, m + 1) for m in n]) if names else np.zeros(0, np.int64),
            "sentence_id": np.concatenate(ids) if names else np.zeros(0, np.int64),
            "value": np.concatenate(vals) if names else np.zeros(0, np.float32)})

    def by_value(b: dict) -> np.ndarray:  # the draw's first k, highest value first
        return np.argsort(-b["random_vals"][unit][:k], kind="stable")

    return {"hist": hist,
            "top": long(lambda b: b["top_ids"][unit], lambda b: b["top_vals"][unit]),
            "bottom": long(lambda b: b["bottom_ids"][unit], lambda b: b["bottom_vals"][unit]),
            "random": long(lambda b: b["random_ids"][:k][by_value(b)], lambda b: b["random_vals"][unit][:k][by_value(b)])}


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


def random_draw(dataset: str, n: int, m: int, seed: int) -> np.ndarray:
    """m positions out of 0..n-1, uniform without replacement: the first m of a permutation seeded by
    (seed, crc32 of the dataset's name). So a shorter draw is a prefix of a longer one, and a dataset's draw
    does not depend on which other datasets are chosen (the warehouse stores it once, in random_sentences)."""
    rng = np.random.default_rng([seed, zlib.crc32(dataset.encode())])
    return rng.permutation(n)[:m]


def random_baseline(scores: pd.DataFrame, k: int, seed: int) -> pd.DataFrame:
    """k sentences drawn uniformly at random (random_draw over each dataset's sentences in sentence_id order),
    with their scores, highest first. scores: columns dataset, sentence_id, value."""
    picks = []
    for dataset, group in scores.groupby("dataset", sort=True):
        group = group.sort_values("sentence_id", kind="stable")
        picks.append(group.iloc[random_draw(dataset, len(group), k, seed)])
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


def normalisation_effect(x: np.ndarray, datasets: np.ndarray, k: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Appendix A of Bolukbasi et al.: are a neuron's top sentences the same with and without normalising each
    sentence vector to unit length?

    x: [N, H] sentence vectors, datasets: [N] labels. Per dataset and unit: the Jaccard overlap of the top-k
    sentence sets by raw activation and by activation of the L2-normalised vector (rows are positions in x);
    and per dataset the norm statistics (n, mean, std, min, max of ||x||). Zero vectors stay zero.
    """
    rows, norms = [], []
    for name in pd.unique(datasets):
        idx = np.flatnonzero(datasets == name)
        block = x[idx].astype(np.float64)
        norm = np.linalg.norm(block, axis=1)
        unit_len = block / np.where(norm == 0, 1.0, norm)[:, None]
        kk = min(k, len(idx))
        raw = neuron_extremes(block, kk)[0]
        nrm = neuron_extremes(unit_len, kk)[0]
        for u in range(x.shape[1]):
            a, b = set(raw[:, u].tolist()), set(nrm[:, u].tolist())
            rows.append((name, u, len(a & b) / len(a | b)))
        norms.append((name, len(idx), norm.mean(), norm.std(), norm.min(), norm.max()))
    return (pd.DataFrame(rows, columns=["dataset", "unit", "jaccard"]),
            pd.DataFrame(norms, columns=["dataset", "n", "mean_norm", "std_norm", "min_norm", "max_norm"]))
