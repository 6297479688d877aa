"""Cached bulk reads for pages that analyse a whole layer. Keyed by the warehouse file's identity, so a
rebuilt warehouse is read afresh."""
from __future__ import annotations

import os

import numpy as np
import streamlit as st

from analysis.illusion import illusion_scores
from ui.db import connection, warehouse_path
from warehouse import queries


def identity() -> tuple:
    stat = os.stat(warehouse_path())
    return (str(warehouse_path()), stat.st_ino, stat.st_mtime_ns)


# Named queries whose answer is fixed for a given warehouse file: read once per file, not on every rerun.
META_QUERIES = ("runs", "layers", "datasets", "stored_topk", "span_layers", "table_names")


# cache_resource, not cache_data: every rerun of every session reads these, and cache_data unpickles a fresh
# copy each time. The frames are shared, so callers must not modify them.
@st.cache_resource(max_entries=256, show_spinner=False)
def _meta(ident: tuple, name: str, args: tuple):
    return getattr(queries, name)(connection(), *args)


def meta(name: str, *args):
    """``queries.<name>(con, *args)`` for the small per-file tables in META_QUERIES, cached per warehouse file.
    Shared by every session: read it, do not modify it."""
    if name not in META_QUERIES:
        raise ValueError(f"{name} is not a per-file query; call warehouse.queries.{name} directly")
    return _meta(identity(), name, args)


def has_tables(*names: str) -> bool:
    """Whether this warehouse file has every one of the tables ``names`` (read once per file)."""
    return set(names) <= set(meta("table_names"))


@st.cache_resource(max_entries=4, show_spinner=False)
def _run_infos(ident: tuple) -> dict[str, dict]:
    return {row["run_id"]: row for row in queries.runs(connection()).to_dict("records")}


def run_info(run_id: str) -> dict:
    """The run's row of ``runs`` as a dict, read once per file (shared: do not modify)."""
    return _run_infos(identity())[run_id]


@st.cache_resource(max_entries=6, show_spinner="Reading the layer's vectors…")
def _layer(ident: tuple, run_id: str, layer: int, pooling: str, datasets: tuple):
    return queries.layer_matrix(connection(), run_id, layer, pooling, datasets)


@st.cache_resource(max_entries=32, show_spinner=False)
def _distant(ident: tuple, run_id: str, layer: int, pooling: str, datasets: tuple, drop: int) -> frozenset:
    df = queries.distant_sentences(connection(), run_id, layer, pooling, datasets, drop / 100)
    return frozenset(zip(df["dataset"], df["sentence_id"].astype(int)))


def distant(run_id: str, layer: int, pooling: str, datasets: list[str], drop: int) -> frozenset:
    """{(dataset, sentence_id)}: each dataset's most distant ``drop`` % of sentences in this layer (none for 0)."""
    if not drop:
        return frozenset()
    return _distant(identity(), run_id, layer, pooling, tuple(datasets), int(drop))


@st.cache_resource(max_entries=4, show_spinner="Reading the layer's vectors…")
def _layer_kept(ident: tuple, run_id: str, layer: int, pooling: str, datasets: tuple, drop: int):
    from analysis.outliers import keep_rows

    x, keys = _layer(ident, run_id, layer, pooling, datasets)
    keep = keep_rows(keys, distant(run_id, layer, pooling, list(datasets), drop))
    return x[keep], keys[keep].reset_index(drop=True)


def layer_matrix(run_id: str, layer: int, pooling: str, datasets: list[str]):
    """(x float32 [N, H], keys[dataset, sentence_id]); shared, do not modify."""
    return _layer(identity(), run_id, layer, pooling, tuple(datasets))


@st.cache_resource(max_entries=32, show_spinner=False)
def _neuron_layer(ident: tuple, run_id: str, layer: int, pooling: str) -> dict:
    return queries.neuron_layer(connection(), run_id, layer, pooling)


def neuron_layer(run_id: str, layer: int, pooling: str) -> dict:
    """queries.neuron_layer for one layer, read once per file and shared by every session (a few MB per layer):
    a neuron change on the drift page then costs no query at all. Do not modify it."""
    return _neuron_layer(identity(), run_id, layer, pooling)


@st.cache_data(max_entries=8, show_spinner="Scoring every neuron…")
def _illusion(ident: tuple, run_id: str, layer: int, pooling: str, datasets: tuple, k: int, drop: int = 0):
    x, keys = _layer_kept(ident, run_id, layer, pooling, datasets, drop)
    return illusion_scores(x, keys["dataset"].to_numpy(), k=k)


