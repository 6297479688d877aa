"""Per-neuron extremes: the sentences where each unit is highest and lowest."""
from __future__ import annotations

import numpy as np


def neuron_extremes(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Top-k and bottom-k rows of every column of ``x``.

    x: [N, H] activations (N sentences, H units).
    Returns (top_idx, top_val, bottom_idx, bottom_val), each [k', H] with k' = min(k, N); row 0 is the most
    extreme. Ties are broken by the lower sentence index (as a stable sort would), so results are
    deterministic.
    """
    n, _ = x.shape
    k = min(k, n)
    xt = np.ascontiguousarray(x.T)  # [H, N]: each unit's values contiguous, so partitioning is cache-friendly
    # One O(N) partition per unit finds both ends at once.
    part = np.argpartition(xt, (k - 1, n - k), axis=1) if n > 1 else np.zeros(xt.shape, dtype=np.intp)
    bottom_kth = np.take_along_axis(xt, part[:, k - 1:k], 1)[:, 0]
    top_kth = np.take_along_axis(xt, part[:, n - k:n - k + 1], 1)[:, 0]
    top_idx = _ordered(xt, part[:, n - k:].copy(), top_kth, lowest=False)
    bottom_idx = _ordered(xt, part[:, :k].copy(), bottom_kth, lowest=True)
    return top_idx, np.take_along_axis(x, top_idx, 0), bottom_idx, np.take_along_axis(x, bottom_idx, 0)


def _ordered(xt: np.ndarray, cand: np.ndarray, kth: np.ndarray, lowest: bool) -> np.ndarray:
    """cand [H, k]: some k-subset at one end of each row of xt. Return the lowest-index such subset, sorted
    from the most extreme value, as [k, H]."""
    k = cand.shape[1]
    vals = np.take_along_axis(xt, cand, 1)
    strictly_inside = (vals < kth[:, None]) if lowest else (vals > kth[:, None])
    slots = k - strictly_inside.sum(1)  # places left for values equal to the k-th
    n_equal = (xt == kth[:, None]).sum(1)
    # argpartition picks arbitrary members of a tie at the boundary; only rows with more ties than
    # slots need fixing, which real-valued activations almost never have, except a constant unit (every
    # sentence the same value, e.g. a transformer's layer-0 [CLS]): its answer is the first k rows.
    const = n_equal == xt.shape[1]
    cand[const] = np.arange(k)
    for j in np.flatnonzero((n_equal > slots) & ~const):
        row = xt[j]
        strict = np.flatnonzero(row < kth[j] if lowest else row > kth[j])
        cand[j] = np.concatenate([strict, np.flatnonzero(row == kth[j])[:slots[j]]])
    cand.sort(axis=1)  # index order first, so the stable sort below breaks ties by index
    vals = np.take_along_axis(xt, cand, 1)
    order = np.argsort(vals if lowest else -vals, axis=1, kind="stable")
    return np.take_along_axis(cand, order, 1).T


class StreamingExtremes:
    """Per-column top-k and bottom-k of row blocks that arrive in row order, kept in O(k x H) memory, with
    per-row payloads (e.g. the token each value came from). The result equals ``neuron_extremes`` on all the
    blocks stacked (ties to the lower row), with each kept entry's payload.

    ``add(hi, lo, payload_hi, payload_lo)``: hi/lo [n, H] (e.g. the max and the min over a sentence's tokens;
    rows without a value are -inf in hi and +inf in lo), payloads {name: [n, H] int} for the hi and lo values.
    ``result()`` -> {"top": (rows [k', H], vals, {name: [k', H]}), "bottom": (...)}, rows as global row indices;
    entries with no finite value are left out (k' <= k; columns share one k').
    """

    def __init__(self, k: int, names: tuple[str, ...]):
        self.k, self.names, self.n = int(k), tuple(names), 0
        self.state: dict[str, tuple | None] = {"top": None, "bottom": None}

    def _merge(self, side: str, vals: np.ndarray, rows: np.ndarray, payload: dict) -> None:
        old = self.state[side]
        if old is not None:  # every kept row precedes the new block's rows: lower rows stay first on ties
            vals = np.concatenate([old[1], vals])
            rows = np.concatenate([old[0], rows])
            payload = {n: np.concatenate([old[2][n], payload[n]]) for n in self.names}
        top_i, _, bot_i, _ = neuron_extremes(vals, self.k)
        pick = top_i if side == "top" else bot_i
        rows = np.take_along_axis(rows, pick, 0)
        order = np.argsort(rows, axis=0, kind="stable")  # kept in row order for the next merge's tie-breaking
        pick = np.take_along_axis(pick, order, 0)
        self.state[side] = (np.take_along_axis(rows, order, 0), np.take_along_axis(vals, pick, 0),
                            {n: np.take_along_axis(payload[n], pick, 0) for n in self.names})

    def add(self, hi: np.ndarray, lo: np.ndarray, payload_hi: dict, payload_lo: dict) -> None:
        n, h = hi.shape
        rows = np.broadcast_to(np.arange(self.n, self.n + n)[:, None], (n, h))
        self._merge("top", hi, rows, payload_hi)
        self._merge("bottom", lo, rows, payload_lo)
        self.n += n

    def result(self) -> dict:
        out = {}
        for side, state in self.state.items():
            rows, vals, payload = state
            top_i, _, bot_i, _ = neuron_extremes(vals, len(vals))  # most extreme first, ties to the lower row
            order = top_i if side == "top" else bot_i
            vals = np.take_along_axis(vals, order, 0)
            keep = np.isfinite(vals).all(1)  # a rank where some column has no value is dropped for all
            out[side] = (np.take_along_axis(rows, order, 0)[keep], vals[keep],
                         {n: np.take_along_axis(p, order, 0)[keep] for n, p in payload.items()})
        return out
