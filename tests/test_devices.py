"""Devices and dtypes: the ModelSpec settings, their resolution on this machine, and the dtype plumbing on CPU.

CUDA and MPS are absent here, so the GPU branches are checked by faking ``torch.cuda`` / ``torch.backends.mps``
availability for the resolution functions only (no tensor is ever put on a GPU). The dtype plumbing is real:
both HF runners load their weights in bfloat16 on the CPU and must hand back float32 close to a float32 run.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from pipeline.config import ModelSpec
from pipeline.errors import PipelineError
from pipeline.models import make_runner
from pipeline.models.decoder import DecoderRunner
from pipeline.models.torch_utils import resolve_device, resolve_dtype
from pipeline.models.transformer import TransformerRunner
from tests.test_decoder import make_model, make_tokenizer
from tests.test_transformer import TEXTS

# bfloat16 keeps 8 significant bits (a relative step of 2^-8 = 0.39%): the stored float32 values of a
# bfloat16 run must lie within 2% of the block's largest magnitude of the float32 run's values (a few steps,
# accumulated over two blocks), and correlate with them above 0.999.
BF16_REL = 0.02


@pytest.fixture(scope="module")
def gpt2_dir(tmp_path_factory):
    tok = make_tokenizer(bos=False)
    folder = tmp_path_factory.mktemp("tiny-gpt2-dev")
    make_model("gpt2", len(tok), tok.eos_token_id).save_pretrained(str(folder))
    tok.save_pretrained(str(folder))
    return folder


def no_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)


# --- ModelSpec --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("device", ["auto", "cpu", "cuda", "cuda:0", "cuda:3", "mps"])
def test_spec_accepts_devices(device):
    m = ModelSpec("m", "transformer", "x", device=device, dtype="bfloat16")
    assert m.device == device and m.dtype == "bfloat16"


@pytest.mark.parametrize("device", ["gpu", "cuda:", "cuda:x", "CPU", "tpu", "", 0])
def test_spec_refuses_other_devices(device):
    with pytest.raises(PipelineError, match=r"model 'm': device must be auto, cpu, cuda, cuda:N or mps, got"):
        ModelSpec("m", "decoder", "x", device=device)


def test_spec_defaults_and_dtypes():
    m = ModelSpec("m", "decoder", "x")
    assert (m.device, m.dtype) == ("auto", "auto")
    with pytest.raises(PipelineError, match=r"dtype must be one of auto, float32, float16, bfloat16, got 'half'"):
        ModelSpec("m", "transformer", "x", dtype="half")
    with pytest.raises(PipelineError, match=r"the LSTM runner runs on the CPU in float32 only"):
        ModelSpec("l", "lstm", "packaged:textgenrnn", device="cuda")
    assert ModelSpec("l", "lstm", "packaged:textgenrnn", device="cpu", dtype="float32").device == "cpu"


# --- resolution ---------------------------------------------------------------------------------------------

def test_auto_is_the_cpu_here_and_cuda_or_mps_when_present(monkeypatch):
    no_gpu(monkeypatch)
    assert resolve_device("auto", "m") == torch.device("cpu")
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert resolve_device("auto", "m") == torch.device("mps")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto", "m") == torch.device("cuda")
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert resolve_device("cuda:1", "m") == torch.device("cuda", 1)


def test_missing_devices_fail_with_one_line_naming_the_setting(monkeypatch):
    no_gpu(monkeypatch)
    for device in ("cuda", "cuda:1"):
        with pytest.raises(PipelineError) as e:
            resolve_device(device, "gpt")
        assert str(e.value) == (f"model 'gpt': device '{device}' asked for but torch.cuda.is_available() "
                                f"is false")
    with pytest.raises(PipelineError, match=r"^model 'gpt': device 'mps' asked for but "
                                            r"torch.backends.mps.is_available\(\) is false$"):
        resolve_device("mps", "gpt")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(PipelineError, match=r"^model 'gpt': device 'cuda:1' asked for but only 1 CUDA device"):
        resolve_device("cuda:1", "gpt")


def test_dtype_resolution():
    cpu, cuda, mps = torch.device("cpu"), torch.device("cuda"), torch.device("mps")
    assert resolve_dtype("auto", cpu, "m") == torch.float32
    assert resolve_dtype("auto", cuda, "m") == torch.float16
    assert resolve_dtype("auto", mps, "m") == torch.float32
    assert resolve_dtype("bfloat16", cpu, "m") == torch.bfloat16
    assert resolve_dtype("float16", cuda, "m") == torch.float16
    assert resolve_dtype("bfloat16", cuda, "m") == torch.bfloat16
    with pytest.raises(PipelineError, match=r"^model 'm': dtype 'float16' needs a GPU \(device resolved to "
                                            r"'cpu'\); use float32 or bfloat16 on the CPU$"):
        resolve_dtype("float16", cpu, "m")


# --- the runners ----------------------------------------------------------------------------------------------

def test_a_cuda_device_where_none_exists_stops_both_runners(monkeypatch, tiny_model_dir, gpt2_dir):
    no_gpu(monkeypatch)
    with pytest.raises(PipelineError, match=r"^model 'enc': device 'cuda' asked for but "):
        TransformerRunner(ModelSpec("enc", "transformer", str(tiny_model_dir), device="cuda"))
    with pytest.raises(PipelineError, match=r"^model 'dec': device 'cuda:0' asked for but "):
        make_runner(ModelSpec("dec", "decoder", str(gpt2_dir), device="cuda:0"))
    with pytest.raises(PipelineError, match=r"dtype 'float16' needs a GPU"):
        make_runner(ModelSpec("dec", "decoder", str(gpt2_dir), dtype="float16"))  # auto -> cpu here


def close_to_float32(low, ref):
    """Every [N, d] block of a lower-precision run within BF16_REL of the float32 run's scale; not equal."""
    assert low.dtype == np.float32
    err = np.abs(low - ref).max(axis=(-2, -1)) / np.abs(ref).max(axis=(-2, -1))
    assert (err < BF16_REL).all(), err
    assert np.corrcoef(low.ravel(), ref.ravel())[0, 1] > 0.999
    assert np.abs(low - ref).max() > 0  # the weights really ran in the lower precision


