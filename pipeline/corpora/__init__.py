"""Dataset loaders, one per source kind, behind one function: ``load_dataset(spec, ...)``.

Every loader ends in the same frame: text, text_b, label, label_text, split (see ``COLUMNS``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.config import DatasetSpec
from pipeline.errors import PipelineError

COLUMNS = ["text", "text_b", "label", "label_text", "split"]


@dataclass(frozen=True)
class Loaded:
    frame: pd.DataFrame  # COLUMNS, one row per item, in source order
    label_kind: str
    description: str
    n_dropped_empty: int


def _where(spec: DatasetSpec) -> str:
    return spec.path if spec.source == "file" else f"dataset {spec.name!r} ({spec.source}:{spec.path})"


def _loc(spec: DatasetSpec, line) -> str:
    if spec.source == "file":
        return f"{spec.path} line {line}"
    return f"{_where(spec)} row {line}"


def _column(df: pd.DataFrame, spec: DatasetSpec, col: str | None, role: str) -> pd.Series | None:
    if col is None:
        return None
    if col not in df.columns:
        cols = ", ".join(c for c in df.columns if c != "_line")
        raise PipelineError(f"{_where(spec)}: no column {col!r} for {role} (columns: {cols}); "
                            f"set {role}=<column> for this dataset")
    return df[col]


def _missing(v) -> bool:
    """None, NaN, pd.NA or a blank string: a cell with no value (JSONL/Parquet/HF give NaN or None)."""
    if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
        return True
    return isinstance(v, str) and not v.strip()


def _optional_text(values: pd.Series, strip: bool = False) -> pd.Series:
    """Strings, with missing/blank cells as None (object dtype, so pandas does not turn None into 'nan')."""
    out = [None if _missing(v) else (str(v).strip() if strip else str(v)) for v in values]
    return pd.Series(out, index=values.index, dtype=object)


def _numeric_labels(values: pd.Series, lines: pd.Series, spec: DatasetSpec) -> np.ndarray:
    out = np.empty(len(values), dtype=np.float64)
    for i, (v, line) in enumerate(zip(values, lines)):
        if _missing(v):
            out[i] = np.nan
            continue
        try:
            out[i] = float(v)
        except (TypeError, ValueError):
            raise PipelineError(f"{_loc(spec, line)}: label column {spec.label!r} value {str(v)[:40]!r} is "
                                f"not a number (label_kind={spec.label_kind})") from None
    return out


def finalize(raw: pd.DataFrame, spec: DatasetSpec, seed: int = 0) -> tuple[pd.DataFrame, int]:
    """Map a loader's raw columns onto COLUMNS, check labels, drop empty texts, apply limit/sample."""
    if "_line" not in raw.columns:
        raw = raw.assign(_line=range(1, len(raw) + 1))
    lines = raw["_line"]
    text = _column(raw, spec, spec.text, "text")
    text_b = _column(raw, spec, spec.text_b, "text_b")
    label = _column(raw, spec, spec.label, "label")
    if spec.source == "file":
        split = _column(raw, spec, spec.split, "split")
    else:  # hf: the split that was read (spec.split names it, it is not a column)
        split = raw["split"] if "split" in raw.columns else None
    if label is not None and spec.label_kind == "none":
        raise PipelineError(f"{_where(spec)}: label={spec.label!r} given but label_kind is none; "
                            f"set label_kind to score, binary or class")
    out = pd.DataFrame({
        "text": pd.Series(["" if _missing(v) else str(v) for v in text], index=text.index, dtype=object),
        "text_b": None if text_b is None else _optional_text(text_b),
        "label": np.nan,
        "label_text": None,
        "split": None if split is None else _optional_text(split, strip=True),
        "_line": lines,
    })
    if label is not None:
        if spec.label_kind == "score":
            out["label"] = _numeric_labels(label, lines, spec)
        else:
            as_text = _optional_text(label, strip=True)
            out["label_text"] = as_text
            try:
                out["label"] = as_text.map(lambda v: np.nan if v is None else float(v))
            except ValueError:
                # Class names: number them in sorted order so the ids are stable across builds.
                names = sorted({v for v in as_text if v is not None})
                out["label"] = as_text.map(lambda v: np.nan if v is None else float(names.index(v)))
            if spec.label_kind == "binary":
                bad = sorted({v for v in as_text if v is not None})
                if len(bad) > 2:
                    raise PipelineError(f"{_where(spec)}: label_kind=binary but column {spec.label!r} has "
                                        f"{len(bad)} distinct values ({', '.join(bad[:5])}...)")
    return _drop_empty_and_limit(out.drop(columns="_line"), spec, seed)


def _drop_empty_and_limit(df: pd.DataFrame, spec: DatasetSpec, seed: int) -> tuple[pd.DataFrame, int]:
    keep = df["text"].str.strip() != ""
    n_dropped = int((~keep).sum())
    df = df[keep]
    if df.empty:
        raise PipelineError(f"{_where(spec)}: no rows with text in column {spec.text!r}")
    if spec.limit is not None and len(df) > spec.limit:
        df = df.sample(n=spec.limit, random_state=seed).sort_index() if spec.sample else df.head(spec.limit)
    return df.reset_index(drop=True), n_dropped


def load_dataset(spec: DatasetSpec, cache=None, seed: int = 0, progress: bool = False) -> Loaded:
    """Load one dataset into the common frame. Errors are one-line ``PipelineError``s."""
    if spec.source == "demo":
        from pipeline.corpora.demo import DEMO_CORPORA, load_demo

        if spec.path not in DEMO_CORPORA:
            raise PipelineError(f"dataset {spec.name!r}: demo corpus {spec.path!r} is unknown "
                                f"(known: {', '.join(DEMO_CORPORA)})")
        kind, desc = DEMO_CORPORA[spec.path]
        enough = spec.limit if spec.limit and not spec.sample else None
        raw = load_demo(spec.path, cache, progress, enough)
        spec = replace(spec, text="text", label="label" if kind == "score" else None, label_kind=kind)
        df, dropped = finalize(raw, spec, seed)
        return Loaded(df, kind, desc, dropped)
    if spec.source == "file":
        from pipeline.corpora.files import read_dataset_file

        raw, spec = read_dataset_file(spec)  # columns given by position are named from here on
        df, dropped = finalize(raw, spec, seed)
        return Loaded(df, spec.label_kind, f"file {Path(spec.path).name}", dropped)
    if spec.source == "hf":
        from pipeline.corpora.hf import load_hf

        raw = load_hf(spec)
        df, dropped = finalize(raw, spec, seed)
        return Loaded(df, spec.label_kind, f"Hugging Face dataset {spec.path}", dropped)
    if spec.source == "research":
        from pipeline.corpora.research import PRESETS, load_preset

        raw = load_preset(spec.path, split=spec.split)  # already in the common columns
        df, dropped = _drop_empty_and_limit(raw[COLUMNS], replace(spec, text="text"), seed)
        preset = PRESETS[spec.path]
        return Loaded(df, preset.label_kind, preset.description, dropped)
    raise PipelineError(f"dataset {spec.name!r}: unknown source {spec.source!r}")
