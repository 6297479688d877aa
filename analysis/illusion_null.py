"""A direction null for the illusion score: is a unit's top-set consistency higher than that of random directions?

analysis.illusion.illusion_scores compares a neuron's top-set consistency with that of random *sentences*. In an
anisotropic space the top set of *any* direction shares more than random sentences do (selecting on one
coordinate also selects on every coordinate correlated with it), so that baseline calls nearly every neuron
robust. Here the reference is the same statistic for seeded random *directions* of the same layer, so a unit
counts as consistent only when it beats what a direction chosen blindly gets.

Pieces (all pure, numpy in, numpy / pandas out):
- direction_consistency: the statistic for any set of directions (the neuron basis, random directions, rotated
  bases, dictionary features);
- null_directions / null_consistency: the seeded null (unit-norm Gaussian directions or random rotations of the
  neuron basis) and its statistics;
- null_scores: per unit, percentile, z, empirical p-value (+1 rule) and Benjamini-Hochberg q-value;
- null_summary: how many units pass, and the finest p-value the null can give;
- illusion_null_scores: all of it for the neurons of one layer.
"""
from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
from scipy.stats import false_discovery_control, ortho_group

NULL_KINDS = ("gaussian", "rotation")
BLOCK_ELEMENTS = 1 << 22  # projections held at once per dataset: [block, n_d] float32 + its int64 partition


def _check_layer(x, datasets, k: int) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """-> (the column means of x (float64), the dataset names sorted, one [n_d, H] row block per dataset:
    views of x when each dataset's rows are contiguous, as in a stacked layer)."""
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float64)
    datasets = np.asarray(datasets)
    if x.ndim != 2 or datasets.shape != (x.shape[0],) or len(x) == 0:
        raise ValueError(f"x must be [N >= 1, H] and datasets [N]; got x {x.shape} and datasets {datasets.shape}")
    if k < 1:
        raise ValueError(f"k must be >= 1; got k={k}")
    # A float64 sum of float32 values cannot overflow, so the means are finite exactly when x is: one pass,
    # without an [N, H] boolean temporary.
    mu = x.mean(axis=0, dtype=np.float64)
    if not np.isfinite(mu).all():
        raise ValueError("x contains NaN or infinite values (or values too large to average)")
    # One pass over the labels finds the runs; comparing every label with every name is 6 string passes.
    starts = np.concatenate([[0], np.flatnonzero(datasets[1:] != datasets[:-1]) + 1, [len(datasets)]])
    run_names = datasets[starts[:-1]]
    names = np.unique(run_names)
    if len(names) < 2:
        raise ValueError(f"consistency across datasets needs at least 2 datasets; got {len(names)}")
    if len(names) == len(run_names):
        where = {name: i for i, name in enumerate(run_names)}
        blocks = [x[starts[where[name]]:starts[where[name] + 1]] for name in names]
    else:                                               # interleaved rows: one copy per dataset
        blocks = [x[datasets == name] for name in names]
    return mu, names, blocks


def _unit_rows(d, h: int, what: str) -> np.ndarray:
    """[n, H] directions -> float64 unit rows; a one-line ValueError on a wrong shape, non-finite or zero row."""
    d = np.asarray(d, dtype=np.float64)
    if d.ndim != 2 or d.shape[1] != h or d.shape[0] < 1:
        raise ValueError(f"{what} must be [n >= 1, H={h}]; got {d.shape}")
    if not np.isfinite(d).all():
        raise ValueError(f"{what} contains NaN or infinite values")
    norms = np.linalg.norm(d, axis=1)
    if (norms == 0).any():
        raise ValueError(f"{what} row {int(np.flatnonzero(norms == 0)[0])} is zero: a direction needs a norm")
    return d / norms[:, None]


def _top_rows(pt: np.ndarray, k: int) -> np.ndarray:
    """pt [B, n] projections (one row per direction) -> [B, k] column indices of each row's k largest values,
    ties at the boundary going to the lower index (the rule of analysis.extremes.neuron_extremes). Unordered."""
    b, n = pt.shape
    if k >= n:
        return np.broadcast_to(np.arange(n), (b, n))
    # the k-th largest value by a value-only partition (about twice as fast as argpartition), then one pass
    # for the rows' members: O(n) per row, no sort
    kth = np.partition(pt, n - k, axis=1)[:, n - k]
    keep = pt >= kth[:, None]
    counts = keep.sum(1)
    out = np.empty((b, k), dtype=np.intp)
    exact = counts == k
    # flat indices, row-major: each row's k columns in turn (2-D np.nonzero is many times slower)
    out[exact] = (np.flatnonzero(keep[exact]) % n).reshape(-1, k)
    # more values equal to the k-th than places left: the lower indices take them (real-valued projections
    # almost never get here)
    for j in np.flatnonzero(~exact):
        row = pt[j]
        strict = np.flatnonzero(row > kth[j])
        out[j] = np.concatenate([strict, np.flatnonzero(row == kth[j])[:k - len(strict)]])
    return out


