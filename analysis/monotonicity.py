"""Token monotonicity along neuron axes (Bolukbasi et al. 2021, Section 5.1 / 5.2, Tables 3-4, Fig. 6).

For a neuron h, the N sentences of a dataset are cut into five activation quintiles; a token is monotonic
for h when its total count rises (or falls) from quintile to quintile. The paper's footnote fixes the
reading: "The probability of a random set of quintiles being monotonic is 2/5! (1.7%)" -- only 2 of the 5!
orderings of five distinct counts are monotonic, so the test is strict and equal neighbouring counts are
not monotonic.
"""
from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import scipy.sparse as sp

N_QUINTILES = 5


def _quintiles_by_partition(x: np.ndarray, cuts: np.ndarray) -> np.ndarray:
    """int8 [N, H]: for finite x, how many of the sorted positions ``cuts`` (0 < cut < N) each entry's place in
    its column's stable ascending order (ties by row index) is at or after. The entry at place p has value v
    (one partition finds all cut values); entries below v come before it and those above after, and of the
    entries equal to v, the first ``p - #below`` in row order come before."""
    xt = np.ascontiguousarray(x.T)  # [H, N]: each column contiguous
    vals = np.partition(xt, cuts, axis=1)[:, cuts]  # [H, cuts]
    out = np.zeros(xt.shape, dtype=np.int8)
    for c, p in enumerate(cuts):
        v = vals[:, c:c + 1]
        after = xt >= v
        equal = xt == v
        tied = np.flatnonzero(equal.sum(axis=1) > 1)  # real-valued activations: almost never
        if len(tied):
            below = (xt[tied] < v[tied]).sum(axis=1, keepdims=True)
            rank = np.cumsum(equal[tied], axis=1) - 1  # row-order rank among the entries equal to v
            after[tied] = (xt[tied] > v[tied]) | (equal[tied] & (rank >= p - below))
        out += after
    return out.T


def quintile_index(activations: np.ndarray) -> np.ndarray:
    """The quintile (0 = lowest activations .. 4 = highest) of every sentence for every neuron.

    activations: [N, H] (or [N] for one neuron). Per neuron, sentences are sorted ascending by activation,
    ties by sentence index (a stable sort), and the sorted order is cut like ``np.array_split(order, 5)``:
    the first N % 5 quintiles hold one sentence more. Returns int8 with the input's shape.
    """
    x = np.asarray(activations)
    squeeze = x.ndim == 1
    if squeeze:
        x = x[:, None]
    n = x.shape[0]
    if n < N_QUINTILES:
        raise ValueError(f"need at least {N_QUINTILES} sentences for quintiles, got {n}")
    sizes = [len(part) for part in np.array_split(np.arange(n), N_QUINTILES)]
    if not np.isfinite(x).all():  # NaN sorts last: keep the plain stable sort's order
        by_position = np.repeat(np.arange(N_QUINTILES, dtype=np.int8), sizes)
        order = np.argsort(x, axis=0, kind="stable")  # stable => equal activations keep index order
        out = np.empty(x.shape, dtype=np.int8)
        np.put_along_axis(out, order, np.broadcast_to(by_position[:, None], x.shape), axis=0)
    else:
        # The quintile is the number of cut points (sorted positions 0 + sizes[0], ...) at or before the
        # sentence's position: four partitions instead of a full stable sort of every column.
        out = _quintiles_by_partition(x, np.cumsum(sizes)[:-1])
    return out[:, 0] if squeeze else out


