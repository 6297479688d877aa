"""The sentiment stage inside a real build: what it stores, checked against the files, numpy and sklearn."""
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

import warehouse
from pipeline.config import DatasetSpec, ModelSpec, make_config
from pipeline.errors import PipelineError
from pipeline.stages import sentiment as stage
from tests.sentiment_data import TEST_SETTINGS, build_sentiment_warehouse, sentiment_specs, write_files
from warehouse import queries
from warehouse.contracts import violations


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return write_files(tmp_path_factory.mktemp("sentiment-files"))


@pytest.fixture(scope="module")
def built(tmp_path_factory, tiny_model_dir, files):
    path = tmp_path_factory.mktemp("sentiment-warehouse") / "w.duckdb"
    report = build_sentiment_warehouse(path, tiny_model_dir, files)
    assert report.stages["sentiment"] == {"tiny": "computed"}
    return path


@pytest.fixture()
def con(built):
    c = warehouse.connect_read_only(built)
    yield c
    c.close()


# ---- which datasets -------------------------------------------------------------------------------------

def test_settings_choose_sentiment_datasets_by_spec(tiny_spec, small_specs, files):
    cfg = make_config(datasets=small_specs, models=[tiny_spec])
    assert stage.settings(cfg, tiny_spec, [d.name for d in small_specs]) is None  # no sentiment labels there
    specs = [DatasetSpec("movies", "demo", "movies"), DatasetSpec("wiki", "demo", "wiki"),
             DatasetSpec("sst", "research", "sst2"), DatasetSpec("qnli", "research", "qnli"),
             *sentiment_specs(files)]
    cfg = make_config(datasets=specs, models=[tiny_spec])
    names = [d.name for d in specs]
    # the scored file is not a demo corpus: a user's score may not be sentiment, so it needs naming
    assert stage.chosen_datasets(cfg, names) == ["movies", "sst", "reviews", "few"]
    st = stage.settings(cfg, tiny_spec, names)
    assert st["label_kinds"] == {"movies": "score", "sst": "binary", "reviews": "binary", "few": "binary"}
    assert st["features"] == ["cls", "mean", "concat", "min", "max", "abs"] and st["suite"] == ["cls"]
    assert stage.settings(cfg.with_(sentiment=cfg.sentiment.__class__(enabled=False)), tiny_spec, names) is None
    lstm = ModelSpec("lstm", "lstm", "packaged:textgenrnn")
    assert stage.settings(cfg, lstm, names)["suite"] == ["final"]
    with pytest.raises(PipelineError, match="sentiment.datasets names 'nope'"):
        stage.chosen_datasets(make_config(datasets=specs, models=[tiny_spec], sentiment={"datasets": ["nope"]}),
                              names)
    with pytest.raises(PipelineError, match="label_kind none"):
        stage.chosen_datasets(make_config(datasets=specs, models=[tiny_spec], sentiment={"datasets": ["wiki"]}),
                              names)


# ---- what the build stores ------------------------------------------------------------------------------

def test_contracts_hold_and_datasets_are_labelled_by_the_documented_rule(con, files):
    assert violations(con) == []
    status = queries.sentiment_datasets(con, "tiny").set_index("dataset")
    assert status.loc["few", "status"] == "skipped" and "sentiment.min_rows = 50" in status.loc["few", "reason"]
    assert (status.loc[["reviews", "scored"], "status"] == "done").all()
    for name, kind, col in (("reviews", "binary", "polarity"), ("scored", "score", "stars")):
        raw = pd.read_csv(files[name])
        if kind == "binary":
            expected = (raw[col] == "pos").astype(float).to_numpy()
        else:  # stars are +-2 or 0; the default margin 0.5 drops the zeros
            expected = np.where(raw[col] > 0.5, 1.0, np.where(raw[col] < -0.5, 0.0, np.nan))
        labels = con.execute("select sentence_id, y, split, is_long from sentiment_labels where run_id = 'tiny' "
                             "and dataset = ? order by sentence_id", [name]).df()
        keep = np.flatnonzero(~np.isnan(expected))
        assert labels["sentence_id"].tolist() == keep.tolist()
        assert np.array_equal(labels["y"], expected[keep])
        n = len(keep)
        counts = labels["split"].value_counts()
        assert counts["train"] == round(0.7 * n) and counts["dev"] == round(0.1 * n)
        assert counts["test"] == n - round(0.7 * n) - round(0.1 * n)
        assert np.array_equal(labels["is_long"], raw["review"].str.len().to_numpy()[keep] > 100)
        row = status.loc[name]
        assert (row["n_labelled"], row["n_positive"], row["n_dropped"]) == (n, int(expected[keep].sum()),
                                                                             len(raw) - n)
        assert row["n_long_test"] == int((labels["is_long"] & (labels["split"] == "test")).sum())


