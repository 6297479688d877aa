"""Activation storage ([storage] activations): int16 codes with a scale per row (default) or float32.

The stored values are checked against numpy float32 computed independently (the same model run again, and the
quantisation written out by hand), and every reader (the activations view, the dashboard's named queries,
layer_matrix) must give the same numbers.
"""
from __future__ import annotations

import numpy as np
import pytest

import warehouse
from pipeline.errors import PipelineError
from pipeline.stages.extract import CODE_MAX, activation_table, store_block
from warehouse import queries

DATASETS = ["news", "questions", "pairs"]


def _rows(seed=0, n=50, h=96):
    """Rows with BERT-like outlier units (a few dims 30x the rest), a zero row and a tiny-valued row."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, h)).astype(np.float32)
    x[:, [3, 40]] *= 30
    x[7] = 0
    x[8] *= 1e-30
    return x


def test_int16_codes_stay_in_14_bits_and_the_error_is_bounded_and_recorded():
    x = _rows()
    s = store_block(x, "int16")
    assert s.dtype == "int16" and s.codes.dtype == np.int16 and s.floats is None
    assert np.abs(s.codes).max() == CODE_MAX == 2**13 - 1  # every non-zero row reaches the top code
    peak = np.abs(x.astype(np.float64)).max(axis=1)
    # the scale is the row's peak over the top code; its decoded value is code * scale in float32, as SQL does
    np.testing.assert_allclose(s.scale, peak / CODE_MAX, rtol=1e-6)
    decoded = s.codes.astype(np.float64) * s.scale.astype(np.float64)[:, None]
    err = np.abs(decoded - x).max(axis=1)
    assert (err <= peak / (2 * CODE_MAX) * (1 + 1e-5) + 1e-45).all()  # half a code step, at most
    # recorded: measured on the float32 decode, so it may differ from the exact error by the decode's rounding
    assert (np.abs(s.max_error - err) <= peak * 2e-7 + 1e-45).all()
    np.testing.assert_allclose(s.values(), decoded, rtol=1e-6, atol=0)
    assert (s.values()[7] == 0).all() and s.scale[7] == 0 and s.max_error[7] == 0  # the zero row
    assert s.max_error[8] <= peak[8] / (2 * CODE_MAX) * (1 + 1e-5)  # a tiny row keeps its precision


def test_float32_storage_is_the_values_themselves():
    x = _rows(1)
    s = store_block(x, "float32")
    assert s.codes is None and (s.values() == x).all() and (s.scale == 1).all() and (s.max_error == 0).all()
    t = activation_table("r", "d", 2, "cls", x, "float32")
    assert t.column("codes").null_count == len(x) and t.column("floats").null_count == 0
    assert np.array_equal(np.stack(t.column("floats").to_pylist()), x)


def test_non_finite_values_and_an_unknown_dtype_are_one_line_errors_naming_the_setting():
    x = _rows(2)
    x[4, 5] = np.nan
    with pytest.raises(PipelineError, match=r'storage\.activations = "float32"') as e:
        store_block(x, "int16")
    assert "\n" not in str(e.value)
    assert np.isnan(store_block(x, "float32").values()[4, 5])  # float32 keeps what the model gave
    with pytest.raises(PipelineError, match="storage.activations must be one of int16, float32"):
        store_block(_rows(), "float16")


def test_stored_vectors_are_within_their_recorded_error_of_the_models_float32(small_warehouse, tiny_model_dir):
    """The same tiny model run again over the warehouse's own texts (numpy float32) against the activations view:
    every value within its row's max_error, which is at most half a code step of the row's peak."""
    from pipeline.models import make_runner

    from .conftest import tiny_model_spec

    runner = make_runner(tiny_model_spec(tiny_model_dir), None)
    con = warehouse.connect_read_only(small_warehouse)
    try:
        for name in DATASETS:
            texts = [t for (t,) in con.execute("select text from sentences where dataset = ? order by sentence_id",
                                               [name]).fetchall()]
            ref = runner.encode(texts).vectors  # float32 [L, P, N, H]
            for layer in range(ref.shape[0]):
                for p, pooling in enumerate(runner.poolings):
                    rows = con.execute(
                        "select a.vec, s.scale, s.max_error, s.dtype from activations a join activation_store s "
                        "using (run_id, layer, pooling, dataset, sentence_id) where run_id = 'tiny' and "
                        "layer = ? and pooling = ? and dataset = ? order by sentence_id",
                        [layer, pooling, name]).fetchall()
                    got = np.array([r[0] for r in rows], np.float32)
                    scale, max_error = (np.array([r[i] for r in rows], np.float32) for i in (1, 2))
                    assert {r[3] for r in rows} == {"int16"}
                    x = ref[layer, p]
                    err = np.abs(got.astype(np.float64) - x).max(axis=1)
                    assert (err <= max_error * (1 + 1e-5) + 1e-6).all(), (name, layer, pooling)
                    assert (max_error <= np.abs(x).max(axis=1) / (2 * CODE_MAX) * (1 + 1e-4) + 1e-6).all()
                    np.testing.assert_allclose(scale, np.abs(x).max(axis=1) / CODE_MAX, rtol=1e-4, atol=1e-9)
    finally:
        con.close()


def test_every_reader_gives_the_same_stored_numbers(small_warehouse):
    """The activations view (codes * scale in SQL), layer_matrix (in numpy), neuron_scores and a one-hot
    direction (the dashboard's codes-times-scale forms) agree, and neuron_topk holds those values."""
    con = warehouse.connect_read_only(small_warehouse)
    try:
        for layer, pooling in ((0, "cls"), (2, "mean")):
            x, keys = queries.layer_matrix(con, "tiny", layer, pooling, DATASETS)
            view = np.array([v for (v,) in con.execute(
                "select vec from activations where run_id = 'tiny' and layer = ? and pooling = ? and "
                "list_contains(?, dataset) order by dataset, sentence_id", [layer, pooling, DATASETS]).fetchall()],
                np.float32)
            assert np.array_equal(view, x)  # bit for bit: the same float32 multiply
            for unit in (0, 13, 31):
                got = queries.neuron_scores(con, "tiny", layer, pooling, unit, DATASETS).merge(
                    keys.assign(row=range(len(keys))), on=["dataset", "sentence_id"])
                assert np.array_equal(got["value"].to_numpy(np.float32), x[got["row"], unit])
                top = queries.neuron_top(con, "tiny", layer, pooling, unit, ["news"], 5)
                news = x[(keys["dataset"] == "news").to_numpy(), unit]
                assert np.array_equal(top["value"].to_numpy(np.float32), np.sort(news)[::-1][:5])
            w = np.random.default_rng(3).standard_normal(x.shape[1])
            d = queries.direction_scores(con, "tiny", layer, pooling, w, DATASETS).merge(
                keys.assign(row=range(len(keys))), on=["dataset", "sentence_id"])
            np.testing.assert_allclose(d["value"], x[d["row"]].astype(np.float64) @ w.astype(np.float32),
                                       rtol=1e-5, atol=1e-6)
    finally:
        con.close()


def test_storage_setting_from_toml_and_set(tmp_path):
    from pipeline.config import StorageSpec, apply_settings, load_toml, make_config

    toml = tmp_path / "c.toml"
    toml.write_text('[storage]\nactivations = "float32"\n[[datasets]]\nname = "d"\nsource = "demo"\npath = "movies"\n'
                    '[[models]]\nrun_id = "m"\nkind = "transformer"\npath = "x"\n')
    assert make_config(**load_toml(toml)).storage == StorageSpec("float32")
    kw = apply_settings(load_toml(toml), ["storage.activations=int16"])
    cfg = make_config(**kw)
    assert cfg.storage.activations == "int16" and '"storage": {"activations": "int16"}' in cfg.to_json()
    with pytest.raises(PipelineError, match=r"storage\.activations must be one of int16, float32, got 'int8'"):
        make_config(**apply_settings(load_toml(toml), ["storage.activations=int8"]))
    with pytest.raises(PipelineError, match="storage has no key 'vectors'"):
        apply_settings({}, ["storage.vectors=int16"])
