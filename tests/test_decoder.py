"""The decoder runner on tiny random GPT-2, Llama and GPT-NeoX models saved to disk like a user's folder.

Each model is a 2-block, 32-wide random causal LM saved with ``save_pretrained`` (the LM-head class, as a hub
checkpoint is) next to a byte-level BPE tokenizer trained here on a few sentences. The references are the
same folders loaded independently with the ``*ForCausalLM`` classes and run one sentence at a time, unpadded.
"""
from __future__ import annotations

import random
from collections import Counter

import numpy as np
import pytest
import torch

from pipeline.config import ModelSpec
from pipeline.errors import PipelineError
from pipeline.models import detect_kind, make_runner, runner_info
from pipeline.models import decoder as decoder_mod
from pipeline.models.decoder import DecoderRunner, mlp_site
from pipeline.models.transformer import TransformerRunner
from tests.test_transformer import LONG, TEXTS

ARCHS = ("gpt2", "llama", "gpt_neox")
D_MLP = {"gpt2": 128, "llama": 64, "gpt_neox": 64}


def make_tokenizer(bos: bool):
    """A byte-level BPE trained on TEXTS: GPT-2 style (eos only, nothing added, no pad token) or Llama style
    (a BOS added in front of every text, eos, no pad token)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["<s>", "</s>"] if bos else ["<|endoftext|>"]
    tk = Tokenizer(models.BPE())
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = decoders.ByteLevel()
    tk.train_from_iterator(TEXTS * 3 + [LONG], trainers.BpeTrainer(
        vocab_size=400, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False))
    post = [processors.ByteLevel(trim_offsets=True)]
    if bos:
        post.append(processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", tk.token_to_id("<s>"))]))
    tk.post_processor = processors.Sequence(post)
    if bos:
        return PreTrainedTokenizerFast(tokenizer_object=tk, bos_token="<s>", eos_token="</s>")
    return PreTrainedTokenizerFast(tokenizer_object=tk, eos_token="<|endoftext|>")


def make_model(arch: str, vocab: int, eos: int):
    from transformers import (GPT2Config, GPT2LMHeadModel, GPTNeoXConfig, GPTNeoXForCausalLM, LlamaConfig,
                              LlamaForCausalLM)

    torch.manual_seed(0)
    if arch == "gpt2":
        return GPT2LMHeadModel(GPT2Config(vocab_size=vocab, n_positions=128, n_embd=32, n_layer=2, n_head=2,
                                          bos_token_id=eos, eos_token_id=eos))
    if arch == "llama":  # grouped-query attention (2 query heads, 1 key/value head) and a gated MLP
        return LlamaForCausalLM(LlamaConfig(vocab_size=vocab, hidden_size=32, intermediate_size=64,
                                            num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1,
                                            max_position_embeddings=128, bos_token_id=0, eos_token_id=eos))
    return GPTNeoXForCausalLM(GPTNeoXConfig(vocab_size=vocab, hidden_size=32, intermediate_size=64,
                                            num_hidden_layers=2, num_attention_heads=2, rotary_pct=0.5,
                                            max_position_embeddings=128, bos_token_id=eos, eos_token_id=eos))


@pytest.fixture(scope="session")
def decoder_dirs(tmp_path_factory):
    """arch -> a folder with a random 2-block causal LM and its tokenizer, as save_pretrained writes them."""
    out = {}
    for arch in ARCHS:
        tok = make_tokenizer(bos=arch == "llama")
        model = make_model(arch, len(tok), tok.eos_token_id).eval()
        folder = tmp_path_factory.mktemp(f"tiny-{arch}")
        model.save_pretrained(str(folder))
        tok.save_pretrained(str(folder))
        out[arch] = folder
    return out


def spec(folder, run_id="dec", **kw):
    kw.setdefault("max_length", 32)
    kw.setdefault("batch_size", 4)
    return ModelSpec(run_id, "decoder", str(folder), **kw)


@pytest.fixture(scope="module", params=ARCHS)
def arch(request):
    return request.param


@pytest.fixture(scope="module")
def runner(arch, decoder_dirs):
    return DecoderRunner(spec(decoder_dirs[arch]))


@pytest.fixture(scope="module")
def reference(arch, decoder_dirs):
    """The same folder loaded independently: the LM-head class and the tokenizer as saved (no pad token)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = str(decoder_dirs[arch])
    return AutoTokenizer.from_pretrained(folder), AutoModelForCausalLM.from_pretrained(folder).eval()


