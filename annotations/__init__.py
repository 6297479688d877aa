"""The blind-annotation store: tasks and annotations in a small DuckDB file of their own, never the warehouse.

The protocol is Bolukbasi et al. 2021, Section 3.2: an annotator sees ten sentences of one dataset, either the
top ten of a randomly chosen neuron, the top ten of a seeded random direction, or ten random sentences, without
knowing which, and says whether they share a pattern and which sentences show it.

Path: ``$ILLUSION_ANNOTATIONS``, else ``<warehouse>.annotations.duckdb`` next to the warehouse. Every read and
write opens its own short-lived connection and closes it, so a dashboard process never holds the file's lock
between reruns (a second process, or another browser session, can write in between).
"""
from __future__ import annotations

import os
import time
import zlib
from collections.abc import Sequence
from contextlib import contextmanager
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

import warehouse
from analysis.drift import extremes_from_scores, one_hot, random_direction
from warehouse import queries

CONDITIONS = ("neuron", "random_direction", "random_sentences")

SCHEMA = """
create table if not exists tasks (
    task_id integer primary key,
    run_id varchar not null,
    layer integer not null,
    pooling varchar not null,
    dataset varchar not null,
    condition varchar not null check (condition in ('neuron', 'random_direction', 'random_sentences')),
    direction_id varchar not null,
    sentence_ids integer[] not null,
    created_at timestamp not null default current_timestamp
);
create table if not exists annotations (
    task_id integer not null,
    annotator varchar not null,
    has_pattern boolean not null,
    pattern varchar,
    positive_ids integer[] not null,
    created_at timestamp not null default current_timestamp,
    primary key (task_id, annotator)
);
create table if not exists pattern_merges (
    pattern varchar primary key,
    merged_into varchar not null,
    merged_by varchar,
    created_at timestamp not null default current_timestamp
);
"""

TASK_COLUMNS = ["task_id", "run_id", "layer", "pooling", "dataset", "condition", "direction_id", "sentence_ids",
                "created_at"]
ANNOTATION_COLUMNS = ["task_id", "annotator", "has_pattern", "pattern", "positive_ids", "created_at"]


def default_path() -> Path:
    """$ILLUSION_ANNOTATIONS, else ``<warehouse path>.annotations.duckdb`` in the warehouse's folder."""
    env = os.environ.get("ILLUSION_ANNOTATIONS")
    if env:
        return Path(env)
    wh = warehouse.default_path()
    return wh.with_name(wh.name + ".annotations.duckdb")


@contextmanager
def _connect(path=None, read_only: bool = False, retries: int = 20):
    """A connection for one operation, closed afterwards. Retries briefly while another process holds the lock."""
    path = Path(path) if path is not None else default_path()
    for attempt in range(retries):
        try:
            con = duckdb.connect(str(path), read_only=read_only)
            break
        except duckdb.IOException:
            if attempt == retries - 1:
                raise
            time.sleep(0.05 * (attempt + 1))
    try:
        if not read_only:
            con.execute(SCHEMA)
        yield con
    finally:
        con.close()


def _read(path, sql: str, columns: list[str], list_column: str) -> pd.DataFrame:
    path = Path(path) if path is not None else default_path()
    if not path.exists():
        return pd.DataFrame(columns=columns)
    with _connect(path, read_only=True) as con:
        if not _has_tables(con):
            return pd.DataFrame(columns=columns)
        df = con.execute(sql).df()
    df[list_column] = df[list_column].map(lambda v: [int(i) for i in v])
    return df[columns]


def tasks(path=None) -> pd.DataFrame:
    """All tasks, by task_id (an empty frame with the columns when there is no store yet)."""
    return _read(path, "select * from tasks order by task_id", TASK_COLUMNS, "sentence_ids")


def annotations(path=None) -> pd.DataFrame:
    """All annotations (one per task and annotator)."""
    return _read(path, "select * from annotations order by created_at, task_id, annotator", ANNOTATION_COLUMNS,
                 "positive_ids")


def merges(path=None) -> dict[str, str]:
    """The manual pattern merges {pattern: the pattern it is merged into} (normalised forms), {} when none."""
    path = Path(path) if path is not None else default_path()
    if not path.exists():
        return {}
    with _connect(path, read_only=True) as con:
        if "pattern_merges" not in set(con.execute("select table_name from duckdb_tables()").df()["table_name"]):
            return {}
        return dict(con.execute("select pattern, merged_into from pattern_merges order by pattern").fetchall())


