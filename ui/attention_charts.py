"""The attention-clusters page's chart builders (see ui/charts.py: each depends on its arguments alone)."""
from __future__ import annotations

import altair as alt

TOOLTIP = ["sentence_id:Q", "cluster:N", "score:Q", "length:Q", alt.Tooltip("structure:Q", format=".2f"), "text:N",
           "text_b:N"]


def cluster_scatter(x: str, y: str, clusters: tuple):
    return alt.Chart(alt.NamedData("points")).mark_circle(size=22, opacity=0.75).encode(
        x=alt.X(f"{x}:Q", title="dim 1"), y=alt.Y(f"{y}:Q", title="dim 2"),
        color=alt.Color("cluster:N", sort=list(clusters), scale=alt.Scale(scheme="tableau10")),
        tooltip=TOOLTIP,
    ).properties(title="Coloured by cluster", height=380)


def range_scatter(x: str, y: str, hl_order: tuple, legend: str, title: str):
    palette = ["#d62728", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"]
    return alt.Chart(alt.NamedData("points")).mark_circle(size=22).encode(
        x=alt.X(f"{x}:Q", title="dim 1"), y=alt.Y(f"{y}:Q", title="dim 2"),
        color=alt.Color("highlight:N", sort=list(hl_order), scale=alt.Scale(
            domain=list(hl_order), range=palette[:len(hl_order) - 1] + ["#dddddd"]), title=legend),
        opacity=alt.condition(alt.datum.highlight == "other", alt.value(0.3), alt.value(0.95)),
        order=alt.Order("highlight_rank:Q"),
        tooltip=TOOLTIP,
    ).transform_calculate(highlight_rank="datum.highlight == 'other' ? 0 : 1").properties(title=title, height=380)


def cluster_box(field: str, label: str):
    return alt.Chart(alt.NamedData("box")).mark_boxplot(extent=1.5).encode(
        x=alt.X("cluster:N", title="cluster"), y=alt.Y(f"{field}:Q", title=label),
        color=alt.Color("cluster:N", legend=None)).properties(title=label, height=260)


def eta_chart():
    return alt.Chart(alt.NamedData("eta")).mark_line(point=True).encode(
        x=alt.X("layer:O"), y=alt.Y("eta2:Q", title="Kruskal-Wallis η²"),
        color=alt.Color("covariate:N", title=None)).properties(title="How strongly each layer's clusters separate "
                                                                     "each covariate", height=240)


def dataset_box(label: str, title: str):
    """The whole dataset's distribution of one covariate as one horizontal Tukey box, drawn from its numbers
    (named data ``summary``: one row of analysis.attention_figures.box_summary; ``outliers``: value, the points
    beyond the whiskers)."""
    box = alt.Chart(alt.NamedData("summary"))
    x = alt.X("whisker_low:Q", title=label, scale=alt.Scale(zero=False))
    tip = ["n:Q", "whisker_low:Q", "q1:Q", "median:Q", "q3:Q", "whisker_high:Q",
           alt.Tooltip("skewness:Q", format="+.2f")]
    return alt.layer(
        box.mark_rule().encode(x=x, x2="whisker_high:Q", tooltip=tip),
        box.mark_bar(size=36, color="#9ecae1", stroke="#3182bd").encode(x="q1:Q", x2="q3:Q", tooltip=tip),
        box.mark_tick(size=36, thickness=2, color="#08306b").encode(x="median:Q", tooltip=tip),
        alt.Chart(alt.NamedData("outliers")).mark_point(color="#3182bd").encode(x="value:Q"),
    ).properties(title=title, height=90)


def multiples_chart(titles: tuple, width: int):
    """One scatter per clustering, side by side, three to a row (named data ``multiples``: title, x, y, cluster,
    sentence_id)."""
    return alt.Chart(alt.NamedData("multiples")).mark_circle(size=12, opacity=0.75).encode(
        x=alt.X("x:Q", title="dim 1"), y=alt.Y("y:Q", title="dim 2"),
        color=alt.Color("cluster:N", scale=alt.Scale(scheme="tableau10")),
        tooltip=["title:N", "sentence_id:Q", "cluster:N"],
    ).properties(width=width, height=width).facet(
        facet=alt.Facet("title:N", sort=list(titles), title=None), columns=3, spacing=12)
