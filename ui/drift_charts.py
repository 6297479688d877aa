"""The neuron-drift page's chart builders (see ui/charts.py: each depends on its arguments alone)."""
from __future__ import annotations

import altair as alt


def histogram_chart(kind: str, k: int):
    # the axis names the kind of score, not the neuron: one cached spec serves every neuron
    x_title = "activation" if kind == "neuron" else "projection on the direction"
    return (
        alt.Chart(alt.NamedData("hist")).mark_line(interpolate="step-after", opacity=0.85).encode(
            x=alt.X("bin_start:Q", title=x_title),
            y=alt.Y("density:Q", title="density"),
            color=alt.Color("dataset:N"),
            tooltip=["dataset:N", alt.Tooltip("bin_start:Q", format=".3f"), alt.Tooltip("bin_end:Q", format=".3f"),
                     "count:Q"],
        ).properties(height=220)
        + alt.Chart(alt.NamedData("cut")).mark_rule(strokeDash=[4, 3]).encode(
            x="value:Q", color="dataset:N", tooltip=["dataset:N", alt.Tooltip("value:Q", title=f"top-{k} cut-off")])
    )


def overlap_chart(n_datasets: int):
    return (
        alt.Chart(alt.NamedData("overlap")).mark_rect().encode(
            x=alt.X("a:N", title=None), y=alt.Y("b:N", title=None),
            color=alt.Color("iou:Q", scale=alt.Scale(domain=[0, 1]), title="overlap (IoU)"),
            tooltip=["a:N", "b:N", "overlaps:N", alt.Tooltip("iou:Q", format=".2f")],
        ).properties(height=60 + 40 * n_datasets)
        + alt.Chart(alt.NamedData("overlap")).mark_text(baseline="middle").encode(
            x="a:N", y="b:N", text=alt.Text("iou:Q", format=".2f"))
    )