def base(model):
    return model.base_model  # GPT2Model / LlamaModel / GPTNeoXModel inside the LM-head class


def blocks_of(model):
    b = base(model)
    return b.h if hasattr(b, "h") else b.layers


def final_norm(model):
    b = base(model)
    for name in ("ln_f", "norm", "final_layer_norm"):
        if hasattr(b, name):
            return getattr(b, name)
    raise AssertionError(type(b))


def alone(reference, text, max_length=32):
    """One text run on its own, unpadded, by the reference model: a dict of
    hs:      transformers' hidden_states, list of [T, H] (the last one after the final norm);
    raw:     the last block's own output [T, H] (before the final norm), from a hook on that block;
    mlp_in:  per block, the MLP module's input [T, H]; mlp_out: per block, its output [T, H];
    own:     bool [T], the positions that are not special tokens."""
    tok, model = reference
    enc = tok(text, truncation=True, max_length=max_length, return_tensors="pt", return_special_tokens_mask=True)
    got: dict = {"mlp_in": {}, "mlp_out": {}}
    blocks = blocks_of(model)

    def keep_mlp(i):
        def hook(m, args, out):
            got["mlp_in"][i], got["mlp_out"][i] = args[0][0].numpy().copy(), out[0].numpy().copy()
        return hook

    def keep_raw(m, args, out):
        got["raw"] = (out[0] if isinstance(out, tuple) else out)[0].numpy().copy()

    handles = [block.mlp.register_forward_hook(keep_mlp(i)) for i, block in enumerate(blocks)]
    handles.append(blocks[-1].register_forward_hook(keep_raw))
    try:
        with torch.inference_mode():
            hs = model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"],
                       output_hidden_states=True).hidden_states
    finally:
        for h in handles:
            h.remove()
    n = len(blocks)
    return {"hs": [h[0].numpy() for h in hs], "raw": got["raw"],
            "mlp_in": [got["mlp_in"][i] for i in range(n)], "mlp_out": [got["mlp_out"][i] for i in range(n)],
            "own": enc["special_tokens_mask"][0].numpy() == 0}


def mlp_post_by_hand(arch, model, block: int, x: np.ndarray) -> np.ndarray:
    """The MLP's hidden activations from its input x [T, H], in numpy from the weights."""
    mlp = blocks_of(model)[block].mlp
    w = {k: v.detach().numpy().astype(np.float64) for k, v in mlp.state_dict().items()}
    x = x.astype(np.float64)
    if arch == "gpt2":  # Conv1D weights are [in, out]; gelu_new is the tanh approximation
        z = x @ w["c_fc.weight"] + w["c_fc.bias"]
        return 0.5 * z * (1 + np.tanh(np.sqrt(2 / np.pi) * (z + 0.044715 * z ** 3)))
    if arch == "llama":  # silu(gate) * up
        g, u = x @ w["gate_proj.weight"].T, x @ w["up_proj.weight"].T
        return g / (1 + np.exp(-g)) * u
    from scipy.special import erf  # GPT-NeoX: exact gelu

    z = x @ w["dense_h_to_4h.weight"].T + w["dense_h_to_4h.bias"]
    return 0.5 * z * (1 + erf(z / np.sqrt(2)))


def mlp_down_by_hand(arch, model, block: int, post: np.ndarray) -> np.ndarray:
    mlp = blocks_of(model)[block].mlp
    w = {k: v.detach().numpy().astype(np.float64) for k, v in mlp.state_dict().items()}
    if arch == "gpt2":
        return post @ w["c_proj.weight"] + w["c_proj.bias"]
    if arch == "llama":
        return post @ w["down_proj.weight"].T
    return post @ w["dense_4h_to_h.weight"].T + w["dense_4h_to_h.bias"]


@pytest.fixture(scope="module")
def encoded(runner):
    return runner.encode(TEXTS)


# --- shapes, names, loading --------------------------------------------------------------------------------

