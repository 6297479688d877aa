"""source=hf: a ``save_to_disk`` folder works offline; a hub name offline fails with one helpful line."""
from __future__ import annotations

import datasets
import duckdb
import numpy as np
import pytest

from pipeline.build import build
from pipeline.cli import main
from pipeline.config import DatasetSpec, make_config
from pipeline.corpora import COLUMNS, load_dataset
from pipeline.errors import PipelineError

SENTENCES = ["The film was a joy from start to end.", "A dull and far too long story.",
             "The actors were great.", "", "I would not watch it again.", "Best picture of the year."]
LABELS = [1, 0, 1, 0, 0, 1]


def hf(path, **kw):
    return DatasetSpec(name=kw.pop("name", "h"), source="hf", path=str(path), **kw)


@pytest.fixture(scope="module")
def single(tmp_path_factory):
    """A Dataset with a ClassLabel column, saved with save_to_disk."""
    d = tmp_path_factory.mktemp("hf") / "sst"
    features = datasets.Features({"sentence": datasets.Value("string"),
                                  "label": datasets.ClassLabel(names=["negative", "positive"]),
                                  "idx": datasets.Value("int32")})
    datasets.Dataset.from_dict({"sentence": SENTENCES, "label": LABELS, "idx": list(range(6))},
                               features=features).save_to_disk(str(d))
    return d


@pytest.fixture(scope="module")
def splits(tmp_path_factory):
    """A DatasetDict (train / validation) of sentence pairs with a float score, saved with save_to_disk."""
    d = tmp_path_factory.mktemp("hf") / "pairs"
    train = datasets.Dataset.from_dict({"s1": ["A man plays the guitar.", "Two kids run.", "A dog sleeps."],
                                        "s2": ["A man makes music.", "Children are outside.", None],
                                        "score": [4.2, 3.8, 0.5]})
    validation = datasets.Dataset.from_dict({"s1": ["A woman cooks rice.", "The crowd cheers."],
                                             "s2": ["Someone makes food.", "People are quiet."],
                                             "score": [4.5, 0.25]})
    datasets.DatasetDict({"train": train, "validation": validation}).save_to_disk(str(d))
    return d


def test_save_to_disk_folder_maps_text_and_label(single):
    ld = load_dataset(hf(single, text="sentence", label="label", label_kind="binary"))
    assert list(ld.frame.columns) == COLUMNS
    keep = [i for i, s in enumerate(SENTENCES) if s]
    assert ld.frame["text"].tolist() == [SENTENCES[i] for i in keep]
    assert ld.frame["label"].tolist() == [float(LABELS[i]) for i in keep]
    assert ld.n_dropped_empty == 1
    assert ld.label_kind == "binary"
    assert "Hugging Face dataset" in ld.description
    assert ld.frame["split"].isna().all()


def test_save_to_disk_folder_limit(single):
    ld = load_dataset(hf(single, text="sentence", limit=2))
    assert ld.frame["text"].tolist() == SENTENCES[:2]


def test_missing_text_column_names_the_dataset(single):
    with pytest.raises(PipelineError) as e:
        load_dataset(hf(single))  # default text column 'text' does not exist
    msg = str(e.value)
    assert "dataset 'h' (hf:" in msg and "no column 'text'" in msg and "sentence" in msg


def test_dataset_dict_defaults_to_train_and_maps_pairs(splits):
    ld = load_dataset(hf(splits, text="s1", text_b="s2", label="score", label_kind="score"))
    f = ld.frame
    assert f["text"].tolist() == ["A man plays the guitar.", "Two kids run.", "A dog sleeps."]
    assert f["text_b"].tolist() == ["A man makes music.", "Children are outside.", None]
    np.testing.assert_allclose(f["label"].to_numpy(), [4.2, 3.8, 0.5])


def test_dataset_dict_picks_the_split(splits):
    f = load_dataset(hf(splits, text="s1", text_b="s2", label="score", label_kind="score",
                        split="validation")).frame
    assert f["text"].tolist() == ["A woman cooks rice.", "The crowd cheers."]
    assert f["label"].tolist() == [4.5, 0.25]


def test_dataset_dict_unknown_split(splits):
    with pytest.raises(PipelineError, match=r"split 'test' not in .*\(splits: train, validation\)"):
        load_dataset(hf(splits, text="s1", split="test"))


def test_dataset_dict_without_train_takes_the_first(tmp_path):
    d = tmp_path / "nodev"
    datasets.DatasetDict({"dev": datasets.Dataset.from_dict({"text": ["one"]}),
                          "test": datasets.Dataset.from_dict({"text": ["two"]})}).save_to_disk(str(d))
    assert load_dataset(hf(d)).frame["text"].tolist() == ["one"]


def test_build_with_hf_folder(splits, single, tiny_spec, tmp_path):
    target = tmp_path / "hf.duckdb"
    cfg = make_config(datasets=[hf(splits, name="pairs", text="s1", text_b="s2", label="score", label_kind="score",
                                   split="validation"),
                                hf(single, name="sst", text="sentence", label="label", label_kind="binary")],
                      models=[tiny_spec], warehouse=str(target), topk=2, progress=False)
    report = build(cfg, log=lambda *_: None)
    assert sorted(report.computed) == ["tiny/pairs", "tiny/sst"]
    con = duckdb.connect(str(target), read_only=True)
    try:
        rows = con.execute("select dataset, source, label_kind, n_sentences, n_dropped_empty, has_pairs "
                           "from datasets order by dataset").fetchall()
        assert rows == [("pairs", "hf", "score", 2, 0, True), ("sst", "hf", "binary", 5, 1, False)]
        assert con.execute("select text, text_b, label from sentences where dataset = 'pairs' "
                           "order by sentence_id").fetchall() == [
            ("A woman cooks rice.", "Someone makes food.", 4.5), ("The crowd cheers.", "People are quiet.", 0.25)]
    finally:
        con.close()


def test_hub_name_offline_fails_with_one_line(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    with pytest.raises(PipelineError) as e:
        load_dataset(hf("some-org/not-a-dataset", name="remote"))
    msg = str(e.value)
    assert "\n" not in msg
    assert "dataset 'remote'" in msg and "'some-org/not-a-dataset'" in msg
    assert "save_to_disk" in msg and "path=<folder>" in msg


def test_hub_name_offline_through_the_cli(tiny_model_dir, tmp_path, capsys):
    rc = main(["build", "--dataset", "name=glue,source=hf,path=nyu-mll/glue,hf_config=sst2,text=sentence",
               "--model", str(tiny_model_dir), "--max-length", "32", "--warehouse", str(tmp_path / "w.duckdb"),
               "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: dataset 'glue'") and "save_to_disk" in lines[0]
    assert not (tmp_path / "w.duckdb").exists()


def test_folder_that_is_not_a_saved_dataset(tmp_path):
    d = tmp_path / "not-a-dataset"
    d.mkdir()
    (d / "readme.txt").write_text("hello")
    with pytest.raises(PipelineError, match=r"could not be loaded .*save_to_disk"):
        load_dataset(hf(d))
