"""Local files: CSV, TSV, JSONL, Parquet and plain text (one item per line), each optionally gzipped.

Parsing is DuckDB's: ``sniff_csv`` finds the delimiter, quote, escape and header of a CSV/TSV, ``read_csv``
reads it with exactly that dialect (every value as text), ``read_json`` reads JSON lines and ``read_parquet``
Parquet. Decoding is Python's codecs: the file's bytes are decoded here first, so an undecodable byte is
reported with its line, column and byte offset, any codec Python knows works (DuckDB itself knows only
UTF-8, UTF-16 and Latin-1 without an extension that would have to be downloaded), and DuckDB is handed the
file itself when it is UTF-8 (gzipped or not) or a UTF-8 copy otherwise.

Every row keeps the line it came from (``_line``, 1-based, blank lines counted), so later checks (labels,
empty text) can name it. DuckDB does not report the line of a good row, so it is recovered from the rows
it returns: each row starts on the next line that DuckDB would not skip and spans one line more than the
newlines inside its quoted values; the walk must end exactly at the end of the file, or it is a bug.

The frame's ``attrs`` record how the file was read (``encoding``, and for CSV/TSV ``delimiter``, ``quote``,
``header``, ``header_note``, ``duplicate_names``) for the messages of :func:`resolve_columns`.
"""
from __future__ import annotations

import codecs
import gzip
import json
import re
import tempfile
from collections import Counter
from dataclasses import replace
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from pipeline.errors import PipelineError

FORMATS = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl",
           ".json": "jsonl", ".parquet": "parquet", ".pq": "parquet", ".txt": "txt"}
COLUMN_ROLES = ("text", "text_b", "label", "split")
_BOMS = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


