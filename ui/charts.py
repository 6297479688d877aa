"""Altair charts whose Vega-Lite spec is built once per shape and reused with each rerun's data.

Building an Altair chart (``encode`` parses every channel) and converting it (``to_dict`` validates it against the
Vega-Lite schema) is slow enough to dominate a rerun when it happens on every rerun. The spec depends only on the
chart's shape (marks, fields, titles), not on the data, so a page writes a builder function that returns the chart
over named data sets (``alt.NamedData("name")``) and calls ``show(builder, args, {"name": frame, ...})``. A
builder must depend on its arguments alone: the spec is built and validated on the first call for each (builder,
args), and the frames are attached as Vega-Lite named datasets, which Streamlit ships as Arrow.
"""
from __future__ import annotations

import copy
import functools
import threading
from collections.abc import Callable, Hashable

import altair as alt
import pandas as pd
import streamlit as st

_LOCK = threading.Lock()
# Charts with more rows than this are drawn on a canvas. Streamlit draws charts under 2,000 marks as SVG: one
# DOM node per mark, each with its ARIA label, which the browser must redraw on every rerun. Smaller charts
# stay SVG, where titles and labels are text a screen reader (or a test) can find.
CANVAS_ROWS = 300


@functools.lru_cache(maxsize=1024)
def _spec(key: "_Key", args: tuple) -> dict:
    with _LOCK:
        spec = key.build(*args).to_dict()
    view = spec.get("config", {}).get("view", {})
    # Altair's default theme sizes the view at 300x300; st.altair_chart drops that theme, so do we.
    for option in ("continuousWidth", "continuousHeight"):
        view.pop(option, None)
    if "view" in spec.get("config", {}) and not view:
        del spec["config"]["view"]
    if "config" in spec and not spec["config"]:
        del spec["config"]
    return spec


class _Key:
    """The builder, hashed and compared by its file and code: a page script is re-executed on every rerun, so
    its functions are new objects each time (and the script may be recompiled), but the same source gives
    code objects that compare equal."""

    __slots__ = ("build",)

    def __init__(self, build: Callable):
        self.build = build

    def __hash__(self) -> int:
        return hash((self.build.__code__.co_filename, self.build.__code__))

    def __eq__(self, other) -> bool:
        return (isinstance(other, _Key) and other.build.__code__.co_filename == self.build.__code__.co_filename
                and other.build.__code__ == self.build.__code__)


def spec(build: Callable[..., alt.TopLevelMixin], args: tuple = ()) -> dict:
    """The Vega-Lite dict of ``build(*args)`` (a copy: callers may change it)."""
    if build.__code__.co_freevars:
        raise TypeError(f"chart builder {build.__qualname__} closes over {build.__code__.co_freevars}: pass them "
                        "as arguments (the spec is cached by the builder's code and arguments)")
    if not all(isinstance(a, Hashable) for a in args):
        raise TypeError("chart builder arguments must be hashable (numbers, strings, tuples)")
    return copy.deepcopy(_spec(_Key(build), tuple(args)))


def show(build: Callable[..., alt.TopLevelMixin], args: tuple, data: dict[str, pd.DataFrame], where=None,
         **kwargs) -> None:
    """Draw ``build(*args)`` with ``data`` as its named datasets (every ``alt.NamedData`` it uses).

    ``where`` is a Streamlit container (default: the page); ``kwargs`` go to ``st.vega_lite_chart`` (e.g.
    ``width="stretch"``)."""
    s = spec(build, args)
    s["datasets"] = dict(data)
    if sum(len(frame) for frame in data.values()) > CANVAS_ROWS:
        s.setdefault("usermeta", {}).setdefault("embedOptions", {}).setdefault("renderer", "canvas")
    (where or st).vega_lite_chart(spec=s, **kwargs)
