"""Attention stage on the tiny random BERT: the stored rows recomputed independently (the Hugging Face model run
on its own, scipy, sklearn), the contracts, the settings and their validation."""
from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats
from sklearn.linear_model import LinearRegression
from transformers import AutoTokenizer, BertModel

from analysis.attention import ClusterSpec, cluster, default_specs, group_tests, head_features
from analysis.numerics import pca_2d
from pipeline.config import PACKAGED_TEXTGENRNN, ModelSpec, make_config
from pipeline.errors import PipelineError
from pipeline.stages import attention as stage
from warehouse.contracts import violations
from tests.attention_data import SETTINGS, build_attention_warehouse
from tests.conftest import small_datasets, tiny_model_spec


@pytest.fixture(scope="module")
def built(tmp_path_factory, tiny_model_dir, fixture_files):
    path = build_attention_warehouse(tmp_path_factory.mktemp("attn-stage") / "w.duckdb", tiny_model_dir,
                                     fixture_files, heads_finetune_epochs=1, finetune_epochs=2)
    con = duckdb.connect(str(path), read_only=True)
    yield con, tiny_model_dir
    con.close()


def q(con, sql, *params) -> pd.DataFrame:
    return con.execute(sql, list(params)).df()


def test_contracts_pass_and_every_table_has_rows(built):
    con, _ = built
    assert violations(con) == []
    for t in stage.TABLES:
        assert con.execute(f"select count(*) from {t}").fetchone()[0] > 0, t
    # 2 blocks of the tiny model -> layers 1, 2; both feature sets
    layers = q(con, "select dataset, layer, feature_set from attention_layers order by all")
    assert len(layers) == 2 * 2 * 2 and set(layers["layer"]) == {1, 2}


def test_items_use_the_test_split_as_pairs_with_the_tokenizer_length(built):
    con, model_dir = built
    items = q(con, "select i.*, s.text, s.text_b, s.label from attention_items i join sentences s "
                   "using (dataset, sentence_id) where dataset = 'sts' order by sentence_id")
    assert len(items) == 16 and (items["split"] == "test").all() and items["is_pair"].all()
    assert items["score"].tolist() == pytest.approx(items["label"].astype(float).tolist())
    tok = AutoTokenizer.from_pretrained(str(model_dir))
    want = [len(tok(a, b, truncation=True, max_length=32)["input_ids"]) for a, b in zip(items["text"], items["text_b"])]
    assert items["n_tokens"].tolist() == want
    single = q(con, "select * from attention_items where dataset = 'questions'")
    assert len(single) == 24 and not single["is_pair"].any()
    # structure: cosine <= 1, and at least the most frequent structure's items reach 1
    assert single["structure"].between(0, 1 + 1e-9).all() and (single["structure"] > 1 - 1e-9).sum() >= 1


@pytest.fixture(scope="module")
def tuned(built):
    """The fine-tuned encoder the stage should have used for 'sts' (finetune_epochs=2 on its 24 train pairs, the
    build's seed 0), fine-tuned again here from the saved model, and the test pairs."""
    from pipeline.methods.attention_models import finetune

    con, model_dir = built
    tok = AutoTokenizer.from_pretrained(str(model_dir))
    model = BertModel.from_pretrained(str(model_dir), attn_implementation="eager").eval()
    rows = q(con, "select text, text_b, label::double y, split from sentences where dataset = 'sts' "
                  "order by sentence_id")
    tr, te = rows[rows["split"] == "train"], rows[rows["split"] == "test"]
    ft = finetune(model, tok, "cls", (tr["text"].tolist(), tr["text_b"].tolist(), tr["y"].to_numpy()), 32, 2, 0)
    return ft, te


