"""The blind annotation page with AppTest: create tasks, annotate one blind, see it in the results."""
import hashlib
from pathlib import Path

import pytest

from streamlit.testing.v1 import AppTest

import annotations as store

ROOT = Path(__file__).resolve().parent.parent
HIDDEN = ("neuron", "random_direction", "random direction", "random_sentences", "random sentences", "sentences:",
          "random:", "condition")


def _texts(node) -> list[str]:
    """Every string an element of this subtree shows (labels, values, options, help)."""
    out = []
    for attr in ("label", "value", "help", "placeholder"):
        v = getattr(node, attr, None) if not hasattr(node, "children") else None
        if isinstance(v, str):
            out.append(v)
    options = getattr(node, "options", None) if not hasattr(node, "children") else None
    if options:
        out.extend(str(o) for o in options)
    for child in getattr(node, "children", {}).values():
        out.extend(_texts(child))
    return out


def _app(monkeypatch, small_warehouse, tmp_path):
    ann = tmp_path / "ann.duckdb"
    monkeypatch.setenv("ILLUSION_WAREHOUSE", str(small_warehouse))
    monkeypatch.setenv("ILLUSION_ANNOTATIONS", str(ann))
    at = AppTest.from_file(str(ROOT / "views" / "annotate.py"), default_timeout=60)
    return at, ann


def test_create_annotate_and_results(monkeypatch, small_warehouse, tmp_path):
    before = hashlib.sha256(small_warehouse.read_bytes()).hexdigest()
    at, ann = _app(monkeypatch, small_warehouse, tmp_path)
    at.run()
    assert not at.exception and "Enter your name" in at.info[0].value
    at.text_input(key="ann_annotator").input("alice").run()
    assert not at.exception and "No tasks yet" in at.info[0].value
    assert dict(at.query_params)["annotator"] in (["alice"], "alice")

    at.number_input(key="ann_n_neurons").set_value(2)
    at.number_input(key="ann_n_dirs").set_value(1)
    at.number_input(key="ann_n_sets").set_value(1)
    at.number_input(key="ann_seed").set_value(7)
    next(b for b in at.button if b.label == "Create tasks").click().run()
    assert not at.exception
    tasks = store.tasks(ann)
    assert len(tasks) == 3 * 4 and set(tasks["condition"]) == set(store.CONDITIONS)
    assert any("Created 12 tasks" in s.value for s in at.success)
    assert at.get("progress")[0].proto.text == "alice: 0 of 12 sets annotated"

    task = tasks.iloc[0]
    assert f"Set 1 · dataset {task['dataset']}" in at.subheader[0].value
    form = next(b for b in at.main.get("form") if b.proto.form.form_id == "ann_task_1")
    shown = _texts(form)
    for word in HIDDEN:
        assert not any(word in s.casefold() for s in shown), word
    assert task["direction_id"] not in " ".join(shown)
    boxes = [c for c in at.checkbox if c.key.startswith("ann_pos_1_")]
    assert len(boxes) == 10 and all(c.label in shown for c in boxes)  # the scan did see the sentences
    assert "Do these sentences share a pattern?" in shown

    # a pattern needs three positives: refused with two
    for c in boxes[:2]:
        c.check()
    at.radio(key="ann_has_1").set_value("yes")
    at.text_input(key="ann_pat_1").input("Sports")
    next(b for b in at.button if b.label == "Submit").click().run()
    assert not at.exception and "at least 3" in at.error[0].value and store.annotations(ann).empty
    at.checkbox(key=boxes[2].key).check()
    next(b for b in at.button if b.label == "Submit").click().run()
    assert not at.exception
    a = store.annotations(ann)
    assert len(a) == 1 and a.loc[0, "annotator"] == "alice" and a.loc[0, "has_pattern"]
    assert a.loc[0, "pattern"] == "Sports" and a.loc[0, "positive_ids"] == task["sentence_ids"][:3]
    assert at.get("progress")[0].proto.text == "alice: 1 of 12 sets annotated"
    assert "Set 2 ·" in at.subheader[0].value

    at.segmented_control(key="ann_mode").set_value("Results").run()
    assert not at.exception
    frames = [d.value for d in at.dataframe]
    t1 = next(f for f in frames if "conflicting_rate" in f.columns).set_index(["condition", "dataset"])
    row = t1.loc[(task["condition"], "All")]
    assert row["tasks"] == 1 and row["pattern"] == 1 and row["pattern_rate"] == 1
    t6 = next(f for f in frames if "patterns_named" in f.columns).set_index(["annotator", "condition"])
    assert t6.loc[("alice", "all"), "annotated"] == 1 and t6.loc[("alice", task["condition"]), "with_pattern"] == 1
    ppd = next(f for f in frames if list(f.columns) == ["condition", "directions", "mean", "std"])
    assert ppd.set_index("condition").loc[task["condition"], "mean"] == 1
    pos = next(f for f in frames if "below_threshold" in f.columns).set_index("condition")
    assert pos.loc[task["condition"], "meaningful"] == 1 and pos.loc[task["condition"], "mean"] == 3
    assert [m.value for m in at.metric][:2] == ["12", "1"]
    assert hashlib.sha256(small_warehouse.read_bytes()).hexdigest() == before
    # locality of the annotated direction (neurons and random directions only), recomputed by hand
    loc = [f for f in frames if "median_L_meaningful" in f.columns]
    if task["condition"] == "random_sentences":
        assert not loc and any("No annotated neuron" in i.value for i in at.info)
    else:
        import numpy as np

        import warehouse
        from analysis.drift import direction_from_id
        from analysis.locality import locality

        con = warehouse.connect_read_only(small_warehouse)
        x = np.array(con.execute("select vec from activations where run_id = ? and layer = ? and pooling = ? and "
                                 "dataset = ? order by sentence_id", [task["run_id"], int(task["layer"]),
                                                                      task["pooling"], task["dataset"]]
                                 ).df()["vec"].tolist())
        con.close()
        expected = locality(x, direction_from_id(task["direction_id"], x.shape[1]), k=10)["L"]
        row = loc[0].set_index("dataset").loc["All"]
        assert row["n_meaningful"] == 1 and row["median_L_meaningful"] == pytest.approx(expected)
