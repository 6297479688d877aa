"""Local files: CSV, TSV, JSONL, Parquet and plain text (one item per line), each optionally gzipped.

Every row keeps the line it came from (``_line``), so later checks (labels, empty text) can name it.
"""
from __future__ import annotations

import csv
import gzip
import io
import json
from pathlib import Path

import pandas as pd

from pipeline.errors import PipelineError

FORMATS = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl",
           ".json": "jsonl", ".parquet": "parquet", ".pq": "parquet", ".txt": "txt"}


def file_format(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    fmt = FORMATS.get(suffixes[-1]) if suffixes else None
    if fmt is None:
        raise PipelineError(f"{path}: unknown file type (use one of {', '.join(sorted(FORMATS))}, "
                            f"optionally .gz)")
    return fmt


def _read_bytes(path: Path) -> bytes:
    if not path.exists():
        raise PipelineError(f"{path}: file not found")
    if path.is_dir():
        raise PipelineError(f"{path}: is a folder, expected a file")
    raw = path.read_bytes()
    if path.suffix.lower() == ".gz":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as e:
            raise PipelineError(f"{path}: not a valid gzip file ({e})") from None
    return raw


def _decode(path: Path, raw: bytes, encoding: str) -> str:
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        col = e.start - (raw.rfind(b"\n", 0, e.start) + 1) + 1
        raise PipelineError(
            f"{path} line {line}: byte 0x{raw[e.start]:02x} at column {col} is not valid {encoding} "
            f"(set encoding=... for this dataset, e.g. encoding=cp1252)") from None
    except LookupError:
        raise PipelineError(f"{path}: unknown encoding {encoding!r}") from None
    return text.lstrip("\ufeff")  # a UTF-8 byte-order mark is not part of the first column's name


def _read_delimited(path: Path, text: str, delimiter: str) -> pd.DataFrame:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        raise PipelineError(f"{path}: file is empty") from None
    header = [h.strip() for h in header]
    rows, lines = [], []
    try:
        for row in reader:
            if not row or (len(row) == 1 and not row[0].strip()):
                continue  # blank line
            if len(row) != len(header):
                raise PipelineError(f"{path} line {reader.line_num}: expected {len(header)} fields "
                                    f"(as in the header), found {len(row)}")
            rows.append(row)
            lines.append(reader.line_num)
    except csv.Error as e:
        raise PipelineError(f"{path} line {reader.line_num}: {e}") from None
    df = pd.DataFrame(rows, columns=header, dtype=object)
    df["_line"] = lines
    return df


def _read_jsonl(path: Path, text: str) -> pd.DataFrame:
    records, lines = [], []
    for i, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise PipelineError(f"{path} line {i}: invalid JSON ({e.msg})") from None
        if not isinstance(obj, dict):
            raise PipelineError(f"{path} line {i}: expected a JSON object per line")
        records.append(obj)
        lines.append(i)
    df = pd.DataFrame.from_records(records)
    df["_line"] = lines
    return df


def _read_txt(path: Path, text: str) -> pd.DataFrame:
    items = [(i, line.strip()) for i, line in enumerate(text.splitlines(), start=1) if line.strip()]
    return pd.DataFrame({"text": [t for _, t in items], "_line": [i for i, _ in items]})


def read_file(path: str | Path, encoding: str = "utf-8") -> pd.DataFrame:
    """All rows of a local file as strings/objects, plus ``_line`` (1-based source line or row)."""
    path = Path(path)
    fmt = file_format(path)
    if fmt == "parquet":
        if not path.exists():
            raise PipelineError(f"{path}: file not found")
        if path.stat().st_size == 0:
            raise PipelineError(f"{path}: file is empty")
        try:
            df = pd.read_parquet(path)
        except Exception as e:  # pyarrow raises several types for a bad file
            raise PipelineError(f"{path}: not a readable Parquet file ({type(e).__name__})") from None
        df["_line"] = range(1, len(df) + 1)
    else:
        raw = _read_bytes(path)
        if not raw.strip():
            raise PipelineError(f"{path}: file is empty")
        text = _decode(path, raw, encoding)
        if fmt in ("csv", "tsv"):
            df = _read_delimited(path, text, "," if fmt == "csv" else "\t")
        elif fmt == "jsonl":
            df = _read_jsonl(path, text)
        else:
            df = _read_txt(path, text)
    if df.empty:
        raise PipelineError(f"{path}: file has a header but no rows")
    return df
