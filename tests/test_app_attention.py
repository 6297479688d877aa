"""Attention page with AppTest on a warehouse built with the stage (tiny BERT): the stored tables are shown,
changing the layer and the algorithm re-clusters live, a range is highlighted."""
from __future__ import annotations

import json
from pathlib import Path

import duckdb
import numpy as np
import pytest
from scipy import stats
from streamlit.dataframe_util import convert_arrow_bytes_to_pandas_df
from streamlit.testing.v1 import AppTest

from analysis.attention import ClusterSpec, cluster
from tests.attention_data import build_attention_warehouse

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def attn_warehouse(tmp_path_factory, tiny_model_dir, fixture_files) -> Path:
    return build_attention_warehouse(tmp_path_factory.mktemp("attn-app") / "w.duckdb", tiny_model_dir, fixture_files)


def page(monkeypatch, path, **params) -> AppTest:
    monkeypatch.setenv("ILLUSION_WAREHOUSE", str(path))
    at = AppTest.from_file(str(ROOT / "views" / "attention.py"), default_timeout=90)
    at.query_params.update(params)
    return at


def charts(at) -> list[dict]:
    out = []
    for c in at.get("vega_lite_chart"):
        spec = json.loads(c.proto.spec)
        spec["frames"] = [convert_arrow_bytes_to_pandas_df(d.data.data) for d in c.proto.datasets]
        out.append(spec)
    return out


def title(spec) -> str:
    t = spec.get("title")
    return t if isinstance(t, str) else (t or {}).get("text", "")


def frame(at, prefix: str):
    """The first dataframe whose column set starts like ``prefix`` (st.dataframe elements)."""
    for df in at.dataframe:
        if list(df.value.columns[:len(prefix)]) == prefix:
            return df.value
    raise AssertionError(f"no table with columns {prefix}")


def test_page_shows_stored_clusters_tests_and_heads(monkeypatch, attn_warehouse):
    at = page(monkeypatch, attn_warehouse, run="tiny", dataset="sts", layer="1", features="summary")
    at.run()
    assert not at.exception
    # built without attention.finetune_epochs: the page says the attention is the pretrained encoder's
    assert any("Attention from the **pretrained** encoder" in md.value for md in at.markdown)
    con = duckdb.connect(str(attn_warehouse), read_only=True)
    pts = con.execute("select sentence_id, cluster_summary from attention_points where dataset = 'sts' and layer = 1 "
                      "order by sentence_id").df()
    tests = con.execute("select covariate, kw_p from attention_tests where dataset = 'sts' and layer = 1 and "
                        "feature_set = 'summary'").df().set_index("covariate")["kw_p"]
    heads = con.execute("select head, pearson from attention_heads").df().set_index("head")["pearson"]
    con.close()
    scatter = next(s for s in charts(at) if title(s).startswith("Coloured by cluster"))
    (df,) = scatter["frames"]
    shown = df.sort_values("sentence_id")
    assert shown["sentence_id"].tolist() == pts["sentence_id"].tolist()
    assert shown["cluster"].tolist() == pts["cluster_summary"].astype(str).tolist()
    # the live tests on the stored clusters are the stored tests
    live = frame(at, ["covariate", "n", "n_clusters", "kw_h", "kw_p"]).set_index("covariate")
    for c, p in tests.items():
        assert live.loc[c, "kw_p"] == pytest.approx(p, nan_ok=True)
    shown_heads = frame(at, ["dataset", "head", "mode"]).set_index("head")["pearson"]
    assert shown_heads.to_dict() == pytest.approx(heads.to_dict())
    assert any("Clusters track a covariate when" in m.value for m in at.markdown)
    assert any(b.label == "Download attention_heads.csv" for b in at.get("download_button"))
    assert len([s for s in charts(at) if s.get("mark", {}) == "boxplot" or "boxplot" in json.dumps(s.get("mark"))]) == 3


def algorithm_box(at):
    """The Algorithm selectbox (its key carries the layer and feature set, so its label stays current)."""
    return next(s for s in at.selectbox if s.label == "Algorithm")