def quintile_counts(activations: np.ndarray, token_counts, block: int = 64) -> np.ndarray:
    """Total count of each token in each activation quintile of each neuron.

    activations: [N, H]; token_counts: [N, T] scipy.sparse matrix or ndarray (occurrences of token t in
    sentence n). Quintiles as in ``quintile_index``. Returns int64 [H, T, 5], last axis from the lowest to
    the highest quintile. Counts are raw totals, not per-sentence rates: when N % 5 != 0 the lower
    quintiles hold one sentence more (the paper compares raw counts per quintile).

    Vectorised per quintile: the transposed token counts [T, N] times the dense 0/1 membership of ``block``
    neurons at a time [N, block].
    """
    x = np.asarray(activations)
    n, h = x.shape
    c = sp.csr_matrix(token_counts) if not sp.issparse(token_counts) else token_counts.tocsr()
    if c.shape[0] != n:
        raise ValueError(f"activations have {n} sentences but token_counts has {c.shape[0]}")
    t = c.shape[1]
    q = quintile_index(x)
    # [T, N]; float32 sums of whole counts are exact below 2**24, and float32 products are faster
    kind = np.float32 if c.sum() < 2 ** 24 else np.float64
    ct = c.T.tocsr().astype(kind)
    out = np.empty((h, t, N_QUINTILES), dtype=np.int64)
    # Per quintile, the sparse token counts times a dense 0/1 membership block [N, b]: nnz(C) x b x 5
    # multiply-adds, cheaper than a sparse membership matrix times C.
    for start in range(0, h, block):
        stop = min(start + block, h)
        for j in range(N_QUINTILES):
            member = (q[:, start:stop] == j).astype(kind)
            out[start:stop, :, j] = np.rint(ct @ member).astype(np.int64).T
    return out


def monotonic_direction(counts: np.ndarray) -> np.ndarray:
    """+1 where counts strictly increase across the last axis (the 5 quintiles), -1 where they strictly
    decrease, 0 otherwise.

    counts: [..., 5]. Strict, following the paper: its chance rate 2/5! counts only the 2 strict orderings
    of 5 distinct values, so any tie between neighbouring quintiles (e.g. a token absent from two of them)
    is not monotonic. Returns int8 [...].
    """
    d = np.diff(np.asarray(counts), axis=-1)
    up = (d > 0).all(axis=-1)
    down = (d < 0).all(axis=-1)
    return up.astype(np.int8) - down.astype(np.int8)


def frequent_tokens(long: pd.DataFrame, min_count: int = 100, datasets=None) -> list[str]:
    """Tokens occurring at least ``min_count`` times in EACH dataset (the paper: "the 915 tokens appearing at
    least 100 times in each of the four datasets").

    long: the warehouse's sentence_tokens layout, columns dataset, sentence_id, token, n (n = occurrences
    in that sentence). datasets: the datasets that must all qualify (default: those in ``long``); a listed
    dataset with no rows makes the answer empty. Returns the tokens sorted.
    """
    names = sorted(long["dataset"].unique()) if datasets is None else list(datasets)
    if not names:
        return []
    totals = long[long["dataset"].isin(names)].groupby(["token", "dataset"])["n"].sum().unstack("dataset")
    # A token missing from a dataset has total 0 there, so it fails that dataset's threshold.
    totals = totals.reindex(columns=names).fillna(0)
    return sorted(totals.index[(totals >= min_count).all(axis=1)])


def token_matrix(long: pd.DataFrame, n_sentences: int, tokens: list[str]) -> sp.csr_matrix:
    """Sentence x token count matrix for ONE dataset, columns in the order of ``tokens``.

    long: columns sentence_id (0 .. n_sentences-1, the row in the activation matrix), token, n; rows for
    tokens not in ``tokens`` are ignored. Returns csr_matrix int64 [n_sentences, len(tokens)].
    """
    col = pd.Index(tokens).get_indexer(long["token"])
    keep = col >= 0
    sid = long["sentence_id"].to_numpy()[keep]
    if len(sid) and (sid.min() < 0 or sid.max() >= n_sentences):
        raise ValueError(f"sentence_id outside 0..{n_sentences - 1}")
    # csr sums duplicate (sentence, token) entries, so repeated rows add up rather than overwrite.
    return sp.csr_matrix((long["n"].to_numpy()[keep].astype(np.int64), (sid, col[keep])),
                         shape=(n_sentences, len(tokens)))


