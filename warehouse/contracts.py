"""Schema contracts: declared once, in the schema files, and checked by the build before a new file is swapped in.

Comment lines right after a table's ``create table ...;`` statement declare its contracts::

    -- key: col_a, col_b                                    unique, and never null
    -- ref: col_a, col_b -> parent_table(col_a, col_b)       every row has a parent row
    -- check: what must hold: select count(*) from ...      any other rule, as SQL counting the violating rows

Either side of a ``ref`` may instead be a parenthesised query followed by its columns, for references held
in lists or to (or from) a filtered set of rows::

    -- ref: (select dataset, unnest(sentence_ids) as sentence_id from neuron_topk)(dataset, sentence_id)
    --     -> sentences(dataset, sentence_id)

A comment line of ``--`` and at least three spaces continues the annotation above it (the pieces are joined
with one space). An annotation belongs to the last ``create table`` above it in the same file. DuckDB
constraints are not used so that bulk loads stay fast; the contracts are queries, each counting violations.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Union

import duckdb

import warehouse

# A schema text the caller contributes: its text (named by position), a path to a .sql file, or (name, text).
SchemaSource = Union[str, os.PathLike, "tuple[str, str]"]

_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
_CREATE = re.compile(rf"^\s*create\s+(?:or\s+replace\s+)?table\s+(?:if\s+not\s+exists\s+)?({_IDENT})\b", re.I)
_ANNOTATION = re.compile(r"^\s*--\s?([a-z_]+):(.*)$")
_CONTINUATION = re.compile(r"^\s*-- {3,}(\S.*)$")
KINDS = ("key", "ref", "check")
# Words that look meant as an annotation but are not one (plain comments may use any other "word:" freely).
_NEAR_MISSES = {"keys", "unique", "primary", "pk", "refs", "references", "reference", "foreign", "fk", "checks"}


class SchemaAnnotationError(ValueError):
    """A contract annotation that cannot be read; the message is one line naming the file and line."""


@dataclass(frozen=True)
class Ref:
    child: str              # the table, or a parenthesised query
    child_cols: tuple[str, ...]
    parent: str             # a table, or a parenthesised query
    parent_cols: tuple[str, ...]


@dataclass
class TableContracts:
    """One ``create table`` of a schema file and the contracts annotated under it."""
    table: str
    file: str
    line: int
    keys: list[tuple[str, ...]] = field(default_factory=list)
    refs: list[Ref] = field(default_factory=list)
    checks: list[tuple[str, str]] = field(default_factory=list)   # (description, SQL counting violations)


@dataclass
class SchemaFile:
    name: str               # e.g. warehouse/schema/001_core.sql
    text: str
    tables: list[TableContracts]
    builtin: bool = True    # one of warehouse/schema/*.sql, as opposed to a stage's extra_sql


def _display_name(path: Path) -> str:
    root = warehouse.SCHEMA_DIR.parent.parent
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)


def _sources(extra_sql: Iterable[SchemaSource]) -> list[tuple[str, str, bool]]:
    out = [(_display_name(p), p.read_text(), True) for p in sorted(warehouse.SCHEMA_DIR.glob("*.sql"))]
    for i, src in enumerate(extra_sql):
        if isinstance(src, tuple):
            out.append((str(src[0]), src[1], False))
        elif isinstance(src, os.PathLike):
            out.append((_display_name(Path(src)), Path(src).read_text(), False))
        else:
            out.append((f"<extra_sql[{i}]>", src, False))
    return out


def _group_end(text: str, i: int) -> int:
    """Index just past the parenthesis matching the one at text[i] (quoted text skipped)."""
    depth, quote = 0, None
    for j in range(i, len(text)):
        ch = text[j]
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                return j + 1
    raise ValueError(f"unbalanced parentheses in {text[i:]!r}")


def _columns(text: str) -> tuple[str, ...]:
    cols = tuple(c.strip() for c in text.split(","))
    if not cols or not all(re.fullmatch(_IDENT, c) for c in cols):
        raise ValueError(f"expected column names separated by commas, found {text.strip()!r}")
    return cols


def _source_and_columns(text: str, i: int, what: str) -> tuple[str, tuple[str, ...], int]:
    """``name(cols)`` or ``(query)(cols)`` at text[i:]: (name or query, columns, index after it)."""
    while i < len(text) and text[i].isspace():
        i += 1
    if text.startswith("(", i):
        end = _group_end(text, i)
        source = text[i:end]
    else:
        m = re.compile(_IDENT).match(text, i)
        if not m:
            raise ValueError(f"expected a table name or a parenthesised query as the {what}, "
                             f"found {text[i:].strip()!r}")
        source, end = m.group(0), m.end()
    while end < len(text) and text[end].isspace():
        end += 1
    if not text.startswith("(", end):
        raise ValueError(f"expected ({what} columns) after {source!r}")
    cols_end = _group_end(text, end)
    return source, _columns(text[end + 1:cols_end - 1]), cols_end


def _parse_ref(table: str, body: str) -> Ref:
    body = body.strip()
    if body.startswith("("):
        child, ccols, i = _source_and_columns(body, 0, "child")
        rest = body[i:].lstrip()
        if not rest.startswith("->"):
            raise ValueError(f"expected '->' after {body[:i]!r}")
        rest = rest[2:]
    else:
        if "->" not in body:
            raise ValueError("expected 'columns -> parent(columns)'")
        left, rest = body.split("->", 1)
        child, ccols = table, _columns(left)
    parent, pcols, j = _source_and_columns(rest, 0, "parent")
    if rest[j:].strip():
        raise ValueError(f"unexpected text after the parent columns: {rest[j:].strip()!r}")
    if len(ccols) != len(pcols):
        raise ValueError(f"{len(ccols)} child columns but {len(pcols)} parent columns")
    return Ref(child, ccols, parent, pcols)


def _parse_check(body: str) -> tuple[str, str]:
    if ":" not in body:
        raise ValueError("expected 'description: select count(*) ...'")
    desc, sql = (s.strip() for s in body.split(":", 1))
    if not desc or not re.match(r"(select|with)\b", sql, re.I):
        raise ValueError(f"expected 'description: select count(*) ...', found {body.strip()!r}")
    return desc, sql


def parse(text: str, name: str) -> list[TableContracts]:
    """The tables a schema text creates, each with the contracts annotated under it.

    Raises SchemaAnnotationError ("<name> line <n>: ...") for an annotation it cannot read."""
    tables: list[TableContracts] = []
    pending: list[tuple[int, str, str]] = []   # (line, kind, body) of the annotation being read

    def flush():
        if not pending:
            return
        line, kind, body = pending.pop()
        table = tables[-1]
        try:
            if kind == "key":
                table.keys.append(_columns(body))
            elif kind == "ref":
                table.refs.append(_parse_ref(table.table, body))
            else:
                table.checks.append(_parse_check(body))
        except ValueError as e:
            raise SchemaAnnotationError(f"{name} line {line}: bad '{kind}' annotation of {table.table}: {e}") from None

    for n, raw in enumerate(text.splitlines(), 1):
        cont = _CONTINUATION.match(raw)
        if cont and pending:
            pending[-1] = (pending[-1][0], pending[-1][1], pending[-1][2].rstrip() + " " + cont.group(1).strip())
            continue
        flush()
        ann = _ANNOTATION.match(raw)
        if ann:
            kind = ann.group(1)
            if kind in _NEAR_MISSES:
                raise SchemaAnnotationError(f"{name} line {n}: unknown annotation '{kind}:' "
                                            f"(expected one of {', '.join(k + ':' for k in KINDS)})")
            if kind in KINDS:
                if not tables:
                    raise SchemaAnnotationError(f"{name} line {n}: '{kind}' annotation before any create table")
                pending.append((n, kind, ann.group(2)))
                continue
        m = _CREATE.match(raw)
        if m:
            tables.append(TableContracts(m.group(1), name, n))
    flush()
    return tables


def schema_files(extra_sql: Iterable[SchemaSource] = ()) -> list[SchemaFile]:
    """warehouse/schema/*.sql in order, then ``extra_sql``, each parsed."""
    return [SchemaFile(name, text, parse(text, name), builtin) for name, text, builtin in _sources(extra_sql)]


def _queries(t: TableContracts) -> list[tuple[str, str]]:
    out = []
    for key in t.keys:
        cols = ", ".join(key)
        out.append((f"{t.table} unique ({cols})",
                    f"select count(*) from (select {cols} from {t.table} group by all having count(*) > 1)"))
        nulls = " or ".join(f"{c} is null" for c in key)
        out.append((f"{t.table} not null ({cols})", f"select count(*) from {t.table} where {nulls}"))
    for r in t.refs:
        on = " and ".join(f"c.{a} = p.{b}" for a, b in zip(r.child_cols, r.parent_cols))
        out.append((f"{r.child}({', '.join(r.child_cols)}) -> {r.parent}",
                    f"select count(*) from {r.child} c anti join {r.parent} p on {on}"))
    out.extend(t.checks)
    return out


def contract_queries(extra_sql: Iterable[SchemaSource] = ()) -> list[tuple[str, str]]:
    """(description, SQL returning the number of violating rows) for every annotation of the schema files
    and of ``extra_sql`` (schema texts of registered stages)."""
    return [q for f in schema_files(extra_sql) for t in f.tables for q in _queries(t)]


def violations(con: duckdb.DuckDBPyConnection, extra_sql: Iterable[SchemaSource] = ()) -> list[tuple[str, int]]:
    """(description, violating rows) of every contract that does not hold on ``con``."""
    found = []
    for name, sql in contract_queries(extra_sql):
        n = con.execute(sql).fetchone()[0]
        if n:
            found.append((name, int(n)))
    return found
