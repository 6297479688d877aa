"""The selected run, layer and pooling, kept in ``st.query_params`` so that a URL reproduces the view."""
from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from ui import data
from ui.url import set_params, url_choice


@dataclass(frozen=True)
class Selection:
    run_id: str
    layer: int
    layer_name: str
    pooling: str
    run: dict


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
                             index=run_ids.index(url_choice("run", run_ids, run_ids[0])))
    run = data.run_info(run_id)
    layers = data.meta("layers", run_id)
    layer_ids = layers["layer"].tolist()
    names = dict(zip(layers["layer"], layers["name"]))
    # The paper's default: the last layer.
    layer_id = url_choice("layer", layer_ids, layer_ids[-1])
    if layer:
        layer_id = where.selectbox("Layer", layer_ids, key=f"sel_layer_{run_id}", index=layer_ids.index(layer_id),
                                   format_func=lambda i: f"{i}: {names[i]}")
    poolings = list(run["poolings"])
    pooling_name = url_choice("pooling", poolings, poolings[0])
    if pooling:
        pooling_name = where.selectbox("Pooling", poolings, key=f"sel_pooling_{run_id}",
                                       index=poolings.index(pooling_name))
    set_params(run=run_id, **({"layer": str(layer_id)} if layer else {}), **({"pooling": pooling_name} if pooling else {}))
    return Selection(run_id, int(layer_id), names[layer_id], pooling_name, run)
