"""Many small logistic regressions at once: one design matrix, K problems that differ by their units and C.

The sentiment-neuron protocol fits thousands of classifiers on the same sentences: one per unit left out,
one per cumulative-ablation step, 1,000 random 100-unit subsets, one per unit alone, each over a grid of C.
They share the feature matrix X [n, H] and the labels; problem k uses only the units in ``masks[k]``. So
instead of a loop of sklearn fits, every step here is one matrix product for all problems:
``Z = X @ W.T`` [n, K] and ``G = X.T @ R`` [H, K], with each problem's weights kept at zero outside its mask.

Each problem k minimises sklearn's objective (``LogisticRegression(C=c_k)`` with an unpenalised intercept):

    f_k(w, b) = sum_i log(1 + exp(-s_i (x_i . w + b))) + R(w) / c_k,   s_i = +-1,  w_j = 0 off masks[k]
    R(w) = ||w||^2 / 2 (l2)  or  ||w||_1 (l1).

L2: truncated Newton, batched. Each iteration takes every problem's exact gradient, solves its Newton system
by conjugate gradients (Hessian-vector products are two matrix products for all problems) preconditioned by
the inverse of a reference Hessian restricted to the problem's units (one factorisation serves a whole
family: leave-one-out by a rank-one correction, nested cumulative masks by leading blocks of one Cholesky
factor), and backtracks per problem (Armijo). Standardised LayerNorm outputs are exactly collinear, so the
preconditioner matters: with it CG needs one or two steps.

L1: proximal Newton, as liblinear's newGLMNET: coordinate descent on the quadratic model plus the exact L1
term (all problems at once, numpy), an exact solve on the signs it found where the model is small enough
(nearly separable data make plain coordinate descent crawl), then backtracking on the true objective.

Converged problems leave the batch. ``single_unit_fit`` solves the one-unit problems exactly by 2x2 Newton.

Only torch is needed (float32 products, float64 objective); sklearn is the reference in the tests.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analysis.numerics import limit_threads

PENALTIES = ("l1", "l2")


@dataclass
class Fit:
    """K fitted problems: w float32 [K, H] (0 off each mask), b float64 [K], iterations and convergence."""

    w: np.ndarray
    b: np.ndarray
    n_iter: np.ndarray
    converged: np.ndarray


def _torch():
    import torch

    return torch


def _threads_for(work: float):
    """One thread unless the batch's matrix products are large (work: their size, n x H x problems): many small
    products run slower with a thread pool on a shared machine."""
    return limit_threads(1 if work < 2e8 else None)


def _as_tensor(a, dtype):
    torch = _torch()
    return torch.as_tensor(np.ascontiguousarray(a), dtype=dtype)


def _check(x, y, masks, c, penalty):
    if penalty not in PENALTIES:
        raise ValueError(f"penalty must be one of {PENALTIES}, got {penalty!r}")
    x = np.asarray(x)
    y = np.asarray(y)
    masks = np.asarray(masks, dtype=bool)
    if x.ndim != 2 or y.shape != (x.shape[0],) or masks.ndim != 2 or masks.shape[1] != x.shape[1]:
        raise ValueError(f"shapes: x {x.shape}, y {y.shape}, masks {masks.shape}")
    if not np.isin(y, (0, 1)).all():
        raise ValueError("y must hold 0/1 labels")
    c = np.broadcast_to(np.asarray(c, dtype=np.float64), (masks.shape[0],)).copy()
    if (c <= 0).any() or not np.isfinite(c).all():
        raise ValueError("C must be positive and finite")
    return x, y, masks, c


def fit_batch(x, y, masks, c, penalty: str = "l2", *, w0=None, b0=None, tol: float | None = None,
              max_iter: int = 100, cg_max: int = 25, chunk: int | None = None) -> Fit:
    """Fit K logistic regressions that share x [n, H] and y [n] (0/1): problem k uses the units where
    masks[k] [K, H] is True, with inverse regularisation strength c[k] (scalar or [K]).

    w0 [K, H], b0 [K]: optional warm starts. Stops a problem when its (pseudo-)gradient, divided by n, is
    below ``tol`` in every coordinate (default 1e-5 for l2, whose Newton steps converge quadratically, and
    1e-4 for l1, sklearn's default tolerance; sklearn's lbfgs uses 1e-4 on the same scale), or after
    ``max_iter`` Newton steps. ``chunk`` fixes how many problems are solved together (default: see ``_groups``).
    """
    x, y, masks, c = _check(x, y, masks, c, penalty)
    tol = tol if tol is not None else (1e-5 if penalty == "l2" else 1e-4)
    k, h = masks.shape
    groups = _groups(masks, c, penalty, len(y), chunk)
    out_w = np.zeros(masks.shape, dtype=np.float32)
    out_b = np.zeros(k)
    out_it = np.zeros(k, dtype=np.int64)
    out_ok = np.zeros(k, dtype=bool)
    torch = _torch()
    xt = _as_tensor(x, torch.float32)
    yt = _as_tensor(y, torch.float32)
    xa = torch.cat([xt, torch.ones((xt.shape[0], 1))], 1)  # units and the intercept's column
    solve = _newton_cg_l2 if penalty == "l2" else _prox_newton_l1
    with _threads_for(float(x.shape[0]) * (h + 1) * max(len(g) for g in groups)):
        for sl in groups:
            _fit_group(solve, xt, xa, yt, y, masks, c, w0, b0, tol, max_iter, cg_max, sl, out_w, out_b, out_it,
                       out_ok)
    return Fit(out_w, out_b, out_it, out_ok)


def _groups(masks, c, penalty, n, chunk=None) -> list[np.ndarray]:
    """Which problems are solved together (lists of indices).

    L2: all at once when one preconditioner serves them (leave-one-out or nested masks), else chunks that keep
    the per-problem [width, width] preconditioners under ~64 MB. L1: every problem using more than half the
    units in one batch (the full index space, with a shared model that needs no per-problem matrix); the
    others in chunks under ~64 MB, and, on few sentences (n <= 2000, where exact Hessians are cheap), by
    size (mask sizes within a factor 2, largest first), so that small problems (the end of a cumulative
    ablation) run in their own small index space with exact Hessians.
    """
    k, h = masks.shape
    counts = masks.sum(1)
    if chunk:
        return [np.arange(s, min(k, s + chunk)) for s in range(0, k, chunk)]
    if penalty == "l2" and _structure(masks, c) != "general":
        return [np.arange(k)]
    out = []
    order = np.arange(k)
    by_size = False
    if penalty == "l1":
        wide = counts + 1 > (h + 1) // 2
        if n > 2000 and wide.all():
            return [np.arange(k)]
        if wide.any() and n <= 2000:
            out.append(np.flatnonzero(wide))
            order = np.flatnonzero(~wide)
        by_size = n <= 2000
        if by_size:
            order = order[np.argsort(-counts[order], kind="stable")]
    start = 0
    while start < len(order):
        width = int(counts[order[start:]].max()) + 2
        cap = max(1, (1 << 24) // (width * width))
        stop = start + 1
        while stop < len(order) and stop - start < cap and (
                not by_size or 2 * counts[order[stop]] > counts[order[start]]):
            stop += 1
        out.append(order[start:stop])
        start = stop
    return out


def _fit_group(solve, xt, xa, yt, y, masks, c, w0, b0, tol, max_iter, cg_max, sl, out_w, out_b, out_it, out_ok):
    """Solve the problems ``sl`` (indices) together and write their results into the out_* arrays."""
    torch = _torch()
    m = masks[sl]
    w_start = np.zeros(m.shape, np.float32) if w0 is None else np.where(m, np.asarray(w0)[sl], 0)
    if b0 is None:
        p = float(np.clip(y.mean(), 1e-6, 1 - 1e-6))
        b_start = np.full(m.shape[0], np.log(p / (1 - p)))
    else:
        b_start = np.asarray(b0, dtype=np.float64)[sl]
    res = solve(xt, xa, yt, _as_tensor(m, torch.float32), torch.as_tensor(1.0 / c[sl], dtype=torch.float32),
                _as_tensor(w_start, torch.float32), _as_tensor(b_start, torch.float32), tol, max_iter, cg_max)
    out_w[sl], out_b[sl], out_it[sl], out_ok[sl] = res


def _loss(z, y):
    """Per-problem logistic loss sum, float64: z [n, K] logits, y [n] 0/1."""
    torch = _torch()
    return (torch.nn.functional.softplus(z) - y[:, None] * z).sum(0, dtype=torch.float64)


def _reg(w, penalty):
    torch = _torch()
    w = w.to(torch.float64)
    return 0.5 * (w * w).sum(1) if penalty == "l2" else w.abs().sum(1)


def _pseudo_gradient(g, w, inv_c, mask):
    """L1 pseudo-gradient (the minimum-norm subgradient) of loss + ||w||_1 / c; 0 off the mask."""
    torch = _torch()
    lam = inv_c[:, None]
    pg = torch.where(w > 0, g + lam, torch.where(w < 0, g - lam, torch.zeros_like(g)))
    at0 = w == 0
    pg = torch.where(at0 & (g + lam < 0), g + lam, pg)
    pg = torch.where(at0 & (g - lam > 0), g - lam, pg)
    return pg * mask


def _gradients(xt, yt, w, b, m):
    """Logits z [n, k], probabilities p, loss gradient g [k, H] (masked) and intercept gradient gb [k]."""
    torch = _torch()
    z = torch.addmm(b[None, :], xt, w.T)
    p = torch.sigmoid(z)
    r = p - yt[:, None]
    return z, p, (xt.T @ r).T * m, r.sum(0)


def _line_search(xt, yt, w, b, dw, db, f0, slope, inv_c, penalty, sigma=1e-4, halvings=30):
    """Per-problem backtracking (Armijo) along (dw, db). ``slope`` [k]: the step's predicted first-order
    change of the objective (negative). Returns the new (w, b), the accepted step sizes (0 where no
    decrease was found: the problem is at the float32 limit) and the new objectives."""
    torch = _torch()
    k = len(f0)
    alpha = torch.ones(k, dtype=torch.float32)
    pending = torch.ones(k, dtype=torch.bool)
    w_new, b_new, f_new = w.clone(), b.clone(), f0.clone()
    # Near the optimum the predicted decrease falls below the float32 noise of the objective (about 1e-7 of
    # it): the Armijo test then only measures rounding, and the full step is taken.
    tiny = (-slope) <= 1e-6 * f0.abs()
    for _ in range(halvings):
        idx = torch.nonzero(pending).squeeze(1)
        if len(idx) == 0:
            break
        a = alpha[idx]
        wt = w[idx] + a[:, None] * dw[idx]
        bt = b[idx] + a * db[idx]
        zt = torch.addmm(bt[None, :], xt, wt.T)
        ft = _loss(zt, yt) + _reg(wt, penalty) * inv_c[idx].double()
        good = (ft <= f0[idx] + sigma * a.double() * slope[idx]) | (tiny[idx] & (a == 1))
        w_new[idx[good]], b_new[idx[good]], f_new[idx[good]] = wt[good], bt[good], ft[good]
        pending[idx[good]] = False
        alpha[idx[~good]] *= 0.5
    alpha[pending] = 0.0
    return w_new, b_new, alpha, f_new


def _newton_cg_l2(xt, xa, yt, m, inv_c, w, b, tol, max_iter, cg_max):
    """L2: truncated Newton; each Newton system solved by preconditioned CG (``_pcg``), backtracking."""
    torch = _torch()
    n = xt.shape[0]
    k = m.shape[0]
    it_all = torch.zeros(k, dtype=torch.long)
    ok_all = torch.zeros(k, dtype=torch.bool)
    w_all, b_all = w.clone(), b.clone()
    act = torch.arange(k)
    for it in range(max_iter):
        w, b, mk, ic = w_all[act], b_all[act], m[act], inv_c[act]
        z, p, g, gb = _gradients(xt, yt, w, b, mk)
        pg = g + w * ic[:, None]
        it_all[act] = it
        done = torch.maximum(pg.abs().amax(1), gb.abs()) / n <= tol
        if done.any():
            ok_all[act[done]] = True
            keep = ~done
            act, w, b, mk, ic, pg, gb, z, p = (*(t[keep] for t in (act, w, b, mk, ic, pg, gb)), z[:, keep], p[:, keep])
            if len(act) == 0:
                break
        dw, db = _pcg(xt, xa, p * (1 - p), mk, ic, -pg, -gb, cg_max)
        f0 = _loss(z, yt) + _reg(w, "l2") * ic.double()
        slope = (pg * dw).sum(1, dtype=torch.float64) + (gb * db).double()
        w_new, b_new, alpha, f_new = _line_search(xt, yt, w, b, dw, db, f0, slope, ic, "l2")
        w_all[act], b_all[act] = w_new, b_new
        # No decrease found (float32 limit), or the objective no longer moves (1e-8 of itself): done.
        stuck = (alpha == 0) | (f0 - f_new <= 1e-8 * f0.abs())
        if stuck.any():
            ok_all[act[stuck]] = True
            act = act[~stuck]
        if len(act) == 0:
            break
    else:
        it_all[act] = max_iter
    return w_all.numpy(), b_all.double().numpy(), it_all.numpy(), ok_all.numpy()


def _prox_newton_l1(xt, xa, yt, m, inv_c, w, b, tol, max_iter, cg_max, sweeps: int = 15):
    """L1: proximal Newton (as liblinear's newGLMNET). Each iteration minimises the quadratic model of the
    loss plus the exact L1 term by coordinate descent (``_cd_l1``), then backtracks on the true objective.

    The model's Hessian is exact (X^T diag(d_k) X per problem) when the batch is small; for a large batch
    it is one shared X^T diag(d_mean) X scaled per problem by mean(d_k) / mean(d_mean), a quasi-Newton
    model that the line search keeps safe. Problems that use few of the units (random subsets) run the
    descent in their own units' index space, so a sweep costs (units used)^2, not H^2.
    """
    torch = _torch()
    n, h = xt.shape
    k = m.shape[0]
    it_all = torch.zeros(k, dtype=torch.long)
    ok_all = torch.zeros(k, dtype=torch.bool)
    w_all, b_all = w.clone(), b.clone()
    act = torch.arange(k)
    width = int(m.sum(1).max()) + 1
    gathered = width <= (h + 1) // 2
    if not gathered:
        width = h + 1
    # Exact per-problem Hessians cost n width^2 flops each per iteration and k width^2 floats to hold (every
    # coordinate step touches k width of them): only when both are modest. They are formed a few problems
    # at a time (n x problems x width floats of gathered columns).
    exact = k * n * width ** 2 <= 2e10 and k * width ** 2 <= (1 << 24)
    per_pass = max(1, (1 << 25) // (n * width))  # problems whose gathered columns fit in ~128 MB
    xg = torch.cat([xa, torch.zeros((n, 1))], 1)  # a zero column for padding slots
    for it in range(max_iter):
        w, b, mk, ic = w_all[act], b_all[act], m[act], inv_c[act]
        z, p, g, gb = _gradients(xt, yt, w, b, mk)
        pg = _pseudo_gradient(g, w, ic, mk)
        it_all[act] = it
        done = torch.maximum(pg.abs().amax(1), gb.abs()) / n <= tol
        if done.any():
            ok_all[act[done]] = True
            keep = ~done
            act, w, b, mk, ic, g, gb, z, p = (*(t[keep] for t in (act, w, b, mk, ic, g, gb)), z[:, keep], p[:, keep])
            if len(act) == 0:
                break
        d = p * (1 - p)  # [n, k]
        kk = len(act)
        if gathered:
            idx = _slots(mk)  # [k, width]: each problem's units, then the intercept; padding -> H + 1
        else:
            idx = torch.arange(h + 1)[None, :].expand(kk, h + 1)
        if exact:
            parts = []
            for s in range(0, kk, per_pass):
                xs = xg[:, idx[s:s + per_pass]]  # [n, k, width]
                ds = d[:, s:s + per_pass, None]
                parts.append(torch.bmm((xs * ds).permute(1, 2, 0), xs.permute(1, 0, 2)).double())
            pad = (idx > h).double()
            hess = (torch.cat(parts) + torch.diag_embed(pad)).numpy()  # padding slots: an inert identity
            scale = None
        else:
            dm = d.mean(1)
            shared = (xa * dm[:, None]).T @ xa
            scale = (d.mean(0) / dm.mean().clamp(min=1e-12)).double()
            if gathered:
                ext = torch.zeros((h + 2, h + 2), dtype=torch.float32)
                ext[: h + 1, : h + 1] = shared
                ext[h + 1, h + 1] = 1.0
                hess = (ext[idx[:, :, None], idx[:, None, :]].double() * scale[:, None, None]).numpy()
                scale = None
            else:
                hess, scale = shared.double().numpy(), scale.numpy()
        zeros = torch.zeros((kk, 1), dtype=torch.float32)
        grad = torch.gather(torch.cat([g, gb[:, None], zeros], 1), 1, idx).double().numpy()
        start = torch.gather(torch.cat([w, zeros, zeros], 1), 1, idx).double().numpy()
        live = torch.gather(torch.cat([mk, zeros + 1, zeros], 1), 1, idx).numpy() > 0
        polish = hess.ndim == 3 and width <= 160  # the polish factorises a width^2 matrix per problem
        step = _cd_l1(hess, scale, grad, start, live, ic.double().numpy(), sweeps, 1e-6 * n)
        if polish:
            step = _polish(hess, grad, start, step, live, ic.double().numpy(), 1e-6 * n)
        full = torch.zeros((kk, h + 2), dtype=torch.float32).scatter_(1, idx, torch.as_tensor(step, dtype=torch.float32))
        dw, db = full[:, :h] * mk, full[:, h]
        w64 = w.double()
        # The model's predicted change (newGLMNET's Delta): gradient step plus the change of the L1 term.
        delta = ((g.double() * dw.double()).sum(1) + gb.double() * db.double()
                 + ic.double() * ((w64 + dw.double()).abs().sum(1) - w64.abs().sum(1)))
        f0 = _loss(z, yt) + _reg(w, "l1") * ic.double()
        w_new, b_new, alpha, f_new = _line_search(xt, yt, w, b, dw, db, f0, delta.clamp(max=0), ic, "l1",
                                                   sigma=0.01)
        w_all[act], b_all[act] = w_new, b_new
        # No decrease found (float32 limit), or the objective no longer moves (1e-8 of itself): done.
        stuck = (alpha == 0) | (f0 - f_new <= 1e-8 * f0.abs())
        if stuck.any():
            ok_all[act[stuck]] = True
            act = act[~stuck]
        if len(act) == 0:
            break
    else:
        it_all[act] = max_iter
    return w_all.numpy(), b_all.double().numpy(), it_all.numpy(), ok_all.numpy()


def _slots(m):
    """[k, width] index of each problem's units (ascending), then the intercept (H); unused slots point at
    a padding position H + 1."""
    torch = _torch()
    k, h = m.shape
    counts = m.sum(1).long()
    width = int(counts.max())
    order = torch.argsort((m == 0).to(torch.int8), dim=1, stable=True)[:, :width]
    idx = torch.where(torch.arange(width)[None, :] < counts[:, None], order, torch.full_like(order, h + 1))
    return torch.cat([idx, torch.full((k, 1), h, dtype=torch.long)], 1)


def _cd_l1(hess, scale, grad, start, live, lam, sweeps, nu, rel: float = 0.05):
    """Coordinate descent on every problem's model  grad.s + s H s / 2 + lam ||start + s||_1, all problems at
    once (numpy, float64), over slots [k, W]; the last slot is the intercept (not penalised).

    hess: [k, W, W] per problem, or [W, W] shared with ``scale`` [k] multiplying it per problem; live [k, W]
    marks the slots a problem may move. Sweeps until no slot moves by more than ``rel`` times the largest
    move of the first sweep (an inexact inner solve, as newGLMNET's), at most ``sweeps`` times. Returns the
    step s [k, W].
    """
    k, width = grad.shape
    shared = hess.ndim == 2
    if k == 1 and not shared:
        return _cd_l1_one(hess[0], grad[0], start[0], live[0], float(lam[0]), sweeps, nu, rel)[None]
    cur = start.copy()
    hd = np.zeros((k, width))
    diag = (scale[:, None] * np.diag(hess)[None, :] if shared else np.diagonal(hess, axis1=1, axis2=2)) + nu
    root = np.sqrt(diag)
    lam_a = lam[:, None] / diag
    last = width - 1
    coords = np.flatnonzero(live.any(0))
    first = None
    for sweep in range(sweeps):
        change = np.zeros(k)
        for j in coords:
            zj = cur[:, j] - (grad[:, j] + hd[:, j]) / diag[:, j]
            new = zj if j == last else np.sign(zj) * np.maximum(np.abs(zj) - lam_a[:, j], 0.0)
            step = (new - cur[:, j]) * live[:, j]
            if not step.any():  # typical for L1: a zero weight that stays zero in every problem
                continue
            cur[:, j] += step
            # the Hessian is symmetric: its row j is its column j, and rows are contiguous
            if shared:
                hd += np.outer(step * scale, hess[j])
            else:
                hd += step[:, None] * hess[:, j]
            np.maximum(change, np.abs(step) * root[:, j], out=change)
        biggest = float(change.max())
        if first is None:
            first = biggest
            # After the first full sweep visit only slots that are non-zero in some problem and the intercept
            # (glmnet's active set); the next outer iteration starts with a full sweep again.
            coords = np.flatnonzero(((cur != 0) & live).any(0) | (np.arange(width) == last))
        if biggest <= max(rel * first, 1e-6):
            break
    return cur - start


def _polish(hess, grad, start, step, live, lam, nu):
    """Sharpen coordinate descent's step: with the signs it found fixed, the model is a plain quadratic on
    the non-zero slots, solved exactly (batched Cholesky). Kept per problem where the signs survive and the
    model value is lower; CD alone converges slowly on the near-singular Hessians of nearly separable data.
    """
    import torch

    k, width = grad.shape
    cur = start + step
    unit = np.arange(width) < width - 1
    active = live & ((cur != 0) | ~unit[None, :])
    sign = np.sign(cur) * unit[None, :]
    h = torch.as_tensor(hess)
    a = torch.as_tensor(active.astype(np.float64))
    mat = h * a[:, :, None] * a[:, None, :] + torch.diag_embed(1 - a + nu * a)
    rhs = -(torch.as_tensor(grad) + torch.as_tensor(lam[:, None] * sign)) * a
    # The model around `start`: minimise grad.s + s H s / 2 + lam sign.(start + s) over the active slots.
    chol, info = torch.linalg.cholesky_ex(mat)
    sol = torch.cholesky_solve(rhs[:, :, None], chol)[:, :, 0].numpy() * active
    cand = start * ~active + (start + sol) * active
    ok = (info.numpy() == 0) & ((np.sign(cand) == sign) | ~active | ~unit[None, :]).all(1)

    def model(s):
        hs = np.einsum("kij,kj->ki", hess, s)
        return (grad * s).sum(1) + 0.5 * (s * hs).sum(1) + lam * (np.abs(start + s) * unit).sum(1)

    better = ok & (model(cand - start) < model(step))
    return np.where(better[:, None], cand - start, step)


def _cd_l1_one(hess, grad, start, live, lam, sweeps, nu, rel):
    """``_cd_l1`` for one problem, with Python scalars (numpy's per-call cost dominates at this size)."""
    width = len(grad)
    cur = start.astype(np.float64).tolist()
    g = grad.tolist()
    diag = (np.diag(hess) + nu).tolist()
    hd = np.zeros(width)
    last = width - 1
    coords = [j for j in range(width) if live[j]]
    first = None
    for sweep in range(sweeps):
        change = 0.0
        for j in coords:
            a = diag[j]
            zj = cur[j] - (g[j] + hd[j]) / a
            if j != last:
                t = lam / a
                zj = zj - t if zj > t else (zj + t if zj < -t else 0.0)
            step = zj - cur[j]
            if step:
                cur[j] = zj
                hd += step * hess[j]
                change = max(change, abs(step) * a ** 0.5)
        if first is None:
            first = change
            coords = [j for j in coords if cur[j] != 0 or j == last]
        if change <= max(rel * first, 1e-6):
            break
    return np.asarray(cur) - start


def _reference(xa, d_ref):
    """X_a^T diag(d_ref) X_a [(H+1), (H+1)]: the reference Hessian of the units and the intercept (last)."""
    return (xa * d_ref[:, None]).T @ xa


def _ridged(b, ridge, h):
    """b plus ``ridge`` on the units' diagonal and a tiny jitter everywhere (float32 round-off in a
    near-singular matrix: standardised LayerNorm outputs are exactly collinear)."""
    torch = _torch()
    scale = float(torch.diagonal(b)[:h].mean().clamp(min=1e-12))
    extra = torch.full((h + 1,), 1e-6 * scale)
    extra[:h] += ridge
    return b + torch.diag(extra)


def _cholesky(mat):
    """Cholesky factor of an SPD matrix (or a batch), adding jitter if float32 round-off breaks it."""
    torch = _torch()
    chol, info = torch.linalg.cholesky_ex(mat)
    jitter = 1e-6 * float(torch.diagonal(mat, dim1=-2, dim2=-1).mean())
    while bool((info > 0).any()):
        jitter *= 10
        eye = torch.eye(mat.shape[-1], dtype=mat.dtype)
        chol, info = torch.linalg.cholesky_ex(mat + jitter * eye)
    return chol


def _make_precond(xa, d_ref, free, ridge):
    """The preconditioner for CG: per problem, the inverse of the reference Hessian X_F^T diag(d_ref) X_F +
    ridge I restricted to its free units and the intercept, d_ref [n] shared by the batch (the mean of the
    problems' own weights). The problems' true Hessians differ from it only by their per-sentence weights, so
    CG needs a step or two even when units are strongly correlated. Three ways to get it, by the batch's
    shape: every problem drops one unit (one inverse and a rank-one correction each), the problems are
    nested (one Cholesky factor in removal order: each problem's factor is a leading block of it), or any
    other masks (a batched Cholesky of each restricted matrix)."""
    kind = _structure(free.numpy().astype(bool), ridge.numpy())
    if kind == "leave_one_out":
        return _LeaveOneOut(xa, d_ref, (free == 0).float().argmax(1), float(ridge[0]))
    if kind == "nested":
        return _Nested(xa, d_ref, free, float(ridge[0]))
    return _Restricted(xa, d_ref, free, ridge)


def _structure(masks: np.ndarray, ridge: np.ndarray) -> str:
    """leave_one_out (each problem drops a different single unit), nested (each mask within the next larger
    one) or general. The first two need one shared ridge."""
    k, h = masks.shape
    if k < 2 or not (ridge == ridge[0]).all():
        return "general"
    counts = masks.sum(1)
    if (counts == h - 1).all() and len(np.unique((~masks).argmax(1))) == k:
        return "leave_one_out"
    m = masks[np.argsort(-counts, kind="stable")]
    if (m[1:] <= m[:-1]).all():
        return "nested"
    return "general"


class _LeaveOneOut:
    """Problem k keeps every unit but gone[k]: (B without unit j)^-1 r = A r - (a_j . r / A_jj) a_j, A = B^-1."""

    def __init__(self, xa, d_ref, gone, ridge):
        torch = _torch()
        h = xa.shape[1] - 1
        chol = _cholesky(_ridged(_reference(xa, d_ref), ridge, h))
        self.a = torch.cholesky_solve(torch.eye(h + 1), chol)
        self.col = self.a[:, gone].T  # [k, H+1]: column gone[k] of A
        self.diag = self.a[gone, gone]
        self.gone = gone
        self.h = h

    def __call__(self, rw, rb):
        torch = _torch()
        r = torch.cat([rw, rb[:, None]], 1)
        z = r @ self.a - ((r * self.col).sum(1) / self.diag)[:, None] * self.col
        z[torch.arange(len(z)), self.gone] = 0.0
        return z[:, : self.h], z[:, self.h]


class _Nested:
    """Nested problems (cumulative ablation): one Cholesky factor L of the reference Hessian with the
    intercept first and units in the order they are removed last-first; problem k's restricted factor is
    the leading block of L, so solving is two triangular solves for all problems, zeroing in between."""

    def __init__(self, xa, d_ref, free, ridge):
        torch = _torch()
        k, h = free.shape
        b = _ridged(_reference(xa, d_ref), ridge, h)
        kept_for = free.sum(0)  # units kept longer appear in more problems
        units = torch.argsort(-kept_for, stable=True)
        self.perm = torch.cat([torch.tensor([h]), units])  # position -> variable (intercept = h)
        self.chol = _cholesky(b[self.perm][:, self.perm])
        self.prefix = (torch.arange(h + 1)[None, :] <= free.sum(1)[:, None]).T.float()  # [H+1, k]
        self.h = h

    def __call__(self, rw, rb):
        torch = _torch()
        r = torch.cat([rw, rb[:, None]], 1)[:, self.perm].T  # [H+1, k], permuted
        y = torch.linalg.solve_triangular(self.chol, r * self.prefix, upper=False) * self.prefix
        zp = torch.linalg.solve_triangular(self.chol.T, y, upper=True) * self.prefix
        z = torch.empty_like(zp)
        z[self.perm] = zp
        z = z.T
        return z[:, : self.h], z[:, self.h]


class _Restricted:
    """Any masks: each problem's restricted matrix gathered (padded) and factorised by batched Cholesky."""

    def __init__(self, xa, d_ref, free, ridge):
        torch = _torch()
        k, h = free.shape
        b = _reference(xa, d_ref)
        ext = torch.zeros((h + 2, h + 2), dtype=torch.float32)
        ext[: h + 1, : h + 1] = b
        ext[h + 1, h + 1] = 1.0  # the padding slot
        counts = free.sum(1).long()
        width = int(counts.max()) + 1
        order = torch.argsort((free == 0).to(torch.int8), dim=1, stable=True)[:, : width - 1]  # free units first
        slot = torch.arange(width - 1)[None, :]
        idx = torch.where(slot < counts[:, None], order, torch.full_like(order, h + 1))
        self.idx = torch.cat([idx, torch.full((k, 1), h, dtype=torch.long)], 1)  # [k, width], intercept last
        is_unit = (self.idx < h).to(torch.float32)
        scale = float(torch.diagonal(b)[:h].mean().clamp(min=1e-12))
        mat = ext[self.idx[:, :, None], self.idx[:, None, :]]  # [k, width, width]
        mat = mat + torch.diag_embed(is_unit * ridge[:, None] + 1e-6 * scale)
        self.chol = _cholesky(mat)
        self.h = h

    def __call__(self, rw, rb):
        torch = _torch()
        k = rw.shape[0]
        ext = torch.cat([rw, rb[:, None], torch.zeros((k, 1), dtype=rw.dtype)], 1)
        r = torch.gather(ext, 1, self.idx)
        z = torch.cholesky_solve(r[:, :, None], self.chol)[:, :, 0]
        out = torch.zeros_like(ext).scatter_(1, self.idx, z * (self.idx <= self.h))
        return out[:, : self.h], out[:, self.h]


class _Jacobi:
    """Diagonal preconditioner: 1 / diag(X^T diag(d_k) X + ridge_k I), per problem."""

    def __init__(self, xa, d, free, ridge):
        diag = ((xa * xa).T @ d).T  # [k, H+1]
        h = free.shape[1]
        self.inv_w = free / (diag[:, :h] + ridge[:, None] + 1e-12)
        self.inv_b = 1.0 / (diag[:, h] + 1e-12)

    def __call__(self, rw, rb):
        return rw * self.inv_w, rb * self.inv_b


def _pcg(xt, xa, d, free, ridge, rhs_w, rhs_b, cg_max, eta: float = 0.1):
    """Solve (X_F^T diag(d_k) X_F + ridge_k I) v = rhs for every problem k by conjugate gradients,
    preconditioned by ``_make_precond``.

    d [n, k] curvature weights, free [k, H] 0/1 units that may move, ridge [k] (1/c for l2; the intercept
    gets none). Returns (v_w [k, H], v_b [k]) after at most ``cg_max`` steps or when every problem's
    residual fell below ``eta`` times its right-hand side.
    """
    torch = _torch()
    damp = 1e-6 * xt.shape[0]  # keeps the intercept's row positive when every d is ~0
    k, h = free.shape
    if k < 16:
        # Forming the reference Hessian costs n H^2, as much as H / k CG steps: for a handful of problems
        # a diagonal preconditioner and more (cheap) steps win.
        precond, cg_max = _Jacobi(xa, d, free, ridge), max(cg_max, 200)
    else:
        precond = _make_precond(xa, d.mean(1), free, ridge)
    rw, rb = rhs_w * free, rhs_b.clone()
    vw, vb = torch.zeros_like(rw), torch.zeros_like(rb)
    zw, zb = precond(rw, rb)
    pw, pb = zw.clone(), zb.clone()
    rz = (rw * zw).sum(1) + rb * zb
    target = eta * torch.sqrt((rw * rw).sum(1) + rb * rb)
    for _ in range(cg_max):
        u = torch.addmm(pb[None, :], xt, pw.T) * d  # [n, k]
        qw = (xt.T @ u).T * free + (ridge[:, None] + damp) * pw
        qb = u.sum(0) + damp * pb
        pq = (pw * qw).sum(1) + pb * qb
        a = torch.where(pq > 0, rz / pq, torch.zeros_like(pq))
        vw = vw + a[:, None] * pw
        vb = vb + a * pb
        rw = rw - a[:, None] * qw
        rb = rb - a * qb
        res = torch.sqrt((rw * rw).sum(1) + rb * rb)
        if bool((res <= target).all()):
            break
        zw, zb = precond(rw, rb)
        rz_new = (rw * zw).sum(1) + rb * zb
        beta = torch.where(rz > 0, rz_new / rz, torch.zeros_like(rz))
        rz = rz_new
        pw = zw + beta[:, None] * pw
        pb = zb + beta * pb
    return vw, vb


def single_unit_fit(x, y, c, penalty: str = "l2", *, max_iter: int = 50, tol: float = 1e-5) -> Fit:
    """Every unit alone, for every C: x [n, H], c [G] -> Fit with w [G, H] (w[g, j] is unit j's weight at
    c[g]) and b [G, H]. Exact 2x2 Newton per problem, all units at once, each C warm-started from the
    previous one (C ascending).

    For L1 the optimum is w = 0 (intercept only) when the loss gradient at w = 0 is at most 1/c in size;
    otherwise w has the sign opposite to that gradient, and on that half-line the penalty is linear, so the
    problem is smooth and Newton solves it.
    """
    torch = _torch()
    if penalty not in PENALTIES:
        raise ValueError(f"penalty must be one of {PENALTIES}, got {penalty!r}")
    xt = _as_tensor(x, torch.float32)  # [n, H]
    yt = _as_tensor(y, torch.float32)[:, None]
    c = np.atleast_1d(np.asarray(c, dtype=np.float64))
    n, h = xt.shape
    x2 = xt * xt
    p0 = float(np.clip(np.mean(y), 1e-12, 1 - 1e-12))
    b0 = float(np.log(p0 / (1 - p0)))
    g0 = (xt * (p0 - yt)).sum(0, dtype=torch.float64)  # loss gradient at w = 0, b = b0
    with _threads_for(float(n) * h):
        return _single_units(xt, yt, x2, c, penalty, n, h, b0, g0, max_iter, tol)


def _single_units(xt, yt, x2, c, penalty, n, h, b0, g0, max_iter, tol):
    torch = _torch()
    out_w = np.zeros((len(c), h), dtype=np.float32)
    out_b = np.zeros((len(c), h))
    out_it = np.zeros((len(c), h), dtype=np.int64)
    out_ok = np.zeros((len(c), h), dtype=bool)
    w = torch.zeros(h, dtype=torch.float64)
    b = torch.full((h,), b0, dtype=torch.float64)
    for gi in np.argsort(c):
        inv_c = float(1.0 / c[gi])
        zero = (g0.abs() <= inv_c) if penalty == "l1" else torch.zeros(h, dtype=torch.bool)
        sign = -torch.sign(g0)
        w = torch.where(zero, torch.zeros_like(w), w)
        b = torch.where(zero, torch.full_like(b, b0), b)  # intercept-only optimum: logit of the base rate
        ok = zero.clone()
        it = 0
        for it in range(1, max_iter + 1):
            z = xt * w.float() + b.float()  # [n, H]
            p = torch.sigmoid(z)
            r = p - yt
            d = p * (1 - p)
            gw = (r * xt).sum(0, dtype=torch.float64) + (w * inv_c if penalty == "l2" else sign * inv_c)
            gb = r.sum(0, dtype=torch.float64)
            ok = ok | ((torch.maximum(gw.abs(), gb.abs()) / n) <= tol)
            if bool(ok.all()):
                break
            hww = (d * x2).sum(0, dtype=torch.float64) + (inv_c if penalty == "l2" else 0.0) + 1e-9 * n
            hwb = (d * xt).sum(0, dtype=torch.float64)
            hbb = d.sum(0, dtype=torch.float64) + 1e-9 * n
            det = hww * hbb - hwb * hwb
            step_w = -(hbb * gw - hwb * gb) / det
            step_b = -(hww * gb - hwb * gw) / det
            if penalty == "l1":  # never cross zero: go at most half-way to it
                cross = (w + step_w) * sign < 0
                scale = torch.where(cross, 0.5 * (w * sign).abs() / step_w.abs().clamp(min=1e-300),
                                    torch.ones_like(step_w)).clamp(max=1)
            else:
                scale = torch.ones_like(step_w)
            scale = torch.where(ok, torch.zeros_like(scale), scale)
            w = w + scale * step_w
            b = b + scale * step_b
        out_w[gi], out_b[gi], out_it[gi], out_ok[gi] = w.float().numpy(), b.numpy(), it, ok.numpy()
    return Fit(out_w, out_b, out_it, out_ok)


def accuracy(x, y, w, b) -> np.ndarray:
    """Accuracy of K linear classifiers (w [K, H], b [K]) on x [n, H] with 0/1 labels y: [K]."""
    torch = _torch()
    z = torch.addmm(_as_tensor(b, torch.float32)[None, :], _as_tensor(x, torch.float32),
                    _as_tensor(w, torch.float32).T)
    yt = _as_tensor(y, torch.bool)
    return ((z > 0) == yt[:, None]).double().mean(0).numpy()


def predict_proba(x, w, b) -> np.ndarray:
    """P(positive) [n, K] of K linear classifiers."""
    torch = _torch()
    z = torch.addmm(_as_tensor(b, torch.float32)[None, :], _as_tensor(x, torch.float32),
                    _as_tensor(w, torch.float32).T)
    return torch.sigmoid(z).double().numpy()
