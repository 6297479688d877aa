"""Numerical helpers shared by the studies: Holm's correction, a 2-D PCA and a thread limit.

Pure numpy (threadpoolctl for the thread limit); the dashboard and the pipeline import them from here only.
"""
from __future__ import annotations

import contextlib
import sys

import numpy as np


def holm(p) -> np.ndarray:
    """Holm-Bonferroni step-down adjusted p-values, in the input order.

    With p sorted ascending p_(1) <= ... <= p_(m): adj_(i) = max over j <= i of min(1, (m - j + 1) p_(j)).
    Rejecting adj < alpha controls the family-wise error rate at alpha. Ties keep their input order (stable
    sort), which leaves the values unchanged; an empty input gives an empty array.
    """
    p = np.asarray(p, dtype=np.float64)
    m = len(p)
    order = np.argsort(p, kind="stable")
    adjusted = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    out = np.empty(m)
    out[order] = adjusted
    return out


def standardise(x: np.ndarray) -> np.ndarray:
    """Columns centred and scaled to unit variance (population sd); constant columns become 0."""
    x = np.asarray(x, dtype=np.float64)
    sd = x.std(0)
    return (x - x.mean(0)) / np.where(sd > 0, sd, 1.0)


def pca_2d(x: np.ndarray, standardised: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """First two principal components of the rows of x [n, H], by SVD of the centred data.

    Returns (coords float64 [n, 2], explained variance ratio float64 [2]). ``standardised``: scale every column to
    unit variance first (constant columns stay 0), so that no feature dominates by its units. Signs follow
    sklearn's convention (each component's largest-magnitude loading is positive); components beyond the data's
    rank are 0.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or len(x) < 2:
        raise ValueError(f"PCA needs at least two vectors, got shape {x.shape}")
    xc = standardise(x) if standardised else x - x.mean(axis=0)
    u, s, vt = np.linalg.svd(xc, full_matrices=False)
    flip = np.sign(vt[np.arange(len(vt)), np.abs(vt).argmax(axis=1)])
    flip[flip == 0] = 1
    u, vt = u * flip, vt * flip[:, None]
    coords = np.zeros((len(x), 2))
    m = min(2, len(s))
    coords[:, :m] = u[:, :m] * s[:m]
    total = float((s ** 2).sum())
    ratio = np.zeros(2)
    if total > 0:
        ratio[:m] = s[:m] ** 2 / total
    return coords, ratio


_controller: tuple[int, object] | None = None


def _thread_pools():
    """threadpoolctl's controller of the loaded BLAS and OpenMP libraries. Finding them costs milliseconds, so it
    is kept, and found again only after new modules were imported (a native library arrives with one)."""
    global _controller
    from threadpoolctl import ThreadpoolController

    if _controller is None or _controller[0] != len(sys.modules):
        _controller = (len(sys.modules), ThreadpoolController())
    return _controller[1]


@contextlib.contextmanager
def limit_threads(n: int | None = 1):
    """Run the block on at most ``n`` threads: the BLAS and OpenMP pools (threadpoolctl) and, when torch is
    loaded, torch's intra-op pool; every pool is restored afterwards. ``None`` leaves them as they are.

    For work made of many small operations (short matrix products, small clusterings) on a shared machine,
    where a pool's start-up and synchronisation cost more than its threads save."""
    if n is None:
        yield
        return
    torch = sys.modules.get("torch")
    before = torch.get_num_threads() if torch is not None else None
    with _thread_pools().limit(limits=n):
        if before is not None and before != n:
            torch.set_num_threads(n)
        try:
            yield
        finally:
            if before is not None and before != n:
                torch.set_num_threads(before)
