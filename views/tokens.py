"""Monotonicity (Tables 3-4, Fig. 6) and locality (Section 5.2.1, Fig. 7) of neurons, Bolukbasi et al. 2021."""
import altair as alt
import streamlit as st

from analysis.monotonicity import fig6_frame, table3, table4
from ui import charts, data, url
from ui import tokens_model as model
from ui.db import connection
from ui.direction import select_datasets
from ui.selection import select_run
from ui.tables import table
from ui import progress


def fig6_chart():
    return alt.Chart(alt.NamedData("fig6")).mark_bar().encode(
        x=alt.X("quintile:O", title="activation quintile (1 = lowest)"), y=alt.Y("count:Q"),
        color="dataset:N", xOffset="dataset:N", tooltip=["dataset:N", "quintile:Q", "count:Q"],
    ).properties(height=240)


def locality_chart():
    return alt.Chart(alt.NamedData("hist")).mark_bar(opacity=0.55).encode(
        x=alt.X("dot:Q", bin=alt.Bin(maxbins=30), title="dot product"), y=alt.Y("count():Q", stack=None),
        color="set:N").properties(height=220)


def all_l_chart(dataset: str):
    return alt.Chart(alt.NamedData("all_l")).mark_bar().encode(
        x=alt.X("L:Q", bin=alt.Bin(maxbins=30), title=f"L of every neuron on {dataset}"), y="count():Q"
    ).properties(height=160)


def choose():
    """The run, datasets and token threshold."""
    sel = select_run(connection())
    progress.wait_for("layer_scores", sel.run_id)
    if sel.run["model_kind"] not in ("transformer", "decoder"):
        st.info("Token counts are stored for transformer and decoder runs; choose one in the sidebar.")
        st.stop()
    all_ds = data.meta("datasets", sel.run_id)["dataset"].tolist()
    datasets = select_datasets(all_ds)
    min_count = url.number_input("Tokens that occur at least this often in each dataset", "min_count", 100, 1,
                                 100_000, key="mono_min")
    return sel, datasets, min_count


def monotonicity(sel, datasets: list[str], min_count: int):
    st.header("Monotonicity")
    tokens, directions = model.monotonicity(sel, datasets, min_count)
    if not tokens:
        st.warning(f"No token occurs {min_count} times in every chosen dataset; lower the threshold or choose fewer "
                   "or larger datasets.")
        st.stop()
    dim = int(sel.run["hidden_size"])
    st.markdown(f"{len(tokens)} token{'' if len(tokens) == 1 else 's'} × {dim} neurons × {len(datasets)} datasets. "
                "For each neuron the sentences of a "
                "dataset are split into 5 quintiles of activation (lowest first); a (neuron, token) pair is "
                "*monotonic* when the token's count strictly increases or strictly decreases across the 5.")
    t3 = table3(directions)
    st.subheader("Table 3: share of (neuron, token) pairs monotonic in every dataset of a combination")
    st.caption("monotonic: in each dataset, the direction may differ; increasing/decreasing: the same direction in "
               "all. chance_*: if the 5 counts were distinct and all 5! orders equally likely, independently per "
               "dataset: (2/5!)^m for monotonic.")
    table(t3, "table3_monotonicity", key="t3")
    single = t3[t3["n_datasets"] == 1]
    st.markdown(f"Monotonic within one dataset: {single['monotonic'].min():.1%}–{single['monotonic'].max():.1%} of "
                f"pairs (chance 1.7%); in all {len(datasets)} at once: {t3['monotonic'].iloc[-1]:.2%} "
                f"(chance {t3['chance_monotonic'].iloc[-1]:.1e}).")

    st.subheader("Table 4: tokens monotonic in the same direction in all datasets for the most neurons")
    table(table4(directions, tokens, top=20), "table4_tokens", key="t4")
    return tokens, directions, dim


def fig6(sel, datasets: list[str], min_count: int, tokens, directions, dim: int) -> int:
    st.subheader("Fig. 6: one neuron, one token")
    c1, c2 = st.columns(2)
    unit = url.number_input(f"Neuron (0 to {dim - 1})", "unit", 0, 0, dim - 1, key="mono_unit", where=c1)
    token = url.selectbox("Token", tokens, "token", "mono_token", where=c2)
    j = tokens.index(token)
    fig6 = fig6_frame(model.fig6_counts(sel, datasets, min_count, int(unit), j))

    charts.show(fig6_chart, (), {"fig6": fig6[["dataset", "quintile", "count"]]}, width="stretch")
    labels = {1: "increasing", -1: "decreasing", 0: "not monotonic"}
    st.caption(" · ".join(f"{name}: {labels[int(directions[name][unit, j])]}" for name in datasets))
    return int(unit)


def locality(sel, datasets: list[str], unit: int) -> None:
    st.header("Locality")
    dataset = st.selectbox("Dataset", datasets, key="loc_ds")
    k = url.number_input("k", "k", 10, 2, 50, key="loc_k")
    n, found = model.neuron_locality(sel, dataset, int(unit), k)
    if found is None:
        st.warning(f"{dataset} has {n} sentences; locality needs at least {2 * k}.")
        st.stop()
    loc, hist = found

    charts.show(locality_chart, (), {"hist": hist}, width="stretch")
    st.markdown(f"**Locality L = {loc['L']:.3f}** for neuron {unit} on {dataset} (top {k}): histogram intersection "
                "over union of D_nearest (each top sentence with its k nearest neighbours by dot product) and D_top "
                "(pairs within the top k), 20 shared equal-width bins, each histogram normalised. D_random: top "
                "sentences against k random ones. The paper pools per sentence; its mean L (0.026) is on finer bins, "
                "so compare neurons here, not with the paper's scale.")
    frame = model.every_locality(sel, dataset, k)

    # the axis names the dataset: one spec per dataset, whatever the neuron and k
    charts.show(all_l_chart, (dataset,), {"all_l": frame[["L"]]}, width="stretch")
    table(frame.sort_values("L", ascending=False), "locality_all_neurons", key="loc_all")


st.title("Monotonicity and locality")
st.caption("Why does a neuron seem to mean something? Two of the paper's explanations: token frequencies that "
           "rise or fall steadily with the activation (monotonicity), and top sentences that sit in one small "
           "region of the space (locality).")

sel, datasets, min_count = choose()
tokens, directions, dim = monotonicity(sel, datasets, min_count)
unit = fig6(sel, datasets, min_count, tokens, directions, dim)
locality(sel, datasets, unit)