def table3(directions: dict[str, np.ndarray]) -> pd.DataFrame:
    """Table 3: how often (neuron, token) pairs are monotonic in every dataset of each combination.

    directions: dataset -> int8 [H, T] from ``monotonic_direction`` (same neurons and tokens everywhere).
    One row per combination of 1..m datasets (itertools.combinations, in the dict's order), columns:
      datasets (names joined by " + "), n_datasets,
      monotonic   -- monotonic in each dataset, the direction may differ between datasets (the paper's
                     "Monotonic" column: Books+QNLI 7.4% > increasing 3.0% + decreasing 2.9%),
      increasing  -- increasing in all of them; decreasing -- decreasing in all of them;
      same_direction = increasing + decreasing;
      chance_* -- the rate if every dataset's 5 quintile counts were distinct, exchangeable (each of the 5!
                  orderings equally likely) and independent across datasets: (2/5!)^m for monotonic,
                  (1/5!)^m for each direction, 2 (1/5!)^m for same_direction.
    Shares are fractions of H * T.
    """
    names = list(directions)
    p1 = 1 / math.factorial(N_QUINTILES)
    rows = []
    for m in range(1, len(names) + 1):
        for combo in itertools.combinations(names, m):
            d = np.stack([np.asarray(directions[name]) for name in combo])
            inc = (d == 1).all(axis=0).mean()
            dec = (d == -1).all(axis=0).mean()
            rows.append({"datasets": " + ".join(combo), "n_datasets": m,
                         "monotonic": float((d != 0).all(axis=0).mean()),
                         "increasing": float(inc), "decreasing": float(dec), "same_direction": float(inc + dec),
                         "chance_monotonic": (2 * p1) ** m, "chance_increasing": p1 ** m,
                         "chance_decreasing": p1 ** m, "chance_same_direction": 2 * p1 ** m})
    return pd.DataFrame(rows)


def table4(directions: dict[str, np.ndarray], tokens: list[str], top: int = 10) -> pd.DataFrame:
    """Table 4: the tokens monotonic in the same direction in all datasets for the most neurons.

    directions: dataset -> int8 [H, T]; tokens: the T column names. Returns at most ``top`` rows with
    token, n_neurons, n_increasing, n_decreasing (neurons where the token increases in every dataset,
    decreases in every dataset; n_neurons is their sum), most neurons first, ties by token; tokens with no
    such neuron are left out.
    """
    d = np.stack([np.asarray(v) for v in directions.values()])
    inc = (d == 1).all(axis=0).sum(axis=0)
    dec = (d == -1).all(axis=0).sum(axis=0)
    out = pd.DataFrame({"token": list(tokens), "n_neurons": inc + dec, "n_increasing": inc,
                        "n_decreasing": dec})
    out = out[out["n_neurons"] > 0].sort_values(["n_neurons", "token"], ascending=[False, True], kind="stable")
    return out.head(top).reset_index(drop=True)


def fig6_frame(counts_by_dataset: dict[str, np.ndarray]) -> pd.DataFrame:
    """Fig. 6 data: one token's counts per quintile for one neuron, per dataset, long for a chart.

    counts_by_dataset: dataset -> [5] counts (lowest quintile first). Returns dataset, quintile (1..5),
    count, share (count / the dataset's total, so datasets of different sizes can share an axis; NaN when
    the token never occurs).
    """
    rows = []
    for name, counts in counts_by_dataset.items():
        c = np.asarray(counts, dtype=np.int64)
        if c.shape != (N_QUINTILES,):
            raise ValueError(f"{name}: expected {N_QUINTILES} quintile counts, got shape {c.shape}")
        total = c.sum()
        rows.append(pd.DataFrame({"dataset": name, "quintile": np.arange(1, N_QUINTILES + 1), "count": c,
                                  "share": c / total if total else np.full(N_QUINTILES, np.nan)}))
    return pd.concat(rows, ignore_index=True)
