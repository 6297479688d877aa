"""Any Hugging Face encoder (``AutoModel``) as a runner: sentence vectors for every layer.

Offline by default: a hub id loads only from the local Hugging Face cache unless HF_HUB_OFFLINE=0. Device and
dtype come from the ModelSpec (see torch_utils.py); outputs are float32 on the CPU whatever the model runs in.
"""
from __future__ import annotations

import numpy as np

from pipeline.config import PACKAGED_MINILM, ModelSpec
from pipeline.errors import PipelineError
from pipeline.models.base import Encoded, TokenStates
from pipeline.models.torch_utils import (  # noqa: F401  (resolve_model_path: importable from here)
    check_positions, is_causal, layer_name, load_pretrained, masked_mean, resolve_model_path, sorted_batches,
    token_batches, tokenize_for_encode)


class TransformerRunner:
    """Runs an encoder over texts; keeps [CLS] and mask-aware mean pooling of every hidden state."""

    kind = "transformer"
    poolings = ("cls", "mean")

    def __init__(self, spec: ModelSpec, attentions: bool = False):
        from transformers import AutoModel

        self.spec = spec
        self.run_id = spec.run_id
        self.max_length = spec.max_length
        self.batch_size = spec.batch_size
        def check(cfg):  # a causal LM's first token is no summary of the text: a decoder pools by its last
            if is_causal(cfg):
                raise PipelineError(f"model {spec.run_id!r}: {spec.path!r} is a causal LM (model type "
                                    f"{cfg.model_type!r}); set kind = \"decoder\"")

        # SDPA is the fast path; only eager attention returns attention weights, so ask for it then.
        self.tokenizer, self.model, self.device, self.dtype = load_pretrained(
            spec, AutoModel, "eager" if attentions else "sdpa", check)
        cfg = self.model.config
        self.hidden_size = int(cfg.hidden_size)
        self.n_layers = int(cfg.num_hidden_layers) + 1
        self.layer_names = [layer_name(i) for i in range(self.n_layers)]
        self.n_heads = int(getattr(cfg, "num_attention_heads", 0)) or None
        self.model_name = getattr(cfg, "_name_or_path", "") or spec.path
        if spec.path == PACKAGED_MINILM:
            self.model_name = "sentence-transformers/all-MiniLM-L6-v2"
        check_positions(cfg, self.max_length, spec.run_id)

    def describe(self) -> dict:
        from pipeline.models import runner_info

        return {**runner_info(self), "tokenizer": type(self.tokenizer).__name__}

    def encode(self, texts: list[str], progress: bool = False) -> Encoded:
        """vectors float32 [n_layers, 2 (cls, mean), N, H], the sentence-transformers ``encode`` loop.

        Each text is tokenized once, untruncated: that gives the token counts and lengths, and the batches are
        then sorted by true token length (sentence-transformers sorts by characters), so padding is minimal.
        """
        import torch

        ids, n_tokens, truncated, counters = tokenize_for_encode(self.tokenizer, texts, self.max_length)
        out = np.empty((self.n_layers, len(self.poolings), len(texts), self.hidden_size), dtype=np.float32)
        with torch.inference_mode():
            for idx, enc in sorted_batches(self.tokenizer, ids, self.batch_size, self.device, self.run_id,
                                           progress):
                hidden = self.model(**enc, output_hidden_states=True).hidden_states  # (L+1) x [B, T, H]
                mask = enc["attention_mask"].bool()
                # Pooled in float32 on the device, one copy to the CPU per batch: [L+1, 2, B, H].
                pooled = torch.stack([torch.stack([h[:, 0].float(), masked_mean(h.float(), mask)])
                                      for h in hidden])
                out[:, :, idx] = pooled.cpu().numpy()
        return Encoded(out, n_tokens, truncated, counters)

    def token_states(self, texts: list[str], progress: bool = False) -> list[TokenStates]:
        """Every layer's state at every WordPiece of each text: one ``TokenStates`` per text.

        Special tokens ([CLS], [SEP]) are run but not returned, so ``units`` are the text's own pieces with
        their character offsets (a fast tokenizer is required). Truncated at ``max_length`` like ``encode``;
        batched by length with padding masked, so a text's states do not depend on its batch mates.
        """
        import torch

        out: list[TokenStates | None] = [None] * len(texts)
        with torch.inference_mode():
            for idx, batch, own in token_batches(self, texts, progress):
                hidden = torch.stack(self.model(**batch, output_hidden_states=True).hidden_states)  # [L, B, T, H]
                hidden = hidden.float().cpu().numpy()
                for row, i in enumerate(idx):
                    units, offsets, keep = own(i, hidden.shape[2])
                    out[i] = TokenStates(units=units, offsets=offsets,
                                         states=np.ascontiguousarray(hidden[:, row, keep]))
        return out
