"""``python -m pipeline {build,fetch,info,export,presets}``: argument parsing into one frozen BuildConfig."""
from __future__ import annotations

import argparse
import os
import sys
from dataclasses import replace

from pipeline.config import (DEFAULT_WAREHOUSE, DatasetSpec, EngineSpec, ModelSpec, apply_settings,
                             default_models, load_toml, make_config, parse_dataset_arg)
from pipeline.errors import PipelineError


# Token states (every step of a sample of sentences, for the span-match page) sampled per demo corpus: 50, not
# the stage's default 500, keeps the demo warehouse under 500 MB (at 500 they were 270 MB of its 1.2 GB, at 100
# about 53 MB; bench_footprint in benchmarks/README.md).
DEMO_TOKEN_STATES = 50


def demo_datasets(limit: int | None = None) -> list[DatasetSpec]:
    from pipeline.corpora.demo import DEMO_CORPORA, DEMO_LIMITS, DEMO_SAMPLED

    out = []
    for k in DEMO_CORPORA:
        cap = limit or DEMO_LIMITS.get(k)
        out.append(DatasetSpec(name=k, source="demo", path=k, limit=cap, sample=bool(cap) and k in DEMO_SAMPLED))
    return out


def research_datasets() -> list[DatasetSpec]:
    from pipeline.corpora.research import PRESETS, research_root

    if research_root() is None:
        raise PipelineError("--preset research: the research data folder is not present "
                            "(../shared/data, or set ILLUSION_RESEARCH_DATA)")
    return [DatasetSpec(name=name.replace("-", "_"), source="research", path=name) for name in PRESETS]


def _model_kind(args) -> str:
    """--kind, or for "auto" the kind a local folder's config says (a hub id is taken as an encoder: loading a
    causal LM as one fails with a message that names kind = "decoder")."""
    if args.kind != "auto":
        return args.kind
    from pathlib import Path

    if (Path(args.model).expanduser() / "config.json").is_file():
        from pipeline.models import detect_kind

        return detect_kind(args.model)
    return "transformer"


def config_from_args(args) -> "BuildConfig":  # noqa: F821
    base: dict = {}
    if args.config:
        base = load_toml(args.config)
    datasets = list(base.get("datasets", ()))
    if args.preset == "demo":
        datasets += demo_datasets()
    elif args.preset == "research":
        datasets += research_datasets()
    datasets += [parse_dataset_arg(a) for a in args.dataset or ()]
    if args.limit is not None:
        if args.limit < 1:
            raise PipelineError(f"--limit must be a positive integer, got {args.limit}")
        datasets = [d if d.limit and d.limit <= args.limit else replace(d, limit=args.limit) for d in datasets]
    models = list(base.get("models", ()))
    if args.model:
        models = [ModelSpec(args.run_id or "model", _model_kind(args), args.model,
                            args.max_length or 128, args.batch_size or 32)]
    if not models:
        models = list(default_models(args.max_length or 128, args.batch_size or 32, lstm=not args.no_lstm))
    elif args.no_lstm:
        models = [m for m in models if m.kind != "lstm"]
    kw = {k: v for k, v in base.items() if k not in ("datasets", "models")}
    if args.warehouse:
        kw["warehouse"] = args.warehouse
    if args.cache:
        kw["cache"] = args.cache
    if args.topk is not None:
        kw["topk"] = args.topk
    kw.setdefault("umap_per_dataset", 500)
    if args.umap_per_dataset is not None:
        kw["umap_per_dataset"] = args.umap_per_dataset
    if args.svm_per_dataset is not None:
        kw["separability_per_dataset"] = args.svm_per_dataset
    kw["progress"] = not args.quiet
    if args.preset == "demo":  # the demo's footprint (see DEMO_TOKEN_STATES); a TOML or --set value wins
        kw["token_states"] = {"per_dataset": DEMO_TOKEN_STATES, **dict(kw.get("token_states") or {})}
    engine = _engine(kw.pop("engine", None), args)
    if engine is not None:
        kw["engine"] = engine
    if args.preset == "demo" and not args.model and not base.get("models"):
        from pipeline.stages.dictionary import DEMO

        kw.setdefault("dictionary", DEMO)  # the demo's dictionary size (a [dictionary] table or --set wins)
    kw = apply_settings(kw, args.set)
    return make_config(datasets=datasets, models=models, **kw)


