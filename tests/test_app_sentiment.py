"""Sentiment-neuron page with AppTest on a warehouse built by the real pipeline (tiny BERT, generated reviews)."""
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

import warehouse
from analysis import sentiment as an
from tests.sentiment_data import build_sentiment_warehouse, write_files
from warehouse import queries

ROOT = Path(__file__).resolve().parent.parent
PAGE = str(ROOT / "views" / "sentiment.py")


@pytest.fixture(scope="module")
def senti_warehouse(tmp_path_factory, tiny_model_dir):
    folder = tmp_path_factory.mktemp("sentiment-app")
    path = folder / "w.duckdb"
    build_sentiment_warehouse(path, tiny_model_dir, write_files(folder))
    return path


def run_page(monkeypatch, path, **params):
    monkeypatch.setenv("ILLUSION_WAREHOUSE", str(path))
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.query_params.update(params)
    at.run()
    assert not at.exception, at.exception
    return at


def stored(path, dataset, feature, penalty):
    con = warehouse.connect_read_only(path)
    clf = queries.sentiment_classifiers(con, "tiny", dataset)
    units = queries.sentiment_units(con, "tiny", dataset, feature, penalty)
    subsets = queries.sentiment_subsets(con, "tiny", dataset, feature, penalty)
    con.close()
    clf = clf[(clf["feature"] == feature) & (clf["penalty"] == penalty)].set_index("model")
    return clf, units, subsets


def test_page_shows_table1_and_verdicts_from_the_stored_numbers(monkeypatch, senti_warehouse):
    at = run_page(monkeypatch, senti_warehouse, dataset="reviews", penalty="l2")
    assert at.query_params["run"] == "tiny" and at.query_params["feature"] == "cls"
    clf, units, subsets = stored(senti_warehouse, "reviews", "cls", "l2")
    t1 = at.dataframe[0].value
    models = ["all", "sn_deleted", "sn_only"] + (["hindrance_removed"] if "hindrance_removed" in clf.index else [])
    assert t1["features"].tolist() == ["All units", "SN deleted", "SN only", "Hindrance units removed"][:len(models)]
    assert np.allclose(t1["test accuracy %"], 100 * clf.loc[models, "test_accuracy"])
    shown = "\n".join(m.value for m in at.markdown)
    assert ("Removing all" in shown) == ("hindrance_removed" in clf.index)
    text = "\n".join(m.value for m in at.markdown)
    sn = int(clf.loc["all", "sn_unit"])
    assert f"unit **{sn}**" in text and f"{units.loc[sn, 'weight']:+.3f}" in text
    assert ("polarity **positive**" in text) == (units.loc[sn, "weight"] > 0)
    second = np.sort(np.abs(units["weight"].to_numpy()))[-2]  # the next largest |weight|
    assert f"is {second:.3f}" in text and f"the SN's is {abs(units.loc[sn, 'weight']) / second:.2f}x as large" in text
    share = an.subset_share(subsets["test_accuracy"], clf.loc["sn_only", "test_accuracy"])
    assert f"**{100 * share:.1f}%** of {len(subsets)} random 16-unit subsets beat the SN alone" in text
    # every verdict line states holds / does not hold, computed from the same numbers
    acc = clf["test_accuracy"]
    expected = an.findings(acc["all"], acc["sn_deleted"], acc["sn_only"], share, None, None)
    for v in expected[:3]:
        assert any(v["statement"] in m.value and (("✅" in m.value) == v["holds"]) for m in at.markdown)
    assert any("Table 3" in m.value for m in at.markdown)
    con = warehouse.connect_read_only(senti_warehouse)
    y = con.execute("select y from sentiment_labels where run_id = 'tiny' and dataset = 'reviews' "
                    "and split = 'test'").df()["y"]
    con.close()
    majority = max(y.mean(), 1 - y.mean())
    assert any(f"Majority class on the test split: {100 * majority:.2f}%" in c.value for c in at.caption)
    labels = [b.label for b in at.get("download_button")]
    for name in ("sentiment_table1", "sentiment_table2", "sentiment_table3"):
        assert f"Download {name}.csv" in labels
    # the detail tables run only while their expander is open
    assert "Download sentiment_units.csv" not in labels
    at.session_state["senti_units_open"] = True
    at.run()
    labels = [b.label for b in at.get("download_button")]
    for name in ("sentiment_units", "sentiment_subsets"):
        assert f"Download {name}.csv" in labels
    shown = next(d.value for d in at.dataframe if len(d.value) == len(units))
    assert np.allclose(shown["weight"].to_numpy(), units["weight"].to_numpy())


def test_selectors_come_from_the_url(monkeypatch, senti_warehouse):
    at = run_page(monkeypatch, senti_warehouse, dataset="scored", feature="mean", penalty="l1")
    assert at.selectbox(key="senti_ds_tiny").value == "scored"
    assert at.selectbox(key="senti_pen_tiny").value == "l1"
    assert any("Only the all-units classifier ran on `mean`" in i.value for i in at.info)
    clf, units, _ = stored(senti_warehouse, "scored", "mean", "l1")
    sn = int(clf.loc["all", "sn_unit"])
    assert any(f"unit **{sn}**" in m.value for m in at.markdown)
    # a changed selection goes back into the URL
    at.selectbox(key="senti_feat_tiny").set_value("cls").run()
    assert not at.exception and at.query_params["feature"] == "cls"
    assert any("Do the study's four findings hold here?" in m.value for m in at.markdown)
    # an unknown value in the URL falls back to the first option
    at = run_page(monkeypatch, senti_warehouse, dataset="nope")
    assert at.query_params["dataset"] == "reviews"


def test_skipped_datasets_and_imdb_are_explained(monkeypatch, senti_warehouse):
    at = run_page(monkeypatch, senti_warehouse)
    text = "\n".join(m.value for m in at.markdown)
    assert "IMDB is not available offline" in text and "label_kind=binary" in text
    status = [d.value for d in at.dataframe if "reason" in d.value.columns][0]
    assert "min_rows" in status.set_index("dataset").loc["few", "reason"]


def test_a_warehouse_without_sentiment_results_says_how_to_get_them(monkeypatch, small_warehouse):
    at = run_page(monkeypatch, small_warehouse)
    assert any("no sentiment results" in i.value for i in at.info)
    assert any("IMDB is not available offline" in m.value for m in at.markdown)


def test_features_that_do_not_beat_the_majority_class_get_no_verdicts(monkeypatch, senti_warehouse, tmp_path):
    import shutil

    import duckdb

    copy = tmp_path / "flat.duckdb"
    shutil.copy(senti_warehouse, copy)
    con = duckdb.connect(str(copy))
    y = con.execute("select y from sentiment_labels where run_id = 'tiny' and dataset = 'reviews' "
                    "and split = 'test'").df()["y"]
    majority = max(y.mean(), 1 - y.mean())
    # as measured for textgenrnn's final states on CR: all units exactly at the majority class
    con.execute("update sentiment_classifiers set test_accuracy = ? where run_id = 'tiny' and dataset = 'reviews' "
                "and feature = 'cls' and penalty = 'l2' and model = 'all'", [float(majority)])
    con.close()
    at = run_page(monkeypatch, copy, dataset="reviews", penalty="l2")
    text = "\n".join(m.value for m in at.markdown)
    assert "None of the four findings is measurable here." in text
    assert f"majority class ({100 * majority:.2f}%)" in text
    assert "✅" not in text and "❌" not in text
