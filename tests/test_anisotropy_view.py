"""The anisotropy page's frames (analysis/anisotropy_view.py) on hand-made per-layer tables."""
import pandas as pd

from analysis import anisotropy_view as av
from analysis.anisotropy import POOLED


def _layers():
    rows = []
    names = ["hook_embed", "blocks.0.hook_resid_post", "blocks.1.hook_resid_post"]
    # news falls with depth, questions rises (adjusted: both fall)
    values = {"news": [0.9, 0.7, 0.5], "questions": [0.2, 0.4, 0.6], POOLED: [0.6, 0.55, 0.5]}
    for ds, vals in values.items():
        for layer, (name, v) in enumerate(zip(names, vals)):
            rows.append({"dataset": ds, "layer": layer, "layer_name": name, "self_sim": v,
                         "self_sim_adj": 1 - layer * 0.1, "intra_sim": v / 2, "intra_sim_adj": v / 3})
    return pd.DataFrame(rows)


def test_labels_names_and_samples():
    layers = _layers()
    assert av.axis_label(0, "hook_embed") == "0: embed" and av.axis_label(3, "blocks.2.hook_resid_post") == "3: blocks.2"
    assert av.axis_label(1, "lstm1.cell") == "1: lstm1.cell"
    assert av.with_labels(layers)["layer_label"].tolist()[:3] == ["0: embed", "1: blocks.0", "2: blocks.1"]
    assert av.layer_names(layers).to_dict() == {0: "hook_embed", 1: "blocks.0.hook_resid_post",
                                                2: "blocks.1.hook_resid_post"}
    assert av.samples(layers) == [POOLED, "news", "questions"]


def test_falls_per_dataset_by_hand():
    layers = _layers()
    names = av.layer_names(layers).tolist()
    falls = av.falls_per_dataset(layers, names, ["news", "questions"])
    assert falls == {"self_sim": [True, False], "self_sim_adj": [True, True]}


def test_stream_rows_and_word_rows():
    layers = _layers()
    pooled = layers[layers["dataset"] == POOLED]
    sub = av.stream_rows(pooled, [2, 0])
    assert sub["layer"].tolist() == [2, 0] and list(sub.columns) == ["layer", "name", "self_sim", "self_sim_adj",
                                                                      "intra_sim", "intra_sim_adj"]
    assert sub["self_sim"].tolist() == [0.5, 0.6]
    rows = pd.DataFrame({"layer": [0, 1], "layer_name": ["hook_embed", "blocks.0.hook_resid_post"],
                         "n_contexts": [4, 4]})
    out = av.word_rows(rows)
    assert out["n_sentences"].tolist() == [4, 4] and out["n_words"].tolist() == [1, 1]
    assert out["layer_label"].tolist() == ["0: embed", "1: blocks.0"]


def test_reference_words_and_runs_compared():
    words = [f"w{i}" for i in range(250)]
    ref = av.reference_words(words)
    assert ref == words[::2] and av.reference_words(words[:30]) == words[:30]
    compare = pd.DataFrame({
        "run_id": ["bert"] * 3 + ["lstm"] * 4, "layer": [0, 1, 2, 0, 1, 2, 3],
        "layer_name": ["hook_embed", "blocks.0.hook_resid_post", "blocks.1.hook_resid_post",
                       "lstm1.hidden", "lstm1.cell", "lstm2.hidden", "lstm2.cell"], "self_sim": range(7)})
    both = av.runs_compared(compare)
    bert = both[both["run_id"] == "bert"].sort_values("layer")
    assert bert["depth"].tolist() == [0.0, 0.5, 1.0] and set(bert["line"]) == {"bert"}
    lstm = both[both["run_id"] == "lstm"].sort_values("layer")
    assert lstm["depth"].tolist() == [0.5, 0.5, 1.0, 1.0]
    assert lstm["line"].tolist() == ["lstm hidden", "lstm cell", "lstm hidden", "lstm cell"]
