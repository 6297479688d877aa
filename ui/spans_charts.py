"""The span-match page's chart builders (see ui/charts.py: each depends on its arguments alone)."""
from __future__ import annotations

import altair as alt


def heatmap_chart(width: int, cells_height: int, lim: float):
    # lim (the colour domain) follows the span selection; widgets further down rerun with the cached spec
    x = alt.X("step:O", title=None, axis=alt.Axis(labels=False, ticks=False))
    letters = alt.Chart(alt.NamedData("letters")).mark_text(fontSize=11).encode(
        x=x, text="text:N", color=alt.condition("datum.in_span", alt.value("#d62728"), alt.value("#333")),
        tooltip=["step:Q", "text:N"]).properties(width=width, height=18)
    cells = alt.Chart(alt.NamedData("cells")).mark_rect().encode(
        x=x, y=alt.Y("unit:O", title="unit", axis=alt.Axis(labelOverlap=False)),
        color=alt.Color("value:Q", scale=alt.Scale(scheme="redblue", reverse=True, domain=[-lim, lim]),
                        title="state"),
        stroke=alt.condition("datum.on", alt.value("black"), alt.value(None)),
        tooltip=["step:Q", "text:N", "unit:Q", alt.Tooltip("value:Q", format=".3f"), "on:N"],
    ).properties(width=width, height=cells_height)
    bars = alt.Chart(alt.NamedData("count")).mark_bar().encode(
        x=x, y=alt.Y("n_on:Q", title="units on"), tooltip=["step:Q", "text:N", "n_on:Q"]
    ).properties(width=width, height=70)
    return alt.vconcat(letters, cells, bars, spacing=2).resolve_scale(x="shared")


def words_chart(height: int):
    return alt.Chart(alt.NamedData("words")).mark_bar().encode(
        x=alt.X("matches:Q"), y=alt.Y("word:N", sort="-x", title=None, axis=alt.Axis(labelOverlap=False)),
        tooltip=["word:N", "matches:Q"]).properties(height=height)


def coactivation_chart(height: int):
    return alt.Chart(alt.NamedData("pairs")).mark_rect().encode(
        x=alt.X("unit_a:O", title="unit"), y=alt.Y("unit_b:O", title="unit"),
        color=alt.Color("jaccard:Q", scale=alt.Scale(domain=[0, 1]), title="Jaccard"),
        tooltip=["unit_a:Q", "unit_b:Q", alt.Tooltip("jaccard:Q", format=".3f")]).properties(height=height)


def pca_chart(x_title: str, y_title: str):
    return alt.Chart(alt.NamedData("points")).mark_circle(size=70, opacity=0.75).encode(
        x=alt.X("pc1:Q", title=x_title), y=alt.Y("pc2:Q", title=y_title), color=alt.Color("set:N"),
        tooltip=["set:N", "phrase:N", "dataset:N", "sentence_id:Q", "context:N"]).properties(height=380)


def timecourse_chart(threshold: float):
    lines = alt.Chart(alt.NamedData("curve")).mark_line(point=True).encode(
        x=alt.X("step:Q", title="units after the span's last unit (0 = its last unit; negative: before and in it)"),
        y=alt.Y("mean:Q", title="mean state"), color=alt.Color("unit:N"),
        tooltip=["unit:Q", "step:Q", alt.Tooltip("mean:Q", format=".3f"), "n:Q"])
    rules = alt.Chart(alt.NamedData("rules")).mark_rule(strokeDash=[4, 3], color="#888").encode(
        x=alt.X("x:Q"), tooltip=["what:N"])
    thr = alt.Chart(alt.NamedData("thr")).mark_rule(color="#d62728", opacity=0.6).encode(y="y:Q", tooltip=["what:N"])
    return (lines + rules + thr).properties(height=320)


def selectivity_chart(height: int):
    return alt.Chart(alt.NamedData("cells")).mark_rect().encode(
        x=alt.X("phrase:N", title=None), y=alt.Y("unit:O", sort=None, title="unit"),
        color=alt.Color("selectivity:Q", scale=alt.Scale(scheme="redblue", reverse=True, domain=[-1, 1]),
                        title="response - control"),
        tooltip=["unit:Q", "phrase:N", alt.Tooltip("response:Q", format=".2f"),
                 alt.Tooltip("control:Q", format=".2f"), "n_occurrences:Q", "n_controls:Q"]).properties(height=height)