def test_shapes_names_and_sites(arch, runner, encoded):
    assert runner.kind == "decoder" and runner.poolings == ("last", "mean", "max")
    assert runner.layer_names == ["hook_embed", "blocks.0.hook_resid_post", "blocks.1.hook_resid_post"]
    assert runner.hidden_size == 32 and runner.n_layers == 3 and runner.n_heads == 2
    assert runner.sites == {"blocks.0.mlp.hook_post": D_MLP[arch], "blocks.1.mlp.hook_post": D_MLP[arch]}
    assert encoded.vectors.shape == (3, 3, len(TEXTS), 32) and encoded.vectors.dtype == np.float32
    assert list(encoded.sites) == [mlp_site(0), mlp_site(1)]
    for x in encoded.sites.values():
        assert x.shape == (3, len(TEXTS), D_MLP[arch]) and x.dtype == np.float32 and x.flags.c_contiguous
    assert np.isfinite(encoded.vectors).all() and all(np.isfinite(x).all() for x in encoded.sites.values())
    info = runner_info(runner)
    assert info["n_layers"] == 3 and info["hidden_size"] == 32 and info["n_heads"] == 2
    assert runner.describe()["sites"] == runner.sites


def test_pad_token_is_eos_when_the_tokenizer_has_none(runner, reference):
    tok, _ = reference
    assert tok.pad_token is None  # as saved: GPT-2-style tokenizers have no pad token
    assert runner.tokenizer.pad_token == tok.eos_token
    assert runner.tokenizer.padding_side == "right"


def test_make_runner_and_detect_kind(decoder_dirs, tiny_model_dir):
    r = make_runner(spec(decoder_dirs["gpt2"], max_length=16))
    assert isinstance(r, DecoderRunner) and r.max_length == 16
    assert {detect_kind(str(decoder_dirs[a])) for a in ARCHS} == {"decoder"}
    assert detect_kind(str(tiny_model_dir)) == "transformer"


def test_kind_mismatch_is_refused_with_the_fix(decoder_dirs, tiny_model_dir):
    with pytest.raises(PipelineError, match=r"is a causal LM \(model type 'gpt2'\); set kind = \"decoder\""):
        TransformerRunner(ModelSpec("t", "transformer", str(decoder_dirs["gpt2"])))
    with pytest.raises(PipelineError, match=r"model type 'bert', not a causal LM; use kind = \"transformer\""):
        DecoderRunner(spec(tiny_model_dir))


def test_unknown_architecture_names_the_model_type(decoder_dirs, monkeypatch):
    monkeypatch.setattr(decoder_mod, "MLP_INPUTS", {k: v for k, v in decoder_mod.MLP_INPUTS.items() if k != "gpt2"})
    with pytest.raises(PipelineError) as e:
        DecoderRunner(spec(decoder_dirs["gpt2"]))
    msg = str(e.value)
    assert "\n" not in msg and "model type 'gpt2'" in msg and "GPT2Block has no mlp.down_proj" in msg
    assert 'sites = ["resid"]' in msg
    # without MLP sites the residual stream still runs
    r = DecoderRunner(spec(decoder_dirs["gpt2"]), mlp=False)
    enc = r.encode(TEXTS[:3])
    assert r.sites == {} and enc.sites is None and enc.vectors.shape == (3, 3, 3, 32)
    # and so does the run of a spec with sites = ["resid"], the setting the message names
    run = make_runner(ModelSpec("r", "decoder", str(decoder_dirs["gpt2"]), sites=["resid"]))
    np.testing.assert_array_equal(run.encode(TEXTS[:3]).vectors, enc.vectors)


def test_max_length_beyond_positions_is_refused(decoder_dirs):
    with pytest.raises(PipelineError, match="max_length 512 exceeds the model's 128 positions"):
        DecoderRunner(spec(decoder_dirs["gpt2"], max_length=512))
    with pytest.raises(PipelineError, match="padding_side must be left or right"):
        DecoderRunner(spec(decoder_dirs["gpt2"]), padding_side="middle")


# --- the sites against transformers' own outputs ------------------------------------------------------------

def test_hooked_residual_equals_output_hidden_states(arch, runner, reference):
    """token_states' residual sites are the block outputs: hidden_states[l + 1] for every block but the last,
    whose hidden_states entry has the final norm applied; the hook keeps the raw residual."""
    _, model = reference
    texts = [TEXTS[0], TEXTS[2], TEXTS[3]]
    states = runner.token_states(texts)
    for text, st in zip(texts, states):
        a = alone(reference, text)
        hs, own = a["hs"], a["own"]
        assert st.states.shape == (3, own.sum(), 32)
        for layer in range(2):
            np.testing.assert_allclose(st.states[layer], hs[layer][own], rtol=1e-5, atol=1e-5)
        with torch.inference_mode():
            normed = final_norm(model)(torch.from_numpy(st.states[2])).numpy()
        np.testing.assert_allclose(normed, hs[2][own], rtol=1e-4, atol=1e-5)
        assert not np.allclose(st.states[2], hs[2][own], atol=1e-3)  # raw, not normed
        np.testing.assert_allclose(st.states[2], a["raw"][own], rtol=1e-5, atol=1e-5)