def illusion(run_id: str, layer: int, pooling: str, datasets: list[str], k: int, drop: int = 0):
    """Every neuron's illusion score: the build's stored scores when they cover this view (all the run's
    datasets, the stored k, every sentence), else computed here from the layer's vectors, leaving out each
    dataset's most distant ``drop`` % of sentences."""
    if drop:
        return _illusion(identity(), run_id, layer, pooling, tuple(datasets), k, drop)
    if set(datasets) == set(meta("datasets", run_id)["dataset"]):
        stored = _stored_illusion(identity(), run_id, layer, pooling, k)
        if len(stored):
            return stored
    return _illusion(identity(), run_id, layer, pooling, tuple(datasets), k)


@st.cache_resource(max_entries=64, show_spinner=False)
def _stored_illusion(ident: tuple, run_id: str, layer: int, pooling: str, k: int):
    return queries.stored_illusion_scores(connection(), run_id, layer, pooling, k)


@st.cache_data(max_entries=8, show_spinner="Scoring every neuron against 1,000 random directions…")
def _illusion_null(ident: tuple, run_id: str, layer: int, pooling: str, datasets: tuple, k: int, drop: int = 0):
    from analysis.illusion_null import illusion_null_scores

    x, keys = _layer_kept(ident, run_id, layer, pooling, datasets, drop)
    ds = keys["dataset"].to_numpy()
    if len(set(ds)) < 2:
        return None
    scores, null = illusion_null_scores(x, ds, k=k)
    return scores.assign(null_kind="gaussian", n_null=int(np.isfinite(null).sum()), seed=0), null


@st.cache_resource(max_entries=64, show_spinner=False)
def _stored_illusion_null(ident: tuple, run_id: str, layer: int, pooling: str, k: int):
    scores = queries.stored_illusion_null_scores(connection(), run_id, layer, pooling, k)
    if not len(scores):
        return None
    if not scores["n_null"].iloc[0] >= 2:  # stored, but no random direction had a centroid left (all NaN)
        return False
    kind = scores["null_kind"].iloc[0]  # the build stores one kind
    scores = scores[scores["null_kind"] == kind].reset_index(drop=True)
    return scores, queries.stored_illusion_null(connection(), run_id, layer, pooling, k, kind)


def illusion_null(run_id: str, layer: int, pooling: str, datasets: list[str], k: int, drop: int = 0):
    """(scores, null): every neuron against random directions (analysis.illusion_null.null_scores' columns plus
    null_kind, n_null, seed; the random directions' consistency [n]), the build's stored null when it covers
    this view, else computed here with the stage's defaults (1,000 Gaussian directions, seed 0). None when the
    null cannot be drawn (fewer than 2 datasets with vectors, or too few finite random consistencies).
    Shared: do not modify. ``drop``: leave out each dataset's most distant ``drop`` % of sentences."""
    if not drop and set(datasets) == set(meta("datasets", run_id)["dataset"]):
        stored = _stored_illusion_null(identity(), run_id, layer, pooling, k)
        if stored is False:
            return None
        if stored is not None:
            return stored
    try:
        return _illusion_null(identity(), run_id, layer, pooling, tuple(datasets), k, drop)
    except ValueError:  # the null has fewer than 2 finite values: no direction keeps a centroid
        return None


@st.cache_data(max_entries=32, show_spinner=False)
def _overlap_share(ident: tuple, run_id: str, layer: int, pooling: str, datasets: tuple, k: int):
    from analysis.drift import overlap_share

    return overlap_share(queries.topk_ranges(connection(), run_id, layer, pooling, datasets, k))


def topk_overlap_share(run_id: str, layer: int, pooling: str, datasets: list[str], k: int) -> tuple[float, int]:
    """(share of neuron x dataset-pair top-k ranges that overlap, comparisons) over every neuron of the layer:
    the same for every neuron of a layer, so it is computed once per layer, not on every neuron change."""
    return _overlap_share(identity(), run_id, layer, pooling, tuple(datasets), k)


@st.cache_resource(max_entries=2, show_spinner=False)
def _text_arrays(ident: tuple) -> dict:
    import numpy as np

    table = queries.all_texts(connection())
    names = table.column("dataset").to_numpy(zero_copy_only=False)
    ids = table.column("sentence_id").to_numpy()
    texts = table.column("text").to_numpy(zero_copy_only=False)
    out = {}
    for name in dict.fromkeys(names.tolist()):
        rows = names == name
        arr = np.empty(int(ids[rows].max()) + 1, dtype=object)
        arr[ids[rows]] = texts[rows]
        out[name] = arr
    return out


