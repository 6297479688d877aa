"""The monotonicity-and-locality page's frames, as pure functions of analysis.locality's results."""
from __future__ import annotations

import numpy as np
import pandas as pd

LOCALITY_SETS = (("D_nearest", "d_nearest"), ("D_top", "d_top"), ("D_random", "d_random"))


def locality_sets(loc: dict) -> pd.DataFrame:
    """Long frame (set, dot) of the three dot-product sets of ``locality``: D_nearest, D_top, D_random."""
    return pd.concat([pd.DataFrame({"set": name, "dot": loc[key]}) for name, key in LOCALITY_SETS])


def locality_frame(values) -> pd.DataFrame:
    """(unit, L) of every neuron, in unit order."""
    values = np.asarray(values)
    return pd.DataFrame({"unit": np.arange(len(values)), "L": values})