def test_the_sentiment_neuron_is_the_largest_weight_and_table1_is_consistent(con):
    for feature, penalty in (("cls", "l1"), ("cls", "l2")):
        units = queries.sentiment_units(con, "tiny", "reviews", feature, penalty)
        clf = queries.sentiment_classifiers(con, "tiny", "reviews")
        clf = clf[(clf["feature"] == feature) & (clf["penalty"] == penalty)].set_index("model")
        sn = int(np.argmax(np.abs(units["weight"].to_numpy())))
        assert (clf["sn_unit"] == sn).all() and units.loc[sn, "weight_rank"] == 0
        assert sorted(units["weight_rank"]) == list(range(32))
        assert clf.loc["sn_only", "test_accuracy"] == units.loc[sn, "single_accuracy"]
        assert clf.loc["all", "n_units"] == 32 and clf.loc["sn_deleted", "n_units"] == 31
        assert clf.loc["all", "n_nonzero"] == int((units["weight"] != 0).sum())
        # removing the SN first (cumulative step 1) is the same problem as the SN's single ablation
        n_test = 80
        assert abs(units.loc[sn, "cumulative_accuracy"] - units.loc[sn, "ablation_accuracy"]) <= 1 / n_test + 1e-9
        # unit u of feature cls is neuron u of the last layer
        assert units["neuron"].tolist() == list(range(32)) and set(units["layer_name"]) == {"blocks.1.hook_resid_post"}


def test_all_units_accuracy_matches_sklearn_on_the_stored_vectors(con):
    labels = con.execute("select sentence_id, y, split from sentiment_labels where run_id = 'tiny' and "
                         "dataset = 'reviews' order by sentence_id").df()
    x, _ = queries.layer_matrix(con, "tiny", 2, "cls", ["reviews"])
    x = x[labels["sentence_id"]].astype(np.float64)
    tr, te = (labels["split"] == "train").to_numpy(), (labels["split"] == "test").to_numpy()
    mu, sd = x[tr].mean(0), x[tr].std(0)
    xs = (x - mu) / np.where(sd == 0, 1, sd)
    clf = queries.sentiment_classifiers(con, "tiny", "reviews").set_index(["feature", "penalty", "model"])
    for penalty in ("l2", "l1"):
        c = clf.loc[("cls", penalty, "all"), "c"]
        model = (LogisticRegression(C=c, l1_ratio=0.0, tol=1e-8, max_iter=10000) if penalty == "l2" else
                 LogisticRegression(C=c, l1_ratio=1.0, solver="saga", tol=1e-7, max_iter=50000))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(xs[tr], labels["y"][tr])
        ref = model.score(xs[te], labels["y"][te])
        assert abs(clf.loc[("cls", penalty, "all"), "test_accuracy"] - ref) <= 1 / te.sum() + 1e-9
        # the stored clean predictions give the same accuracy
        pred = queries.sentiment_predictions(con, "tiny", "reviews", penalty)
        clean = pred[(pred["feature"] == "cls") & (pred["attack"] == "none")]
        assert len(clean) == te.sum()
        assert np.isclose(((clean["p_positive"] > 0.5) == clean["y"]).mean(), clf.loc[("cls", penalty, "all"),
                                                                                     "test_accuracy"])


