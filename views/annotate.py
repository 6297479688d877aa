"""Blind annotation (Bolukbasi et al. 2021, Section 3.2): judge sets of ten sentences without knowing whether
they are a neuron's top sentences, a random direction's, or random sentences; then compare the conditions."""
import streamlit as st

import annotations as store
from analysis.annotation import (MIN_POSITIVES, direction_patterns, locality_by_meaning, patterns_per_direction,
                                 positives_per_pattern, table1, table6)
from ui import annotate_model as model
from ui import annotate_sections as sections
from ui import data, url
from ui.db import connection
from ui.direction import select_datasets
from ui.selection import select_run
from ui.tables import table

st.title("Blind annotation")
st.caption("An Interpretability Illusion for BERT (Bolukbasi et al. 2021), Section 3.2: each set of sentences is "
           "either the top sentences of a neuron, of a random direction, or a random draw; you see only the "
           "dataset. Does the set share a pattern, and which sentences show it?")

path = store.default_path()
modes = ["Annotate", "Results"]
mode = st.segmented_control("View", modes, key="ann_mode", default=url.url_choice("mode", modes, "Annotate")) \
    or "Annotate"
url.set_params(mode=mode)


def results() -> None:
    t, a = store.tasks(path), store.annotations(path)
    c1, c2, c3 = st.columns(3)
    c1.metric("Tasks", len(t))
    c2.metric("Annotations", len(a))
    c3.metric("Annotators", a["annotator"].nunique() if len(a) else 0)
    st.caption(f"Store: `{path}` (separate from the read-only warehouse).")
    if a.empty:
        st.info("No annotations yet.")
        return
    st.subheader("Table 1: sets with a pattern, by condition and dataset")
    st.caption("Pattern: every annotator of the set found one; no pattern: none did; conflicting: annotators "
               "disagree. A set annotated by one person takes that answer (counted in single_annotator).")
    table(table1(t, a), "annotation_table1", key="ann_t1")
    match, how = model.matcher(path)
    st.subheader("Table 6: pattern rate per annotator")
    table(table6(t, a, match), "annotation_table6", key="ann_t6")
    st.subheader("Distinct patterns per direction (Fig. 2, top)")
    st.caption(f"Across datasets and annotators; patterns match with {how} (several patterns in one answer: "
               "separate them with ';'). The paper merged paraphrases by hand: merge them below.")
    table(patterns_per_direction(t, a, match), "annotation_patterns_per_direction", key="ann_ppd")
    with st.expander("Per direction"):
        table(direction_patterns(t, a, match), "annotation_direction_patterns", key="ann_dp")
    sections.merge_patterns(t, a, match, path)
    st.subheader("Positive sentences per meaningful set (Fig. 2, bottom)")
    st.caption(f"Only answers with a pattern and at least {MIN_POSITIVES} positive sentences count (the paper's "
               f"rule); below_threshold counts the others.")
    table(positives_per_pattern(t, a), "annotation_positives", key="ann_pos")
    st.subheader("Locality of meaningful vs meaningless directions (Section 5.2.1)")
    v = model.annotated_directions(t, a)
    if v.empty:
        st.info("No annotated neuron or random-direction sets yet.")
        return
    v = model.with_locality(v)
    st.caption("Two measures, both labelled: median_L_* is each direction's L pooled over its top sentences (as on "
               "the Monotonicity & locality page); mean_L_sentence_* is Table 5 as the study reports it, the mean "
               "over each direction's top sentences of their own L (D_p,nearest vs D_p,top). "
               "L of each annotated direction on its dataset; sets "
               "with conflicting answers are left out; two-sided Mann-Whitney U per dataset and overall.")
    table(locality_by_meaning(v), "annotation_locality", key="ann_loc")


if mode == "Results":
    st.warning("Results reveal each set's condition: look at them after annotating.")
    results()
    st.stop()

annotator = st.text_input("Your name (annotator)", value=url.get("annotator"), key="ann_annotator").strip()
url.set_params(annotator=annotator)
if not annotator:
    st.info("Enter your name to start annotating.")
    st.stop()

con = connection()
with st.expander("Create tasks", expanded=store.tasks(path).empty):
    sel = select_run(con, where=st)
    all_ds = data.meta("datasets", sel.run_id)["dataset"].tolist()
    datasets = select_datasets(all_ds)
    dim = int(sel.run["hidden_size"])
    with st.form("ann_create"):
        c1, c2, c3 = st.columns(3)
        n_neurons = c1.number_input("Neurons", 0, dim, min(5, dim), key="ann_n_neurons")
        n_dirs = c2.number_input("Random directions", 0, 1000, 5, key="ann_n_dirs")
        n_sets = c3.number_input("Random sentence sets", 0, 1000, 5, key="ann_n_sets")
        c4, c5 = st.columns(2)
        k = c4.number_input("Sentences per set (k)", 3, 50, 10, key="ann_k")
        seed = c5.number_input("Seed", 0, 2**31 - 1, 0, key="ann_seed")
        st.caption("Each count is per dataset: a neuron or direction gets one set in every chosen dataset.")
        if st.form_submit_button("Create tasks"):
            made = model.make_tasks(sel, datasets, int(n_neurons), int(n_dirs), int(n_sets), int(k), int(seed), path)
            st.session_state["ann_flash"] = f"Created {len(made)} tasks."
            st.rerun()

if flash := st.session_state.pop("ann_flash", None):
    st.success(flash)

done, total = store.progress(annotator, path)
st.progress(done / total if total else 0.0, text=f"{annotator}: {done} of {total} sets annotated")
task = store.next_task(annotator, path)
if task is None:
    st.info("Nothing left to annotate." if total else "No tasks yet: create some above.")
    st.stop()

ids, text_of = model.task_texts(task)
tid = int(task["task_id"])
st.subheader(f"Set {tid} · dataset {task['dataset']}")
with st.form(f"ann_task_{tid}"):
    st.markdown("Tick the sentences that show the pattern (if any).")
    ticked = [i for n, i in enumerate(ids, 1)
              if st.checkbox(f"{n}. {text_of.get(i, '(sentence missing)')}", key=f"ann_pos_{tid}_{i}")]
    has = st.radio("Do these sentences share a pattern?", ["yes", "no"], index=None, horizontal=True,
                   key=f"ann_has_{tid}")
    pattern = st.text_input("Pattern (e.g. 'mentions a year'; several: separate with ';')", key=f"ann_pat_{tid}")
    if st.form_submit_button("Submit"):
        problem = None
        if has is None:
            problem = "Say whether there is a pattern."
        elif has == "yes" and not pattern.strip():
            problem = "Name the pattern."
        elif has == "yes" and len(ticked) < MIN_POSITIVES:
            problem = f"A pattern needs at least {MIN_POSITIVES} positive sentences (the paper's rule)."
        if problem:
            st.error(problem)
        else:
            store.add_annotation(tid, annotator, has == "yes", pattern if has == "yes" else None, ticked, path)
            st.session_state["ann_flash"] = f"Saved set {tid}."
            st.rerun()
