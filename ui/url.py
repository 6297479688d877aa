"""Every piece of URL state (``st.query_params``), so that a URL reproduces the view.

Readers take a parameter's name, the values it may have and a default: a missing, unreadable or out-of-range
value gives the default, never an error (URLs are typed and shared by hand). Widgets read their starting value
from the URL and write their value back with :func:`set_params`, which has one rule for every page: a value
equal to what the URL already has is not rewritten, ``None`` or ``""`` removes the parameter, and every change
of one call goes to the browser in one message (each write to ``st.query_params`` sends one).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import streamlit as st


def get(name: str, default: str | None = "") -> str | None:
    """The URL's raw value of ``name``, or ``default`` when it is missing."""
    return st.query_params.get(name, default)


def _bounded(name: str, default, lo, hi, cast):
    try:
        v = cast(st.query_params.get(name, default))
    except ValueError:
        return default
    return v if lo <= v <= hi else default


def url_int(name: str, default: int, lo: int, hi: int) -> int:
    """The URL's integer ``name`` when it is one and lies in [lo, hi], else ``default``."""
    return _bounded(name, default, lo, hi, int)


def url_float(name: str, default: float, lo: float, hi: float) -> float:
    """The URL's number ``name`` when it is one and lies in [lo, hi], else ``default``."""
    return _bounded(name, default, lo, hi, float)


def url_choice(name: str, options: Sequence, default=None):
    """The option whose text is the URL's value of ``name`` (options may be ints: "3" gives 3), else ``default``."""
    raw = st.query_params.get(name)
    if raw is None:
        return default
    for o in options:
        if str(o) == raw:
            return o
    return default


def url_list(name: str, options: Sequence) -> list:
    """The options named in the URL's comma-separated ``name``, in the URL's order (unknown names are dropped)."""
    by_text = {str(o): o for o in options}
    return [by_text[part] for part in st.query_params.get(name, "").split(",") if part in by_text]


def set_params(**values) -> None:
    """Write ``values`` (converted with ``str``) to the URL. A value equal to the URL's is left alone; ``None`` or
    ``""`` removes the parameter; the changes go in one update."""
    qp = st.query_params
    changed = {k: str(v) for k, v in values.items() if v is not None and v != "" and qp.get(k) != str(v)}
    removed = [k for k, v in values.items() if (v is None or v == "") and k in qp]
    if removed:
        kept = {k: qp.get_all(k) for k in qp if k not in removed}
        qp.from_dict(kept | changed)
    elif changed:
        qp.update(changed)


def _at(where):
    return st if where is None else where


def selectbox(label: str, options: Sequence, param: str, key: str, where=None, format_func: Callable = str,
              default: int = 0):
    """A selectbox whose value comes from and goes back to ``param`` (an unknown value: ``options[default]``)."""
    options = list(options)
    value = url_choice(param, options)
    index = options.index(value) if value is not None else default
    chosen = _at(where).selectbox(label, options, index=index, key=key, format_func=format_func)
    set_params(**{param: chosen})
    return chosen


def number_input(label: str, param: str, default: int, lo: int, hi: int, key: str, where=None, **kwargs) -> int:
    """An integer input in [lo, hi] whose value comes from and goes back to ``param`` (bad values: default)."""
    default = min(max(default, lo), hi)
    value = _at(where).number_input(label, lo, hi, url_int(param, default, lo, hi), key=key, **kwargs)
    set_params(**{param: value})
    return int(value)


def radio(label: str, options: Sequence, param: str, key: str, where=None, default: int = 0, **kwargs):
    """A radio whose value comes from and goes back to ``param`` (an unknown value: ``options[default]``)."""
    options = list(options)
    value = url_choice(param, options)
    index = options.index(value) if value is not None else default
    chosen = _at(where).radio(label, options, index=index, key=key, **kwargs)
    set_params(**{param: chosen})
    return chosen


def multiselect(label: str, options: Sequence, param: str, key: str, default: Sequence = (), where=None) -> list:
    """A multiselect whose value comes from and goes back to ``param`` (comma-separated; none known in the URL:
    ``default``). An empty choice removes the parameter."""
    options = list(options)
    wanted = url_list(param, options) or list(default)
    chosen = _at(where).multiselect(label, options, default=wanted, key=key)
    set_params(**{param: ",".join(map(str, chosen))})
    return chosen