@pytest.mark.parametrize("pool", ["min", "abs"])
def test_token_pooled_features_match_sklearn_on_pools_taken_here(con, tiny_spec, pool):
    """Study 002's other poolings: each text's last-layer states over its own tokens, pooled with numpy here,
    then the all-units classifier refitted with sklearn at the stored C."""
    from pipeline.models import make_runner

    labels = con.execute("select sentence_id, y, split from sentiment_labels where run_id = 'tiny' and "
                         "dataset = 'reviews' order by sentence_id").df()
    texts = con.execute("select text from sentences where dataset = 'reviews' order by sentence_id").df()["text"]
    states = make_runner(tiny_spec).token_states(texts.iloc[labels["sentence_id"]].tolist())
    last = [s.states[-1] for s in states]  # [T, H]
    x = np.stack([t.min(0) if pool == "min" else t[np.abs(t).argmax(0), np.arange(t.shape[1])] for t in last])
    tr, te = (labels["split"] == "train").to_numpy(), (labels["split"] == "test").to_numpy()
    mu, sd = x[tr].mean(0), x[tr].std(0)
    xs = (x - mu) / np.where(sd == 0, 1, sd)
    clf = queries.sentiment_classifiers(con, "tiny", "reviews").set_index(["feature", "penalty", "model"])
    c = clf.loc[(pool, "l2", "all"), "c"]
    model = LogisticRegression(C=c, l1_ratio=0.0, tol=1e-8, max_iter=10000).fit(xs[tr], labels["y"][tr])
    assert abs(clf.loc[(pool, "l2", "all"), "test_accuracy"] - model.score(xs[te], labels["y"][te])) \
        <= 1 / te.sum() + 1e-9
    feats = queries.sentiment_features(con, "tiny").set_index("feature")
    assert list(feats.loc[pool, "poolings"]) == [pool] and feats.loc[pool, "n_units"] == 32


def test_features_subsets_and_table2(con):
    feats = queries.sentiment_features(con, "tiny").set_index("feature")
    assert feats.loc["concat", "n_units"] == 64 and list(feats.loc["concat", "poolings"]) == ["cls", "mean"]
    assert feats.loc["cls", "suite"] and not feats.loc["mean", "suite"]
    subsets = queries.sentiment_subsets(con, "tiny", "reviews", "cls", "l2")
    assert len(subsets) == TEST_SETTINGS["n_subsets"] and (subsets["n_units"] == 16).all()
    sn = queries.sentiment_classifiers(con, "tiny", "reviews").query("feature == 'cls' and penalty == 'l2'")[
        "sn_unit"].iloc[0]
    has = subsets["units"].map(lambda s: int(sn) in [int(u) for u in s.split()])
    assert (has == subsets["has_sn"]).all()
    mean_units = queries.sentiment_units(con, "tiny", "reviews", "mean", "l2")
    assert mean_units["single_accuracy"].isna().all() and mean_units["weight"].notna().all()


def test_attack_rows_cover_exactly_the_test_texts(con):
    status = queries.sentiment_datasets(con, "tiny").set_index("dataset")
    for dataset in ("reviews", "scored"):
        test_ids = set(con.execute("select sentence_id from sentiment_labels where run_id = 'tiny' and dataset = ? "
                                   "and split = 'test'", [dataset]).df()["sentence_id"])
        long_ids = set(con.execute("select sentence_id from sentiment_labels where run_id = 'tiny' and dataset = ? "
                                   "and split = 'test' and is_long", [dataset]).df()["sentence_id"])
        pred = con.execute("select feature, penalty, attack, sentence_id from sentiment_predictions where "
                           "run_id = 'tiny' and dataset = ?", [dataset]).df()
        for (feature, penalty, attack), part in pred.groupby(["feature", "penalty", "attack"]):
            ids = set(part["sentence_id"])
            assert ids == (long_ids if attack.endswith("_3") else test_ids), (feature, penalty, attack)
        assert set(pred["attack"]) == {"none", "wonderful_1", "terrible_1", "wonderful_3", "terrible_3"}
        assert status.loc[dataset, "n_long_test"] == len(long_ids) > 0


# ---- the attack's texts ----------------------------------------------------------------------------------

class CharRunner:
    max_length = 20


class TokenRunner:
    def __init__(self, tok, max_length):
        self.tokenizer, self.max_length = tok, max_length


