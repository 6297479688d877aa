"""The drift page's named queries against numpy on the vectors of the same small warehouse."""
import numpy as np

import warehouse
from analysis.drift import one_hot, random_direction
from warehouse import queries

DATASETS = ["news", "questions", "pairs"]


def _vectors(con, layer, pooling):
    x, keys = queries.layer_matrix(con, "tiny", layer, pooling, DATASETS)
    return x.astype(np.float64), keys


def test_neuron_scores_are_the_units_activations(small_warehouse):
    con = warehouse.connect_read_only(small_warehouse)
    try:
        for layer, pooling, unit in ((0, "cls", 0), (2, "mean", 31), (1, "cls", 17)):
            x, keys = _vectors(con, layer, pooling)
            got = queries.neuron_scores(con, "tiny", layer, pooling, unit, DATASETS)
            got = got.merge(keys.assign(row=range(len(keys))), on=["dataset", "sentence_id"])
            assert len(got) == len(keys) == 64
            np.testing.assert_allclose(got["value"], x[got["row"], unit], rtol=1e-6)
            # the same numbers as the general dot-product query with a one-hot direction
            dot = queries.direction_scores(con, "tiny", layer, pooling, one_hot(unit, 32), DATASETS)
            both = got.merge(dot, on=["dataset", "sentence_id"], suffixes=("", "_dot"))
            np.testing.assert_allclose(both["value"], both["value_dot"], rtol=1e-6, atol=1e-7)
    finally:
        con.close()


def test_neuron_scores_respect_the_dataset_filter(small_warehouse):
    con = warehouse.connect_read_only(small_warehouse)
    try:
        got = queries.neuron_scores(con, "tiny", 2, "cls", 5, ["news"])
    finally:
        con.close()
    assert set(got["dataset"]) == {"news"} and len(got) == 24


def test_direction_scores_match_numpy(small_warehouse):
    con = warehouse.connect_read_only(small_warehouse)
    try:
        x, keys = _vectors(con, 2, "cls")
        w = random_direction(7, 32)
        got = queries.direction_scores(con, "tiny", 2, "cls", w, DATASETS)
    finally:
        con.close()
    got = got.merge(keys.assign(row=range(len(keys))), on=["dataset", "sentence_id"])
    np.testing.assert_allclose(got["value"], x[got["row"]] @ w, rtol=1e-5, atol=1e-6)