def add_merge(pattern: str, merged_into: str, merged_by: str = "", path=None) -> None:
    """Merge ``pattern`` into ``merged_into`` (both normalised pattern strings; replaces an earlier merge of
    ``pattern``). A pattern cannot be merged into itself, nor into one already merged into it."""
    pattern, merged_into = pattern.strip(), merged_into.strip()
    if not pattern or not merged_into:
        raise ValueError("both patterns are required")
    if pattern == merged_into:
        raise ValueError(f"cannot merge {pattern!r} into itself")
    current = merges(path)
    p = merged_into
    while p in current:
        p = current[p]
        if p == pattern:
            raise ValueError(f"{merged_into!r} is already merged into {pattern!r}")
    with _connect(path) as con:
        con.execute("insert or replace into pattern_merges (pattern, merged_into, merged_by) values (?, ?, ?)",
                    [pattern, merged_into, merged_by.strip() or None])


def remove_merge(pattern: str, path=None) -> None:
    with _connect(path) as con:
        con.execute("delete from pattern_merges where pattern = ?", [pattern])


def _has_tables(con) -> bool:
    names = set(con.execute("select table_name from duckdb_tables()").df()["table_name"])
    return {"tasks", "annotations"} <= names


def add_tasks(new: pd.DataFrame, path=None) -> pd.DataFrame:
    """Append tasks (columns run_id, layer, pooling, dataset, condition, direction_id, sentence_ids) in the given
    order, numbering them after the existing ones. A task identical to a stored one (same run, layer, pooling,
    dataset, condition, direction and sentences) is skipped. Returns the rows written, with their task_id."""
    bad = set(new["condition"]) - set(CONDITIONS)
    if bad:
        raise ValueError(f"unknown condition(s): {sorted(bad)}")
    with _connect(path) as con:
        existing = con.execute("select run_id, layer, pooling, dataset, condition, direction_id, sentence_ids "
                               "from tasks").fetchall()
        seen = {(r, int(la), p, d, c, i, tuple(s)) for r, la, p, d, c, i, s in existing}
        next_id = int(con.execute("select coalesce(max(task_id), 0) + 1 from tasks").fetchone()[0])
        rows = []
        for t in new.itertuples(index=False):
            ids = [int(i) for i in t.sentence_ids]
            key = (t.run_id, int(t.layer), t.pooling, t.dataset, t.condition, t.direction_id, tuple(ids))
            if key in seen:
                continue
            seen.add(key)
            rows.append((next_id, *key[:6], ids))
            next_id += 1
        if rows:
            con.executemany("insert into tasks (task_id, run_id, layer, pooling, dataset, condition, direction_id, "
                            "sentence_ids) values (?, ?, ?, ?, ?, ?, ?, ?)", rows)
    return pd.DataFrame(rows, columns=TASK_COLUMNS[:-1])


def add_annotation(task_id: int, annotator: str, has_pattern: bool, pattern: str | None,
                   positive_ids: Sequence[int], path=None) -> None:
    """Store (or replace) ``annotator``'s judgement of one task."""
    annotator = annotator.strip()
    if not annotator:
        raise ValueError("annotator name is required")
    with _connect(path) as con:
        if con.execute("select count(*) from tasks where task_id = ?", [int(task_id)]).fetchone()[0] == 0:
            raise ValueError(f"no task {task_id}")
        con.execute("insert or replace into annotations (task_id, annotator, has_pattern, pattern, positive_ids) "
                    "values (?, ?, ?, ?, ?)",
                    [int(task_id), annotator, bool(has_pattern), (pattern or "").strip() or None,
                     [int(i) for i in positive_ids]])


def next_task(annotator: str, path=None) -> dict | None:
    """The lowest-numbered task ``annotator`` has not annotated yet (None when all are done)."""
    t, a = tasks(path), annotations(path)
    done = set(a.loc[a["annotator"] == annotator.strip(), "task_id"].astype(int))
    todo = t[~t["task_id"].astype(int).isin(done)]
    return None if todo.empty else todo.iloc[0].to_dict()