def test_features_equal_the_model_attention_and_pca(built, tuned):
    con, model_dir = built
    tok = AutoTokenizer.from_pretrained(str(model_dir))
    model = BertModel.from_pretrained(str(model_dir), attn_implementation="eager").eval()
    # 'sts' (scored pairs with train and test) was analysed with the fine-tuned encoder, 'questions' with the
    # pretrained one
    for dataset, encoder in (("sts", tuned[0].encoder), ("questions", model)):
        pts = q(con, "select p.layer, p.sentence_id, p.features, p.sx, p.sy, s.text, s.text_b from attention_points p "
                     "join sentences s using (dataset, sentence_id) where p.dataset = ? order by p.layer, "
                     "p.sentence_id", dataset)
        for r in pts[pts["sentence_id"] == pts["sentence_id"].min()].itertuples():
            enc = tok(r.text, r.text_b, truncation=True, max_length=32, return_tensors="pt") if r.text_b else \
                tok(r.text, truncation=True, max_length=32, return_tensors="pt")
            with torch.inference_mode():
                att = encoder(**enc, output_attentions=True).attentions[r.layer - 1][0].numpy()  # [H, n, n]
                before = model(**enc, output_attentions=True).attentions[r.layer - 1][0].numpy()
            sep = np.flatnonzero(enc["input_ids"][0].numpy() == tok.sep_token_id)
            assert len(sep) == (2 if r.text_b else 1)
            assert np.asarray(r.features) == pytest.approx(head_features(att, sep).ravel(), abs=1e-5)
            if dataset == "sts":  # fine-tuning moved the attention: the pretrained model's features differ
                assert np.abs(head_features(before, sep).ravel() - np.asarray(r.features)).max() > 1e-4
    for layer, g in pts.groupby("layer"):
        xy, _ = pca_2d(np.stack(g["features"].map(np.asarray).tolist()), standardised=True)
        # PCA signs are arbitrary only across fits; the same fit on the same data gives the same signs
        assert g[["sx", "sy"]].to_numpy() == pytest.approx(xy, abs=1e-4)


def test_stored_clusters_quality_and_tests_recompute(built):
    con, _ = built
    n_specs = len(default_specs(k_min=SETTINGS["k_min"], k_max=SETTINGS["k_max"]))
    counts = q(con, "select dataset, layer, feature_set, count(*) n, sum(chosen::int) c from attention_quality "
                    "group by all")
    assert (counts["n"] == n_specs).all() and (counts["c"] == 1).all()
    for fs, cols in (("summary", ("sx", "sy")), ("autoencoder", ("ax", "ay"))):
        chosen = q(con, "select * from attention_quality where dataset = 'questions' and layer = 2 and feature_set = ? "
                        "and chosen", fs).iloc[0]
        pts = q(con, "select p.*, i.score, i.n_tokens from attention_points p join attention_items i "
                     "using (run_id, dataset, sentence_id) where dataset = 'questions' and layer = 2 "
                     "order by sentence_id")
        opts = dict(kv.split("=") for kv in chosen["params"].split(",") if kv)
        spec = ClusterSpec(chosen["algorithm"], int(chosen["k"]),
                           **{k: (float(v) if k == "eps" else int(v) if k == "min_samples" else v)
                              for k, v in opts.items()})
        lab = cluster(pts[list(cols)].to_numpy(dtype=np.float64), spec)
        assert (lab == pts[f"cluster_{fs}"].to_numpy()).all()
        tests = q(con, "select * from attention_tests where dataset = 'questions' and layer = 2 and feature_set = ?",
                  fs).set_index("covariate")
        summary, _ = group_tests(pts["n_tokens"].to_numpy(dtype=float), lab)
        if not np.isnan(summary["kw_p"]):
            groups = [pts["n_tokens"].to_numpy(float)[lab == c] for c in np.unique(lab[lab >= 0])]
            groups = [g for g in groups if len(g) >= 2]
            assert tests.loc["length", "kw_p"] == pytest.approx(stats.kruskal(*groups).pvalue)
        assert tests.loc["score", "kw_p"] == pytest.approx(group_tests(pts["score"].to_numpy(float), lab)[0]["kw_p"],
                                                           nan_ok=True)
    ae = q(con, "select * from attention_layers where feature_set = 'autoencoder'")
    assert (ae["ae_loss"] > 0).all() and (ae["ae_epochs"] == SETTINGS["ae_epochs"]).all()
    pairs = q(con, "select * from attention_pairs")
    assert (pairs["p_holm"] >= pairs["p"] - 1e-12).all() and (pairs["cluster_a"] < pairs["cluster_b"]).all()


