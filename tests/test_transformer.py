"""The transformer runner on the tiny random BERT, checked against the Hugging Face model run independently."""
from __future__ import annotations

import random
import shutil
from collections import Counter

import numpy as np
import pytest
import torch

from pipeline.config import ModelSpec
from pipeline.errors import PipelineError
from pipeline.models import make_runner, runner_info
from pipeline.models.transformer import TransformerRunner, layer_name, resolve_model_path

TEXTS = [
    "What is the capital city of France?",
    "The home team won the final in front of a record crowd.",
    "Why do cats sleep?",
    "Shares in the bank fell sharply after the report was published, the paper said on Monday.",
    "A dog.",
    "How long does it take to boil an egg in the kitchen of an old house near the river?",
    "The young player scored twice in the second half.",
    "Rain.",
    "Officials said the water in the river was safe to drink again after the storm.",
    "Who wrote the first modern novel?",
    "Workers at the port will strike for two days next week.",
]
LONG = " ".join(["the old bridge over the river was opened by the mayor"] * 8)  # > 32 WordPieces


@pytest.fixture(scope="module")
def runner(tiny_model_dir):
    return TransformerRunner(ModelSpec("tiny", "transformer", str(tiny_model_dir), max_length=32, batch_size=4))


@pytest.fixture(scope="module")
def reference(tiny_model_dir):
    """The same weights and tokenizer, loaded directly with transformers (eager attention)."""
    from transformers import AutoTokenizer, BertModel

    tok = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    model = BertModel.from_pretrained(str(tiny_model_dir), attn_implementation="eager").eval()
    return tok, model


def hidden_alone(reference, text, max_length=32):
    """hidden_states for one text run on its own (no padding): list of [T, H] arrays, and the mask [T]."""
    tok, model = reference
    enc = tok(text, truncation=True, max_length=max_length, return_tensors="pt")
    with torch.inference_mode():
        hs = model(**enc, output_hidden_states=True).hidden_states
    return [h[0].numpy() for h in hs], enc["attention_mask"][0].numpy()


@pytest.fixture(scope="module")
def encoded(runner):
    return runner.encode(TEXTS)


def test_shapes_and_types(runner, encoded):
    assert runner.n_layers == 3 and runner.hidden_size == 32
    assert encoded.vectors.shape == (3, 2, len(TEXTS), 32)
    assert encoded.vectors.dtype == np.float32
    assert encoded.n_tokens.shape == (len(TEXTS),) and encoded.n_tokens.dtype == np.int64
    assert encoded.truncated.dtype == bool and not encoded.truncated.any()
    assert len(encoded.token_counts) == len(TEXTS)
    assert np.isfinite(encoded.vectors).all()
    assert runner.poolings == ("cls", "mean")


def test_layer_names_hook_style(runner):
    assert runner.layer_names == ["hook_embed", "blocks.0.hook_resid_post", "blocks.1.hook_resid_post"]
    assert layer_name(0) == "hook_embed" and layer_name(12) == "blocks.11.hook_resid_post"
    info = runner_info(runner)
    assert info == {"model_name": info["model_name"], "n_layers": 3, "hidden_size": 32, "n_heads": 2}
    assert runner.describe()["n_heads"] == 2


def test_cls_matches_hf_hidden_states_one_sentence_at_a_time(encoded, reference):
    for i, text in enumerate(TEXTS):
        hs, _ = hidden_alone(reference, text)
        for layer in range(3):
            np.testing.assert_allclose(encoded.vectors[layer, 0, i], hs[layer][0], atol=1e-5,
                                       err_msg=f"text {i} layer {layer}")


def test_mean_is_mask_aware_mean_of_hidden_states(encoded, reference):
    for i, text in enumerate(TEXTS):
        hs, mask = hidden_alone(reference, text)
        assert mask.sum() == encoded.n_tokens[i]
        for layer in range(3):
            m = mask[:, None].astype(np.float64)
            expected = (hs[layer] * m).sum(0) / m.sum()
            np.testing.assert_allclose(encoded.vectors[layer, 1, i], expected, atol=1e-5)
            # and the mean is not the CLS vector
            assert not np.allclose(encoded.vectors[layer, 1, i], encoded.vectors[layer, 0, i], atol=1e-3)


def test_order_is_restored(runner, encoded):
    perm = list(range(len(TEXTS)))
    random.Random(3).shuffle(perm)
    shuffled = runner.encode([TEXTS[j] for j in perm])
    np.testing.assert_allclose(shuffled.vectors, encoded.vectors[:, :, perm], atol=1e-5)
    np.testing.assert_array_equal(shuffled.n_tokens, encoded.n_tokens[perm])
    assert shuffled.token_counts == [encoded.token_counts[j] for j in perm]


def test_padding_invariance(runner):
    short = "Rain."
    alone = runner.encode([short])
    batched = runner.encode([LONG, "A dog.", short, "Why do cats sleep for most of the day?"])
    np.testing.assert_allclose(batched.vectors[:, :, 2], alone.vectors[:, :, 0], atol=1e-5)


