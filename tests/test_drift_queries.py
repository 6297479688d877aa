"""The drift page's named queries against numpy on the vectors of the same small warehouse."""
import numpy as np

import warehouse
from analysis.drift import HIST_BINS, one_hot, random_direction, random_draw
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


def test_neuron_histograms_match_numpy_per_dataset(small_warehouse):
    con = warehouse.connect_read_only(small_warehouse)
    try:
        for layer, pooling, unit in ((2, "cls", 5), (1, "mean", 30)):
            x, keys = _vectors(con, layer, pooling)
            got = queries.neuron_histogram(con, "tiny", layer, pooling, unit, DATASETS).set_index("dataset")
            assert sorted(got.index) == sorted(DATASETS)
            for name in DATASETS:
                col = x[(keys["dataset"] == name).to_numpy(), unit]
                ref, edges = np.histogram(col, bins=HIST_BINS)  # numpy's own default range: min to max
                assert got.at[name, "counts"].tolist() == ref.tolist()
                assert (got.at[name, "lo"], got.at[name, "hi"]) == (edges[0], edges[-1])
    finally:
        con.close()


def test_random_sentences_are_the_seeded_draw_with_their_activations(small_warehouse):
    con = warehouse.connect_read_only(small_warehouse)
    try:
        x, keys = _vectors(con, 2, "cls")
        got = queries.random_sentences(con, "tiny", 2, "cls", DATASETS, 3, unit=7)
        no_unit = queries.random_sentences(con, "tiny", 2, "cls", ["news"], 5)
    finally:
        con.close()
    row = {(d, int(i)): r for r, (d, i) in enumerate(zip(keys["dataset"], keys["sentence_id"]))}
    for name in DATASETS:
        mine = got[got["dataset"] == name]
        n = int((keys["dataset"] == name).sum())
        # the build's seed is 0 (the config default); ids are positions in the dataset
        assert mine["sentence_id"].tolist() == random_draw(name, n, 3, seed=0).tolist()
        assert mine["draw"].tolist() == [1, 2, 3]
        np.testing.assert_allclose(mine["value"], [x[row[(name, int(i))], 7] for i in mine["sentence_id"]],
                                   rtol=1e-6)
    # k = the stored topk (5): the whole draw; no unit: no values
    assert no_unit["sentence_id"].tolist() == random_draw("news", 24, 5, seed=0).tolist()
    assert no_unit["value"].isna().all()


def test_neuron_extremes_are_neuron_top_of_both_sides(small_warehouse):
    con = warehouse.connect_read_only(small_warehouse)
    try:
        top, bottom = queries.neuron_extremes(con, "tiny", 2, "cls", 3, DATASETS, 4)
        ref_top = queries.neuron_top(con, "tiny", 2, "cls", 3, DATASETS, 4)
        ref_bottom = queries.neuron_top(con, "tiny", 2, "cls", 3, DATASETS, 4, "bottom")
        x, keys = _vectors(con, 2, "cls")
    finally:
        con.close()
    assert top.equals(ref_top.drop(columns="text")) and bottom.equals(ref_bottom.drop(columns="text"))
    news = x[(keys["dataset"] == "news").to_numpy(), 3]
    np.testing.assert_allclose(top[top.dataset == "news"]["value"], np.sort(news)[::-1][:4], rtol=1e-6)
    np.testing.assert_allclose(bottom[bottom.dataset == "news"]["value"], np.sort(news)[:4], rtol=1e-6)


def test_all_texts_are_every_sentence_in_order(small_warehouse):
    con = warehouse.connect_read_only(small_warehouse)
    try:
        got = queries.all_texts(con).to_pandas()
        ref = con.execute("select dataset, sentence_id, text from sentences").df()
    finally:
        con.close()
    ref = ref.sort_values(["dataset", "sentence_id"], ignore_index=True)
    assert len(got) == 64 and got.equals(ref)