def file_format(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    fmt = FORMATS.get(suffixes[-1]) if suffixes else None
    if fmt is None:
        raise PipelineError(f"{path}: unknown file type (use one of {', '.join(sorted(FORMATS))}, "
                            f"optionally .gz)")
    return fmt


# --- bytes and text ----------------------------------------------------------------------------------------

def _check_exists(path: Path) -> None:
    if not path.exists():
        raise PipelineError(f"{path}: file not found")
    if path.is_dir():
        raise PipelineError(f"{path}: is a folder, expected a file")


def _read_bytes(path: Path) -> bytes:
    _check_exists(path)
    raw = path.read_bytes()
    if path.suffix.lower() == ".gz":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as e:
            raise PipelineError(f"{path}: not a valid gzip file ({e})") from None
    return raw


def _is_utf8(encoding: str) -> bool:
    return codecs.lookup(encoding).name == "utf-8"


def _decode(path: Path, raw: bytes, encoding: str) -> tuple[str, str]:
    """The text (without a byte-order mark) and the encoding used.

    ``encoding="auto"``: a byte-order mark decides (UTF-8 or UTF-16); otherwise UTF-8 if every byte decodes,
    else cp1252 (what Windows tools write; a superset of Latin-1's printable characters), else Latin-1,
    which decodes any byte.
    """
    if encoding == "auto":
        bom = next((name for mark, name in _BOMS if raw.startswith(mark)), None)
        candidates = [bom] if bom else ["utf-8", "cp1252", "latin-1"]
        for candidate in candidates[:-1]:
            try:
                return raw.decode(candidate).lstrip("\ufeff"), candidate
            except UnicodeDecodeError:
                continue
        encoding = candidates[-1]
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        col = e.start - (raw.rfind(b"\n", 0, e.start) + 1) + 1
        where = "of the uncompressed data" if path.suffix.lower() == ".gz" else "in the file"
        bom = next((name for mark, name in _BOMS if raw.startswith(mark)), None)
        fix = f"the file starts with a {bom} byte-order mark: set encoding={bom} or auto" \
            if bom and bom != codecs.lookup(encoding).name else "set encoding=cp1252, latin-1 or auto"
        raise PipelineError(
            f"{path} line {line}: byte 0x{raw[e.start]:02x} at column {col} is not valid {encoding} "
            f"(byte offset {e.start} {where}; encoding={encoding}: {fix} for this dataset)") from None
    except LookupError:
        raise PipelineError(f"{path}: unknown encoding {encoding!r}") from None
    return text.lstrip("\ufeff"), encoding  # a byte-order mark is not part of the first column's name


def _newline(text: str) -> str:
    return "\r" if "\n" not in text and "\r" in text else "\n"


def _split_lines(text: str, newline: str) -> list[str]:
    """Physical lines without their terminators (a final terminator does not start another line)."""
    lines = text.split(newline)
    if lines and lines[-1] == "":
        lines.pop()
    return [line.rstrip("\r") for line in lines] if newline == "\n" else lines


class _Source:
    """The path DuckDB reads: the file itself when it is UTF-8 without a BOM, else a UTF-8 copy."""

    def __init__(self, path: Path, text: str, encoding: str, had_bom: bool):
        self._tmp = None
        if _is_utf8(encoding) and not had_bom:
            self.path = str(path)
        else:
            self._tmp = tempfile.TemporaryDirectory(prefix="illusion-read-")
            copy = Path(self._tmp.name) / ("data" + "".join(s for s in path.suffixes if s.lower() != ".gz"))
            copy.write_text(text, encoding="utf-8", newline="")
            self.path = str(copy)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self._tmp is not None:
            self._tmp.cleanup()


def _first_line(message: str) -> str:
    return str(message).strip().splitlines()[0] if str(message).strip() else type(message).__name__


# --- options -----------------------------------------------------------------------------------------------

def _check_options(path: Path, encoding: str, header, delimiter: str, quote: str) -> None:
    if header not in (True, False, "auto"):
        raise PipelineError(f"{path}: header must be true, false or auto, got {header!r}")
    if not isinstance(delimiter, str) or (delimiter != "auto" and len(delimiter) != 1):
        raise PipelineError(f"{path}: delimiter must be auto or one character, got {delimiter!r}")
    if not isinstance(quote, str) or (quote != "auto" and len(quote) > 1):
        raise PipelineError(f"{path}: quote must be auto, one character or empty (none), got {quote!r}")
    if encoding != "auto":
        try:
            codecs.lookup(encoding)
        except (LookupError, TypeError):
            raise PipelineError(f"{path}: unknown encoding {encoding!r}") from None


# --- CSV / TSV ---------------------------------------------------------------------------------------------

_EMPTY = "(empty)"  # how sniff_csv shows an unset quote, escape or comment


def _sniff(con, source: str, header, delimiter: str | None, quote: str | None) -> dict:
    """DuckDB's sniffer, with the settings the user gave fixed and the rest detected (comments never: a
    text that starts with '#' is data)."""
    opts = {"comment": ""}
    if delimiter is not None:
        opts["delim"] = delimiter
    if quote is not None:
        opts["quote"] = quote
        if quote == "":
            opts["escape"] = ""
    if header != "auto":
        opts["header"] = header
    names = ", ".join(f"{k} := ?" for k in opts)
    row = con.execute(f"select * from sniff_csv(?, {names}, store_rejects := true, sample_size := -1)",
                      [source, *opts.values()]).fetchone()
    cols = [d[0] for d in con.description]
    s = dict(zip(cols, row))
    quote_char = "" if s["Quote"] == _EMPTY else s["Quote"]
    escape = "" if s["Escape"] == _EMPTY else s["Escape"]
    if quote_char and not escape:
        escape = quote_char  # RFC 4180: a doubled quote inside quotes, even if the sample had none
    return {"delim": s["Delimiter"], "quote": quote_char, "escape": escape, "skip": int(s["SkipRows"]),
            "header": bool(s["HasHeader"]), "names": [c["name"] for c in s["Columns"]],
            "types": [c["type"] for c in s["Columns"]]}


def _scan(con, source: str, dialect: dict, header: bool, ncols: int, limit: int | None = None):
    """Rows (all text) read with exactly this dialect; bad rows go to the rejects table, not the result."""
    columns = {str(i + 1): "VARCHAR" for i in range(ncols)}
    sql = ("select * from read_csv(?, auto_detect := false, columns := ?, header := ?, delim := ?, quote := ?, "
           "escape := ?, comment := '', skip := ?, strict_mode := true, null_padding := false, "
           "store_rejects := true, rejects_table := 'rejects', rejects_scan := 'reject_scans')")
    if limit is not None:
        sql += f" limit {int(limit)}"
    arrays = con.execute(sql, [source, columns, header, dialect["delim"], dialect["quote"], dialect["escape"],
                               dialect["skip"]]).fetchnumpy()
    out = {}
    for name, values in arrays.items():  # text stays Python str in object columns, NULL as None
        column = np.asarray(np.ma.getdata(values), dtype=object).copy()
        mask = np.ma.getmaskarray(values)
        column[mask] = None
        out[name] = column
    return pd.DataFrame(out, columns=list(columns), dtype=object)


def _settings(dialect: dict, user: dict, header: bool | None) -> str:
    """The settings a read used, for an error message; header None: not decided (the sniffer failed)."""
    def one(name, value, given):
        return f"{name}={value!r}" + ("" if given else " (detected)")

    quote = repr(dialect["quote"]) if dialect["quote"] else "none"
    return ", ".join([one("delimiter", dialect["delim"], user["delimiter"] is not None),
                      f"quote={quote}" + ("" if user["quote"] is not None else " (detected)"),
                      "header=auto" if header is None else
                      f"header={str(header).lower()}" + ("" if user["header"] != "auto" else " (detected)")])


def _first_reject(con, path: Path, ncols: int, header: bool, settings: str) -> PipelineError | None:
    rows = con.execute("select line, error_type, error_message, csv_line from rejects order by line").fetchall()
    for line, kind, message, csv_line in rows:
        if kind == "MISSING COLUMNS" and not str(csv_line).strip():
            continue  # a line of spaces is a blank line, as it is in a one-column file
        if kind in ("TOO MANY COLUMNS", "MISSING COLUMNS"):
            m = re.search(r"Found:\s*(\d+)", str(message))
            found = f", found {m.group(1)}" if m else ""
            basis = "as in the header" if header else "as in the first row"
            fields = f"{ncols} field{'s' if ncols != 1 else ''}"
            return PipelineError(f"{path} line {line}: expected {fields} ({basis}){found} [{settings}]; "
                                 f"fix the row, or set delimiter= / quote= for this dataset")
        if kind == "UNQUOTED VALUE":
            return PipelineError(f"{path} line {line}: a quoted value is not closed, or has text after its "
                                 f"closing quote [{settings}]; fix the quotes, or set quote=none if they are "
                                 f"ordinary characters in this file")
        return PipelineError(f"{path} line {line}: {kind.lower()}: {_first_line(message)} [{settings}]")
    return None


def _diagnose_sniff_failure(path: Path, source: str, lines: list[str], user: dict, error) -> PipelineError:
    """The sniffer found no consistent layout: read the file with the layout of its first line, so that the
    first line that breaks it can be named."""
    given = ", ".join(f"{k}={v!r}" for k, v in user.items() if v not in (None, "auto")) or "all detected"
    generic = PipelineError(f"{path}: DuckDB's CSV sniffer found no consistent layout ({given}): rows with "
                            f"different numbers of fields, or an unclosed quote; set delimiter=, quote= and "
                            f"header= for this dataset ({_first_line(error)})")
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is None:
        return generic
    with tempfile.TemporaryDirectory(prefix="illusion-sniff-") as tmp:
        one = Path(tmp) / "first.csv"
        one.write_text(lines[first] + "\n", encoding="utf-8")
        con = duckdb.connect()
        try:
            dialect = _sniff(con, str(one), False, user["delimiter"], user["quote"])
            dialect["skip"] = first
            header = user["header"] is True
            con2 = duckdb.connect()
            try:
                _scan(con2, source, dialect, header, len(dialect["names"]))
                found = _first_reject(con2, path, len(dialect["names"]), header,
                                      _settings(dialect, user, None if user["header"] == "auto" else header))
            finally:
                con2.close()
        except duckdb.Error:
            return generic
        finally:
            con.close()
    return found or generic


def _row_lines(path: Path, lines: list[str], values: pd.DataFrame, skip: int, header_span: int,
               newline: str) -> list[int]:
    """The 1-based line each row starts on (see the module docstring)."""
    one_column = values.shape[1] == 1
    n_rows, n = len(values), len(lines)
    i = skip
    if header_span:
        while not one_column and i < n and not lines[i].strip():
            i += 1
        i += header_span
    # A row starts on a line DuckDB does not skip: any line in a one-column file, a non-blank one otherwise.
    starts = np.arange(i, n) if one_column else np.array([k for k in range(i, n) if lines[k].strip()], dtype=int)
    if not any("".join(v for v in values[c] if v).count(newline) for c in values.columns):
        out = starts[:n_rows]  # no value spans lines: the rows are the first lines that can start one
        end = int(out[-1]) + 1 if len(out) == n_rows and n_rows else (i if not n_rows else n + 1)
    else:
        spans = np.ones(n_rows, dtype=np.int64)
        for c in values.columns:
            spans += np.fromiter((v.count(newline) if v else 0 for v in values[c]), dtype=np.int64, count=n_rows)
        out, j, end = [], 0, i
        for span in spans.tolist():
            j = int(np.searchsorted(starts, end))  # the next line a row can start on
            if j >= len(starts):
                end = n + 1
                break
            out.append(int(starts[j]))
            end = int(starts[j]) + span
        out = np.array(out, dtype=int)
    if len(out) != n_rows or end > n or any(lines[k].strip() for k in range(end, n)):
        raise RuntimeError(f"{path}: the rows DuckDB read do not map onto the file's lines "
                           f"({n_rows} rows, {len(out)} placed, stopped at line {end} of {n})")
    return (out + 1).tolist()


def _read_delimited(path: Path, source: str, text: str, fmt: str, header, delimiter: str,
                    quote: str) -> pd.DataFrame:
    user = {"delimiter": None if delimiter == "auto" else delimiter,
            "quote": None if quote == "auto" else quote, "header": header}
    if user["delimiter"] is None and fmt == "tsv":
        user["delimiter"] = "\t"  # the extension says so; a sniffer could prefer the commas inside texts
    newline = _newline(text)
    lines = _split_lines(text, newline)
    con = duckdb.connect()
    try:
        try:
            dialect = _sniff(con, source, header, user["delimiter"], user["quote"])
        except duckdb.Error as e:
            raise _diagnose_sniff_failure(path, source, lines, user, e) from None
        # Only leading blank lines are skipped: a line the sniffer would skip as a preamble is read like any
        # other, so that it is a header, a row or an error, never lost without a word.
        dialect["skip"] = next((k for k, line in enumerate(lines) if line.strip()), len(lines))
        ncols = len(dialect["names"])
        has_header = dialect["header"]
        header_values: list[str] = []
        if has_header:
            first = _scan(con, source, dialect, False, ncols, limit=1)
            header_values = ["" if v is None or v != v else str(v).strip() for v in first.iloc[0].tolist()] \
                if len(first) else []
        df = _scan(con, source, dialect, has_header, ncols)
        if header == "auto" and has_header and len(df) and all(t == "VARCHAR" for t in dialect["types"]) \
                and any(v in {x.strip() for x in df[c] if x is not None}
                        for c, v in zip(df.columns, header_values) if v):
            # DuckDB takes the first row of an all-text file for a header; a "header" value that recurs as a
            # value of its column (a label such as pos/neg) shows it is data.
            has_header, header_values = False, []
            con.execute("delete from rejects")
            df = _scan(con, source, dialect, False, ncols)
        settings = _settings(dialect, user, has_header)
        err = _first_reject(con, path, ncols, has_header, settings)
        if err is not None:
            raise err
    finally:
        con.close()
    header_span = (1 + sum(v.count(newline) for v in header_values)) if has_header else 0
    line_of = _row_lines(path, lines, df, dialect["skip"], header_span, newline)
    if has_header:
        names = list(dialect["names"])
        note = f"header=true: the column names are line {dialect['skip'] + 1}"
        if header == "auto":
            note = f"header=auto took line {dialect['skip'] + 1} as the header"
    else:
        names = [str(i + 1) for i in range(ncols)]
        note = "no header: columns are numbered from 1" + (" (header=auto found none)" if header == "auto" else "")
    df.columns = names
    df["_line"] = line_of
    if ncols == 1:  # DuckDB gives a blank line a row of its own in a one-column file: skip it, as elsewhere
        blank = [(v is None or not str(v).strip()) and not lines[at - 1].strip()
                 for v, at in zip(df[names[0]], df["_line"])]
        df = df[[not b for b in blank]].reset_index(drop=True)
    counts = Counter(v for v in header_values if v)
    df.attrs.update(delimiter=dialect["delim"], quote=dialect["quote"], header=has_header, header_note=note,
                    duplicate_names={name: [j + 1 for j, v in enumerate(header_values) if v == name]
                                     for name, k in counts.items() if k > 1})
    if df.empty:
        if has_header:
            raise PipelineError(f"{path}: file has a header but no rows ({note}; set header=false if that "
                                f"line is data)")
        raise PipelineError(f"{path}: file is empty")
    return df


# --- JSON lines / Parquet / text ---------------------------------------------------------------------------

def _read_jsonl(path: Path, source: str, text: str) -> pd.DataFrame:
    lines = _split_lines(text, _newline(text))
    con = duckdb.connect()
    try:
        rel = con.execute("select * from read_json(?, format := 'newline_delimited', records := true, "
                          "sample_size := -1)", [source])
        json_cols = [d[0] for d in rel.description if str(d[1]).upper() == "JSON"]
        df = rel.df()
    except duckdb.Error as e:
        msg = _first_line(e)
        m = re.search(r"in line (\d+): (.*)$", msg)
        if "Malformed JSON" in msg and m:
            raise PipelineError(f"{path} line {m.group(1)}: invalid JSON ({m.group(2).strip()})") from None
        if "expected records" in msg or "non-record" in str(e):
            bad = next((i for i, line in enumerate(lines, start=1)
                        if line.strip() and not line.lstrip().startswith("{")), None)
            where = f" line {bad}" if bad else ""
            raise PipelineError(f"{path}{where}: expected a JSON object per line") from None
        raise PipelineError(f"{path}: not readable as JSON lines ({msg})") from None
    finally:
        con.close()
    for c in json_cols:  # a key whose values mix types: keep each value as JSON gave it
        df[c] = [None if v is None or v is pd.NA or (isinstance(v, float) and v != v) else json.loads(v)
                 for v in df[c]]
    line_of = [i for i, line in enumerate(lines, start=1) if line.strip()]
    if len(line_of) != len(df):
        raise RuntimeError(f"{path}: DuckDB read {len(df)} JSON lines, the file has {len(line_of)}")
    df["_line"] = line_of
    return df


def _read_parquet(path: Path) -> pd.DataFrame:
    _check_exists(path)
    if path.stat().st_size == 0:
        raise PipelineError(f"{path}: file is empty")
    with tempfile.TemporaryDirectory(prefix="illusion-read-") as tmp:
        source = str(path)
        if path.suffix.lower() == ".gz":
            source = str(Path(tmp) / "data.parquet")
            Path(source).write_bytes(_read_bytes(path))
        con = duckdb.connect()
        try:
            df = con.execute("select * from read_parquet(?)", [source]).df()
        except duckdb.Error as e:
            raise PipelineError(f"{path}: not a readable Parquet file ({_first_line(e)})") from None
        finally:
            con.close()
    df["_line"] = range(1, len(df) + 1)
    return df


def _read_txt(text: str) -> pd.DataFrame:
    items = [(i, line.strip()) for i, line in enumerate(_split_lines(text, _newline(text)), start=1)
             if line.strip()]
    return pd.DataFrame({"text": [t for _, t in items], "_line": [i for i, _ in items]})


def read_file(path: str | Path, encoding: str = "utf-8", header="auto", delimiter: str = "auto",
              quote: str = "auto") -> pd.DataFrame:
    """All rows of a local file, plus ``_line`` (1-based source line, or row for Parquet).

    CSV/TSV values are strings (None for an empty cell); JSON lines and Parquet keep their types.
    header: True, False or "auto" (DuckDB's sniffer); delimiter: "auto" (sniffed for .csv, a tab for .tsv)
    or one character; quote: "auto", one character, or "" for none; encoding: a Python codec name or "auto"
    (see ``_decode``). Ignored where they do not apply (header/delimiter/quote for JSON, Parquet and text;
    encoding for Parquet).
    """
    path = Path(path)
    fmt = file_format(path)
    _check_options(path, encoding, header, delimiter, quote)
    if fmt == "parquet":
        df = _read_parquet(path)
        if df.empty:
            raise PipelineError(f"{path}: file has no rows")
        return df
    raw = _read_bytes(path)
    if not raw.strip():
        raise PipelineError(f"{path}: file is empty")
    text, used = _decode(path, raw, encoding)
    if not text.strip():
        raise PipelineError(f"{path}: file is empty")
    had_bom = any(raw.startswith(mark) for mark, _ in _BOMS)
    if fmt == "txt":
        df = _read_txt(text)
    else:
        with _Source(path, text, used, had_bom) as src:
            if fmt in ("csv", "tsv"):
                df = _read_delimited(path, src.path, text, fmt, header, delimiter, quote)
            else:
                df = _read_jsonl(path, src.path, text)
    if df.empty:
        raise PipelineError(f"{path}: file has no rows")
    df.attrs["encoding"] = used
    return df


# --- columns by name or position ---------------------------------------------------------------------------

def resolve_columns(raw: pd.DataFrame, spec):
    """``spec`` with each column role (text, text_b, label, split) given by 1-based position replaced by the
    column's name; an unknown name, a position out of range or a name the header has twice is a one-line
    error that lists the columns found."""
    cols = [c for c in raw.columns if c != "_line"]
    note = raw.attrs.get("header_note")
    listing = ", ".join(map(str, cols)) + (f"; {note}" if note else "")
    dups = raw.attrs.get("duplicate_names", {})
    changes = {}
    for role in COLUMN_ROLES:
        col = getattr(spec, role)
        if col is None:
            continue
        if isinstance(col, int) and not isinstance(col, bool):
            if not 1 <= col <= len(cols):
                raise PipelineError(f"{spec.path}: {role}={col} is out of range: the file has {len(cols)} "
                                    f"column{'s' if len(cols) != 1 else ''} (columns: {listing})")
            changes[role] = cols[col - 1]
            continue
        if col not in cols:
            hint = f" ({role}={col} without quotes is a position)" if str(col).isdigit() else ""
            raise PipelineError(f"{spec.path}: no column {col!r} for {role} (columns: {listing}); set "
                                f"{role}=<column name or 1-based position> for this dataset{hint}")
        if col in dups:
            raise PipelineError(f"{spec.path}: the header names {col!r} {len(dups[col])} times (columns "
                                f"{', '.join(map(str, dups[col]))}); set {role}=<position> for this dataset")
    return replace(spec, **changes)


def read_dataset_file(spec) -> tuple[pd.DataFrame, object]:
    """The rows of a ``source=file`` dataset and its spec with every column role given by name."""
    raw = read_file(spec.path, spec.encoding, spec.header, spec.delimiter, spec.quote)
    return raw, resolve_columns(raw, spec)
