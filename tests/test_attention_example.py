"""Per-example attention: the weights the view shows are the model's own ``output_attentions`` (tiny BERT, loaded
here independently of the pipeline), the stored blobs decode to them within their recorded error, and the
frames the charts draw are the array they come from."""
from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from analysis.attention_example import grid_frame, labels, lines_frame, pack, unpack, weights_frame
from pipeline.errors import PipelineError
from tests.attention_data import build_attention_warehouse

# Every sts item (16 test pairs) is stored; 20 of the 24 questions, so some are live-only.
EXAMPLES = {"examples": 20, "examples_max_tokens": 32, "ae_epochs": 0, "heads": False}
_BUILT: dict = {}


def example_warehouse(tmp_path_factory, tiny_model_dir, fixture_files) -> Path:
    """The attention-only warehouse with stored examples, built once per session for every test module here."""
    if "path" not in _BUILT:
        _BUILT["path"] = build_attention_warehouse(tmp_path_factory.mktemp("attn-ex") / "w.duckdb", tiny_model_dir,
                                                   fixture_files, **EXAMPLES)
    return _BUILT["path"]


def reference_attentions(model_dir: Path, a: str, b: str | None, max_length: int = 32):
    """(tokens, float32 [L, H, T, T]) straight from transformers: BertModel with eager attention."""
    import torch
    from transformers import AutoTokenizer, BertModel

    tok = AutoTokenizer.from_pretrained(str(model_dir))
    model = BertModel.from_pretrained(str(model_dir), attn_implementation="eager").eval()
    enc = tok(a, b, truncation=True, max_length=max_length, return_tensors="pt")
    with torch.no_grad():
        out = model(**enc, output_attentions=True)
    return tok.convert_ids_to_tokens(enc["input_ids"][0]), np.stack([x[0].numpy() for x in out.attentions])


@pytest.fixture(scope="module")
def runner(tiny_spec):
    from pipeline.models.transformer import TransformerRunner

    return TransformerRunner(tiny_spec, attentions=True)


@pytest.fixture(scope="module")
def ex_warehouse(tmp_path_factory, tiny_model_dir, fixture_files) -> Path:
    return example_warehouse(tmp_path_factory, tiny_model_dir, fixture_files)


@pytest.mark.parametrize("b", [None, "The man is playing for money."])
def test_item_attentions_are_output_attentions(runner, tiny_model_dir, b):
    from pipeline.stages.attention import item_attentions

    a = "A man is playing the guitar on the street."
    tokens, att = item_attentions(runner.model, runner.tokenizer, a, b, runner.max_length)
    ref_tokens, ref = reference_attentions(tiny_model_dir, a, b)
    assert tokens == ref_tokens and tokens[0] == "[CLS]" and tokens.count("[SEP]") == (2 if b else 1)
    assert att.shape == ref.shape == (2, 2, len(tokens), len(tokens)) and att.dtype == np.float32
    np.testing.assert_allclose(att, ref, atol=1e-6)
    np.testing.assert_allclose(att.sum(axis=-1), 1.0, atol=1e-5)


@pytest.mark.parametrize("dtype, bound, itemsize", [("float16", 2.0 ** -12, 2), ("uint8", 1 / 510, 1),
                                                    ("float32", 0.0, 4)])
def test_pack_round_trip_within_recorded_error(dtype, bound, itemsize):
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(3, 4, 7, 7)) * 3
    att = (np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)).astype(np.float32)
    blob, dt, scale, err = pack(att, dtype)
    assert dt == dtype and len(blob) == att.size * itemsize
    back = unpack(blob, dt, scale, 3, 4, 7)
    measured = float(np.abs(back - att).max())
    assert measured == pytest.approx(err, abs=1e-9) and err <= bound + 1e-9
    if dtype == "uint8":  # the codes are the rounded 255ths, independently
        assert np.array_equal(np.frombuffer(blob, np.uint8).reshape(att.shape), np.rint(att * 255).astype(np.uint8))
    with pytest.raises(ValueError, match="dtype must be one of"):
        pack(att, "int4")


