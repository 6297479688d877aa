"""The sentiment-neuron protocol (the ablation study of Radford et al.'s unit), as pure functions.

Labels -> binary (``binarise``), a seeded 70/10/20 split (``split``), train-set standardisation (``Data``), a light grid
search of C on dev (``tune``), then the experiments of one (dataset, feature set, penalty) in
``run_suite``: the all-units classifier and its weights (the sentiment neuron, SN, is the unit with the
largest |weight|), SN deleted, SN only, every unit alone, every unit left out, cumulative ablation in
|weight| order, and random unit subsets. All fits go through the batched solver (sentiment_solver); the
tests check it against sklearn.

C choice (documented on the page): the all-units, SN-deleted and every single-unit classifier each pick
their own C on dev from ``c_grid`` (ties: the smaller C). The single-unit ablations and the cumulative
ablation use the all-units classifier's C (they differ from it by the units removed); the random subsets
use one C, the grid value with the best mean dev accuracy over the first ``tune_subsets`` subsets.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline.methods.sentiment_solver import accuracy, fit_batch, single_unit_fit

SPLITS = ("train", "dev", "test")


def binarise(labels, label_kind: str, margin: float = 0.5, center: float = 0.0) -> np.ndarray:
    """0/1 sentiment labels as float, NaN where a row has no usable label.

    binary: 1 for the larger of the two label values (label ids follow sorted label names, so
            "positive" > "negative", "pos" > "neg", 1 > 0), 0 for the smaller; missing labels are NaN.
    score:  1 where score >= center + margin, 0 where score <= center - margin; scores closer to the
            centre than ``margin`` (near-neutral) and missing scores are NaN (dropped).
    Anything else raises ValueError.
    """
    v = np.asarray(labels, dtype=np.float64)
    out = np.full(v.shape, np.nan)
    ok = ~np.isnan(v)
    if label_kind == "binary":
        values = np.unique(v[ok])
        if len(values) > 2:
            raise ValueError(f"binary labels have {len(values)} distinct values")
        if len(values):
            out[ok] = (v[ok] == values.max()).astype(np.float64) if len(values) == 2 else np.nan
        return out
    if label_kind == "score":
        if margin < 0:
            raise ValueError("margin must be >= 0")
        pos = ok & (v >= center + margin) & (v > center)
        neg = ok & (v <= center - margin) & (v < center)
        out[pos] = 1.0
        out[neg] = 0.0
        return out
    raise ValueError(f"label_kind {label_kind!r} has no sentiment polarity (need binary or score)")


def split_seed(seed: int, dataset: str) -> list[int]:
    """The split's RNG seed: the build seed and the dataset name (the same split for every run)."""
    return [int(seed), zlib.crc32(dataset.encode())]


def split(n: int, seed, fractions=(0.7, 0.1, 0.2)) -> np.ndarray:
    """A seeded shuffle of n rows cut into train/dev/test (object array of those names): the first
    round(0.7 n) shuffled rows train, the next round(0.1 n) dev, the rest test."""
    order = np.random.default_rng(seed).permutation(n)
    n_train = int(round(fractions[0] * n))
    n_dev = int(round(fractions[1] * n))
    out = np.empty(n, dtype=object)
    out[order[:n_train]] = "train"
    out[order[n_train:n_train + n_dev]] = "dev"
    out[order[n_train + n_dev:]] = "test"
    return out


