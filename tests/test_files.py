"""Local files (pipeline/corpora/files.py) and the common label/limit handling (pipeline.corpora.finalize)."""
from __future__ import annotations

import gzip
import json

import numpy as np
import pandas as pd
import pytest

from pipeline.config import DatasetSpec
from pipeline.corpora import COLUMNS, finalize, load_dataset
from pipeline.corpora.files import file_format, read_file
from pipeline.errors import PipelineError

TABLE_FORMATS = ["csv", "tsv", "jsonl", "parquet", "csv_gz", "tsv_gz", "jsonl_gz"]


@pytest.fixture(scope="module")
def reference(fixture_files) -> pd.DataFrame:
    """The mixed rows as an independent reader (pandas.read_csv) sees them."""
    df = pd.read_csv(fixture_files["csv"])
    assert len(df) == 48 and list(df.columns) == ["text", "score", "topic", "domain"]
    return df


def spec(path, **kw):
    return DatasetSpec(name="t", source="file", path=str(path), **kw)


def load(path, **kw):
    return load_dataset(spec(path, **kw))


# --- formats -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("key", TABLE_FORMATS)
def test_every_table_format_reads_the_same_rows(fixture_files, reference, key):
    ALL_TEXTS, ALL_SCORES = reference["text"].tolist(), reference["score"].tolist()
    raw = read_file(fixture_files[key])
    assert len(raw) == 48
    assert {"text", "score", "topic", "domain", "_line"} <= set(raw.columns)
    assert raw["text"].tolist() == ALL_TEXTS
    scored = load(fixture_files[key], label="score", label_kind="score")
    assert list(scored.frame.columns) == COLUMNS
    assert scored.frame["text"].tolist() == ALL_TEXTS
    np.testing.assert_array_equal(scored.frame["label"].to_numpy(), np.array(ALL_SCORES))
    classes = load(fixture_files[key], label="topic", label_kind="class")
    reference = load(fixture_files["csv"], label="topic", label_kind="class")
    pd.testing.assert_frame_equal(classes.frame, reference.frame)


@pytest.mark.parametrize("key", ["txt", "txt_gz"])
def test_text_files_one_item_per_line(fixture_files, reference, key):
    raw = read_file(fixture_files[key])
    assert raw["text"].tolist() == reference["text"].tolist()
    assert raw["_line"].tolist() == list(range(1, 49))


def test_gz_bytes_equal_plain(fixture_files):
    for plain, gz in [("csv", "csv_gz"), ("tsv", "tsv_gz"), ("jsonl", "jsonl_gz"), ("txt", "txt_gz")]:
        assert gzip.decompress(fixture_files[gz].read_bytes()) == fixture_files[plain].read_bytes()
        pd.testing.assert_frame_equal(read_file(fixture_files[plain]), read_file(fixture_files[gz]))


@pytest.mark.parametrize("name, fmt", [("a.csv", "csv"), ("a.CSV", "csv"), ("a.tsv.gz", "tsv"), ("a.tab", "tsv"),
                                       ("a.b.jsonl", "jsonl"), ("x.ndjson.gz", "jsonl"), ("a.pq", "parquet"),
                                       ("a.txt.gz", "txt")])
def test_file_format(tmp_path, name, fmt):
    assert file_format(tmp_path / name) == fmt


@pytest.mark.parametrize("name", ["a.xlsx", "a", "a.gz", "data.csv.zip"])
def test_unknown_file_type(tmp_path, name):
    with pytest.raises(PipelineError, match="unknown file type"):
        file_format(tmp_path / name)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(PipelineError, match="file not found"):
        read_file(tmp_path / "nope.csv")
    (tmp_path / "dir.csv").mkdir()
    with pytest.raises(PipelineError, match="is a folder"):
        read_file(tmp_path / "dir.csv")
    with pytest.raises(PipelineError, match="file not found"):
        read_file(tmp_path / "nope.parquet")


def test_bad_gzip(tmp_path):
    p = tmp_path / "a.csv.gz"
    p.write_bytes(b"text\nnot gzipped at all\n")
    with pytest.raises(PipelineError, match=r"a\.csv\.gz: not a valid gzip file"):
        read_file(p)


def test_bad_parquet(tmp_path):
    p = tmp_path / "a.parquet"
    p.write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(PipelineError, match="not a readable Parquet file"):
        read_file(p)


def test_header_only(tmp_path):
    p = tmp_path / "a.csv"
    p.write_text("text,score\n")
    with pytest.raises(PipelineError, match="header but no rows"):
        read_file(p)


# --- line numbers ------------------------------------------------------------------------------------------