def test_stage_stores_examples_that_decode_to_the_models_attention(ex_warehouse, tiny_model_dir):
    con = duckdb.connect(str(ex_warehouse), read_only=True)
    rows = con.execute("select e.*, s.text, s.text_b, i.n_tokens as item_tokens from attention_examples e "
                       "join sentences s using (dataset, sentence_id) join attention_items i "
                       "using (run_id, dataset, sentence_id) order by dataset, sentence_id").df()
    eligible = con.execute("select dataset, count(*) as n from attention_items where n_tokens <= 32 "
                           "group by dataset").df().set_index("dataset")["n"]
    con.close()
    per = rows.groupby("dataset").size()
    assert per.to_dict() == {d: min(20, int(n)) for d, n in eligible.items()}
    assert (rows["n_tokens"] <= 32).all() and (rows["n_tokens"] == rows["item_tokens"]).all()
    for r in rows.itertuples():
        pair = r.dataset == "sts"
        assert r.is_pair == pair and r.dtype == "float16" and r.scale == 1
        tokens, ref = reference_attentions(tiny_model_dir, r.text, r.text_b if pair else None)
        assert list(r.tokens) == tokens and (r.n_layers, r.n_heads, r.n_tokens) == ref.shape[:3]
        assert len(r.weights) == ref.size * 2
        back = unpack(r.weights, r.dtype, r.scale, r.n_layers, r.n_heads, r.n_tokens)
        err = float(np.abs(back - ref).max())
        # the recorded error is the stage's own float16 rounding; the reference differs from the stage's
        # float32 weights by float noise only
        assert err <= r.max_error + 1e-6 and r.max_error <= 2.0 ** -12


def test_examples_settings_are_checked():
    from pipeline.stages.attention import AttentionConfig, example_rows

    with pytest.raises(PipelineError, match="attention.examples_dtype must be one of"):
        AttentionConfig(examples_dtype="int4")
    with pytest.raises(PipelineError, match="attention.examples must be an integer >= 0"):
        AttentionConfig(examples=-1)
    lengths = np.array([5, 30, 7, 8, 9, 70, 6])
    picked = example_rows(np.arange(7) * 10, lengths, 3, 10, 0, "d")
    assert len(picked) == 3 and set(picked) <= {0, 2, 3, 4, 6} and list(picked) == sorted(picked)
    assert list(example_rows(np.arange(7), lengths, 9, 10, 0, "d")) == [0, 2, 3, 4, 6]
    assert list(picked) == list(example_rows(np.arange(7) * 10, lengths, 3, 10, 0, "d"))  # seeded


def test_frames_are_the_array():
    rng = np.random.default_rng(1)
    att = rng.random((2, 3, 5, 5)).astype(np.float32)
    tokens = ["[CLS]", "a", "b", "a", "[SEP]"]
    long = weights_frame(att, tokens)
    assert len(long) == att.size
    for r in long.sample(20, random_state=0).itertuples():
        assert r.weight == att[r.layer - 1, r.head, r.from_index, r.to_index]
        assert (r.from_token, r.to_token) == (tokens[r.from_index], tokens[r.to_index])
    one = weights_frame(att, tokens, layers=[2], heads=[1])
    assert np.array_equal(one["weight"].to_numpy().reshape(5, 5), att[1, 1])
    assert labels(tokens)[3] == "3 a" and len(set(labels(tokens))) == 5
    lines = lines_frame(att[0, 2], tokens, 0.5)
    assert len(lines) == int((att[0, 2] >= 0.5).sum())
    assert np.array_equal(lines["weight"].to_numpy(), att[0, 2][att[0, 2] >= 0.5])


def test_grid_pools_long_items_into_block_means():
    rng = np.random.default_rng(2)
    att = rng.random((1, 2, 7, 7)).astype(np.float32)
    full, b = grid_frame(att, max_bins=8)
    assert b == 1 and np.array_equal(full["weight"].to_numpy(), att.ravel())
    pooled, b = grid_frame(att, max_bins=3)  # blocks of 3 tokens: [0-2], [3-5], [6]
    assert b == 3 and len(pooled) == 2 * 3 * 3
    blocks = [slice(0, 3), slice(3, 6), slice(6, 7)]
    expected = pd.DataFrame([(1, h, i, j, float(att[0, h, bi, bj].mean())) for h in range(2)
                             for i, bi in enumerate(blocks) for j, bj in enumerate(blocks)],
                            columns=["layer", "head", "i", "j", "weight"])
    np.testing.assert_allclose(pooled["weight"], expected["weight"], rtol=1e-6)
    assert pooled[["layer", "head", "i", "j"]].values.tolist() == expected[["layer", "head", "i", "j"]].values.tolist()
