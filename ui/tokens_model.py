"""The monotonicity-and-locality page's data: token counts per activation quintile and the locality of one
neuron or of every neuron (ui/data.py holds the shared caches)."""
from __future__ import annotations

from analysis.drift import one_hot
from analysis.locality import locality
from analysis.tokens_view import locality_frame, locality_sets
from ui import data


def monotonicity(sel, datasets: list[str], min_count: int):
    return data.monotonicity(sel.run_id, sel.layer, sel.pooling, datasets, min_count)


def fig6_counts(sel, datasets: list[str], min_count: int, unit: int, token_index: int) -> dict:
    """{dataset: int64 [5]}: the token's count per activation quintile of the neuron."""
    counts = data.unit_quintile_counts(sel.run_id, sel.layer, sel.pooling, datasets, min_count, unit)
    return {name: counts[name][token_index] for name in datasets}


def neuron_locality(sel, dataset: str, unit: int, k: int):
    """(sentences of the dataset, locality of the neuron with its dot-product sets as a long frame), or
    (sentences, None) when the dataset has fewer than 2k sentences."""
    x, _ = data.layer_matrix(sel.run_id, sel.layer, sel.pooling, [dataset])
    if len(x) < 2 * k:
        return len(x), None
    loc = locality(x, one_hot(unit, x.shape[1]), k=k)
    return len(x), (loc, locality_sets(loc))


def every_locality(sel, dataset: str, k: int):
    """(unit, L) of every neuron of the layer on ``dataset``."""
    return locality_frame(data.locality_all(sel.run_id, sel.layer, sel.pooling, dataset, k))
