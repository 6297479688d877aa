"""Model runners. Each returns ``Encoded`` (see base.py) for a list of texts."""
from __future__ import annotations

from pipeline.config import PACKAGED_TEXTGENRNN, ModelSpec
from pipeline.errors import PipelineError

# Source files whose change invalidates a runner's stored activations.
RUNNER_SOURCES = {
    "transformer": ("pipeline/models/base.py", "pipeline/models/transformer.py"),
    "lstm": ("pipeline/models/base.py", "pipeline/models/lstm.py"),
}


def make_runner(spec: ModelSpec, cache=None):
    if spec.kind == "transformer":
        from pipeline.models.transformer import TransformerRunner

        return TransformerRunner(spec)
    if spec.kind == "lstm":
        from pipeline.models.lstm import LSTMRunner

        if spec.path != PACKAGED_TEXTGENRNN:
            raise PipelineError(f"model {spec.run_id!r}: the LSTM runner knows only {PACKAGED_TEXTGENRNN!r}, "
                                f"got {spec.path!r}")
        return LSTMRunner.from_fetched(cache, run_id=spec.run_id, max_length=spec.max_length,
                                       batch_size=spec.batch_size)
    raise PipelineError(f"model {spec.run_id!r}: unknown kind {spec.kind!r}")


def runner_info(runner) -> dict:
    return {
        "model_name": runner.model_name,
        "n_layers": len(runner.layer_names),
        "hidden_size": int(runner.hidden_size),
        "n_heads": getattr(runner, "n_heads", None),  # attention heads; runners without attention have none
    }