def test_csv_line_numbers_skip_blank_lines(tmp_path):
    p = tmp_path / "a.csv"
    # line: 1 header, 2 row, 3 blank, 4 row, 5 blank, 6 blank, 7 row with a quoted comma, 8 row
    p.write_text('text,score\none,1\n\ntwo,2\n\n\n"three, with comma",3\nfour,4\n')
    raw = read_file(p)
    assert raw["text"].tolist() == ["one", "two", "three, with comma", "four"]
    assert raw["_line"].tolist() == [2, 4, 7, 8]


def test_tsv_line_numbers_and_crlf(tmp_path):
    p = tmp_path / "a.tsv"
    p.write_bytes(b"text\tscore\r\none\t1\r\n\r\ntwo\t2\r\n")
    raw = read_file(p)
    assert raw["text"].tolist() == ["one", "two"]
    assert raw["score"].tolist() == ["1", "2"]
    assert raw["_line"].tolist() == [2, 4]


def test_jsonl_line_numbers(tmp_path):
    p = tmp_path / "a.jsonl"
    p.write_text('{"text": "one"}\n\n{"text": "two"}\n   \n{"text": "three"}\n')
    raw = read_file(p)
    assert raw["text"].tolist() == ["one", "two", "three"]
    assert raw["_line"].tolist() == [1, 3, 5]


def test_jsonl_bad_line_is_named(tmp_path):
    p = tmp_path / "a.jsonl"
    p.write_text('{"text": "one"}\n\n{"text": "two"\n')
    with pytest.raises(PipelineError, match=r"a\.jsonl line 3: invalid JSON"):
        read_file(p)
    p.write_text('{"text": "one"}\n["a", "list"]\n')
    with pytest.raises(PipelineError, match=r"a\.jsonl line 2: expected a JSON object"):
        read_file(p)


def test_txt_line_numbers(tmp_path):
    p = tmp_path / "a.txt"
    p.write_text("first\n\n  second  \n\n\nthird")
    raw = read_file(p)
    assert raw["text"].tolist() == ["first", "second", "third"]
    assert raw["_line"].tolist() == [1, 3, 6]


def test_label_error_names_the_source_line_after_blank_lines(tmp_path):
    p = tmp_path / "a.csv"
    p.write_text("text,score\none,1\n\n\ntwo,2.5\nthree,lots\n")
    with pytest.raises(PipelineError) as e:
        load(p, label="score", label_kind="score")
    msg = str(e.value)
    assert msg.startswith(f"{p} line 6:")
    assert "'score'" in msg and "'lots'" in msg


def test_undecodable_byte_names_line_and_column(tmp_path):
    p = tmp_path / "a.csv"
    p.write_bytes("text\nfine\ncaf\u00e9 ok\n".encode() + b"na\xefve\n")
    with pytest.raises(PipelineError, match=r"a\.csv line 4: byte 0xef at column 3 is not valid utf-8"):
        read_file(p)
    raw = read_file(p, encoding="latin-1")  # the hint in the message works
    assert raw["text"].tolist()[-1] == "na\u00efve"


def test_unknown_encoding(tmp_path):
    p = tmp_path / "a.csv"
    p.write_text("text\nx\n")
    with pytest.raises(PipelineError, match="unknown encoding 'klingon'"):
        read_file(p, encoding="klingon")


# --- BOM ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, body", [("a.csv", "text,score\nhello,1\n"), ("a.tsv", "text\tscore\nhello\t1\n"),
                                        ("a.jsonl", '{"text": "hello", "score": 1}\n'), ("a.txt", "hello\n")])
def test_bom_is_stripped(tmp_path, name, body):
    p = tmp_path / name
    p.write_bytes("\ufeff".encode() + body.encode())
    raw = read_file(p)
    assert "text" in raw.columns and not any(c.startswith("\ufeff") for c in raw.columns)
    assert raw["text"].tolist() == ["hello"]
    gz = tmp_path / (name + ".gz")
    gz.write_bytes(gzip.compress(p.read_bytes()))
    assert read_file(gz)["text"].tolist() == ["hello"]


def test_header_names_are_stripped(tmp_path):
    p = tmp_path / "a.csv"
    p.write_text(" text , score\nhello,1\n")
    assert list(read_file(p).columns) == ["text", "score", "_line"]


# --- finalize: columns and labels --------------------------------------------------------------------------

def raw_frame(**cols):
    return pd.DataFrame(cols, dtype=object)