def test_attention_encoders_record_the_fine_tuned_encoder_and_its_test_scores(built, tuned):
    from analysis.attention_example import unpack
    from analysis.attention_view import encoder_sentence

    con, _ = built
    ft, te = tuned
    enc = q(con, "select * from attention_encoders order by dataset").set_index("dataset")
    assert enc.loc["questions", "encoder"] == "pretrained" and pd.isna(enc.loc["questions", "pearson"])
    row = enc.loc["sts"]
    assert row["encoder"] == "finetuned" and row["head"] == "cls" and row["epochs"] == 2
    assert row["n_train"] == 24 and row["n_test"] == 16 and row["seconds"] > 0
    assert list(row["losses"]) == pytest.approx(ft.losses, rel=1e-4) and len(ft.losses) == 2
    pred = ft.predict(te["text"].tolist(), te["text_b"].tolist())
    assert row["pearson"] == pytest.approx(stats.pearsonr(te["y"], pred)[0], abs=1e-4)
    assert row["spearman"] == pytest.approx(stats.spearmanr(te["y"], pred)[0], abs=1e-4)
    assert row["mse"] == pytest.approx(np.mean((te["y"].to_numpy() - pred) ** 2), rel=1e-4)
    # the stored examples of 'sts' are the fine-tuned encoder's weights
    ex = q(con, "select e.*, s.text, s.text_b from attention_examples e join sentences s using (dataset, sentence_id) "
                "where dataset = 'sts' order by sentence_id limit 1").iloc[0]
    w = unpack(ex["weights"], ex["dtype"], ex["scale"], ex["n_layers"], ex["n_heads"], ex["n_tokens"])
    tok = AutoTokenizer.from_pretrained(str(built[1]))
    with torch.inference_mode():
        att = ft.encoder(**tok(ex["text"], ex["text_b"], truncation=True, max_length=32, return_tensors="pt"),
                         output_attentions=True).attentions
    assert w == pytest.approx(torch.stack([a[0] for a in att]).numpy(), abs=float(ex["max_error"]) + 1e-5)
    # the page's statement, from the rows the page reads
    from warehouse import queries

    info = queries.attention_datasets(con, enc.loc["sts", "run_id"]).set_index("dataset")
    line = encoder_sentence(info.loc["sts"], "tiny")
    assert "**fine-tuned**" in line and "24 train pairs for 2 epoch(s)" in line and f"{row['pearson']:.3f}" in line
    assert "16 test pairs" in line and f"{ft.losses[0]:.3f} → {ft.losses[1]:.3f}" in line
    assert "**pretrained**" in encoder_sentence(info.loc["questions"], "tiny")


