"""Distribution shift: one unit's activations per dataset on shared bins, every dataset pair's KS / Wasserstein
and top-k agreement (RBO, Jaccard), the pooled top k by dataset, and the layer's most shifted units."""
import streamlit as st

from analysis.shift import RBO_P
from ui import charts, data, progress, url
from ui import shift_charts as ch
from ui import shift_model as model
from ui.db import connection
from ui.direction import select_datasets_and_k, select_direction
from ui.selection import select_run
from ui.tables import table

PAIR_FORMAT = {c: st.column_config.NumberColumn(c, format="%.4f")
               for c in ("ks", "wasserstein", "mean_diff", "rbo_text", "jaccard_text", "rbo_words", "jaccard_words")}


def distributions(direction, p: model.Panel) -> None:
    st.subheader("Distributions")
    if p.constant:
        st.info(f"{direction.label} has the same value ({p.scores['value'].iloc[0]:+.6f}) on every sentence here: "
                "nothing shifts.")
        return
    charts.show(ch.histogram_chart, (direction.kind,), {"hist": p.hist}, width="stretch")
    st.caption(f"Every stored sentence ({len(p.scores):,}), on {p.hist.groupby('dataset').size().iloc[0]} bins shared "
               "by all datasets; density, so the sizes of the datasets do not matter.")


def pairs(p: model.Panel, k: int, rbo_p: float) -> None:
    st.subheader("Every dataset pair")
    if len(p.pairs) == 0:
        st.info("Choose two or more datasets to compare them.")
        return
    table(p.pairs, "shift_pairs", key="shift_pairs_table", column_config=PAIR_FORMAT)
    st.caption(f"ks, ks_p: two-sample Kolmogorov-Smirnov statistic and two-sided p-value (scipy.stats.ks_2samp, "
               f"exact for small samples); wasserstein: the 1-D earth mover's distance in the unit's own scale "
               f"(scipy.stats.wasserstein_distance); mean_diff: mean of b minus mean of a. rbo: extrapolated "
               f"rank-biased overlap (Webber et al. 2010, RBO_ext, p = {rbo_p:g}) and jaccard of the two datasets' "
               f"top-{k} lists, of the sentences themselves (_text: the same text in two datasets, e.g. MR and "
               f"SST-2) and of the top {model.WORDS} words of those sentences (_words, function words left out).")
    with st.expander("Each dataset's top words"):
        table(model.word_lists(p), "shift_words", key="shift_words_table")


def pooled(p: model.Panel, k: int) -> None:
    st.subheader(f"The pooled top {k}")
    st.caption(f"All the chosen datasets' sentences ranked together (the illusion study's Fig. 1): which datasets "
               f"does the unit's top {k} come from, against each dataset's share of the sentences?")
    c1, c2 = st.columns([3, 2])
    charts.show(ch.pooled_chart, (k,), {"pooled": p.pooled}, where=c1, width="stretch")
    charts.show(ch.shares_chart, (), {"shares": model.shares_long(p.shares)}, where=c2, width="stretch")
    table(p.shares, "shift_shares", key="shift_shares_table")
    with st.expander(f"The pooled top {k} as a table"):
        table(p.pooled, "shift_pooled", key="shift_pooled_table")


def layer(sel, all_datasets: list[str]) -> None:
    st.subheader(f"Which units of layer {sel.layer} shift most between two datasets?")
    if len(all_datasets) < 2:
        st.info("This run has one dataset: nothing to compare.")
        return
    c1, c2 = st.columns(2)
    a = url.selectbox("Dataset A", all_datasets, "a", key="shift_a", where=c1)
    b = url.selectbox("Dataset B", all_datasets, "b", key="shift_b", where=c2, default=1)
    if a == b:
        st.info("Choose two different datasets.")
        return
    shifted = model.layer_table(sel, a, b)
    table(shifted, f"shift_layer_{a}_{b}", key="shift_layer_table",
          column_config={"drift": st.column_config.LinkColumn("drift", display_text="drift page",
                                                              help="This neuron on the neuron-drift page")})
    st.caption(f"All {len(shifted)} units, most shifted first (KS, then Wasserstein); click a header to sort. KS "
               f"p-values: the limiting Kolmogorov distribution, not corrected for the {len(shifted)} tests.")


st.title("Distribution shift")
st.caption("Does a unit's activation distribution stay the same from one dataset to another? If not, what its "
           "top sentences mean on one dataset need not carry over to the next.")
sel = select_run(connection())
progress.wait_for("extract", sel.run_id)
direction = select_direction(int(sel.run["hidden_size"]))
all_datasets = data.meta("datasets", sel.run_id)["dataset"].tolist()
datasets, k = select_datasets_and_k(all_datasets, key="shift_k", max_k=200)
rbo_p = st.number_input("RBO persistence p (the top d ranks weigh 1 - p^d)", 0.5, 0.99,
                        url.url_float("rbo_p", RBO_P, 0.5, 0.99), 0.01, key="shift_rbo_p")
url.set_params(rbo_p=None if rbo_p == RBO_P else f"{rbo_p:g}")
p = model.panel(sel, direction, datasets, k, float(rbo_p))
st.subheader(f"{direction.label} · layer {sel.layer} ({sel.layer_name}) · {sel.pooling}")
st.markdown(f"[Its top sentences on the neuron-drift page]({model.drift_url()})")
distributions(direction, p)
pairs(p, k, float(rbo_p))
pooled(p, k)
layer(sel, all_datasets)