def test_changing_layer_and_algorithm_reclusters_live(monkeypatch, attn_warehouse):
    at = page(monkeypatch, attn_warehouse, run="tiny", dataset="questions", layer="2", features="autoencoder")
    at.run()
    assert not at.exception
    at.selectbox(key="attn_layer").set_value(1).run()
    assert not at.exception and at.query_params["layer"] == "1"
    stored = algorithm_box(at)
    this = next(m.value for m in at.caption if m.value.startswith("Clusters shown: the stored default"))
    assert f"{stored.format_func(stored.value).split('k=')[1].rstrip(')')} clusters" in this  # label = layer's own
    algorithm_box(at).set_value("agglomerative").run()
    at.slider(key="attn_k").set_value(3).run()
    at.selectbox(key="attn_linkage").set_value("average").run()
    assert not at.exception
    assert at.query_params["algo"] == "agglomerative" and at.query_params["k"] == "3"
    con = duckdb.connect(str(attn_warehouse), read_only=True)
    pts = con.execute("select p.sentence_id, ax, ay, n_tokens from attention_points p join attention_items i "
                      "using (run_id, dataset, sentence_id) where dataset = 'questions' and layer = 1 "
                      "order by sentence_id").df()
    con.close()
    want = cluster(pts[["ax", "ay"]].to_numpy(dtype=np.float64), ClusterSpec("agglomerative", 3, linkage="average"))
    (df,) = next(s for s in charts(at) if title(s).startswith("Coloured by cluster"))["frames"]
    assert df.sort_values("sentence_id")["cluster"].tolist() == want.astype(str).tolist()
    live = frame(at, ["covariate", "n", "n_clusters", "kw_h", "kw_p"]).set_index("covariate")
    groups = [pts["n_tokens"].to_numpy(float)[want == c] for c in range(3)]
    groups = [g for g in groups if len(g) >= 2]
    if len(groups) >= 2:
        assert live.loc["length", "kw_p"] == pytest.approx(stats.kruskal(*groups).pvalue)
    algorithm_box(at).set_value("gmm").run()
    at.selectbox(key="attn_cov").set_value("spherical").run()
    algorithm_box(at).set_value("dbscan").run()
    assert not at.exception


def test_highlighting_a_length_range(monkeypatch, attn_warehouse):
    at = page(monkeypatch, attn_warehouse, run="tiny", dataset="questions", layer="1", hl="length")
    at.run()
    assert not at.exception
    con = duckdb.connect(str(attn_warehouse), read_only=True)
    lengths = con.execute("select n_tokens from attention_items where dataset = 'questions'").df()["n_tokens"]
    con.close()
    lo, hi = int(lengths.min()), int(lengths.median())
    at.text_input(key="attn_ranges_length").set_value(f"{lo}-{hi}").run()
    assert not at.exception
    hl = next(s for s in charts(at) if title(s).startswith("Highlighted"))
    (df,) = hl["frames"]
    assert (df["highlight"] == f"{lo}–{hi}").sum() == int(((lengths >= lo) & (lengths <= hi)).sum()) > 0
    assert (df["highlight"] == "other").sum() == int(((lengths < lo) | (lengths > hi)).sum())
    assert at.query_params["ranges"] == f"{lo}-{hi}"
    at.text_input(key="attn_ranges_length").set_value("5-1").run()
    assert not at.exception and any("Could not read the ranges" in w.value for w in at.warning)


def test_page_without_attention_results_says_how_to_build(monkeypatch, tmp_path, tiny_model_dir, fixture_files):
    import pipeline.stages as stages
    from pipeline.build import build
    from pipeline.config import make_config
    from tests.conftest import small_datasets, tiny_model_spec

    path = tmp_path / "w.duckdb"
    cfg = make_config(datasets=small_datasets(fixture_files)[:1], models=[tiny_model_spec(tiny_model_dir)],
                      warehouse=str(path), topk=5, progress=False, separability_per_dataset=0,
                      attention={"enabled": False})
    monkeypatch.setattr(stages, "RUN_STAGES", ("attention",))
    build(cfg, log=lambda *_: None)
    at = page(monkeypatch, path)
    at.run()
    assert not at.exception
    assert any("no attention results" in i.value for i in at.info)
