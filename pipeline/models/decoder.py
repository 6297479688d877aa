"""Any Hugging Face causal LM (GPT-2, GPT-NeoX/Pythia, Llama, Qwen, ...) as a runner: residual and MLP sites.

Sites are read with forward hooks on the model's own module tree (nothing is re-implemented), under
TransformerLens names:

- ``hook_embed``: the input of block 0 (token embeddings, plus position embeddings where the model adds them);
  TransformerLens calls it ``blocks.0.hook_resid_pre``.
- ``blocks.{l}.hook_resid_post``: the output of block l. For the last block this is the raw residual, before the
  final norm; transformers' ``hidden_states[-1]`` is that state after the norm. SAEs trained with SAELens on
  ``blocks.{l}.hook_resid_post`` read the raw residual, so that is what is kept.
- ``blocks.{l}.mlp.hook_post``: the MLP's hidden activations that its output projection reads: act(W_in x) in
  GPT-2 and GPT-NeoX, act(gate(x)) * up(x) in the gated MLPs of Llama, Qwen, Mistral, Gemma. A forward
  pre-hook on the output projection captures it for every architecture in ``MLP_INPUTS``.

Sentence poolings (``last``, ``mean``, ``max``) run over the text's own tokens: padding and the special tokens
the tokenizer adds (a BOS, say) are left out, since a BOS position is an attention sink whose residual can be
orders of magnitude larger than the rest. ``last`` is the last such token (there is no CLS), found from the
attention mask, so either padding side works. Right padding is the default: positions then match an unpadded
run on every architecture. With left padding the position ids are computed from the attention mask.
"""
from __future__ import annotations

import inspect
from contextlib import contextmanager

import numpy as np

from pipeline.config import ModelSpec
from pipeline.errors import PipelineError
from pipeline.models.base import Encoded, TokenStates
from pipeline.models.torch_utils import (check_positions, is_causal, layer_name, load_pretrained, masked_mean,
                                         sorted_batches, token_batches, tokenize_for_encode)

# model_type -> the path, inside one block, of the module whose input is the MLP's post-activation.
# A model type not listed is tried with the Llama-family convention ``mlp.down_proj``.
MLP_INPUTS = {
    "gpt2": "mlp.c_proj", "gpt_neo": "mlp.c_proj", "gpt_bigcode": "mlp.c_proj",
    "gpt_neox": "mlp.dense_4h_to_h", "bloom": "mlp.dense_4h_to_h", "falcon": "mlp.dense_4h_to_h",
    "gptj": "mlp.fc_out", "codegen": "mlp.fc_out",
    "opt": "fc2", "phi": "mlp.fc2", "mpt": "ffn.down_proj",
}
DEFAULT_MLP_INPUT = "mlp.down_proj"


def mlp_site(block: int) -> str:
    return f"blocks.{block}.mlp.hook_post"


def find_blocks(model):
    """The model's list of transformer blocks: the first ModuleList with one entry per hidden layer."""
    import torch

    n = int(model.config.num_hidden_layers)
    for _, module in model.named_modules():
        if isinstance(module, torch.nn.ModuleList) and len(module) == n:
            return module
    raise PipelineError(f"model type {model.config.model_type!r}: no list of {n} blocks found in "
                        f"{type(model).__name__}")


def find_mlp_inputs(model, blocks, run_id: str) -> list:
    """Per block, the module whose forward input is the MLP post-activation (see ``MLP_INPUTS``)."""
    model_type = model.config.model_type
    path = MLP_INPUTS.get(model_type, DEFAULT_MLP_INPUT)
    try:
        return [block.get_submodule(path) for block in blocks]
    except AttributeError:
        raise PipelineError(f"model {run_id!r}: no MLP site known for model type {model_type!r} "
                            f"({type(blocks[0]).__name__} has no {path}); add its output projection to "
                            f"pipeline/models/decoder.py MLP_INPUTS, or set sites = [\"resid\"]") from None


def _in_width(module) -> int:
    """The input width of a Linear (in_features) or of GPT-2's Conv1D (nx)."""
    for attr in ("in_features", "nx"):
        if isinstance(getattr(module, attr, None), int):
            return getattr(module, attr)
    return int(module.weight.shape[-1])


