"""The locality frames of the monotonicity-and-locality page (analysis/tokens_view.py) against
analysis.locality's own output."""
import numpy as np

from analysis.locality import locality
from analysis.tokens_view import locality_frame, locality_sets


def test_locality_sets_keep_every_dot_product():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 6)).astype(np.float32)
    d = np.zeros(6)
    d[2] = 1.0
    loc = locality(x, d, k=5)
    frame = locality_sets(loc)
    for name, key in (("D_nearest", "d_nearest"), ("D_top", "d_top"), ("D_random", "d_random")):
        assert np.array_equal(frame.loc[frame["set"] == name, "dot"].to_numpy(), np.asarray(loc[key]))
    assert len(frame) == sum(len(loc[k]) for k in ("d_nearest", "d_top", "d_random"))


def test_locality_frame():
    frame = locality_frame([0.5, 0.1, 0.9])
    assert frame["unit"].tolist() == [0, 1, 2] and frame["L"].tolist() == [0.5, 0.1, 0.9]