def test_mlp_hook_equals_a_manual_forward_of_the_mlp(arch, runner, reference):
    """blocks.{l}.mlp.hook_post is act(W_in x) (act(gate x) * up x for Llama) of the MLP's input x, computed in
    numpy from the weights; and the MLP's output projection of it is the MLP's output."""
    _, model = reference
    texts = [TEXTS[1], TEXTS[4], LONG]
    states = runner.token_states(texts)
    for text, st in zip(texts, states):
        a = alone(reference, text)
        mlp_in, mlp_out, own = a["mlp_in"], a["mlp_out"], a["own"]
        for b in range(2):
            post = mlp_post_by_hand(arch, model, b, mlp_in[b])
            got = st.sites[mlp_site(b)]
            assert got.shape == (own.sum(), D_MLP[arch])
            np.testing.assert_allclose(got, post[own], rtol=1e-4, atol=1e-6)
            np.testing.assert_allclose(mlp_down_by_hand(arch, model, b, post), mlp_out[b], rtol=1e-4, atol=1e-6)


def test_poolings_by_hand_over_real_tokens_only(arch, runner, encoded, reference):
    """last / mean / max of every site, for texts batched with padding, equal the same poolings computed in
    numpy over the text's own tokens of an unpadded run (no padding, no BOS)."""
    _, model = reference
    for i, text in enumerate(TEXTS):
        a = alone(reference, text)
        mlp_in, own = a["mlp_in"], a["own"]
        for layer, h in enumerate([a["hs"][0], a["hs"][1], a["raw"]]):
            x = h[own]
            np.testing.assert_allclose(encoded.vectors[layer, 0, i], x[-1], rtol=1e-5, atol=1e-5)
            np.testing.assert_allclose(encoded.vectors[layer, 1, i], x.mean(0), rtol=1e-5, atol=1e-5)
            np.testing.assert_allclose(encoded.vectors[layer, 2, i], x.max(0), rtol=1e-5, atol=1e-5)
        for b in range(2):
            post = mlp_post_by_hand(arch, model, b, mlp_in[b])[own]
            site = encoded.sites[mlp_site(b)]
            np.testing.assert_allclose(site[0, i], post[-1], rtol=1e-4, atol=1e-6)
            np.testing.assert_allclose(site[1, i], post.mean(0), rtol=1e-4, atol=1e-6)
            np.testing.assert_allclose(site[2, i], post.max(0), rtol=1e-4, atol=1e-6)
    assert not np.allclose(encoded.vectors[1, 0], encoded.vectors[1, 1], atol=1e-3)  # last is not the mean


@pytest.mark.parametrize("side", ["right", "left"])
def test_last_token_under_padding_equals_each_text_alone(arch, decoder_dirs, reference, side):
    r = DecoderRunner(spec(decoder_dirs[arch], batch_size=len(TEXTS)), padding_side=side)
    assert r.tokenizer.padding_side == side
    batched = r.encode(TEXTS)  # one batch: every text but the longest is padded
    lengths = [len(x) for x in r.tokenizer(TEXTS)["input_ids"]]
    assert len(set(lengths)) > 3
    for i, text in enumerate(TEXTS):
        one = r.encode([text])
        np.testing.assert_allclose(batched.vectors[:, :, i], one.vectors[:, :, 0], rtol=1e-4, atol=1e-5)
        for name in r.sites:
            np.testing.assert_allclose(batched.sites[name][:, i], one.sites[name][:, 0], rtol=1e-4, atol=1e-5)
        # and the last real token of the unpadded reference run
        a = alone(reference, text)
        np.testing.assert_allclose(batched.vectors[1, 0, i], a["hs"][1][a["own"]][-1], rtol=1e-4, atol=1e-5)
    # the padded batch's last column is a pad for the short texts under right padding: pooling it would differ
    if side == "right":
        tok = r.tokenizer
        with torch.inference_mode():
            enc = tok.pad({"input_ids": tok(TEXTS)["input_ids"]}, return_tensors="pt")
            col = base(reference[1])(**enc, output_hidden_states=True).hidden_states[1][:, -1].numpy()
        short = int(np.argmin(lengths))
        assert not np.allclose(col[short], batched.vectors[1, 0, short], atol=1e-3)


