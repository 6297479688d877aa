"""analysis.numerics: Holm's correction against its step-down procedure and by hand, the 2-D PCA against
sklearn, and the thread limit against threadpoolctl's and torch's own counts."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.decomposition import PCA
from threadpoolctl import threadpool_info, threadpool_limits

from analysis.numerics import holm, limit_threads, pca_2d, standardise


def holm_rejections(p: np.ndarray, alpha: float) -> np.ndarray:
    """Holm's procedure as stated (no adjusted values): walk the p-values in ascending order, reject the i-th
    (0-based) while p_(i) <= alpha / (m - i), stop at the first that is not."""
    m = len(p)
    reject = np.zeros(m, dtype=bool)
    for i, j in enumerate(np.argsort(p, kind="stable")):
        if p[j] > alpha / (m - i):
            break
        reject[j] = True
    return reject


def test_holm_by_hand():
    np.testing.assert_allclose(holm([0.01, 0.04, 0.03, 0.005]), [0.03, 0.06, 0.06, 0.02])
    np.testing.assert_allclose(holm([0.5, 0.9]), [1.0, 1.0])  # 0.9 raised to 2 * 0.5, then capped at 1
    np.testing.assert_allclose(holm([0.3, 0.02]), [0.3, 0.04])
    np.testing.assert_allclose(holm([0.01, 0.01, 0.2]), [0.03, 0.03, 0.2])  # ties: both get 3 * 0.01
    assert holm([]).shape == (0,) and holm([0.7]).tolist() == [0.7]


@pytest.mark.parametrize("seed", range(5))
def test_holm_adjusted_values_reject_what_the_procedure_rejects(seed):
    rng = np.random.default_rng(seed)
    p = np.concatenate([rng.uniform(0, 1, 30), rng.uniform(0, 0.002, 8)])  # some true effects
    p[rng.integers(0, len(p), 4)] = p[0]  # and ties
    adj = holm(p)
    assert ((adj >= p) & (adj <= 1)).all()
    for alpha in (0.001, 0.01, 0.05, 0.1, 0.5):
        assert (adj <= alpha).tolist() == holm_rejections(p, alpha).tolist(), alpha


def test_pca_2d_agrees_with_sklearn_up_to_sign():
    x = np.random.default_rng(1).normal(size=(40, 6)) * [5, 1, 1, 0.1, 3, 2]
    for standardised in (False, True):
        coords, ratio = pca_2d(x, standardised=standardised)
        z = standardise(x) if standardised else x
        ref = PCA(n_components=2, svd_solver="full").fit(z)
        want = ref.transform(z)
        for c in range(2):
            sign = np.sign(coords[:, c] @ want[:, c])
            np.testing.assert_allclose(coords[:, c], sign * want[:, c], atol=1e-9)
        np.testing.assert_allclose(ratio, ref.explained_variance_ratio_, atol=1e-12)


def test_standardise_scales_columns_and_leaves_constant_ones_at_zero():
    x = np.column_stack([np.arange(5.0), np.full(5, 3.0), [2.0, 4, 4, 4, 6]])
    z = standardise(x)
    np.testing.assert_allclose(z.mean(0), 0, atol=1e-12)
    np.testing.assert_allclose(z[:, [0, 2]].std(0), 1)
    assert (z[:, 1] == 0).all()
    np.testing.assert_allclose(z[:, 0], (np.arange(5) - 2) / np.sqrt(2))


def _pools() -> dict[str, int]:
    return {i["filepath"]: i["num_threads"] for i in threadpool_info()}


def test_limit_threads_limits_every_pool_and_restores_them():
    torch = pytest.importorskip("torch")
    before_torch = torch.get_num_threads()
    try:
        with threadpool_limits(2):
            torch.set_num_threads(2)
            two = _pools()
            assert set(two.values()) == {2}
            with limit_threads(1):
                assert torch.get_num_threads() == 1
                assert set(_pools().values()) == {1}
            assert torch.get_num_threads() == 2 and _pools() == two
            with limit_threads(None):
                assert torch.get_num_threads() == 2 and _pools() == two
    finally:
        torch.set_num_threads(before_torch)
