"""The per-example attention page's chart builders (see ui/charts.py: each depends on its arguments alone)."""
from __future__ import annotations

import altair as alt

# sqrt: the many small weights of a spread-out head stay visible next to a head that puts 0.9 on one token
WEIGHT = alt.Scale(scheme="blues", type="sqrt", domain=[0, 1])


def grid_chart(cell: int, title: str):
    """Every head (columns) of every layer (rows) as a small heatmap (named data ``grid``: layer, head, i, j,
    weight; query i down, key j across)."""
    return alt.Chart(alt.NamedData("grid")).mark_rect().encode(
        x=alt.X("j:O", axis=None), y=alt.Y("i:O", axis=None),
        color=alt.Color("weight:Q", scale=WEIGHT, title="weight"),
        tooltip=["layer:O", "head:O", alt.Tooltip("i:O", title="query"), alt.Tooltip("j:O", title="key"),
                 alt.Tooltip("weight:Q", format=".3f")],
    ).properties(width=cell, height=cell).facet(
        row=alt.Row("layer:O", title="layer", header=alt.Header(labelAngle=0)),
        column=alt.Column("head:O", title="head"), spacing=3, title=title)


def head_heatmap(title: str):
    """One head's full matrix with the tokens on both axes (named data ``head``)."""
    return alt.Chart(alt.NamedData("head")).mark_rect().encode(
        x=alt.X("to_label:N", sort=alt.EncodingSortField("to_index", op="min"), title="key (attended to)"),
        y=alt.Y("from_label:N", sort=alt.EncodingSortField("from_index", op="min"), title="query"),
        color=alt.Color("weight:Q", scale=WEIGHT, title="weight"),
        tooltip=["from_label:N", "to_label:N", alt.Tooltip("weight:Q", format=".4f")],
    ).properties(title=title)


def lines_chart(n_tokens: int, title: str):
    """The head view: each query token (left) joined to each key token (right) by a line as opaque as its weight
    (named data ``lines``: from_index, to_index, weight, ...; ``tokens``: index, token)."""
    y = alt.Scale(domain=[-0.5, n_tokens - 0.5], reverse=True)
    x = alt.Scale(domain=[-0.6, 1.6])
    rules = alt.Chart(alt.NamedData("lines")).mark_rule(color="#1f5fa8", strokeWidth=2).encode(
        x=alt.XDatum(0.0, scale=x, axis=None), x2=alt.X2Datum(1.0),
        y=alt.Y("from_index:Q", scale=y, axis=None), y2="to_index:Q",
        opacity=alt.Opacity("weight:Q", scale=alt.Scale(domain=[0, 1]), legend=None),
        tooltip=["from_token:N", "to_token:N", alt.Tooltip("weight:Q", format=".4f")])
    left = alt.Chart(alt.NamedData("tokens")).mark_text(align="right", dx=-6).encode(
        x=alt.XDatum(0.0, scale=x, axis=None), y=alt.Y("index:Q", scale=y, axis=None), text="token:N")
    right = alt.Chart(alt.NamedData("tokens")).mark_text(align="left", dx=6).encode(
        x=alt.XDatum(1.0, scale=x, axis=None), y=alt.Y("index:Q", scale=y, axis=None), text="token:N")
    return alt.layer(rules, left, right).properties(title=title, height=max(160, 18 * n_tokens))
