"""Dataset separability (Bolukbasi et al. 2021, Hypothesis 1): do the datasets occupy distinct regions?"""
import altair as alt
import streamlit as st

from ui import charts
from ui.db import connection
from ui.selection import select_run
from ui.tables import table
from ui import progress
from warehouse import queries

st.title("Dataset separability")
st.caption("Hypothesis 1 of the paper: if the datasets occupy distinct regions of the space, any direction's "
           "top sentences in each dataset come from different regions, and so can look like different concepts.")

con = connection()
sel = select_run(con)
progress.wait_for("separability", sel.run_id)
acc = queries.separability(con, sel.run_id)
if acc.empty:
    st.info("This warehouse has no separability results for this run (it needs two or more datasets; build with "
            "`python -m pipeline build`, where --svm-per-dataset sets the sample).")
    st.stop()

st.subheader("Linear SVM: held-out accuracy per layer")
chance = float(acc["chance"].max())


def accuracy_chart():
    return (
        alt.Chart(alt.NamedData("acc")).mark_line(point=True).encode(
            x=alt.X("layer:O", title="layer"),
            y=alt.Y("accuracy:Q", scale=alt.Scale(domain=[0, 1]), title="held-out accuracy (dashed: chance)"),
            color="pooling:N", tooltip=["layer:Q", "layer_name:N", "pooling:N",
                                        alt.Tooltip("accuracy:Q", format=".3f"), "n_train:Q", "n_test:Q"])
        + alt.Chart(alt.NamedData("chance")).mark_rule(strokeDash=[4, 3], color="gray").encode(y="mean(chance):Q")
    )


charts.show(accuracy_chart, (), {"acc": acc[["layer", "layer_name", "pooling", "accuracy", "n_train", "n_test"]],
                                 "chance": acc[["chance"]]}, width="stretch")
row = acc[(acc["layer"] == sel.layer) & (acc["pooling"] == sel.pooling)].iloc[0]
st.markdown(f"Layer {sel.layer} ({sel.layer_name}), {sel.pooling}: **{row['accuracy']:.1%}** held-out accuracy "
            f"over {int(row['n_test'])} test sentences (chance, the largest dataset's share: {row['chance']:.1%}; "
            f"at most {int(row['per_dataset'])} sentences per dataset, seeded 80/20 split, standardised "
            f"features, LinearSVC C = 1). The paper reports high accuracy for BERT-base on its four datasets; "
            + ("here too the accuracy is far above chance: the datasets occupy largely distinct regions, as "
               "Hypothesis 1 says." if row["accuracy"] >= row["chance"] + 0.5 * (1 - row["chance"]) else
               "here it is much closer to chance, so Hypothesis 1 explains less of any drift on this model "
               "and layer."))
table(acc, "separability", key="sep_table")

st.subheader(f"Confusion matrix, layer {sel.layer}, {sel.pooling}")
conf = queries.separability_confusion(con, sel.run_id, sel.layer, sel.pooling)


def confusion_chart():
    return (
        alt.Chart(alt.NamedData("conf")).mark_rect().encode(
            x=alt.X("predicted_dataset:N", title="predicted"), y=alt.Y("true_dataset:N", title="true"),
            color=alt.Color("n:Q", title="sentences"), tooltip=["true_dataset:N", "predicted_dataset:N", "n:Q"])
        + alt.Chart(alt.NamedData("conf")).mark_text().encode(x="predicted_dataset:N", y="true_dataset:N",
                                                              text="n:Q")
    )


charts.show(confusion_chart, (), {"conf": conf[["true_dataset", "predicted_dataset", "n"]]}, width="stretch")
table(conf, "separability_confusion", key="sep_conf")

st.subheader("UMAP of the last layer")
points = queries.umap_points(con, sel.run_id, sel.pooling)
if points.empty:
    st.info("No UMAP stored for this run and pooling (build with --umap-per-dataset > 0).")
else:
    per = points.groupby("dataset").size()

    def umap_chart():
        return alt.Chart(alt.NamedData("points")).mark_circle(size=14, opacity=0.6).encode(
            x=alt.X("x:Q", title=None, axis=None), y=alt.Y("y:Q", title=None, axis=None), color="dataset:N",
            tooltip=["dataset:N", "sentence_id:Q", "text:N"]).properties(height=480)

    charts.show(umap_chart, (), {"points": points[["x", "y", "dataset", "sentence_id", "text"]]}, width="stretch")
    st.caption(f"Stored coordinates of layer {int(points['layer'].iloc[0])}, {sel.pooling}: a seeded sample of "
               f"{len(points):,} sentences ({', '.join(f'{d} {n}' for d, n in per.items())}); UMAP with cosine "
               "metric, 15 neighbours, min_dist 0.1.")
    table(points, "umap_points", key="sep_umap")