# --- the loop -----------------------------------------------------------------------------------------------

def test_order_is_restored_and_batch_size_is_irrelevant(runner, encoded, decoder_dirs, arch):
    perm = list(range(len(TEXTS)))
    random.Random(5).shuffle(perm)
    shuffled = runner.encode([TEXTS[j] for j in perm])
    np.testing.assert_allclose(shuffled.vectors, encoded.vectors[:, :, perm], rtol=1e-5, atol=1e-5)
    for name in runner.sites:
        np.testing.assert_allclose(shuffled.sites[name], encoded.sites[name][:, perm], rtol=1e-5, atol=1e-5)
    assert shuffled.token_counts == [encoded.token_counts[j] for j in perm]
    one = DecoderRunner(spec(decoder_dirs[arch], batch_size=1)).encode(TEXTS)
    np.testing.assert_allclose(one.vectors, encoded.vectors, rtol=1e-4, atol=1e-5)


def test_token_counts_lengths_and_truncation(arch, runner, reference):
    tok, _ = reference
    enc = runner.encode(["A dog.", LONG])
    bos = 1 if arch == "llama" else 0
    for i, text in enumerate(["A dog.", LONG]):
        pieces = tok.tokenize(text)
        assert enc.token_counts[i] == Counter(pieces)
        assert enc.n_tokens[i] == len(pieces) + bos
    assert enc.truncated.tolist() == [False, True] and enc.n_tokens[1] > runner.max_length
    # the long text's vectors are those of its first max_length tokens
    a = alone(reference, LONG, max_length=runner.max_length)
    assert len(a["own"]) == runner.max_length
    np.testing.assert_allclose(enc.vectors[1, 1, 1], a["hs"][1][a["own"]].mean(0), rtol=1e-5, atol=1e-5)


def test_token_states_units_and_offsets(arch, runner, reference):
    tok, _ = reference
    texts = [TEXTS[0], LONG]
    for text, st in zip(texts, runner.token_states(texts)):
        ids = tok(text, truncation=True, max_length=32, add_special_tokens=False)["input_ids"]
        ids = ids[:32 - (arch == "llama")]
        assert st.units == tok.convert_ids_to_tokens(ids)
        assert len(st.offsets) == len(st.units)
        for unit, (a, b) in zip(st.units, st.offsets):
            assert text[a:b] == tok.convert_tokens_to_string([unit]).strip()
        assert set(st.sites) == set(runner.sites)


def test_token_states_do_not_depend_on_the_padding_side(arch, runner, decoder_dirs):
    left = DecoderRunner(spec(decoder_dirs[arch]), padding_side="left")
    texts = [TEXTS[3], TEXTS[4], TEXTS[2]]  # one batch of 3 different lengths
    for a, b in zip(runner.token_states(texts), left.token_states(texts)):
        assert a.units == b.units
        np.testing.assert_allclose(b.states, a.states, rtol=1e-4, atol=1e-5)
        for name in a.sites:
            np.testing.assert_allclose(b.sites[name], a.sites[name], rtol=1e-4, atol=1e-5)


def test_an_empty_text_gives_finite_vectors(arch, runner):
    enc = runner.encode(["", "A dog."])
    assert enc.n_tokens[0] == (1 if arch == "llama" else 0)  # only the BOS, or nothing at all
    assert np.isfinite(enc.vectors).all() and all(np.isfinite(x).all() for x in enc.sites.values())
    np.testing.assert_allclose(enc.vectors[:, :, 1], runner.encode(["A dog."]).vectors[:, :, 0], rtol=1e-5,
                               atol=1e-5)


def test_cli_model_kind_is_read_from_the_folder(decoder_dirs, tiny_model_dir):
    from pipeline.cli import config_from_args, parser

    def kind(*extra):
        args = parser().parse_args(["build", "--dataset", "name=a,source=demo,path=movies", *extra])
        return config_from_args(args).models[0].kind

    assert kind("--model", str(decoder_dirs["gpt2"])) == "decoder"
    assert kind("--model", str(tiny_model_dir)) == "transformer"
    assert kind("--model", "some-org/not-here") == "transformer"  # a hub id: its load names kind = "decoder"
    assert kind("--model", str(tiny_model_dir), "--kind", "decoder") == "decoder"