def scaler(x_train: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The training rows' mean and standard deviation per unit (std 0 -> 1), float64."""
    mu = x_train.mean(0, dtype=np.float64)
    sd = x_train.std(0, dtype=np.float64)
    sd[sd == 0] = 1.0
    return mu, sd


@dataclass
class Tuned:
    """Problems fitted on train at their dev-chosen C: w [K, H], b [K], c [K], dev and test accuracy [K]."""

    w: np.ndarray
    b: np.ndarray
    c: np.ndarray
    dev: np.ndarray
    test: np.ndarray


def tune(data, masks, c_grid, penalty: str, w0=None, b0=None) -> Tuned:
    """Fit every problem (rows of ``masks``) on train at each C of the grid (ascending, each C warm-started
    from the previous one) and keep, per problem, the C with the best dev accuracy (ties: smaller C)."""
    grid = sorted(float(c) for c in c_grid)
    best = None
    w, b = w0, b0
    for c in grid:
        fit = fit_batch(data.x["train"], data.y["train"], masks, c, penalty, w0=w, b0=b)
        w, b = fit.w, fit.b
        dev = accuracy(data.x["dev"], data.y["dev"], fit.w, fit.b)
        if best is None:
            best = Tuned(fit.w.copy(), fit.b.copy(), np.full(len(masks), c), dev, np.zeros(len(masks)))
            continue
        better = dev > best.dev + 1e-12
        best.w[better], best.b[better], best.c[better], best.dev[better] = fit.w[better], fit.b[better], c, dev[better]
    best.test = accuracy(data.x["test"], data.y["test"], best.w, best.b)
    return best


@dataclass
class Data:
    """Standardised features and 0/1 labels per split: x[split] float32 [n, H], y[split] int [n]."""

    x: dict
    y: dict
    mu: np.ndarray
    sd: np.ndarray

    @classmethod
    def from_arrays(cls, x: np.ndarray, y: np.ndarray, splits: np.ndarray) -> "Data":
        """x [n, H] raw features, y [n] 0/1, splits [n] train/dev/test; standardised by the train rows."""
        parts = [np.asarray(splits) == s for s in SPLITS]
        mu, sd = scaler(x[parts[0]])
        xs = {s: ((x[p] - mu) / sd).astype(np.float32) for s, p in zip(SPLITS, parts)}
        return cls(xs, {s: y[p].astype(np.int64) for s, p in zip(SPLITS, parts)}, mu, sd)

    def transform(self, x: np.ndarray) -> np.ndarray:
        """New rows (e.g. re-encoded adversarial texts) on the training scale."""
        return ((x - self.mu) / self.sd).astype(np.float32)

    @property
    def n_units(self) -> int:
        return self.x["train"].shape[1]


def fit_all(data: Data, c_grid, penalty: str) -> Tuned:
    """The all-units classifier, C tuned on dev."""
    return tune(data, np.ones((1, data.n_units), dtype=bool), c_grid, penalty)


def single_units(data: Data, c_grid, penalty: str) -> Tuned:
    """Every unit alone, each with its own C from the grid (dev), exact per-problem Newton."""
    grid = np.array(sorted(float(c) for c in c_grid))
    fit = single_unit_fit(data.x["train"], data.y["train"], grid, penalty)  # w, b [G, H]
    xd, yd = data.x["dev"], data.y["dev"]
    dev = np.stack([((xd * fit.w[g] + fit.b[g]) > 0) == yd[:, None] for g in range(len(grid))]).mean(1)  # [G, H]
    # argmax takes the first maximum: with C ascending that is the smaller C on ties.
    pick = dev.argmax(0)
    h = np.arange(data.n_units)
    w1, b1 = fit.w[pick, h], fit.b[pick, h]
    xt, yt = data.x["test"], data.y["test"]
    test = (((xt * w1 + b1) > 0) == yt[:, None]).mean(0)
    return Tuned(w1, b1, grid[pick], dev[pick, h], test)


def random_subsets(n_units: int, size: int, count: int, seed) -> np.ndarray:
    """[count, n_units] bool masks, each ``size`` units drawn without replacement (seeded)."""
    rng = np.random.default_rng(seed)
    masks = np.zeros((count, n_units), dtype=bool)
    for i in range(count):
        masks[i, rng.choice(n_units, size=size, replace=False)] = True
    return masks


def cumulative_masks(order: np.ndarray) -> np.ndarray:
    """[H - 1, H] masks: row j keeps every unit except the first j + 1 of ``order`` (most important first)."""
    h = len(order)
    masks = np.ones((h - 1, h), dtype=bool)
    for j in range(h - 1):
        masks[j, order[: j + 1]] = False
    return masks


def ablation_masks(n_units: int) -> np.ndarray:
    """[H, H] masks: row u keeps every unit except u."""
    return ~np.eye(n_units, dtype=bool)


def subset_size(requested: int, n_units: int) -> int:
    """The random-subset size actually used: the requested size, at most half the units (so that subsets
    differ), at least 1."""
    return max(1, min(int(requested), n_units // 2))


@dataclass
class Suite:
    """Every experiment of one (dataset, feature set, penalty)."""

    all: Tuned
    sn: int
    sn_deleted: Tuned
    single: Tuned
    ablation_c: float
    ablation: np.ndarray  # [H] test accuracy with unit u left out
    order: np.ndarray  # [H] units by |weight|, largest first
    cumulative: np.ndarray  # [H - 1] test accuracy with order[:j + 1] removed
    subset_c: float
    subsets: np.ndarray  # [S, H] masks
    subset_dev: np.ndarray
    subset_test: np.ndarray
    hindrance: np.ndarray  # the units whose single ablation beats all units on test (the study's "hindrance")
    hindrance_removed: Tuned | None  # every unit but those, removed at once, C tuned on dev (None: none to remove)


def weight_order(w: np.ndarray) -> np.ndarray:
    """Units by |weight|, largest first (ties: lower unit first)."""
    return np.lexsort((np.arange(len(w)), -np.abs(w)))


def run_suite(data: Data, c_grid, penalty: str, n_subsets: int, size: int, seed, tune_subsets: int = 50,
              all_fit: Tuned | None = None, progress=None) -> Suite:
    """All the experiments of the study on one feature matrix. ``progress(step_name)`` is called after each
    step (for a progress bar)."""
    tick = progress or (lambda _name: None)
    h = data.n_units
    full = all_fit or fit_all(data, c_grid, penalty)
    tick("all units")
    w = full.w[0]
    order = weight_order(w)
    sn = int(order[0])
    mask = np.ones((1, h), dtype=bool)
    mask[0, sn] = False
    deleted = tune(data, mask, c_grid, penalty)
    tick("SN deleted")
    single = single_units(data, c_grid, penalty)
    tick("single units")
    c_all = float(full.c[0])
    tr, te = (data.x["train"], data.y["train"]), (data.x["test"], data.y["test"])
    masks = ablation_masks(h)
    fit = fit_batch(*tr, masks, c_all, penalty, w0=np.where(masks, w, 0), b0=np.full(h, full.b[0]))
    ablation = accuracy(*te, fit.w, fit.b)
    tick("single-unit ablations")
    hindrance, hindrance_removed = hindrance_units(ablation, float(full.test[0])), None
    if 0 < len(hindrance) < h:
        keep = np.ones((1, h), dtype=bool)
        keep[0, hindrance] = False
        hindrance_removed = tune(data, keep, c_grid, penalty)
    if h > 1:
        masks = cumulative_masks(order)
        fit = fit_batch(*tr, masks, c_all, penalty, w0=np.where(masks, w, 0), b0=np.full(h - 1, full.b[0]))
        cumulative = accuracy(*te, fit.w, fit.b)
    else:
        cumulative = np.zeros(0)
    tick("cumulative ablation")
    subsets = random_subsets(h, size, n_subsets, seed)
    grid = sorted(float(c) for c in c_grid)
    probe = subsets[: max(1, min(tune_subsets, n_subsets))]
    means = []
    wp = bp = None
    for c in grid:
        f = fit_batch(*tr, probe, c, penalty, w0=wp, b0=bp)
        wp, bp = f.w, f.b
        means.append(accuracy(data.x["dev"], data.y["dev"], f.w, f.b).mean())
    subset_c = grid[int(np.argmax(means))]
    fit = fit_batch(*tr, subsets, subset_c, penalty)
    subset_dev = accuracy(data.x["dev"], data.y["dev"], fit.w, fit.b)
    subset_test = accuracy(*te, fit.w, fit.b)
    tick("random subsets")
    return Suite(full, sn, deleted, single, c_all, ablation, order, cumulative, subset_c, subsets, subset_dev,
                 subset_test, hindrance, hindrance_removed)


def hindrance_units(ablation: np.ndarray, all_test: float) -> np.ndarray:
    """The units whose removal alone gives a better test accuracy than all units (the study's "hindrance"
    neurons, chosen on the test split as the study chose them: any gain from removing them all is optimistic)."""
    return np.flatnonzero(np.asarray(ablation) > all_test)


def unit_frame(suite: Suite) -> pd.DataFrame:
    """One row per unit: weight, rank by |weight|, alone (C, dev, test), left out, cumulative accuracy."""
    h = len(suite.order)
    rank = np.empty(h, dtype=np.int64)
    rank[suite.order] = np.arange(h)
    cumulative = np.full(h, np.nan)
    cumulative[suite.order[: h - 1]] = suite.cumulative
    return pd.DataFrame({
        "unit": np.arange(h), "weight": suite.all.w[0].astype(np.float64), "weight_rank": rank,
        "single_c": suite.single.c, "single_dev_accuracy": suite.single.dev, "single_accuracy": suite.single.test,
        "ablation_accuracy": suite.ablation, "cumulative_accuracy": cumulative,
    })