def _engine(base, args) -> "EngineSpec | dict | None":
    """The TOML [engine] table (if any) with the --engine/--address/--ray-* flags given on top."""
    flags = {"kind": args.engine, "address": args.address, "actors": args.ray_actors, "shards": args.ray_shards,
             "rows_per_shard": args.ray_rows_per_shard}
    flags = {k: v for k, v in flags.items() if v is not None}
    if not flags:
        return base
    return {**base, **flags} if isinstance(base, dict) else EngineSpec(**flags)


def cmd_build(args) -> int:
    from pipeline.build import build

    cfg = config_from_args(args)
    log = (lambda *_: None) if args.quiet else (lambda m: print(m, file=sys.stderr, flush=True))
    if args.publish_every is not None and args.publish_every < 0:
        raise PipelineError(f"--publish-every must be >= 0 seconds, got {args.publish_every:g}")
    report = build(cfg, log=log, publish_every=args.publish_every)
    if report.up_to_date:
        print(f"{report.warehouse}: up to date ({len(report.reused)} run/dataset pairs unchanged)")
    else:
        print(f"{report.warehouse}: built in {report.seconds:.1f}s; computed {len(report.computed)}, "
              f"reused {len(report.reused)} run/dataset pairs")
    return 0


def cmd_fetch(args) -> int:
    from pipeline.corpora.fetch import ARTEFACTS, fetch

    for name in args.names or list(ARTEFACTS):
        print(f"{name}: {fetch(name, args.cache)}")
    return 0


def cmd_info(args) -> int:
    from pipeline.info import describe

    print(describe(args.warehouse or os.environ.get("ILLUSION_WAREHOUSE") or DEFAULT_WAREHOUSE))
    return 0


def cmd_export(args) -> int:
    from pipeline.export import export_as

    path = args.warehouse or os.environ.get("ILLUSION_WAREHOUSE") or DEFAULT_WAREHOUSE
    log = (lambda *_: None) if args.quiet else (lambda m: print(m, file=sys.stderr, flush=True))
    out = export_as(path, args.format, args.out, runs=tuple(args.run or ()), top=args.top, log=log,
                    progress=not args.quiet)
    where = f" (manifest {out / 'manifest.json'})" if args.format == "parquet" else ""
    print(f"{path}: exported as {args.format} to {out}{where}")
    return 0