def test_transformer_runner_in_bfloat16_on_cpu(tiny_model_dir):
    def run(dtype):
        r = TransformerRunner(ModelSpec("enc", "transformer", str(tiny_model_dir), max_length=32, batch_size=4,
                                        device="cpu", dtype=dtype))
        return r, r.encode(TEXTS)

    r32, ref = run("float32")
    r16, low = run("bfloat16")
    assert r32.device == torch.device("cpu") and r32.dtype == torch.float32
    assert r16.dtype == torch.bfloat16 and next(r16.model.parameters()).dtype == torch.bfloat16
    close_to_float32(low.vectors, ref.vectors)
    auto = TransformerRunner(ModelSpec("enc", "transformer", str(tiny_model_dir), max_length=32, batch_size=4))
    assert auto.dtype == torch.float32 and np.array_equal(auto.encode(TEXTS).vectors, ref.vectors)
    states = r16.token_states(TEXTS[:2])
    assert all(s.states.dtype == np.float32 for s in states)


def test_decoder_runner_in_bfloat16_on_cpu(gpt2_dir):
    def run(dtype):
        r = DecoderRunner(ModelSpec("dec", "decoder", str(gpt2_dir), max_length=32, batch_size=4, device="cpu",
                                    dtype=dtype))
        return r, r.encode(TEXTS)

    _, ref = run("float32")
    r16, low = run("bfloat16")
    assert next(r16.model.parameters()).dtype == torch.bfloat16
    close_to_float32(low.vectors, ref.vectors)
    for name in ref.sites:
        close_to_float32(low.sites[name], ref.sites[name])
    st = r16.token_states(TEXTS[:2])
    assert all(s.states.dtype == np.float32 and s.sites[name].dtype == np.float32 for s in st)