def test_regression_heads_recompute_the_mean_pool_head(built):
    con, model_dir = built
    every = q(con, "select * from attention_heads")
    tuned = every[every["mode"] == "finetune"]
    assert sorted(tuned["head"]) == ["bilstm", "cls", "max", "mean"] and tuned["mse"].notna().all()
    assert tuned["encode_seconds"].isna().all() and (tuned["seconds"] > 0).all()
    heads = every[every["mode"] == "frozen"].set_index("head")
    assert set(heads.index) == {"cls", "mean", "max", "bilstm"}
    assert (heads["n_train"] == 24).all() and (heads["n_test"] == 16).all() and (heads["layer"] == 2).all()
    rows = q(con, "select text, text_b, label::double y, split from sentences where dataset = 'sts' order by sentence_id")
    tok = AutoTokenizer.from_pretrained(str(model_dir))
    model = BertModel.from_pretrained(str(model_dir)).eval()

    def mean_pool(df):
        out = []
        for a, b in zip(df["text"], df["text_b"]):
            with torch.inference_mode():
                h = model(**tok(a, b, truncation=True, max_length=32, return_tensors="pt")).last_hidden_state[0]
            out.append(h.mean(0).numpy())
        return np.stack(out)

    tr, te = rows[rows["split"] == "train"], rows[rows["split"] == "test"]
    pred = LinearRegression().fit(mean_pool(tr), tr["y"]).predict(mean_pool(te))
    assert heads.loc["mean", "pearson"] == pytest.approx(stats.pearsonr(te["y"], pred)[0], abs=1e-3)
    assert heads.loc["mean", "mse"] == pytest.approx(np.mean((te["y"] - pred) ** 2), rel=1e-3)


def test_settings_skip_lstm_and_validation_names_the_setting(fixture_files, tiny_model_dir):
    cfg = make_config(datasets=small_datasets(fixture_files), models=[tiny_model_spec(tiny_model_dir)])
    lstm = ModelSpec("lstm", "lstm", PACKAGED_TEXTGENRNN, 512, 64)
    assert stage.settings(cfg, lstm, ["questions"]) is None
    s = stage.settings(cfg, tiny_model_spec(tiny_model_dir), ["questions", "pairs"])
    assert s["datasets"] == ["questions", "pairs"] and s["per_dataset"] == 1500
    only = make_config(datasets=small_datasets(fixture_files), models=[tiny_model_spec(tiny_model_dir)],
                       attention={"datasets": ["pairs"]})
    assert stage.settings(only, tiny_model_spec(tiny_model_dir), ["questions", "pairs"])["datasets"] == ["pairs"]
    for bad, name in [({"k_min": 5, "k_max": 3}, "attention.k_min"), ({"algorithms": ["kmeans", "nope"]},
                                                                        "attention.algorithms"),
                      ({"reducer": "tsne"}, "attention.reducer"), ({"per_dataset": -1}, "attention.per_dataset"),
                      ({"layers": [0]}, "attention.layers"), ({"heads": "yes"}, "attention.heads")]:
        with pytest.raises(PipelineError, match=name.replace(".", r"\.")):
            make_config(datasets=small_datasets(fixture_files), models=[tiny_model_spec(tiny_model_dir)],
                        attention=bad)
    assert stage.block_list(6, [1, -1, -2]) == [0, 4, 5]
    with pytest.raises(PipelineError, match="attention.layers"):
        stage.block_list(2, [3])


def test_sample_rows_prefers_test_split_and_is_seeded():
    frame = pd.DataFrame({"split": ["train"] * 10 + ["test"] * 30})
    ids = stage.sample_rows(frame, 12, 0, "d")
    assert len(ids) == 12 and (ids >= 10).all() and (np.diff(ids) > 0).all()
    assert (stage.sample_rows(frame, 12, 0, "d") == ids).all() and not (stage.sample_rows(frame, 12, 1, "d") == ids).all()
    assert len(stage.sample_rows(pd.DataFrame({"split": [None] * 7}), 0, 0, "d")) == 7


def test_umap_reducer_is_seeded_and_pca_is_the_default():
    x = np.random.default_rng(0).normal(size=(40, 14))
    xy, explained = stage.reduce_summary(x, "umap", 0)
    again, _ = stage.reduce_summary(x, "umap", 0)
    assert xy.shape == (40, 2) and explained is None and np.isfinite(xy).all()
    assert xy == pytest.approx(again)
    pca, ratio = stage.reduce_summary(x, "pca", 0)
    assert pca == pytest.approx(pca_2d(x, standardised=True)[0]) and 0 < ratio < 1
