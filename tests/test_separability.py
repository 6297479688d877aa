"""Dataset separability stage: SVM and UMAP against known answers, and its place in the build."""
import numpy as np
import pytest

import warehouse
from pipeline.build import build
from pipeline.config import make_config
from pipeline.stages.separability import stratified_sample, svm_separability, umap_2d


def test_stratified_sample_caps_each_dataset_and_is_seeded():
    labels = np.array(["a"] * 50 + ["b"] * 7)
    idx = stratified_sample(labels, 10, seed=3)
    assert (labels[idx] == "a").sum() == 10 and (labels[idx] == "b").sum() == 7
    assert np.array_equal(idx, stratified_sample(labels, 10, seed=3))
    assert not np.array_equal(idx, stratified_sample(labels, 10, seed=4))


def test_svm_separates_separable_data_and_not_identical_data():
    rng = np.random.default_rng(0)
    x = np.vstack([rng.normal(0, 1, (200, 16)), rng.normal(0, 1, (200, 16)) + 4.0])
    labels = np.array(["a"] * 200 + ["b"] * 200)
    res = svm_separability(x, labels, per_class=150, seed=0)
    assert res["accuracy"] == 1.0
    assert res["n_train"] + res["n_test"] == 300 and res["n_test"] == 60
    conf = res["confusion"]
    assert conf["n"].sum() == res["n_test"]
    assert conf.query("true_dataset == predicted_dataset")["n"].sum() == res["n_test"]
    same = svm_separability(rng.normal(0, 1, (400, 16)), labels, per_class=200, seed=0)
    assert abs(same["accuracy"] - 0.5) < 0.15 and same["chance"] == 0.5
    again = svm_separability(x, labels, per_class=150, seed=0)
    assert again["accuracy"] == res["accuracy"] and again["confusion"].equals(res["confusion"])


@pytest.mark.slow
def test_umap_shape_and_determinism():
    rng = np.random.default_rng(1)
    x = np.vstack([rng.normal(0, 1, (60, 10)), rng.normal(0, 1, (60, 10)) + 5.0])
    a, b = umap_2d(x, seed=0), umap_2d(x, seed=0)
    assert a.shape == (120, 2) and np.array_equal(a, b)
    # two well-separated blobs stay apart: each point's nearest neighbour in 2-D is from its own blob
    d = ((a[:, None] - a[None]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    nearest = d.argmin(1)
    assert ((nearest < 60) == (np.arange(120) < 60)).mean() > 0.95


def test_build_stores_separability_per_layer_and_reuses_it(tmp_path, tiny_spec, small_specs):
    path = tmp_path / "w.duckdb"
    cfg = make_config(datasets=small_specs, models=[tiny_spec], warehouse=str(path), topk=5, progress=False,
                      separability_per_dataset=20)
    report = build(cfg, log=lambda *_: None)
    assert report.separability == {"tiny": "computed"}
    con = warehouse.connect_read_only(path)
    sep = con.execute("select layer, pooling, accuracy, chance, n_test from separability order by all").df()
    conf = con.execute("select layer, pooling, sum(n) n from separability_confusion group by all order by all").df()
    con.close()
    assert len(sep) == 3 * 2 and sep["accuracy"].between(0, 1).all()
    assert (conf["n"].to_numpy() == sep["n_test"].to_numpy()).all()
    # a new dataset changes the input of the stage: recomputed; the same config again: up to date
    extra = small_specs[:2]
    cfg2 = make_config(datasets=extra, models=[tiny_spec], warehouse=str(path), topk=5, progress=False,
                       separability_per_dataset=20)
    assert build(cfg2, log=lambda *_: None).separability == {"tiny": "computed"}
    cfg3 = make_config(datasets=extra, models=[tiny_spec], warehouse=str(path), topk=5, progress=False,
                       separability_per_dataset=20, seed=0)
    assert build(cfg3, log=lambda *_: None).up_to_date
    # a second run leaves the first run's inputs alone: its separability is copied, not recomputed
    from dataclasses import replace
    cfg4 = make_config(datasets=extra, models=[tiny_spec, replace(tiny_spec, run_id="tiny2")], warehouse=str(path),
                       topk=5, progress=False, separability_per_dataset=20)
    assert build(cfg4, log=lambda *_: None).separability == {"tiny": "reused", "tiny2": "computed"}


def test_split_is_possible_agrees_with_sklearn():
    """split_is_possible says yes exactly when sklearn's stratified split of those counts succeeds."""
    from sklearn.model_selection import train_test_split

    from pipeline.stages.separability import split_is_possible

    for counts in ([2, 3, 2], [2, 2], [1, 5], [3, 3, 3], [2, 2, 2, 2, 2], [10, 10], [5, 1000], [2, 2, 2]):
        labels = np.repeat(np.arange(len(counts)), counts)
        try:
            train_test_split(labels, labels, test_size=0.2, random_state=0, stratify=labels)
            ok = True
        except ValueError:
            ok = False
        assert split_is_possible(counts) == ok, counts