def progress(annotator: str, path=None) -> tuple[int, int]:
    """(tasks annotated by ``annotator``, all tasks)."""
    t, a = tasks(path), annotations(path)
    done = a.loc[(a["annotator"] == annotator.strip()) & a["task_id"].isin(t["task_id"]), "task_id"].nunique()
    return int(done), len(t)


def plan_tasks(con, run_id: str, layer: int, pooling: str, datasets: Sequence[str], n_neurons: int,
               n_random_dirs: int, n_random_sets: int, k: int = 10, seed: int = 0) -> pd.DataFrame:
    """The tasks of one annotation round, read from the (read-only) warehouse connection ``con``; nothing written.

    For each dataset: the top-k sentences of ``n_neurons`` randomly chosen neurons (the same neurons in every
    dataset, so patterns can be compared across datasets), of ``n_random_dirs`` seeded random directions
    (``random:<seed>``) and ``n_random_sets`` sets of k random sentences (``sentences:<seed>``). Each task's
    sentences are shuffled (the rank would hint at the condition) and the tasks are shuffled, all from ``seed``.
    """
    rng = np.random.default_rng(seed)
    runs = queries.runs(con).set_index("run_id")
    dim = int(runs.loc[run_id, "hidden_size"])
    datasets = list(datasets)
    n_neurons = min(int(n_neurons), dim)
    units = sorted(int(u) for u in rng.choice(dim, size=n_neurons, replace=False))
    dir_seeds = [int(s) for s in rng.choice(2**31 - 1, size=n_random_dirs, replace=False)]
    set_seeds = [int(s) for s in rng.choice(2**31 - 1, size=n_random_sets, replace=False)]
    base = {"run_id": run_id, "layer": int(layer), "pooling": pooling}
    rows = []

    def add(condition, direction_id, top):
        for dataset in datasets:
            ids = top.loc[top["dataset"] == dataset].sort_values("rank")["sentence_id"].astype(int).tolist()
            if ids:
                rows.append({**base, "dataset": dataset, "condition": condition, "direction_id": direction_id,
                             "sentence_ids": ids})

    stored = queries.stored_topk(con)
    for unit in units:
        if k <= stored:
            top = queries.neuron_top(con, run_id, layer, pooling, unit, datasets, k)
        else:
            scores = queries.direction_scores(con, run_id, layer, pooling, one_hot(unit, dim), datasets)
            top = extremes_from_scores(scores, k, "top")
        add("neuron", f"neuron:{unit}", top)
    for s in dir_seeds:
        scores = queries.direction_scores(con, run_id, layer, pooling, random_direction(s, dim), datasets)
        add("random_direction", f"random:{s}", extremes_from_scores(scores, k, "top"))
    if set_seeds:
        texts = queries.dataset_texts(con, datasets)
        for s in set_seeds:
            for dataset in datasets:
                ids = texts.loc[texts["dataset"] == dataset, "sentence_id"].astype(int).to_numpy()
                pick = np.random.default_rng([s, zlib.crc32(dataset.encode())]).choice(
                    ids, size=min(k, len(ids)), replace=False)
                rows.append({**base, "dataset": dataset, "condition": "random_sentences",
                             "direction_id": f"sentences:{s}", "sentence_ids": [int(i) for i in pick]})
    for r in rows:
        r["sentence_ids"] = [int(i) for i in rng.permutation(r["sentence_ids"])]
    order = rng.permutation(len(rows))
    return pd.DataFrame([rows[i] for i in order],
                        columns=["run_id", "layer", "pooling", "dataset", "condition", "direction_id", "sentence_ids"])


def make_tasks(con, run_id: str, layer: int, pooling: str, datasets: Sequence[str], n_neurons: int,
               n_random_dirs: int, n_random_sets: int, k: int = 10, seed: int = 0, path=None) -> pd.DataFrame:
    """Plan a round of tasks from the warehouse (``plan_tasks``) and append them to the annotation store.

    Returns the tasks written (already stored identical tasks are skipped, so re-running is harmless)."""
    planned = plan_tasks(con, run_id, layer, pooling, datasets, n_neurons, n_random_dirs, n_random_sets, k, seed)
    return add_tasks(planned, path)
