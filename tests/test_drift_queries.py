"""The drift page's named queries against numpy on the vectors of the same small warehouse."""
import numpy as np

import warehouse
from analysis.drift import HIST_BINS, neuron_view, one_hot, random_direction, random_draw
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


def test_neuron_layer_blocks_match_numpy(small_warehouse):
    con = warehouse.connect_read_only(small_warehouse)
    try:
        for layer, pooling in ((2, "cls"), (1, "mean")):
            x, keys = _vectors(con, layer, pooling)
            got = queries.neuron_layer(con, "tiny", layer, pooling)
            assert list(got) == sorted(DATASETS)
            for name in DATASETS:
                rows = (keys["dataset"] == name).to_numpy()
                xd, b = x[rows], got[name]
                assert b["counts"].shape == (32, HIST_BINS) and b["top_ids"].shape == (32, 5)
                for unit in (0, 5, 31):
                    ref, edges = np.histogram(xd[:, unit], bins=HIST_BINS)  # numpy's default range: min to max
                    assert b["counts"][unit].tolist() == ref.tolist()
                    assert (b["lo"][unit], b["hi"][unit]) == (edges[0], edges[-1])
                    order = np.argsort(-xd[:, unit], kind="stable")
                    np.testing.assert_allclose(b["top_vals"][unit], xd[order[:5], unit], rtol=1e-6)
                    np.testing.assert_allclose(b["bottom_vals"][unit], np.sort(xd[:, unit])[:5], rtol=1e-6)
                    # the build's seed is 0 (the config default); sentence ids are positions in the dataset
                    assert b["random_ids"].tolist() == random_draw(name, len(xd), 5, seed=0).tolist()
                    np.testing.assert_allclose(b["random_vals"][unit], xd[b["random_ids"], unit], rtol=1e-6)
            ref_top = queries.neuron_top(con, "tiny", layer, pooling, 7, ["news"], 5)
            assert got["news"]["top_ids"][7].tolist() == ref_top["sentence_id"].tolist()
    finally:
        con.close()


def test_neuron_view_takes_the_first_k_of_the_chosen_datasets(small_warehouse):
    con = warehouse.connect_read_only(small_warehouse)
    try:
        block = queries.neuron_layer(con, "tiny", 2, "cls")
        ref_bottom = queries.neuron_top(con, "tiny", 2, "cls", 3, ["pairs", "news"], 4, "bottom")
        draw = queries.random_sentences(con, "tiny", ["news"], 3)
    finally:
        con.close()
    view = neuron_view(block, 3, ["pairs", "news"], 4)
    assert view["hist"]["dataset"].tolist() == ["pairs", "news"]
    bottom = view["bottom"].sort_values(["dataset", "rank"], ignore_index=True)
    assert bottom[["dataset", "rank", "sentence_id"]].equals(
        ref_bottom[["dataset", "rank", "sentence_id"]].astype(bottom[["dataset", "rank", "sentence_id"]].dtypes))
    np.testing.assert_allclose(bottom["value"], ref_bottom["value"], rtol=1e-6)
    news = view["random"][view["random"]["dataset"] == "news"]
    assert draw["sentence_id"].tolist() == random_draw("news", 24, 3, 0).tolist()
    assert sorted(news["sentence_id"]) == sorted(random_draw("news", 24, 4, 0).tolist())  # the draw's first 4
    assert news["rank"].tolist() == [1, 2, 3, 4] and news["value"].is_monotonic_decreasing  # highest first


def test_all_texts_are_every_sentence_in_order(small_warehouse):
    con = warehouse.connect_read_only(small_warehouse)
    try:
        got = queries.all_texts(con).to_pandas()
        ref = con.execute("select dataset, sentence_id, text from sentences").df()
    finally:
        con.close()
    ref = ref.sort_values(["dataset", "sentence_id"], ignore_index=True)
    assert len(got) == 64 and got.equals(ref)
