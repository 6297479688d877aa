"""Links between pages that reproduce a view: every sentence list links to the sentence's nearest neighbours and,
for a transformer run, to its attention in every head and layer."""
from __future__ import annotations

from urllib.parse import urlencode

import pandas as pd
import streamlit as st

from ui.tables import table

NEIGHBOURS_PATH = "/neighbours"
ATTENTION_EXAMPLE_PATH = "/attention_example"
DRIFT_PATH = "/drift"


def neighbours_link(run_id: str, layer: int, pooling: str, dataset: str, sentence_id: int) -> str:
    """The nearest-sentences page for one stored sentence in a run, layer and pooling (a relative URL)."""
    return NEIGHBOURS_PATH + "?" + urlencode({"run": run_id, "layer": int(layer), "pooling": pooling,
                                              "ds": dataset, "sid": int(sentence_id)})


def attention_link(run_id: str, dataset: str, sentence_id: int, layer: int | None = None,
                   head: int | None = None) -> str:
    """The per-example attention page for one stored sentence of a transformer run (a relative URL); ``layer`` (a
    block's output, 1 = the first block) is kept when it has attention, i.e. is not the embedding output 0, and
    ``head`` when given."""
    params = {"run": run_id, "dataset": dataset, "sentence": int(sentence_id)}
    params |= {"layer": int(layer)} if layer else {}
    return ATTENTION_EXAMPLE_PATH + "?" + urlencode(params | ({"head": int(head)} if head is not None else {}))


def has_attention(sel) -> bool:
    """Whether the selection's run has attention to show (a transformer encoder)."""
    return (sel.run or {}).get("model_kind") == "transformer"


def drift_link(run_id: str, layer: int, pooling: str, unit: int, datasets=()) -> str:
    """The neuron-drift page for one neuron of a run, layer and pooling, on ``datasets`` (a relative URL)."""
    params = {"run": run_id, "layer": int(layer), "pooling": pooling, "dir": "neuron", "unit": int(unit)}
    return DRIFT_PATH + "?" + urlencode(params | ({"ds": ",".join(datasets)} if datasets else {}))


def with_neighbour_links(df: pd.DataFrame, sel) -> pd.DataFrame:
    """``df`` (with dataset and sentence_id columns) plus a ``neighbours`` column: each row's link to its nearest
    sentences in the selection ``sel`` (ui.selection.Selection: run_id, layer, pooling). A new frame: shared
    cached frames are not modified. Show it with ``column_config=neighbour_columns()`` so the links are live."""
    links = [neighbours_link(sel.run_id, sel.layer, sel.pooling, d, i)
             for d, i in zip(df["dataset"], df["sentence_id"])]
    return df.assign(neighbours=links)


def neighbour_columns() -> dict:
    """The column_config for st.dataframe / ui.tables.table that shows the ``neighbours`` column as links."""
    return {"neighbours": st.column_config.LinkColumn("neighbours", display_text="nearest",
                                                      help="The sentence's nearest neighbours (cosine) in "
                                                           "this run, layer and pooling")}


def with_attention_links(df: pd.DataFrame, sel) -> pd.DataFrame:
    """``df`` plus an ``attention`` column of links to each row's per-example attention in the selection's run
    (a transformer run; other runs get no column). A new frame."""
    if not has_attention(sel):
        return df
    return df.assign(attention=[attention_link(sel.run_id, d, i, sel.layer)
                                for d, i in zip(df["dataset"], df["sentence_id"])])


def attention_columns() -> dict:
    return {"attention": st.column_config.LinkColumn("attention", display_text="heads",
                                                     help="The sentence's attention in every head and layer")}


def neighbour_table(df: pd.DataFrame, sel, name: str, **kwargs) -> None:
    """ui.tables.table of ``df`` with its rows' neighbour links and, for a transformer run, attention links (the
    one call a sentence list needs)."""
    config = {**neighbour_columns(), **attention_columns(), **kwargs.pop("column_config", {})}
    table(with_attention_links(with_neighbour_links(df, sel), sel), name, column_config=config, **kwargs)