class DecoderRunner:
    """Runs a causal LM over texts; keeps last / mean / max poolings of every residual and MLP site.

    ``mlp=False`` captures only the residual stream. ``padding_side`` is "right" (default) or "left".
    Attention weights are not kept (SDPA, the fast path, does not return them); the attention stage is for
    encoders.
    """

    kind = "decoder"
    poolings = ("last", "mean", "max")

    def __init__(self, spec: ModelSpec, mlp: bool = True, padding_side: str = "right"):
        from transformers import AutoModel

        if padding_side not in ("left", "right"):
            raise PipelineError(f"model {spec.run_id!r}: padding_side must be left or right, got {padding_side!r}")
        self.spec = spec
        self.run_id = spec.run_id
        self.max_length = spec.max_length
        self.batch_size = spec.batch_size

        def check(cfg):
            if not is_causal(cfg):
                raise PipelineError(f"model {spec.run_id!r}: kind = \"decoder\" but {spec.path!r} is model "
                                    f"type {cfg.model_type!r}, not a causal LM; use kind = \"transformer\"")

        self.tokenizer, self.model, self.device, self.dtype = load_pretrained(spec, AutoModel, "sdpa", check)
        cfg = self.model.config
        check_positions(cfg, self.max_length, spec.run_id)
        self.blocks = find_blocks(self.model)
        self.mlp_inputs = find_mlp_inputs(self.model, self.blocks, spec.run_id) if mlp else []
        self.hidden_size = int(cfg.hidden_size)
        self.n_layers = len(self.blocks) + 1
        self.layer_names = [layer_name(i) for i in range(self.n_layers)]
        self.n_heads = int(getattr(cfg, "num_attention_heads", 0)) or None
        self.model_name = getattr(cfg, "_name_or_path", "") or spec.path
        # Sites beyond the residual stream, name -> width, in block order.
        self.sites = {mlp_site(i): _in_width(m) for i, m in enumerate(self.mlp_inputs)}
        tok = self.tokenizer
        tok.padding_side = padding_side
        if tok.pad_token is None:  # GPT-2 has none; padded positions are masked, so any known id will do
            fill = tok.eos_token or tok.bos_token or tok.unk_token
            if fill is None:
                raise PipelineError(f"model {spec.path!r}: the tokenizer has no pad, eos, bos or unk token to pad "
                                    f"batches with")
            tok.pad_token = fill
        self._special = None  # the special ids as a tensor on the device, made on first use
        self._position_ids = "position_ids" in inspect.signature(self.model.forward).parameters

    def describe(self) -> dict:
        from pipeline.models import runner_info

        return {**runner_info(self), "tokenizer": type(self.tokenizer).__name__, "sites": dict(self.sites),
                "padding_side": self.tokenizer.padding_side}

    # --- the forward pass with hooks -------------------------------------------------------------------

    @contextmanager
    def _hooks(self, sink, resid: bool = True, mlp: bool = True):
        """Register the site hooks for one call; ``sink(kind, index, tensor [B, T, d])`` receives every site:
        ("resid", 0..n_layers-1) and ("mlp", 0..n_blocks-1); ``resid`` / ``mlp`` False leave a family out."""
        def first(args, kwargs):
            return args[0] if args else kwargs["hidden_states"]

        handles = []
        if resid:
            handles.append(self.blocks[0].register_forward_pre_hook(
                lambda m, args, kwargs: sink("resid", 0, first(args, kwargs)), with_kwargs=True))
            for i, block in enumerate(self.blocks):
                handles.append(block.register_forward_hook(
                    lambda m, args, out, i=i: sink("resid", i + 1, out[0] if isinstance(out, tuple) else out)))
        for i, module in enumerate(self.mlp_inputs if mlp else ()):
            handles.append(module.register_forward_pre_hook(lambda m, args, i=i: sink("mlp", i, args[0])))
        try:
            yield
        finally:
            for h in handles:
                h.remove()

    def _forward(self, batch) -> None:
        import torch

        kw = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"], "use_cache": False}
        if self.tokenizer.padding_side == "left" and self._position_ids:
            # Real tokens count positions from 0 as in an unpadded run; pads take position 0 (masked anyway).
            kw["position_ids"] = (batch["attention_mask"].long().cumsum(1) - 1).clamp(min=0)
        with torch.inference_mode():
            self.model(**kw)

    def _own_tokens(self, batch):
        """bool [B, T]: the positions pooled over: real (not padding) and not a special token; a text made of
        special tokens only keeps them all."""
        import torch

        if self._special is None:
            self._special = torch.tensor(sorted(set(self.tokenizer.all_special_ids)), device=self.device)
        real = batch["attention_mask"].bool()
        own = real & ~torch.isin(batch["input_ids"], self._special)
        return torch.where(own.any(1, keepdim=True), own, real)

    # --- public interface ------------------------------------------------------------------------------

    def encode(self, texts: list[str], progress: bool = False) -> Encoded:
        """vectors float32 [n_layers, 3 (last, mean, max), N, H]; sites: ``blocks.{l}.mlp.hook_post`` ->
        float32 [3, N, d_mlp] (None with mlp=False). The sentence-transformers loop: length-sorted batches,
        pooled in float32 on the device, one copy to the CPU per batch, original order restored."""
        resid, mlp, n_tokens, truncated, counters = self.pooled(texts, progress)
        sites = {name: x for name, x in zip(self.sites, mlp)}
        return Encoded(resid, n_tokens, truncated, counters, sites or None)

    def pooled(self, texts: list[str], progress: bool = False, resid: bool = True, mlp: bool = True,
               desc: str | None = None):
        """(resid float32 [n_layers, 3, N, H] or None, mlp: one float32 [3, N, d] per MLP site, as one array
        [n_blocks, 3, N, d] when the widths are equal (empty with ``mlp`` False or no MLP sites), n_tokens,
        truncated, token counters): ``encode``'s loop, with only the site families asked for hooked and
        pooled; ``desc`` names the progress bar (default: the run id)."""
        import torch

        n = len(texts)
        mlp = mlp and bool(self.sites)
        ids, n_tokens, truncated, counters = tokenize_for_encode(self.tokenizer, texts, self.max_length)
        # A text with no tokens (no BOS is added by GPT-2-style tokenizers) is read as the pad token alone
        # (eos when there was none, which is how such models see a document start); n_tokens stays 0.
        ids = [x or [self.tokenizer.pad_token_id] for x in ids]
        out = np.empty((self.n_layers, len(self.poolings), n, self.hidden_size), dtype=np.float32) if resid else None
        widths = list(self.sites.values()) if mlp else []
        if len(set(widths)) == 1:  # the usual case: one array [n_blocks, 3, N, d], so a site runner needs no copy
            sites = np.empty((len(widths), len(self.poolings), n, widths[0]), dtype=np.float32)
        else:
            sites = [np.empty((len(self.poolings), n, w), dtype=np.float32) for w in widths]
        bounds = np.cumsum([0, *self.sites.values()])
        pooled: dict[str, list] = {}
        own = last = rows = None  # the batch's pooling positions, read by the hooks

        def sink(kind, i, h):
            h = h.float()
            mx = h.masked_fill(~own.unsqueeze(-1), float("-inf")).amax(1)
            pooled[kind][i] = torch.stack([h[rows, last], masked_mean(h, own), mx])  # [3, B, d]

        with torch.inference_mode(), self._hooks(sink, resid, mlp):
            for idx, batch in sorted_batches(self.tokenizer, ids, self.batch_size, self.device,
                                             desc or self.run_id, progress):
                own = self._own_tokens(batch)
                last = torch.where(own, torch.arange(own.shape[1], device=own.device), -1).amax(1)
                rows = torch.arange(len(idx), device=own.device)
                pooled = {"resid": [None] * self.n_layers, "mlp": [None] * len(self.sites)}
                self._forward(batch)
                if resid:
                    out[:, :, idx] = torch.stack(pooled["resid"]).cpu().numpy()
                if mlp:  # one copy for every MLP site, whatever their widths: [3, B, sum of d]
                    cat = torch.cat(pooled["mlp"], dim=-1).cpu().numpy()
                    for b, x in enumerate(sites):
                        x[:, idx] = cat[:, :, bounds[b]:bounds[b + 1]]
        return out, sites, n_tokens, truncated, counters

    def token_states(self, texts: list[str], progress: bool = False, resid: bool = True,
                     mlp: bool = True) -> list[TokenStates]:
        """Every residual site at every token of each text (``states`` [n_layers, T, H]) and every MLP site
        (``sites``: name -> [T, d_mlp]); special tokens are run but not returned. Truncated at ``max_length``;
        padding is masked, so a text's states do not depend on its batch mates. ``resid`` False leaves the
        residual stream out (``states`` is then [0, T, H]); ``mlp`` False leaves the MLP sites out."""
        import torch

        out: list[TokenStates | None] = [None] * len(texts)
        full: dict[str, list] = {}
        mlp = mlp and bool(self.sites)

        def sink(kind, i, h):
            full[kind][i] = h.float()

        with torch.inference_mode(), self._hooks(sink, resid, mlp):
            for idx, batch, own in token_batches(self, texts, progress):
                full = {"resid": [None] * self.n_layers, "mlp": [None] * len(self.sites)}
                self._forward(batch)
                width = batch["input_ids"].shape[1]
                res = torch.stack(full["resid"]).cpu().numpy() if resid else None  # [L, B, T, H]
                mlps = [x.cpu().numpy() for x in full["mlp"]] if mlp else []  # n_blocks x [B, T, d]
                for row, i in enumerate(idx):
                    units, offsets, keep = own(i, width)
                    sites = {name: np.ascontiguousarray(x[row, keep]) for name, x in zip(self.sites, mlps)}
                    states = (np.ascontiguousarray(res[:, row, keep]) if resid
                              else np.empty((0, len(keep), self.hidden_size), dtype=np.float32))
                    out[i] = TokenStates(units=units, offsets=offsets, states=states, sites=sites or None)
        return out


