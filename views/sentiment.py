"""Sentiment neuron (Radford et al. 2017 and its ablation study): necessary, sufficient, or an artefact?"""
import streamlit as st

from analysis import sentiment as an
from analysis.sentiment_view import first_feature
from ui import sentiment_model as model
from ui import sentiment_sections as sections
from ui import url
from ui.sentiment_sections import IMDB_NOTE
from ui.tables import details, table
from ui import progress


def pick():
    """The run, dataset, feature-set and penalty boxes of the sidebar."""
    runs = model.runs()
    if runs.empty:
        progress.wait_for("sentiment")
        st.info("This warehouse has no sentiment results. The sentiment stage runs in `python -m pipeline build` when "
                "a dataset has sentiment labels: the demo's movies, amazon, nyt and tweets (`--preset demo`), the "
                "research presets sst2, mr and cr, or any dataset declared `label_kind=binary` "
                "(`sentiment.enabled=true`).")
        st.markdown(IMDB_NOTE)
        st.stop()
    run_id = url.selectbox("Model run", runs["run_id"].tolist(), "run", "senti_run", where=st.sidebar)
    status = model.datasets(run_id)
    done = status[status["status"] == "done"]
    if done.empty:
        st.warning(f"No dataset of run `{run_id}` had enough labelled rows for the study.")
        table(status, "sentiment_datasets", key="senti_status_only")
        st.stop()
    dataset = url.selectbox("Dataset", done["dataset"].tolist(), "dataset", f"senti_ds_{run_id}", where=st.sidebar)
    features = model.features(run_id)
    suite_features = features.loc[features["suite"], "feature"].tolist()
    classifiers = model.classifiers(run_id, dataset)
    feature = url.selectbox("Feature set", suite_features + [f for f in features["feature"] if f not in suite_features],
                            "feature", f"senti_feat_{run_id}", where=st.sidebar,
                            format_func=lambda f: f"{f} (full suite)" if f in suite_features else f"{f} (weights only)")
    penalty = url.selectbox("Penalty", sorted(classifiers["penalty"].unique().tolist()), "penalty",
                            f"senti_pen_{run_id}", where=st.sidebar,
                            format_func=lambda p: {"l1": "L1 (the original)", "l2": "L2"}.get(p, p))
    return (runs.set_index("run_id").loc[run_id], run_id, status, done.set_index("dataset").loc[dataset], dataset,
            features, suite_features, classifiers, feature, penalty)


def header(run, run_id, dataset, feature, penalty, frow, drow) -> None:
    st.subheader(f"`{run_id}` · {dataset} · {feature} · {penalty.upper()}")
    st.caption(f"{run['model_name']} · features: {', '.join(frow['layer_names'])} pooled "
               f"{' + '.join(frow['poolings'])}, {int(frow['n_units'])} units · {int(drow['n_labelled']):,} labelled "
               f"sentences ({int(drow['n_positive']):,} positive, {int(drow['n_negative']):,} negative; "
               f"{drow['rule']}) · seeded split {int(drow['n_train']):,} / {int(drow['n_dev']):,} / "
               f"{int(drow['n_test']):,}")


def verdicts(s: model.Study, first: str, feature: str, suite_features: list[str]) -> None:
    st.markdown("#### Do the study's four findings hold here?")
    if not s.suite:
        st.info(f"Only the all-units classifier ran on `{feature}` (not in `sentiment.suite_features`); choose "
                f"{', '.join(f'`{f}`' for f in suite_features) or 'a suite feature set'} for every experiment.")
        return
    found = an.findings(s.acc_all, float(s.acc.loc["sn_deleted", "test_accuracy"]), s.acc_only, s.share,
                        an.attack_drop(s.t3, first), an.attack_drop(s.t3, "mean"), first, majority=s.majority)
    if len({v["statement"] for v in found}) == 1 and all(v["holds"] is None for v in found):
        st.markdown(f"**None of the four findings is measurable here.** {found[0]['statement']}")
    else:
        for v in found:
            icon = {True: "✅ holds", False: "❌ does not hold", None: "➖ not measured"}[v["holds"]]
            st.markdown(f"**{v['finding']}: {icon}.** {v['statement']}")
    st.caption(f"Rules (from the numbers, not hard-coded): deleting the SN costs at most {an.DELETE_POINTS:g} point; "
               f"all units beat the SN alone by at least {an.ALONE_POINTS:g} point; more than half the random "
               f"subsets beat the SN alone; one trailing word costs the {first} features at least "
               f"{an.ATTACK_POINTS:g} points and the mean-pooled at most half as much. Finding 4 compares the "
               f"{first} and mean feature sets whatever the feature set chosen above.")


def protocol(s: model.Study, status) -> None:
    box, is_open = details("Every unit (weights, alone, left out, cumulative) and every random subset",
                           key="senti_units_open")
    if is_open:
        with box:
            table(s.units, "sentiment_units", key="senti_units")
            table(s.subsets, "sentiment_subsets", key="senti_subsets")
    with st.expander("Protocol, datasets and IMDB"):
        st.markdown(
            "Per dataset: labels made binary (rule above), a seeded 70/10/20 split (the build seed and the dataset "
            "name, so every run sees the same split), features standardised with the training rows' mean and std, "
            "logistic regression with an L1 (the original study) or L2 penalty and an unpenalised intercept, "
            "sklearn's objective. C is chosen on dev from a light grid (`sentiment.c_grid`) for the all-units, "
            "SN-deleted and each single-unit classifier; the single-unit and cumulative ablations reuse the "
            "all-units C; the random subsets share one C. Every accuracy is on the test split. The many classifiers "
            "are solved in batches (one matrix product for all of them per step); a test checks them against "
            "sklearn.")
        table(status, "sentiment_datasets", key="senti_status")
        st.markdown(IMDB_NOTE)


st.title("Sentiment neuron")
st.caption("Radford et al. (2017) found one LSTM unit whose value predicts sentiment. The ablation study "
           "(\"the sentiment neuron\": deleted, alone, every unit left out and alone, random subsets, pooling, "
           "adversarial trailing words) asks whether that unit is necessary, sufficient, or an artefact of the "
           "features. Here the same protocol runs on this warehouse's models and sentiment datasets.")
run, run_id, status, drow, dataset, features, suite_features, classifiers, feature, penalty = pick()
frow = features.set_index("feature").loc[feature]
first = first_feature(run["model_kind"])
header(run, run_id, dataset, feature, penalty, frow, drow)
study = model.study(run_id, dataset, feature, penalty, bool(frow["suite"]), classifiers)
verdicts(study, first, feature, suite_features)
sections.weights(study, run_id)
sections.table1(study, an.table1(classifiers, feature, penalty))
if not study.suite:
    st.stop()
sections.single_units(study)
sections.cumulative(study)
sections.random_subsets(study)
sections.table2(classifiers, penalty, features)
sections.table3(study, drow)
sections.misclassified(study, first)
protocol(study, status)
