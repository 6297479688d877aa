"""The selected run, layer and pooling, kept in ``st.query_params`` so that a URL reproduces the view."""
from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from ui import data


@dataclass(frozen=True)
class Selection:
    run_id: str
    layer: int
    layer_name: str
    pooling: str
    run: dict


def set_params(**values: str) -> None:
    """Write ``values`` into st.query_params (the URL). Each write sends the browser a message, so only the
    ones that differ from the URL the rerun came with are written, in one update (a rerun that changes one
    widget sends one message, not one per parameter)."""
    changed = {k: v for k, v in values.items() if st.query_params.get(k) != v}
    if changed:
        st.query_params.update(changed)


def _param(name: str, options: list, cast=str, default=None):
    """The URL's value of ``name`` when it is one of ``options``, else ``default`` (0 is a value, not a miss)."""
    raw = st.query_params.get(name)
    try:
        value = cast(raw) if raw is not None else None
    except ValueError:
        value = None
    return value if value in options else default


def select_run(con, where=st.sidebar, layer: bool = True, pooling: bool = True) -> Selection:
    """The run, layer and pooling boxes (in the URL). A page that does not use the layer or the pooling passes
    ``layer=False`` / ``pooling=False``: the box is not shown and the URL's value (or the default) is kept, so
    it is still there on the next page."""
    runs = data.meta("runs")
    run_ids = runs["run_id"].tolist()
    if not run_ids:
        st.error("This warehouse has no model runs; rebuild it with `python -m pipeline build`.")
        st.stop()
    run_id = where.selectbox("Model run", run_ids, key="sel_run",
                             index=run_ids.index(_param("run", run_ids, default=run_ids[0])))
    run = data.run_info(run_id)
    layers = data.meta("layers", run_id)
    layer_ids = layers["layer"].tolist()
    names = dict(zip(layers["layer"], layers["name"]))
    # The paper's default: the last layer.
    layer_id = _param("layer", layer_ids, int, default=layer_ids[-1])
    if layer:
        layer_id = where.selectbox("Layer", layer_ids, key=f"sel_layer_{run_id}", index=layer_ids.index(layer_id),
                                   format_func=lambda i: f"{i}: {names[i]}")
    poolings = list(run["poolings"])
    pooling_name = _param("pooling", poolings, default=poolings[0])
    if pooling:
        pooling_name = where.selectbox("Pooling", poolings, key=f"sel_pooling_{run_id}",
                                       index=poolings.index(pooling_name))
    set_params(run=run_id, **({"layer": str(layer_id)} if layer else {}), **({"pooling": pooling_name} if pooling else {}))
    return Selection(run_id, int(layer_id), names[layer_id], pooling_name, run)