def test_batch_size_does_not_change_results(tiny_model_dir, encoded):
    one = TransformerRunner(ModelSpec("b1", "transformer", str(tiny_model_dir), max_length=32, batch_size=1))
    np.testing.assert_allclose(one.encode(TEXTS).vectors, encoded.vectors, atol=1e-5)


def test_token_counts_by_hand(encoded, reference):
    tok, _ = reference
    for i, text in enumerate(TEXTS):
        pieces = tok.tokenize(text)
        assert encoded.token_counts[i] == Counter(pieces)
        assert encoded.n_tokens[i] == len(pieces) + 2  # [CLS] ... [SEP]
        assert not any(p in ("[CLS]", "[SEP]", "[PAD]") for p in encoded.token_counts[i])
    # a word outside the vocabulary splits into ## pieces, which keep their prefix
    assert tok.tokenize("zebra") == ["z", "##e", "##b", "##r", "##a"]


def test_long_text_is_truncated(runner, reference):
    tok, _ = reference
    enc = runner.encode(["A dog.", LONG])
    pieces = tok.tokenize(LONG)
    assert enc.n_tokens[1] == len(pieces) + 2 > runner.max_length
    assert enc.truncated.tolist() == [False, True]
    # counts cover the whole text, not the first 32 pieces
    assert enc.token_counts[1] == Counter(pieces) and enc.token_counts[1]["the"] == 24
    # the vector is that of the first 30 pieces between [CLS] and [SEP]
    hs, mask = hidden_alone(reference, LONG, max_length=32)
    assert mask.shape == (32,)
    for layer in range(3):
        np.testing.assert_allclose(enc.vectors[layer, 0, 1], hs[layer][0], atol=1e-5)
        np.testing.assert_allclose(enc.vectors[layer, 1, 1], hs[layer].mean(0), atol=1e-5)


def test_max_length_beyond_positions_is_refused(tiny_model_dir):
    with pytest.raises(PipelineError, match="max_length 512 exceeds the model's 128 positions"):
        TransformerRunner(ModelSpec("big", "transformer", str(tiny_model_dir), max_length=512))


def test_make_runner(tiny_model_dir):
    r = make_runner(ModelSpec("t", "transformer", str(tiny_model_dir), max_length=16))
    assert isinstance(r, TransformerRunner) and r.max_length == 16
    # a transformer's folder given as an LSTM: read as a user's LSTM folder, which it is not (no vocab.json)
    with pytest.raises(PipelineError, match="no LSTM weights|LSTM vocabulary"):
        make_runner(ModelSpec("l", "lstm", str(tiny_model_dir)))


def test_resolve_model_path_checks_folders(tiny_model_dir, tmp_path):
    assert resolve_model_path(str(tiny_model_dir)) == str(tiny_model_dir)
    assert resolve_model_path("some-org/some-model") == "some-org/some-model"  # a hub id, left as is
    f = tmp_path / "file.bin"
    f.write_bytes(b"x")
    with pytest.raises(PipelineError, match="not a folder"):
        resolve_model_path(str(f))
    with pytest.raises(PipelineError, match="not a folder"):
        resolve_model_path("./no/such/folder")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(PipelineError, match="no config.json"):
        resolve_model_path(str(empty))
    sharded = tmp_path / "sharded"
    sharded.mkdir()
    shutil.copy(tiny_model_dir / "config.json", sharded / "config.json")
    with pytest.raises(PipelineError, match="no weights"):
        resolve_model_path(str(sharded))
    (sharded / "model-00001-of-00002.safetensors").write_bytes(b"")
    assert resolve_model_path(str(sharded)) == str(sharded)


def test_token_states_match_hf_per_piece_without_specials(runner, reference):
    texts = [TEXTS[0], LONG, TEXTS[1]]
    states = runner.token_states(texts)
    tok, _ = reference
    for text, st in zip(texts, states):
        hs, _ = hidden_alone(reference, text)
        enc = tok(text, truncation=True, max_length=32, return_offsets_mapping=True)
        ids = enc["input_ids"][1:-1]  # [CLS] ... [SEP]
        assert st.units == tok.convert_ids_to_tokens(ids)
        assert st.offsets.tolist() == [list(o) for o in enc["offset_mapping"][1:-1]]
        assert st.states.shape == (runner.n_layers, len(ids), runner.hidden_size)
        for layer in range(runner.n_layers):
            np.testing.assert_allclose(st.states[layer], hs[layer][1:-1], rtol=1e-4, atol=1e-5)
        # every offset points at the text the piece came from
        for unit, (a, b) in zip(st.units, st.offsets):
            assert text[a:b].lower() == unit.removeprefix("##")
    assert len(states[1].units) == 30  # 32 minus [CLS] and [SEP]: cut like encode
