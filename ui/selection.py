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


DROPS = (0, 1, 10)  # % of each dataset's most distant sentences a page can leave out (the study's 1% and 10%)


def select_drop(run_id: str, key: str, where=st.sidebar) -> int:
    """The study's outlier check: leave out each dataset's most distant 0, 1 or 10 % of sentences (mean distance
    to the dataset's others in this layer, the outliers page's measure); in the URL as ``drop``. 0 when the build
    stored no sentence distances for the run."""
    from ui import progress

    if not (data.has_tables("sentence_distances") and progress.done("distances", run_id)):
        return 0
    drop = where.segmented_control(
        "Leave out the most distant sentences", DROPS, default=url_choice("drop", DROPS, 0), key=key,
        format_func=lambda d: f"{d}%" if d else "none",
        help="Each dataset's most distant 1% or 10% of sentences (mean Euclidean distance to the dataset's other "
             "sentences in this layer) are left out before ranking: Bolukbasi et al. check that the illusion does "
             "not come from a few outliers.") or 0
    set_params(drop=drop or None)
    return int(drop)