def _mean_pairwise_cosine(centroids: list[np.ndarray]) -> np.ndarray:
    """One [B, H] block per dataset -> [B]: mean over unordered dataset pairs of the rows' cosines (NaN where a
    centroid is zero)."""
    norms = [np.linalg.norm(c, axis=1) for c in centroids]
    pairs = list(itertools.combinations(range(len(centroids)), 2))
    total = np.zeros(len(centroids[0]))
    with np.errstate(invalid="ignore", divide="ignore"):
        for a, b in pairs:
            total += np.einsum("bh,bh->b", centroids[a], centroids[b]) / (norms[a] * norms[b])
    return total / len(pairs)


def direction_consistency(x: np.ndarray, datasets: np.ndarray, directions: np.ndarray | None = None, k: int = 10,
                          *, remove: np.ndarray | None = None, block: int | None = None) -> np.ndarray:
    """Top-set consistency across datasets of every direction: [n_dirs] float64.

    x: [N, H] sentence vectors of one layer/pooling, all datasets stacked (float32 from the warehouse is used as
    is: it is not copied when each dataset's rows are contiguous); datasets: [N] dataset names, at least 2
    distinct, D_1..D_m in sorted order. directions: [n_dirs, H], any nonzero scale (only the direction matters);
    None means the neuron basis e_0..e_{H-1} (read straight off x's columns, no matrix product).
    remove: [n_dirs, H] the direction projected out of the centroids, if not the direction itself (a dictionary
    feature ranks sentences by its encoder row w_f and writes along its decoder row d_f: directions = W_enc.T,
    remove = W_dec; its activation is monotone in <x, w_f>, so these are its top sets wherever it fires on at
    least k sentences); default: the directions.

    Definition, for a direction v (|v| = 1), removed direction r (|r| = 1, r = v by default), k_D = min(k, |D|):
    - mu = the mean of x over all N rows (float64);
    - top set T_D(v): the k_D sentences of D with the highest projection <x_s, v> (ties to the lower row index
      within D; the projection is computed in x's dtype);
    - centroid c_D(v) = mean over s in T_D(v) of (x_s - mu), the full H-dim vectors, float64;
    - projected centroid c'_D(v) = c_D(v) - <c_D(v), r> r: the top set is high along v by construction, which
      alone would make any two centroids agree;
    - consistency(v) = mean over the m(m-1)/2 unordered pairs {A, B} of cos(c'_A(v), c'_B(v)); NaN when a
      projected centroid is 0.
    For v = r = e_u, c'_D is c_D with coordinate u zeroed, so this is analysis.illusion.illusion_scores'
    consistency (its cosine "over all coordinates except u") exactly, up to rounding; the definition just
    extends "leave the unit's own coordinate out" to any direction.

    Cost: O(N H n_dirs) multiply-adds for the projections (BLAS, blocks of directions), O(N n_dirs) for the
    top-k partitions, O(n_dirs m k H) for the centroids. Memory beyond x is bounded whatever N and n_dirs:
    one block of projections [block, |D|] float32, its partitioned copy and a mask (block = BLOCK_ELEMENTS //
    max_D |D| directions unless given: about 36 MB), plus the block's gathered top rows [block, k, H]; x is
    read ceil(n_dirs / block) times.
    Raises ValueError (one line) on a bad shape, fewer than 2 datasets, k < 1, block < 1, or non-finite input.
    """
    mu, _, blocks = _check_layer(x, datasets, k)
    h = len(mu)
    if directions is None:
        if remove is not None:
            raise ValueError("remove needs directions (the neuron basis removes each unit's own coordinate)")
        n_dirs, d, r = h, None, None
    else:
        d = _unit_rows(directions, h, "directions")
        r = d if remove is None else _unit_rows(remove, h, "remove")
        if r.shape != d.shape:
            raise ValueError(f"remove must match directions' shape {d.shape}; got {r.shape}")
        n_dirs = len(d)
    if block is not None and block < 1:
        raise ValueError(f"block must be >= 1; got block={block}")
    step = block or max(1, BLOCK_ELEMENTS // max(len(b) for b in blocks))
    out = np.empty(n_dirs)
    for lo in range(0, n_dirs, step):
        hi = min(n_dirs, lo + step)
        if d is not None:
            dk = d[lo:hi].astype(blocks[0].dtype)                      # projections in x's dtype (float32)
        centroids = []
        for xd in blocks:
            # [B, n_d]: one contiguous row per direction, so the partition runs along memory
            pt = np.ascontiguousarray(xd[:, lo:hi].T) if d is None else dk @ xd.T
            top = _top_rows(pt, min(k, len(xd)))                        # [B, k_d]
            del pt
            c = xd[top].mean(axis=1, dtype=np.float64) - mu              # [B, k_d, H] -> [B, H]
            if d is None:
                c[np.arange(hi - lo), np.arange(lo, hi)] = 0.0          # e_u projected out: coordinate u zeroed
            else:
                rk = r[lo:hi]
                c -= np.einsum("bh,bh->b", c, rk)[:, None] * rk
            centroids.append(c)
        out[lo:hi] = _mean_pairwise_cosine(centroids)
    return out


def null_directions(h: int, n: int = 1000, kind: str = "gaussian", seed: int = 0) -> np.ndarray:
    """n seeded random unit directions of R^h: [n, h] float64, rows of norm 1.

    The generator is numpy default_rng([seed, 0]) for "gaussian" and default_rng([seed, 1]) for "rotation", so
    the two kinds drawn with one seed share no draws and can be compared or pooled.
    kind "gaussian": rows of a standard normal [n, h] matrix, each divided by its norm, i.e. independent
    uniform directions on the sphere.
    kind "rotation": random rotations of the neuron basis. Row i is column (i mod h) of the (i // h)-th of
    ceil(n / h) Haar-random orthogonal matrices, scipy.stats.ortho_group (QR of a Gaussian matrix with the signs
    of R's diagonal fixed): every block of h rows is an orthonormal basis, the
    image Q e_u of the neuron basis. Each row alone is again uniform on the sphere, so both kinds give the same
    null distribution for one direction; a rotated basis also keeps the neurons' mutual orthogonality, which
    matters for statistics over a whole basis (how many of its h units pass).
    Raises ValueError on h < 1, n < 1 or an unknown kind.
    """
    if h < 1 or n < 1:
        raise ValueError(f"need h >= 1 and n >= 1; got h={h}, n={n}")
    if kind not in NULL_KINDS:
        raise ValueError(f"kind must be one of {', '.join(NULL_KINDS)}; got {kind!r}")
    rng = np.random.default_rng([seed, NULL_KINDS.index(kind)])
    if kind == "gaussian":
        g = rng.standard_normal((n, h))
        return g / np.linalg.norm(g, axis=1, keepdims=True)
    if h == 1:  # ortho_group needs dim >= 2; O(1) is {+1, -1}
        return rng.choice([-1.0, 1.0], size=(n, 1))
    q = ortho_group.rvs(h, size=math.ceil(n / h), random_state=rng).reshape(-1, h, h)   # [bases, h, h]
    return np.ascontiguousarray(q.transpose(0, 2, 1).reshape(-1, h)[:n])               # columns -> rows


def null_consistency(x: np.ndarray, datasets: np.ndarray, n: int = 1000, kind: str = "gaussian", k: int = 10,
                     seed: int = 0, block: int | None = None) -> np.ndarray:
    """The null: direction_consistency of null_directions(H, n, kind, seed) on this layer, [n] float64."""
    x = np.asarray(x)
    if x.ndim != 2:
        raise ValueError(f"x must be [N, H]; got {x.shape}")
    return direction_consistency(x, datasets, null_directions(x.shape[1], n, kind, seed), k, block=block)


def null_scores(stat: np.ndarray, null: np.ndarray) -> pd.DataFrame:
    """Each unit's consistency against the null's: one row per unit, in the input order.

    stat: [U] the units' consistency (NaN allowed: that unit gets NaN scores and is left out of the correction);
    null: [n] the random directions' consistency (NaN entries are dropped; n = the finite ones, at least 2).
    Columns:
    - unit (0..U-1), consistency;
    - null_mean, null_std: the null's mean and sample std (ddof=1);
    - z = (consistency - null_mean) / null_std (NaN when null_std is 0);
    - percentile = 100 * #(null < consistency) / n (scipy's percentileofscore kind "strict");
    - p_value = (1 + #(null >= consistency)) / (1 + n): the empirical p-value with the +1 correction, never 0,
      at least 1 / (1 + n), valid (P(p <= a) <= a) when the unit is exchangeable with the random directions;
    - q_value: Benjamini-Hochberg adjusted p-values across the units with a finite p_value
      (scipy.stats.false_discovery_control, method "bh"); a unit passes at level q when q_value <= q.
    Raises ValueError on fewer than 2 finite null values or non-1-D input.
    """
    stat = np.asarray(stat, dtype=np.float64)
    null = np.asarray(null, dtype=np.float64)
    if stat.ndim != 1 or null.ndim != 1:
        raise ValueError(f"stat and null must be 1-D; got {stat.shape} and {null.shape}")
    ref = np.sort(null[np.isfinite(null)])
    n = len(ref)
    if n < 2:
        raise ValueError(f"the null needs at least 2 finite values (for a std); got {n}")
    mean, std = float(ref.mean()), float(ref.std(ddof=1))
    ok = np.isfinite(stat)
    below = np.searchsorted(ref, stat, side="left").astype(np.float64)   # #(null < stat)
    below[~ok] = np.nan
    p = (1.0 + (n - below)) / (1.0 + n)
    q = np.full(len(stat), np.nan)
    if ok.any():
        q[ok] = false_discovery_control(p[ok], method="bh")
    with np.errstate(invalid="ignore", divide="ignore"):
        z = (stat - mean) / std if std > 0 else np.full(len(stat), np.nan)
    return pd.DataFrame({"unit": np.arange(len(stat)), "consistency": stat, "null_mean": mean, "null_std": std,
                         "z": z, "percentile": 100.0 * below / n, "p_value": p, "q_value": q})


def null_summary(scores: pd.DataFrame, n_null: int, alpha: float = 0.05, what: str = "neurons") -> dict:
    """How many units beat the direction null: the page's headline.

    scores: null_scores' frame; n_null: the number of finite null values it was scored against.
    Returns a dict:
    - n_units, n_scored (finite p_value);
    - n_pass_q: units with q_value <= alpha (Benjamini-Hochberg: the expected share of false passes among them
      is at most alpha); n_pass_p: units with p_value <= alpha before correction, and expected_pass_p =
      alpha * n_scored, about what pure chance gives before correction;
    - p_floor = 1 / (1 + n_null), the smallest p-value the null can give, and min_joint_pass: the fewest units
      that can pass BH together at that floor, max(1, ceil(n_scored p_floor / alpha)) (1 means a single unit
      can pass alone); with n_null = 1,000 and 384 units it is 8: a lone strong unit cannot pass;
    - verdict: one plain sentence such as "0 of 384 neurons are more consistent than random directions
      (Benjamini-Hochberg q <= 0.05; 21 have p <= 0.05 before correction, about 19 expected by chance)".
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1); got {alpha}")
    if n_null < 1:
        raise ValueError(f"n_null must be >= 1; got {n_null}")
    p = scores["p_value"].to_numpy(dtype=np.float64)
    q = scores["q_value"].to_numpy(dtype=np.float64)
    n_scored = int(np.isfinite(p).sum())
    n_pass_q, n_pass_p = int((q <= alpha).sum()), int((p <= alpha).sum())
    expected = alpha * n_scored
    p_floor = 1.0 / (1 + n_null)
    is_are = "is" if n_pass_q == 1 else "are"
    verdict = (f"{n_pass_q} of {n_scored} {what} {is_are} more consistent than random directions "
               f"(Benjamini-Hochberg q <= {alpha:g}; {n_pass_p} have p <= {alpha:g} before correction, "
               f"about {expected:.0f} expected by chance)")
    return {"n_units": len(scores), "n_scored": n_scored, "n_pass_q": n_pass_q, "n_pass_p": n_pass_p,
            "expected_pass_p": expected, "alpha": alpha, "n_null": n_null, "p_floor": p_floor,
            "min_joint_pass": max(1, math.ceil(n_scored * p_floor / alpha)), "verdict": verdict}


def illusion_null_scores(x: np.ndarray, datasets: np.ndarray, k: int = 10, n_null: int = 1000,
                         kind: str = "gaussian", seed: int = 0, block: int | None = None
                         ) -> tuple[pd.DataFrame, np.ndarray]:
    """The neurons of one layer against the direction null: (null_scores frame [H rows], null [n_null]).

    The neurons' statistic is direction_consistency(x, datasets, None, k) (= illusion_scores' consistency);
    the null is null_consistency(x, datasets, n_null, kind, k, seed). Cost: about (H + n_null) directions of
    direction_consistency, the neurons needing no matrix product.
    """
    stat = direction_consistency(x, datasets, None, k, block=block)
    null = null_consistency(x, datasets, n_null, kind, k, seed, block=block)
    return null_scores(stat, null), null