def test_missing_text_column_lists_columns(tmp_path):
    p = tmp_path / "a.csv"
    p.write_text("review,stars\ngood,5\n")
    with pytest.raises(PipelineError) as e:
        load(p)
    msg = str(e.value)
    assert "no column 'text' for text" in msg and "columns: review, stars" in msg and "_line" not in msg
    assert load(p, text="review").frame["text"].tolist() == ["good"]
    with pytest.raises(PipelineError, match="no column 'star' for label"):
        load(p, text="review", label="star", label_kind="score")
    with pytest.raises(PipelineError, match="no column 'title' for text_b"):
        load(p, text="review", text_b="title")


def test_label_without_label_kind():
    with pytest.raises(PipelineError, match="label_kind is none"):
        finalize(raw_frame(text=["a"], y=["1"]), spec("x.csv", label="y"))


def test_score_labels_are_numbers():
    df, dropped = finalize(raw_frame(text=["a", "b", "c", "d"], y=["1.5", " -2 ", "", None]),
                           spec("x.csv", label="y", label_kind="score"))
    assert dropped == 0
    assert df["label"].tolist()[:2] == [1.5, -2.0]
    assert df["label"].isna().tolist() == [False, False, True, True]  # empty and missing scores: NaN
    assert df["label_text"].isna().all()


def test_score_label_error_names_row_and_column():
    raw = raw_frame(text=["a", "b", "c"], y=["1", "2", "n/a"], _line=[10, 11, 12])
    with pytest.raises(PipelineError, match=r"x\.csv line 12: label column 'y' value 'n/a' is not a number"):
        finalize(raw, spec("x.csv", label="y", label_kind="score"))


def test_class_names_become_sorted_indices():
    names = ["neutral", "entailment", "contradiction", "entailment", None]
    df, _ = finalize(raw_frame(text=list("abcde"), y=names), spec("x.csv", label="y", label_kind="class"))
    # sorted: contradiction=0, entailment=1, neutral=2
    assert df["label"].tolist()[:4] == [2.0, 1.0, 0.0, 1.0]
    assert np.isnan(df["label"].iloc[4])
    assert df["label_text"].tolist() == names


def test_class_ids_do_not_depend_on_row_order():
    a, _ = finalize(raw_frame(text=["1", "2", "3"], y=["b", "c", "a"]), spec("x.csv", label="y", label_kind="class"))
    b, _ = finalize(raw_frame(text=["3", "1", "2"], y=["a", "b", "c"]), spec("x.csv", label="y", label_kind="class"))
    assert dict(zip(a["label_text"], a["label"])) == dict(zip(b["label_text"], b["label"])) == \
        {"a": 0.0, "b": 1.0, "c": 2.0}


def test_numeric_class_labels_keep_their_values():
    df, _ = finalize(raw_frame(text=list("abc"), y=["3", "0", "7"]), spec("x.csv", label="y", label_kind="class"))
    assert df["label"].tolist() == [3.0, 0.0, 7.0]
    assert df["label_text"].tolist() == ["3", "0", "7"]


def test_binary_labels():
    df, _ = finalize(raw_frame(text=list("abc"), y=["pos", "neg", "pos"]),
                     spec("x.csv", label="y", label_kind="binary"))
    assert df["label"].tolist() == [1.0, 0.0, 1.0]
    df, _ = finalize(raw_frame(text=list("ab"), y=["0", "1"]), spec("x.csv", label="y", label_kind="binary"))
    assert df["label"].tolist() == [0.0, 1.0]


def test_binary_with_three_values_errors():
    with pytest.raises(PipelineError) as e:
        finalize(raw_frame(text=list("abcd"), y=["pos", "neg", "mixed", "pos"]),
                 spec("x.csv", label="y", label_kind="binary"))
    msg = str(e.value)
    assert "label_kind=binary" in msg and "'y'" in msg and "3 distinct values" in msg


def test_text_b_and_split_columns():
    raw = raw_frame(text=["a", "b"], h=["x", None], part=["train", "dev"])
    df, _ = finalize(raw, spec("x.csv", text_b="h", split="part"))
    assert df["text_b"].tolist() == ["x", None]
    assert df["split"].tolist() == ["train", "dev"]
    assert list(df.columns) == COLUMNS


def test_empty_texts_are_dropped_and_counted():
    raw = raw_frame(text=["a", "", "  ", None, "b", "\t"], y=["1", "2", "3", "4", "5", "6"])
    df, dropped = finalize(raw, spec("x.csv", label="y", label_kind="score"))
    assert dropped == 4
    assert df["text"].tolist() == ["a", "b"]
    assert df["label"].tolist() == [1.0, 5.0]  # labels stay with their texts
    assert df.index.tolist() == [0, 1]


