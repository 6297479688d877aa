"""The sentiment-neuron page's chart builders (see ui/charts.py: each depends on its arguments alone)."""
from __future__ import annotations

import altair as alt


def weights_chart():
    return alt.Chart(alt.NamedData("weights")).mark_bar().encode(
        x=alt.X("unit:Q", title="unit"), y=alt.Y("weight:Q", title="weight (standardised features)"),
        color=alt.Color("role:N", scale=alt.Scale(domain=["sentiment neuron", "other unit"],
                                                  range=["#d62728", "#9ecae1"]), title=None),
        tooltip=["unit:Q", "layer_name:N", "pooling:N", "neuron:Q", alt.Tooltip("weight:Q", format="+.4f"),
                 "weight_rank:Q"],
    ).properties(height=260)


def per_unit_chart(field: str, title: str, rule_color: str | None):
    """Each unit's accuracy (``field``), the SN in red, and a dashed reference line."""
    color = alt.Color("role:N", scale=alt.Scale(domain=["sentiment neuron", "other unit"],
                                                range=["#d62728", "#4c78a8"]), title=None)
    rule = alt.Chart(alt.NamedData("ref"))
    rule = rule.mark_rule(strokeDash=[4, 3], color=rule_color) if rule_color else rule.mark_rule(strokeDash=[4, 3])
    return (
        alt.Chart(alt.NamedData("units")).mark_circle(size=22).encode(
            x=alt.X("unit:Q"), y=alt.Y(f"{field}:Q", title=title, scale=alt.Scale(zero=False)),
            color=color, tooltip=["unit:Q", "layer_name:N", "neuron:Q", alt.Tooltip(f"{field}:Q", format=".4f")])
        + rule.encode(y="y:Q")
    )


def cumulative_chart():
    return (
        alt.Chart(alt.NamedData("curve")).mark_line().encode(
            x=alt.X("removed:Q", title="units removed (largest |weight| first)"),
            y=alt.Y("accuracy:Q", title="test accuracy", scale=alt.Scale(zero=False)),
            tooltip=["removed:Q", "remaining:Q", alt.Tooltip("accuracy:Q", format=".4f")])
        + alt.Chart(alt.NamedData("sn_only")).mark_rule(strokeDash=[4, 3], color="#d62728").encode(
            y="y:Q", tooltip=["label:N", alt.Tooltip("y:Q", format=".4f")])
    )


def subsets_chart(size: int):
    return (
        alt.Chart(alt.NamedData("subsets")).mark_bar(opacity=0.8).encode(
            x=alt.X("test_accuracy:Q", bin=alt.Bin(maxbins=40), title=f"test accuracy of {size} random units"),
            y=alt.Y("count():Q", title="subsets"))
        + alt.Chart(alt.NamedData("sn_only")).mark_rule(color="#d62728", size=2).encode(
            x="x:Q", tooltip=["label:N", alt.Tooltip("x:Q", format=".4f")])
    )


def attack_chart():
    return alt.Chart(alt.NamedData("attack")).mark_bar().encode(
        x=alt.X("attacked accuracy %:Q", scale=alt.Scale(domain=[0, 100])),
        y=alt.Y("features:N", title=None), color=alt.Color("features:N", legend=None),
        row=alt.Row("attack:N", title=None),
        tooltip=["features:N", "attack:N", "n:Q", alt.Tooltip("clean accuracy %:Q", format=".2f"),
                 alt.Tooltip("attacked accuracy %:Q", format=".2f"),
                 alt.Tooltip("change (points):Q", format="+.2f")]).properties(height=70)
