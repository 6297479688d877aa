"""Model runners. Each returns ``Encoded`` (see base.py) for a list of texts.

Kinds: ``transformer`` (an HF encoder), ``decoder`` (an HF causal LM), ``lstm``. The kind is stated in the
config, not guessed at build time, because stages branch on it; a causal LM given as ``transformer`` is refused
with a line that says to set ``kind = "decoder"``, and ``detect_kind`` tells the two apart for a caller (the
CLI's ``--model``) that has no kind to offer.
"""
from __future__ import annotations

from pipeline.config import PACKAGED_TEXTGENRNN, ModelSpec
from pipeline.errors import PipelineError

# Source files whose change invalidates a runner's stored activations.
RUNNER_SOURCES = {
    "transformer": ("pipeline/models/base.py", "pipeline/models/torch_utils.py", "pipeline/models/transformer.py"),
    "decoder": ("pipeline/models/base.py", "pipeline/models/torch_utils.py", "pipeline/models/decoder.py"),
    "lstm": ("pipeline/models/base.py", "pipeline/models/lstm.py"),
}


def make_runner(spec: ModelSpec, cache=None, base=None):
    """The runner of a model spec. A decoder spec with both sites gives the DecoderRunner itself (residual
    vectors plus ``Encoded.sites``); a run's own spec (one site, see ``ModelSpec.run_specs``) gives the runner
    of that site, on ``base`` (a DecoderRunner of the same model, shared by the model's runs) when given. A
    dictionary run (site "sae") has no runner: the dictionary stage computes its features."""
    if getattr(spec, "is_dictionary", False):
        raise PipelineError(f"run {spec.run_id!r} is a dictionary run: its features come from the dictionary stage "
                            f"(pipeline/stages/dictionary.py), not from a runner")
    if spec.kind == "transformer":
        from pipeline.models.transformer import TransformerRunner

        return TransformerRunner(spec)
    if spec.kind == "decoder":
        from pipeline.models.decoder import DecoderRunner, DecoderSiteRunner

        if len(spec.sites) > 1:
            return DecoderRunner(spec)
        return DecoderSiteRunner(base or DecoderRunner(spec, mlp="mlp" in spec.sites), spec)
    if spec.kind == "lstm":
        from pipeline.models.lstm import LSTMRunner, TorchLSTMRunner

        if spec.path != PACKAGED_TEXTGENRNN:  # a user's folder: an nn.LSTM state dict and vocab.json
            return TorchLSTMRunner(spec.path, run_id=spec.run_id, max_length=spec.max_length,
                                   batch_size=spec.batch_size)
        return LSTMRunner.from_fetched(cache, run_id=spec.run_id, max_length=spec.max_length,
                                       batch_size=spec.batch_size)
    raise PipelineError(f"model {spec.run_id!r}: unknown kind {spec.kind!r}")


def detect_kind(path: str) -> str:
    """"decoder" for a causal LM's folder or hub id (GPT-2, Llama, ...), else "transformer"; reads only the
    config. The packaged LSTM and an LSTM folder (model.safetensors or model.pt, and vocab.json) are "lstm"."""
    from pathlib import Path

    from pipeline.models.lstm import VOCAB_FILE, WEIGHT_FILES

    folder = Path(path)
    if path == PACKAGED_TEXTGENRNN or (folder.is_dir() and (folder / VOCAB_FILE).exists()
                                       and any((folder / f).exists() for f in WEIGHT_FILES)):
        return "lstm"
    from pipeline.models.torch_utils import is_causal, quiet_transformers, resolve_model_path

    quiet_transformers()
    from transformers import AutoConfig

    where = resolve_model_path(path)
    try:
        config = AutoConfig.from_pretrained(where)
    except (OSError, ValueError) as e:
        first = (str(e).strip().splitlines() or [""])[0][:120]
        raise PipelineError(f"model {path!r}: no readable config ({first})") from None
    return "decoder" if is_causal(config) else "transformer"


def runner_info(runner) -> dict:
    return {
        "model_name": runner.model_name,
        "n_layers": len(runner.layer_names),
        "hidden_size": int(runner.hidden_size),
        "n_heads": getattr(runner, "n_heads", None),  # attention heads; runners without attention have none
    }
