"""Altair builders of the distribution-shift page (specs cached by ui.charts.show)."""
from __future__ import annotations

import altair as alt


def histogram_chart(kind: str):
    x_title = "activation" if kind == "neuron" else "projection on the direction"
    return alt.Chart(alt.NamedData("hist")).mark_line(interpolate="step-after", opacity=0.85).encode(
        x=alt.X("bin_start:Q", title=x_title),
        y=alt.Y("density:Q", title="density"),
        color=alt.Color("dataset:N"),
        tooltip=["dataset:N", alt.Tooltip("bin_start:Q", format=".3f"), alt.Tooltip("bin_end:Q", format=".3f"),
                 "count:Q", alt.Tooltip("density:Q", format=".3f")],
    ).properties(height=240)


def pooled_chart(k: int):
    """The pooled top k: a strip with one cell per rank coloured by the sentence's dataset, above the values."""
    base = alt.Chart(alt.NamedData("pooled")).encode(
        x=alt.X("rank:O", title=f"rank in the pooled top {k}", axis=alt.Axis(labelOverlap=True)),
        color=alt.Color("dataset:N"),
        tooltip=["rank:Q", "dataset:N", "sentence_id:Q", alt.Tooltip("value:Q", format=".4f"), "text:N"])
    strip = base.mark_rect().encode(x=alt.X("rank:O", title=None, axis=alt.Axis(labels=False, ticks=False))
                                    ).properties(height=28)
    values = base.mark_circle(size=60, opacity=1).encode(
        y=alt.Y("value:Q", title="value", scale=alt.Scale(zero=False))).properties(height=170)
    return alt.vconcat(strip, values, spacing=4)


def shares_chart():
    """Each dataset's share of the pooled top k next to its share of the sentences."""
    return alt.Chart(alt.NamedData("shares")).mark_bar().encode(
        y=alt.Y("dataset:N", title=None),
        x=alt.X("value:Q", title="share", axis=alt.Axis(format="%")),
        yOffset="what:N",
        color=alt.Color("what:N", title=None),
        tooltip=["dataset:N", "what:N", alt.Tooltip("value:Q", format=".1%")],
    ).properties(height=alt.Step(14))