def with_texts(frame):
    """``frame`` (columns dataset, sentence_id) with a text column, from one in-memory copy of the file's texts
    shared by every session (read once per file)."""
    arrays = _text_arrays(identity())
    return frame.assign(text=[arrays[d][i] for d, i in zip(frame["dataset"], frame["sentence_id"])])


@st.cache_data(max_entries=4, show_spinner=False)
def _texts(ident: tuple, datasets: tuple):
    return queries.dataset_texts(connection(), datasets)


def dataset_texts(datasets: list[str]):
    return _texts(identity(), tuple(datasets))


@st.cache_resource(max_entries=4, show_spinner="Counting the tokens of every sentence…")
def _token_counts(ident: tuple, run_id: str, datasets: tuple, min_count: int, sizes: tuple):
    """(frequent tokens, {dataset: sentence x token counts}): the same for every layer, so read and counted once
    per run and datasets, not per layer. Shared, do not modify."""
    from analysis.monotonicity import frequent_tokens, token_matrix

    long = queries.run_tokens(connection(), run_id, datasets)
    tokens = frequent_tokens(long, min_count, datasets=list(datasets))
    return tokens, {name: token_matrix(long[long["dataset"] == name], n, tokens) for name, n in zip(datasets, sizes)}


@st.cache_resource(max_entries=8, show_spinner="Counting tokens per activation quintile…")
def _monotonic(ident: tuple, run_id: str, layer: int, pooling: str, datasets: tuple, min_count: int):
    from analysis.monotonicity import monotonic_direction, quintile_counts

    stored = queries.stored_monotonicity(connection(), run_id, layer, pooling, min_count)
    if stored is not None and set(stored[0]) == set(datasets) and set(stored[2]) == set(datasets):
        return stored[1], {name: stored[2][name] for name in datasets}
    x, rows_of, tokens, matrices = _token_inputs(ident, run_id, layer, pooling, datasets, min_count)
    return tokens, {name: monotonic_direction(quintile_counts(x[rows_of[name]], matrices[name])) if tokens else None
                    for name in datasets}


def _token_inputs(ident: tuple, run_id: str, layer: int, pooling: str, datasets: tuple, min_count: int):
    """(the layer's vectors, each dataset's rows of them, the frequent tokens, each dataset's token counts)."""
    x, keys = _layer(ident, run_id, layer, pooling, datasets)
    rows_of = {name: (keys["dataset"] == name).to_numpy() for name in datasets}
    tokens, matrices = _token_counts(ident, run_id, datasets, min_count,
                                     tuple(int(rows.sum()) for rows in rows_of.values()))
    return x, rows_of, tokens, matrices


def monotonicity(run_id: str, layer: int, pooling: str, datasets: list[str], min_count: int):
    """(tokens [T], directions {dataset: int8 [H, T]}): the build's stored view when it covers these datasets
    and min_count, else computed here. Shared by every session (no copy per rerun), do not modify."""
    return _monotonic(identity(), run_id, layer, pooling, tuple(datasets), min_count)


def unit_quintile_counts(run_id: str, layer: int, pooling: str, datasets: list[str], min_count: int,
                         unit: int) -> dict:
    """{dataset: int64 [T, 5]}: each frequent token's count per activation quintile of one neuron (Fig. 6),
    computed here: one column of the layer, so a few ms once the layer and the token counts are read."""
    from analysis.monotonicity import quintile_counts

    x, rows_of, _, matrices = _token_inputs(identity(), run_id, layer, pooling, tuple(datasets), min_count)
    # the neuron's column only: x[rows] would copy the dataset's whole block on every rerun
    return {name: quintile_counts(x[rows_of[name], unit][:, None], matrices[name])[0] for name in datasets}


@st.cache_data(max_entries=8, show_spinner="Scoring the locality of every neuron…")
def _locality_all(ident: tuple, run_id: str, layer: int, pooling: str, dataset: str, k: int):
    from analysis.locality import locality_all_neurons

    stored = queries.stored_locality(connection(), run_id, layer, pooling, dataset, k)
    if stored is not None:
        return stored
    x, _ = _layer(ident, run_id, layer, pooling, (dataset,))
    return locality_all_neurons(x, k=k)


def locality_all(run_id: str, layer: int, pooling: str, dataset: str, k: int):
    """L of every neuron on ``dataset``: the build's stored values for the stored k, else computed here."""
    return _locality_all(identity(), run_id, layer, pooling, dataset, k)