class DecoderSiteRunner:
    """One site family of a DecoderRunner as a runner of its own, for the warehouse run of that site (see
    ``ModelSpec.sites``): ``resid`` has the base's layers; ``mlp`` has one layer per block
    (``blocks.{l}.mlp.hook_post``) of d_mlp units, so every stage and page reads an MLP neuron exactly as it
    reads a residual unit. Several site runners share one loaded model; each hooks only its own sites."""

    kind = "decoder"
    poolings = DecoderRunner.poolings

    def __init__(self, base: DecoderRunner, spec: ModelSpec):
        if len(spec.sites) != 1:
            raise PipelineError(f"model {spec.run_id!r}: a site runner takes one site, got {list(spec.sites)}")
        (site,) = spec.sites
        self.base, self.site, self.spec = base, site, spec
        self.run_id = spec.run_id
        self.max_length, self.batch_size = base.max_length, base.batch_size
        self.tokenizer, self.model, self.device, self.dtype = base.tokenizer, base.model, base.device, base.dtype
        self.n_heads, self.model_name = base.n_heads, base.model_name
        if site == "resid":
            self.layer_names, self.hidden_size = list(base.layer_names), base.hidden_size
        else:
            widths = sorted(set(base.sites.values()))
            if len(widths) != 1:
                raise PipelineError(f"model {spec.run_id!r}: MLP widths differ between blocks ({widths}); one "
                                    f"run needs one width, so use sites = [\"resid\"]")
            self.layer_names, self.hidden_size = list(base.sites), widths[0]
        self.n_layers = len(self.layer_names)

    def describe(self) -> dict:
        base = {k: v for k, v in self.base.describe().items() if k != "sites"}
        return {**base, **_info(self), "site": self.site}

    def encode(self, texts: list[str], progress: bool = False) -> Encoded:
        """vectors float32 [n_layers, 3 (last, mean, max), N, H] of this site (H = d_mlp for mlp)."""
        mlp = self.site == "mlp"
        resid, sites, n_tokens, truncated, counters = self.base.pooled(texts, progress, resid=not mlp, mlp=mlp,
                                                                          desc=self.run_id)
        return Encoded(np.asarray(sites) if mlp else resid, n_tokens, truncated, counters)

    def token_states(self, texts: list[str], progress: bool = False) -> list[TokenStates]:
        """``states`` [n_layers, T, H] of this site at every token (the base's ``token_states``)."""
        if self.site == "resid":
            return self.base.token_states(texts, progress, mlp=False)
        out = self.base.token_states(texts, progress, resid=False)
        return [TokenStates(units=t.units, offsets=t.offsets,
                            states=np.stack([t.sites[name] for name in self.layer_names])) for t in out]


def _info(runner) -> dict:
    from pipeline.models import runner_info

    return runner_info(runner)