def cmd_presets(args) -> int:
    from pipeline.corpora.demo import DEMO_CORPORA
    from pipeline.corpora.research import PRESETS, research_root

    print("demo corpora (source=demo):")
    for k, (kind, desc) in DEMO_CORPORA.items():
        print(f"  {k:12s} label={kind:6s} {desc}")
    root = research_root()
    print(f"research presets (source=research; folder: {root or 'absent'}):")
    for k, p in PRESETS.items():
        print(f"  {k:14s} label={p.label_kind:6s} {p.description}")
    return 0


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m pipeline", description="Illusion Lab offline pipeline")
    sub = ap.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="build or update a warehouse")
    b.add_argument("--config", help="TOML file with [[datasets]] and [[models]]")
    b.add_argument("--preset", choices=["demo", "research"], help="add the demo corpora or the research sets")
    b.add_argument("--dataset", action="append",
                   help="name=..,source=file|hf|demo|research,path=..,text=<name or 1-based position>,text_b=..,"
                        "label=..,label_kind=none|binary|class|score,split=..,limit=..,sample=true,"
                        "header=true|false|auto,delimiter=..,quote=..,encoding=..|auto (repeatable)")
    b.add_argument("--model", help="HF id or local folder of an encoder or a causal LM (its kind read from its config; replaces the default models)")
    b.add_argument("--kind", choices=["auto", "transformer", "decoder"], default="auto",
                   help="the --model's kind (default auto: read from a local folder's config)")
    b.add_argument("--run-id", help="name of the --model run (default: model)")
    b.add_argument("--no-lstm", action="store_true", help="skip the textgenrnn LSTM run")
    b.add_argument("--max-length", type=int)
    b.add_argument("--batch-size", type=int)
    b.add_argument("--limit", type=int, help="cap every dataset at this many rows")
    b.add_argument("--topk", type=int, help="sentences kept per neuron, dataset and end (default 50)")
    b.add_argument("--svm-per-dataset", type=int,
                   help="sentences per dataset for the dataset-separability SVM of every layer (default 1000; 0 skips)")
    b.add_argument("--umap-per-dataset", type=int,
                   help="sentences per dataset in the stored UMAP of the last layer (default 500; 0 skips)")
    b.add_argument("--set", action="append", metavar="SECTION.KEY=VALUE",
                   help="a stage setting, e.g. anisotropy.contexts=20 or sentiment.enabled=false (repeatable; "
                        "one section per stage with settings, named after it; a wrong one lists them)")
    b.add_argument("--warehouse", help=f"output DuckDB file (default {DEFAULT_WAREHOUSE})")
    b.add_argument("--cache", help="cache folder for fetched data (default $ILLUSION_CACHE or ~/.cache/illusion-lab)")
    b.add_argument("--publish-every", type=float, metavar="SECONDS",
                   help="progressive build: also swap in the finished steps, at most once per SECONDS (0: after "
                        "every step), and write <warehouse>.progress.json for the dashboard (make run does)")
    b.add_argument("--engine", choices=["local", "ray"],
                   help="where extraction runs: local (this process; the default) or ray (a Ray Data actor pool; "
                        "pip install -r pipeline/requirements-ray.txt). The warehouse is the same either way")
    b.add_argument("--address", help="with --engine ray: auto (the cluster on this machine), host:port or "
                                     "ray://host:port (default: start a local Ray instance)")
    b.add_argument("--ray-actors", type=int, help="with --engine ray: actors, one model each (default 2)")
    b.add_argument("--ray-shards", help="with --engine ray: folder for the Parquet shards, writable by every Ray "
                                        "node (default <warehouse>.ray-shards; removed after extraction)")
    b.add_argument("--ray-rows-per-shard", type=int, help="with --engine ray: sentences per shard (default 512)")
    b.add_argument("--quiet", action="store_true")
    b.set_defaults(func=cmd_build)
    f = sub.add_parser("fetch", help="download and verify the embedded demo data and LSTM weights")
    f.add_argument("names", nargs="*")
    f.add_argument("--cache")
    f.set_defaults(func=cmd_fetch)
    i = sub.add_parser("info", help="print what a warehouse holds")
    i.add_argument("--warehouse")
    i.set_defaults(func=cmd_info)
    e = sub.add_parser("export", help="write a warehouse as Parquet (every table, with a manifest), in "
                                      "Neuronpedia's bulk-import layout or as a Hugging Face datasets folder")
    e.add_argument("--warehouse")
    e.add_argument("--format", default="parquet", help="parquet (default), neuronpedia or hf")
    e.add_argument("--run", action="append", help="neuronpedia/hf: only this run (repeatable; default: every run)")
    e.add_argument("--top", type=int, default=20, help="neuronpedia/hf: examples kept per unit, dataset and side "
                                                       "(default 20, at most the build's topk)")
    e.add_argument("--out", help="output folder (default: <warehouse name>-<format> next to the file)")
    e.add_argument("--quiet", action="store_true")
    e.set_defaults(func=cmd_export)
    p = sub.add_parser("presets", help="list demo corpora and research presets")
    p.set_defaults(func=cmd_presets)
    return ap


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except PipelineError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted; the previous warehouse is untouched", file=sys.stderr)
        return 130
