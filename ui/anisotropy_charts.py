"""The anisotropy page's chart builders (see ui/charts.py: each depends on its arguments alone)."""
from __future__ import annotations

import altair as alt

from analysis.anisotropy import POOLED


def curve_chart(column: str, title: str, axis: str, order: tuple, samples: tuple, height: int = 280):
    """One metric across layers, a line per dataset (pooled thick). Streamlit fits the whole chart into its
    frame, so ``axis`` (the y title) stays short and the legend on the side: otherwise the plot is squashed."""
    base = alt.Chart(alt.NamedData("curve")).encode(
        x=alt.X("layer_label:O", sort=list(order), title="layer", axis=alt.Axis(labelAngle=-30, labelLimit=120)),
        y=alt.Y(f"{column}:Q", title=axis, scale=alt.Scale(zero=False)),
        color=alt.Color("dataset:N", sort=list(samples), title=None),
        strokeDash=alt.condition(alt.datum.dataset == POOLED, alt.value([1, 0]), alt.value([5, 3])),
        strokeWidth=alt.condition(alt.datum.dataset == POOLED, alt.value(3.5), alt.value(1.5)),
        tooltip=["dataset:N", "layer:Q", "layer_name:N", alt.Tooltip(f"{column}:Q", format=".4f"), "n_words:Q",
                 "n_sentences:Q"],
    )
    return (base.mark_line() + base.mark_point(size=30, filled=True)).properties(title=title, height=height)


def compare_chart(metric: str):
    return alt.Chart(alt.NamedData("runs")).mark_line(point=True).encode(
        x=alt.X("depth:Q", title="relative depth (transformer: block / blocks, embedding output = 0; "
                                  "LSTM: layer / 2)", scale=alt.Scale(domain=[0, 1])),
        y=alt.Y(f"{metric}:Q", title=metric, scale=alt.Scale(zero=False)),
        color=alt.Color("line:N", title="run / stream"),
        tooltip=["run_id:N", "layer:Q", "layer_name:N", alt.Tooltip(f"{metric}:Q", format=".4f")],
    ).properties(height=320)