def test_attach_suffix_keeps_the_words_inside_max_length(tiny_model_dir):
    texts = ["short", "a" * 30]
    out, cut = stage.attach_suffix(CharRunner(), texts, " Wonderful")
    assert out == ["short Wonderful", "a" * 10 + " Wonderful"] and cut.tolist() == [False, True]
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    n_suffix = len(tok(" Terrible", add_special_tokens=False)["input_ids"])
    short, long = "the city was good", "the city was good and the team was great and the music was best of all"
    limit = 2 + 4 + n_suffix  # [CLS] + four words + the suffix + [SEP]: the short text just fits
    out, cut = stage.attach_suffix(TokenRunner(tok, limit), [short, long], " Terrible")
    assert out[0] == short + " Terrible" and cut.tolist() == [False, True]
    assert out[1] == "the city was good Terrible"  # cut after its first four WordPieces
    assert all(len(tok(t)["input_ids"]) <= limit for t in out)


def test_only_test_texts_are_re_encoded_with_the_suffix(tmp_path, tiny_model_dir, files, monkeypatch):
    from pipeline.models.transformer import TransformerRunner

    seen = []
    real = TransformerRunner.encode

    def spy(self, texts, progress=False):
        seen.append(list(texts))
        return real(self, texts, progress)

    monkeypatch.setattr(TransformerRunner, "encode", spy)
    build_sentiment_warehouse(tmp_path / "w.duckdb", tiny_model_dir, files, datasets=["reviews"], penalties=["l2"],
                              n_subsets=5)
    con = warehouse.connect_read_only(tmp_path / "w.duckdb")
    labels = con.execute("select sentence_id, split, is_long from sentiment_labels where dataset = 'reviews' "
                         "order by sentence_id").df()
    texts = con.execute("select text from sentences where dataset = 'reviews' order by sentence_id").df()["text"]
    con.close()
    test = labels[labels["split"] == "test"]
    test_texts = texts[test["sentence_id"]].tolist()
    long_texts = texts[test.loc[test["is_long"], "sentence_id"]].tolist()
    # first the extraction of the three files, then the attack on the studied one: wonderful x1, x3, terrible x1, x3
    assert [len(batch) for batch in seen[:3]] == [400, 200, 30] and len(seen) == 3 + 4
    attacks = seen[3:]
    for batch, suffix, expected in ((attacks[0], " Wonderful", test_texts), (attacks[1], " Wonderful" * 3, long_texts),
                                    (attacks[2], " Terrible", test_texts), (attacks[3], " Terrible" * 3, long_texts)):
        assert len(batch) == len(expected)
        for adv, original in zip(batch, expected):
            assert adv.endswith(suffix) and original.startswith(adv[: -len(suffix)])


# ---- rebuilds and errors ---------------------------------------------------------------------------------

def test_unchanged_settings_are_reused_and_changed_ones_recomputed(tmp_path, tiny_model_dir, files):
    path = tmp_path / "w.duckdb"
    first = build_sentiment_warehouse(path, tiny_model_dir, files, datasets=["reviews"], penalties=["l2"],
                                      n_subsets=5, adversarial=False)
    assert first.stages["sentiment"] == {"tiny": "computed"}
    again = build_sentiment_warehouse(path, tiny_model_dir, files, datasets=["reviews"], penalties=["l2"],
                                      n_subsets=5, adversarial=False)
    assert again.up_to_date
    changed = build_sentiment_warehouse(path, tiny_model_dir, files, datasets=["reviews"], penalties=["l2"],
                                        n_subsets=7, adversarial=False)
    assert changed.stages["sentiment"] == {"tiny": "computed"} and not changed.computed
    con = warehouse.connect_read_only(path)
    assert con.execute("select count(*) from sentiment_subsets").fetchone()[0] == 7
    assert con.execute("select count(*) from sentiment_predictions where attack <> 'none'").fetchone()[0] == 0
    con.close()


def test_a_layer_that_does_not_exist_is_a_one_line_error(tmp_path, tiny_model_dir, files):
    with pytest.raises(PipelineError, match="sentiment.transformer_layers: 7 is out of range"):
        build_sentiment_warehouse(tmp_path / "w.duckdb", tiny_model_dir, files, datasets=["reviews"],
                                  transformer_layers=[7])
    assert not (tmp_path / "w.duckdb").exists()