def test_empty_texts_counted_through_a_file(tmp_path):
    p = tmp_path / "a.jsonl"
    p.write_text('{"text": "one"}\n{"text": ""}\n{"other": 1}\n{"text": "two"}\n')
    ld = load(p)
    assert ld.n_dropped_empty == 2 and ld.frame["text"].tolist() == ["one", "two"]


def test_all_texts_empty_is_an_error():
    with pytest.raises(PipelineError, match="no rows with text in column 'text'"):
        finalize(raw_frame(text=["", " "]), spec("x.csv"))


# --- limit / sample ----------------------------------------------------------------------------------------

def numbered(n):
    return raw_frame(text=[f"row {i}" for i in range(n)])


def test_limit_takes_the_head():
    df, _ = finalize(numbered(100), spec("x.csv", limit=7))
    assert df["text"].tolist() == [f"row {i}" for i in range(7)]


def test_limit_counts_after_dropping_empty():
    raw = raw_frame(text=["", "a", "", "b", "c"])
    df, dropped = finalize(raw, spec("x.csv", limit=2))
    assert df["text"].tolist() == ["a", "b"] and dropped == 2


def test_limit_larger_than_rows_keeps_all():
    df, _ = finalize(numbered(5), spec("x.csv", limit=50))
    assert len(df) == 5


def test_seeded_sample_is_reproducible_and_in_source_order():
    s = spec("x.csv", limit=10, sample=True)
    a, _ = finalize(numbered(200), s, seed=0)
    b, _ = finalize(numbered(200), s, seed=0)
    c, _ = finalize(numbered(200), s, seed=1)
    pd.testing.assert_frame_equal(a, b)
    assert a["text"].tolist() != c["text"].tolist()
    ids = [int(t.split()[1]) for t in a["text"]]
    assert len(ids) == 10 == len(set(ids)) and ids == sorted(ids)  # a subset, in source order
    assert ids != list(range(10))  # not the head
    assert a.index.tolist() == list(range(10))


def test_sample_through_load_dataset(fixture_files, reference):
    ALL_TEXTS = reference["text"].tolist()
    a = load(fixture_files["csv"], limit=5, sample=True).frame
    b = load(fixture_files["csv"], limit=5, sample=True).frame
    head = load(fixture_files["csv"], limit=5).frame
    pd.testing.assert_frame_equal(a, b)
    assert head["text"].tolist() == ALL_TEXTS[:5]
    assert set(a["text"]) <= set(ALL_TEXTS)
    assert [ALL_TEXTS.index(t) for t in a["text"]] == sorted(ALL_TEXTS.index(t) for t in a["text"])


def test_raw_frame_without_line_numbers_gets_them():
    raw = raw_frame(text=["a", "b", "c"], y=["1", "2", "x"])
    with pytest.raises(PipelineError, match=r"x\.csv line 3:"):
        finalize(raw, spec("x.csv", label="y", label_kind="score"))


def test_jsonl_numeric_and_bool_labels(tmp_path):
    p = tmp_path / "a.jsonl"
    p.write_text("".join(json.dumps(r) + "\n" for r in [{"text": "a", "s": 1.5, "b": True},
                                                        {"text": "b", "s": -3, "b": False}]))
    assert load(p, label="s", label_kind="score").frame["label"].tolist() == [1.5, -3.0]
    f = load(p, label="b", label_kind="binary").frame
    assert f["label"].tolist() == [1.0, 0.0] and f["label_text"].tolist() == ["True", "False"]


def test_missing_optional_cells_are_null_not_text(tmp_path):
    """JSONL/Parquet give NaN for a missing key, CSV an empty string: all of them mean 'no value'."""
    rows = [{"text": "a", "h": "x", "y": "pos", "s": "train"}, {"text": "b", "y": "neg"}, {"text": "c", "h": "z"}]
    j = tmp_path / "m.jsonl"
    j.write_text("".join(json.dumps(r) + "\n" for r in rows))
    c = tmp_path / "m.csv"
    c.write_text("text,h,y,s\na,x,pos,train\nb,,neg,\nc,z,,\n")
    q = tmp_path / "m.parquet"
    pd.DataFrame(rows).to_parquet(q)
    for p in (j, c, q):
        f = load(p, text_b="h", label="y", label_kind="binary", split="s").frame
        assert f["text_b"].tolist() == ["x", None, "z"], p
        assert f["split"].tolist() == ["train", None, None], p
        assert f["label_text"].tolist() == ["pos", "neg", None], p
        assert f["label"].tolist()[:2] == [1.0, 0.0] and np.isnan(f["label"].iloc[2]), p
