"""Exact nearest neighbours by cosine similarity, with the same ranking rule as the warehouse's
``nearest_sentences`` / ``nearest_to_vector`` queries: higher similarity first, ties to the lower row index
(the lower sentence_id when the rows are one dataset's sentences in id order).

Rows whose similarity is undefined (a zero vector, or a zero query) are never returned, as the SQL drops the
NaN that ``list_cosine_similarity`` gives them. Computed in float32, like the stored vectors and DuckDB.
"""
from __future__ import annotations

import numpy as np


def row_norms(x: np.ndarray) -> np.ndarray:
    """float32 [N]: the Euclidean norm of every row of x [N, H] (computed once and passed to ``nearest`` to
    scan the same matrix many times)."""
    x = np.asarray(x, dtype=np.float32)
    return np.sqrt(np.einsum("ij,ij->i", x, x))


def cosine_similarities(x: np.ndarray, q: np.ndarray, norms: np.ndarray | None = None) -> np.ndarray:
    """float32 [m, N]: cosine of every query row q [m, H] with every row of x [N, H]; NaN where either vector
    is zero."""
    x = np.asarray(x, dtype=np.float32)
    q = np.atleast_2d(np.asarray(q, dtype=np.float32))
    if q.shape[1] != x.shape[1]:
        raise ValueError(f"query has {q.shape[1]} values per vector, the matrix {x.shape[1]}")
    norms = row_norms(x) if norms is None else np.asarray(norms, dtype=np.float32)
    qn = row_norms(q)
    # einsum, not q @ x.T: BLAS kernels sum some rows in a different order (a remainder block), so two
    # identical rows could differ in the last bit and break the tie rule; einsum's loop is the same per row.
    dots = np.einsum("mh,nh->mn", q, x)
    with np.errstate(divide="ignore", invalid="ignore"):
        return dots / (qn[:, None] * norms[None, :])


def _top(s: np.ndarray, k: int) -> np.ndarray:
    """Row indices of the k highest finite values of s [N], highest first, ties to the lower index."""
    valid = np.flatnonzero(np.isfinite(s))
    k = min(k, len(valid))
    if k == 0:
        return np.zeros(0, dtype=np.int64)
    sv = s[valid]
    # every row at least as high as the k-th value: exact under ties, then ordered by (-similarity, index)
    kth = np.partition(sv, len(sv) - k)[len(sv) - k]
    cand = valid[sv >= kth]
    order = np.lexsort((cand, -s[cand]))
    return cand[order[:k]]


def nearest(x: np.ndarray, q: np.ndarray, k: int, exclude=None,
            norms: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The k rows of x [N, H] nearest by cosine to q ([H], or [m, H] for m queries).

    exclude: a row index to leave out (for q [H]), or one per query (for q [m, H]; -1 or None leaves none out),
    e.g. the query sentence itself. norms: row_norms(x), if already computed.
    Returns (ids int64, sims float32), each [k] for q [H] or [m, k] for q [m, H]; fewer than k columns when
    fewer rows qualify (for [m, H], the rows are padded with -1 and NaN).
    """
    if isinstance(k, bool) or int(k) != k or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    k = int(k)
    single = np.ndim(q) == 1
    sims = cosine_similarities(x, q, norms)
    m = sims.shape[0]
    if exclude is None:
        ex = [None] * m
    else:
        ex = [exclude] if single else list(exclude)
        if len(ex) != m:
            raise ValueError(f"exclude has {len(ex)} entries for {m} queries")
    tops = []
    for row, e in zip(sims, ex):
        if e is not None and e >= 0:
            row = row.copy()
            row[int(e)] = np.nan
        tops.append(_top(row, k))
    width = max((len(t) for t in tops), default=0)
    ids = np.full((m, width), -1, dtype=np.int64)
    out = np.full((m, width), np.nan, dtype=np.float32)
    for i, t in enumerate(tops):
        ids[i, :len(t)] = t
        out[i, :len(t)] = sims[i, t]
    return (ids[0], out[0]) if single else (ids, out)
