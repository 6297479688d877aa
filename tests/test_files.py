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


# --- the DuckDB reader: dialects, headers, positions, encodings (issue 20) ----------------------------------

def write(tmp_path, name, data: bytes):
    p = tmp_path / name
    p.write_bytes(data)
    return p


def csv_module_lines(text: str, delimiter: str = ",") -> list[tuple[int, list[str]]]:
    """An independent reader (Python's csv module): each non-blank record and the line it starts on."""
    import csv
    import io

    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    out, start = [], 1
    for row in reader:
        if row and any(cell.strip() for cell in row):
            out.append((start, row))
        start = reader.line_num + 1
    return out


MR_HEADERLESS = '\ufeff"1","a fine, funny film"\r\n"0","a ""bad"" film"\r\n"1","simply, superb"\r\n'


def test_headerless_bom_label_first_text_second(tmp_path):
    """The MR/SST polarity shape of issue 20: no header, label first, text second, BOM, quoted fields."""
    p = write(tmp_path, "mr.csv", MR_HEADERLESS.encode())
    raw = read_file(p)
    assert list(raw.columns) == ["1", "2", "_line"]  # a headerless file's columns are numbered from 1
    assert raw["1"].tolist() == ["1", "0", "1"]
    assert raw["2"].tolist() == ["a fine, funny film", 'a "bad" film', "simply, superb"]
    assert raw["_line"].tolist() == [1, 2, 3]
    assert raw.attrs["header"] is False and raw.attrs["delimiter"] == "," and raw.attrs["quote"] == '"'
    for kw in ({"text": 2, "label": 1}, {"text": 2, "label": 1, "header": False}, {"text": "2", "label": "1"}):
        f = load(p, label_kind="binary", **kw).frame
        assert f["text"].tolist() == ["a fine, funny film", 'a "bad" film', "simply, superb"], kw
        assert f["label"].tolist() == [1.0, 0.0, 1.0] and f["label_text"].tolist() == ["1", "0", "1"], kw
    # the message of issue 20 ("no column '2' for text") now only comes when the file really lacks it
    gz = write(tmp_path, "mr.csv.gz", gzip.compress(p.read_bytes()))
    pd.testing.assert_frame_equal(read_file(gz), raw)


def test_headerless_all_text_file_keeps_its_first_row(tmp_path):
    """DuckDB's sniffer takes the first row of an all-text file for a header; a value that recurs in its
    column (pos) shows it is data."""
    p = write(tmp_path, "polarity.csv", b'pos,"a fine film"\nneg,"a dull film"\npos,"a fair film"\n')
    f = load(p, text=2, label=1, label_kind="binary").frame
    assert f["text"].tolist() == ["a fine film", "a dull film", "a fair film"]
    assert f["label_text"].tolist() == ["pos", "neg", "pos"] and f["label"].tolist() == [1.0, 0.0, 1.0]
    forced = read_file(p, header=True)  # the setting wins over the heuristic
    assert list(forced.columns) == ["pos", "a fine film", "_line"]
    assert forced["a fine film"].tolist() == ["a dull film", "a fair film"] and forced["_line"].tolist() == [2, 3]
    # an all-text file whose first row is a real header stays a header
    q = write(tmp_path, "named.csv", b"text,topic\nhello world,news\nbye now,sport\n")
    assert read_file(q)["topic"].tolist() == ["news", "sport"]


def test_semicolon_delimited(tmp_path):
    p = write(tmp_path, "semi.csv", 'text;label\nun film;1\n"deux; trois";0\nquatre, cinq;1\n'.encode())
    raw = read_file(p)
    assert raw.attrs["delimiter"] == ";"
    assert raw["text"].tolist() == ["un film", "deux; trois", "quatre, cinq"]
    assert raw["label"].tolist() == ["1", "0", "1"] and raw["_line"].tolist() == [2, 3, 4]
    f = load(p, delimiter="semicolon", label="label", label_kind="binary").frame
    assert f["text"].tolist() == ["un film", "deux; trois", "quatre, cinq"] and f["label"].tolist() == [1, 0, 1]
    with pytest.raises(PipelineError) as e:  # a wrong delimiter, set: the row with a comma does not fit
        load(p, delimiter=",")
    assert str(e.value).startswith(f"{p} line 4: expected 1 field (as in the header), found 2 [delimiter=',',")
    wrong = write(tmp_path, "semi2.csv", b"text;label\nun film;1\ndeux;0\n")
    with pytest.raises(PipelineError) as e:  # ... or reads as one column, named in the message
        load(wrong, delimiter="comma")
    assert "no column 'text' for text (columns: text;label; header=auto took line 1 as the header)" in \
        str(e.value)


def test_quoted_newlines_keep_their_line_numbers(tmp_path):
    text = ('text,score\n"first line\nsecond line",1\n\n"with a blank\n\nline inside",2\nplain,3\n'
            '"three\nline\nvalue",4\n\n\nlast,5\n')
    p = write(tmp_path, "multi.csv", text.encode())
    raw = read_file(p)
    expected = csv_module_lines(text)[1:]  # minus the header
    assert raw["text"].tolist() == [r[0] for _, r in expected] == \
        ["first line\nsecond line", "with a blank\n\nline inside", "plain", "three\nline\nvalue", "last"]
    assert raw["score"].tolist() == ["1", "2", "3", "4", "5"]
    assert raw["_line"].tolist() == [line for line, _ in expected] == [2, 5, 8, 9, 14]
    with pytest.raises(PipelineError, match=r"multi\.csv line 9: label column 'score' value 'x'"):
        load(write(tmp_path, "multi.csv", text.replace(',4\n', ',x\n').encode()), label="score",
             label_kind="score")


def test_crlf_with_quoted_crlf_inside(tmp_path):
    text = 'text,score\r\n"one\r\ntwo",1\r\n\r\nthree,2\r\n"four, five",3\r\n'
    p = write(tmp_path, "crlf.csv", text.encode())
    raw = read_file(p)
    expected = csv_module_lines(text)[1:]
    assert raw["text"].tolist() == [r[0] for _, r in expected] == ["one\r\ntwo", "three", "four, five"]
    assert raw["_line"].tolist() == [line for line, _ in expected] == [2, 5, 6]
    f = load(p, label="score", label_kind="score").frame
    assert f["label"].tolist() == [1.0, 2.0, 3.0]


def test_latin1_set_auto_and_the_error_when_not_set(tmp_path):
    body = "text,label\ncaf\u00e9 cr\u00e8me,1\nna\u00efve,0\n"
    raw_bytes = body.encode("latin-1")
    p = write(tmp_path, "latin.csv", raw_bytes)
    with pytest.raises(PipelineError) as e:
        read_file(p)
    offset = raw_bytes.index(b"\xe9")
    msg = str(e.value)
    assert msg.startswith(f"{p} line 2: byte 0xe9 at column 4 is not valid utf-8")
    assert f"(byte offset {offset} in the file; encoding=utf-8: set encoding=cp1252, latin-1 or auto" in msg
    for enc in ("latin-1", "auto", "cp1252"):
        raw = read_file(p, encoding=enc)
        assert raw["text"].tolist() == ["caf\u00e9 cr\u00e8me", "na\u00efve"], enc
        assert raw["label"].tolist() == ["1", "0"] and raw["_line"].tolist() == [2, 3]
    assert read_file(p, encoding="auto").attrs["encoding"] == "cp1252"
    assert read_file(p, encoding="latin-1").attrs["encoding"] == "latin-1"
    f = load(p, encoding="latin-1", label="label", label_kind="binary").frame
    assert f["text"].tolist() == ["caf\u00e9 cr\u00e8me", "na\u00efve"] and f["label"].tolist() == [1.0, 0.0]
    gz = write(tmp_path, "latin.csv.gz", gzip.compress(raw_bytes))
    with pytest.raises(PipelineError, match=f"byte offset {offset} of the uncompressed data"):
        read_file(gz)
    assert read_file(gz, encoding="latin-1")["text"].tolist() == ["caf\u00e9 cr\u00e8me", "na\u00efve"]


def test_auto_encoding_rule(tmp_path):
    """auto: a BOM decides, else utf-8 if it decodes, else cp1252, else latin-1."""
    cases = [("utf8.csv", "text\nd\u00e9j\u00e0 vu\n".encode(), "utf-8", "d\u00e9j\u00e0 vu"),
             ("u16.csv", "text\nd\u00e9j\u00e0 vu\n".encode("utf-16"), "utf-16", "d\u00e9j\u00e0 vu"),
             ("cp.csv", "text\n\u201cquoted\u201d \u2013 dash\n".encode("cp1252"), "cp1252",
              "\u201cquoted\u201d \u2013 dash"),
             ("l1.csv", b"text\nbyte \x81 is not cp1252\n", "latin-1", "byte \x81 is not cp1252")]
    for name, data, used, value in cases:
        raw = read_file(write(tmp_path, name, data), encoding="auto")
        assert raw.attrs["encoding"] == used and raw["text"].tolist() == [value], name
    with pytest.raises(PipelineError, match="utf-16 byte-order mark: set encoding=utf-16"):
        read_file(tmp_path / "u16.csv")


def test_ragged_row_names_its_line(tmp_path):
    p = write(tmp_path, "ragged.csv", b"text,score\nfirst,1\n\nsecond,2\nthird,3,extra\nfourth,4\n")
    with pytest.raises(PipelineError) as e:
        read_file(p)
    msg = str(e.value)
    assert msg.startswith(f"{p} line 5: expected 2 fields (as in the header), found 3")
    assert "delimiter=','" in msg and "header=true (detected)" in msg
    short = write(tmp_path, "short.tsv", b"text\tscore\nfirst\t1\nsecond\n")
    with pytest.raises(PipelineError, match=r"short\.tsv line 3: expected 2 fields \(as in the header\), found 1"):
        read_file(short)
    spaces = write(tmp_path, "spaces.csv", b"text,score\nfirst,1\n   \nsecond,2\n")  # a line of spaces is blank
    assert read_file(spaces)["_line"].tolist() == [2, 4]


def test_unclosed_quote_names_its_line(tmp_path):
    p = write(tmp_path, "q.csv", b'text,score\nfine,1\n"never closed,2\nafter,3\n')
    assert read_file(p)["text"].tolist() == ["fine", '"never closed', "after"]  # sniffed: no quoting
    with pytest.raises(PipelineError) as e:
        read_file(p, quote='"')
    assert str(e.value).startswith(f"{p} line 3: a quoted value is not closed")
    assert "quote='\"'" in str(e.value) and "set quote=none" in str(e.value)


@pytest.mark.parametrize("data", [b"", b"\n\n", b"  \r\n\t\r\n", b"\xef\xbb\xbf", b"\xef\xbb\xbf\n  \n"])
@pytest.mark.parametrize("name", ["e.csv", "e.tsv", "e.jsonl", "e.txt"])
def test_empty_files(tmp_path, name, data):
    with pytest.raises(PipelineError, match=r"e\.\w+: file is empty$"):
        read_file(write(tmp_path, name, data))


def test_header_only_says_how_it_was_read(tmp_path):
    p = write(tmp_path, "one.csv", b"just one line of text\n")
    with pytest.raises(PipelineError, match="header but no rows .*header=auto took line 1 as the header"):
        read_file(p)
    assert read_file(p, header=False)["1"].tolist() == ["just one line of text"]


def test_duplicate_ids_and_rows_are_kept_in_order(tmp_path):
    """There is no id column option: an id column is just a column, repeated ids and repeated rows are kept,
    and sentence ids are the rows' positions."""
    p = write(tmp_path, "ids.csv", b"id,text,label\n7,a good film,1\n7,a good film,1\n3,a bad film,0\n7,other,0\n")
    f = load(p, label="label", label_kind="binary").frame
    assert f["text"].tolist() == ["a good film", "a good film", "a bad film", "other"]
    assert f["label"].tolist() == [1.0, 1.0, 0.0, 0.0] and f.index.tolist() == [0, 1, 2, 3]
    assert read_file(p)["id"].tolist() == ["7", "7", "3", "7"]
    j = write(tmp_path, "ids.jsonl", b'{"id": 1, "text": "x"}\n{"id": 1, "text": "x"}\n')
    assert load(j).frame["text"].tolist() == ["x", "x"]


def test_duplicate_header_names_need_a_position(tmp_path):
    p = write(tmp_path, "dup.csv", b"id,text,text\n1,first a,first b\n2,second a,second b\n")
    with pytest.raises(PipelineError, match=r"the header names 'text' 2 times \(columns 2, 3\); set text=<position>"):
        load(p)
    assert load(p, text=3).frame["text"].tolist() == ["first b", "second b"]
    assert load(p, text=2).frame["text"].tolist() == ["first a", "second a"]
    assert load(p, text="id").frame["text"].tolist() == ["1", "2"]  # other columns are not ambiguous


def test_tsv_header_detected_and_commas_are_text(tmp_path):
    p = write(tmp_path, "news.tsv", b"sentence\ttone\nMarkets rose, then fell.\t-1\nRain, at last.\t2\n")
    raw = read_file(p)
    assert raw.attrs["header"] is True and raw.attrs["delimiter"] == "\t"
    assert raw["sentence"].tolist() == ["Markets rose, then fell.", "Rain, at last."]
    one = write(tmp_path, "one.tsv", b"sentence\nHello, world.\nBye, now.\n")  # no tab at all: one column
    assert list(read_file(one).columns) == ["sentence", "_line"]
    assert read_file(one)["sentence"].tolist() == ["Hello, world.", "Bye, now."]
    headerless = write(tmp_path, "h.tsv", b"2\tMarkets rose.\n-1\tRain fell.\n")
    f = load(headerless, text=2, label=1, label_kind="score").frame
    assert f["text"].tolist() == ["Markets rose.", "Rain fell."] and f["label"].tolist() == [2.0, -1.0]


def test_hash_lines_are_data_not_comments(tmp_path):
    p = write(tmp_path, "tags.csv", b"text,score\n#great movie,1\n# not a comment,2\nplain,3\n")
    assert read_file(p)["text"].tolist() == ["#great movie", "# not a comment", "plain"]


def test_one_column_file_skips_blank_lines(tmp_path):
    p = write(tmp_path, "col.csv", b"text\nfirst\n\n   \nsecond\n\n")
    raw = read_file(p)
    assert raw["text"].tolist() == ["first", "second"] and raw["_line"].tolist() == [2, 5]


def test_positions_in_every_format(tmp_path, fixture_files, reference):
    ALL_TEXTS = reference["text"].tolist()
    for key in ("csv", "tsv", "jsonl", "parquet", "csv_gz"):  # columns: text, score, topic, domain
        f = load(fixture_files[key], text=1, label=2, label_kind="score", split=4).frame
        assert f["text"].tolist() == ALL_TEXTS, key
        np.testing.assert_array_equal(f["label"].to_numpy(), reference["score"].to_numpy(dtype=float))
        assert f["split"].tolist() == reference["domain"].tolist(), key
    assert load(fixture_files["txt"], text=1).frame["text"].tolist() == ALL_TEXTS


def test_position_out_of_range_lists_the_columns(tmp_path):
    p = write(tmp_path, "mr.csv", MR_HEADERLESS.encode())
    with pytest.raises(PipelineError) as e:
        load(p, text=3)
    msg = str(e.value)
    assert msg.startswith(f"{p}: text=3 is out of range: the file has 2 columns (columns: 1, 2;")
    assert "header=auto found none" in msg
    with pytest.raises(PipelineError, match=r"label=9 is out of range: the file has 4 columns \(columns: text, "
                                            r"score, topic, domain; header=auto took line 1 as the header\)"):
        load(write(tmp_path, "h.csv", b"text,score,topic,domain\na,1,x,y\n"), label=9, label_kind="score")
    j = write(tmp_path, "a.jsonl", b'{"text": "a", "y": 1}\n')
    with pytest.raises(PipelineError, match=r"text_b=3 is out of range: the file has 2 columns \(columns: text, y\)"):
        load(j, text_b=3)


def test_unknown_name_in_a_headerless_file_explains(tmp_path):
    p = write(tmp_path, "mr.csv", MR_HEADERLESS.encode())
    with pytest.raises(PipelineError) as e:
        load(p)  # text defaults to the name 'text'
    msg = str(e.value)
    assert "no column 'text' for text (columns: 1, 2; no header: columns are numbered from 1" in msg
    assert "1-based position" in msg


def test_jsonl_and_parquet_still_read_with_duckdb(tmp_path):
    j = write(tmp_path, "m.jsonl", b'\xef\xbb\xbf{"text": "one", "s": 1}\n\n{"text": "two", "s": "x"}\n'
                                   b'{"text": "caf\xc3\xa9", "n": {"a": [1, 2]}}\n')
    raw = read_file(j)
    assert raw["text"].tolist() == ["one", "two", "caf\u00e9"] and raw["_line"].tolist() == [1, 3, 4]
    assert raw["s"].tolist()[:2] == [1, "x"]  # a key of mixed types keeps each value as JSON gave it
    assert raw["n"].tolist()[2] == {"a": [1, 2]}
    late = write(tmp_path, "late.jsonl", "".join(json.dumps({"text": f"t{i}"}) + "\n" for i in range(30000))
                 .encode() + b'{"text": "last", "extra": "key"}\n')
    tail = read_file(late).iloc[-1]
    assert tail["text"] == "last" and tail["extra"] == "key" and tail["_line"] == 30001  # the whole file's keys
    q = tmp_path / "m.parquet"
    pd.DataFrame({"text": ["a", "b", "c"], "y": [1.5, None, -2.0]}).to_parquet(q)
    pr = read_file(q)
    assert pr["text"].tolist() == ["a", "b", "c"] and pr["_line"].tolist() == [1, 2, 3]
    assert pr["y"].tolist()[0] == 1.5 and np.isnan(pr["y"].tolist()[1])
    qz = write(tmp_path, "m.parquet.gz", gzip.compress(q.read_bytes()))
    pd.testing.assert_frame_equal(read_file(qz), pr)


def test_line_numbers_agree_with_the_csv_module(tmp_path):
    """Random rows with quoted newlines, quotes, delimiters and blank lines: values and lines as Python's csv
    module reads them."""
    import csv
    import io
    import random

    rng = random.Random(7)
    pieces = ["plain", "with, comma", 'with "quotes"', "two\nlines", "blank\n\nline", "tab\there", "caf\u00e9"]
    for newline in ("\n", "\r\n"):
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator=newline)
        w.writerow(["text", "label"])
        rows = []
        for i in range(300):
            rows.append([" ".join(rng.choice(pieces) for _ in range(rng.randint(1, 3))), str(i)])
            w.writerow(rows[-1])
            if rng.random() < 0.1:
                buf.write(newline)
        text = buf.getvalue()
        raw = read_file(write(tmp_path, "r.csv", text.encode()))
        expected = csv_module_lines(text)[1:]
        assert raw["text"].tolist() == [r[0] for _, r in expected]
        assert raw["label"].tolist() == [str(i) for i in range(300)]
        assert raw["_line"].tolist() == [line for line, _ in expected]


# --- settings ----------------------------------------------------------------------------------------------

def test_settings_are_normalised_and_hash_equal():
    from pipeline.config import parse_dataset_arg, spec_hash

    a = parse_dataset_arg("name=x,source=file,path=f.csv,text=2,label=1,header=false,delimiter=semicolon,"
                          "quote=none,label_kind=binary")
    assert (a.text, a.label, a.header, a.delimiter, a.quote) == (2, 1, False, ";", "")
    b = DatasetSpec(name="x", source="file", path="f.csv", text=2, label=1, header=False, delimiter=";", quote="",
                    label_kind="binary")
    assert a == b and spec_hash(a) == spec_hash(b)
    assert spec_hash(b) != spec_hash(replace_spec(b, header="auto"))
    assert parse_dataset_arg(r"name=x,source=file,path=f.tsv,delimiter=\t").delimiter == "\t"
    assert parse_dataset_arg("name=x,source=file,path=f.csv,delimiter=tab,header=AUTO").header == "auto"
    assert parse_dataset_arg("name=x,source=hf,path=org/d,text=2").text == "2"  # a name outside files
    d = DatasetSpec("x", "file", "f.csv")
    assert (d.header, d.delimiter, d.quote, d.encoding) == ("auto", "auto", "auto", "utf-8")


def replace_spec(s, **kw):
    import dataclasses

    return dataclasses.replace(s, **kw)


@pytest.mark.parametrize("kw, message", [
    ({"header": "maybe"}, "header must be true, false or auto, got 'maybe'"),
    ({"header": 1}, "header must be true, false or auto, got 1"),
    ({"delimiter": ";;"}, "delimiter must be auto, one character or one of comma, semicolon, tab, pipe, space"),
    ({"delimiter": "\n"}, "delimiter must be auto"),
    ({"quote": "<<"}, "quote must be auto, none or one character, got '<<'"),
    ({"quote": ";", "delimiter": "semicolon"}, "quote and delimiter are both ';'"),
    ({"encoding": "klingon"}, "unknown encoding 'klingon'"),
    ({"text": 0}, "text must be a column name or a 1-based position, got 0"),
    ({"label": True, "label_kind": "binary"}, "label must be a column name or a 1-based position, got True"),
    ({"text": ""}, "text must be a column name or a 1-based position, got ''"),
])
def test_invalid_settings_are_one_line(kw, message):
    with pytest.raises(PipelineError) as e:
        spec("f.csv", **kw)
    assert str(e.value).startswith("dataset 't': ") and message in str(e.value) and "\n" not in str(e.value)


def test_reader_settings_belong_to_files():
    with pytest.raises(PipelineError, match="header, delimiter and quote apply to source=file only"):
        DatasetSpec(name="h", source="hf", path="org/d", header=False)
    with pytest.raises(PipelineError, match="text=2: a column position needs source=file"):
        DatasetSpec(name="h", source="hf", path="org/d", text=2)


def test_read_file_checks_its_own_settings(tmp_path):
    p = write(tmp_path, "a.csv", b"text\nx\n")
    with pytest.raises(PipelineError, match="header must be true, false or auto"):
        read_file(p, header="yes")
    with pytest.raises(PipelineError, match="delimiter must be auto or one character"):
        read_file(p, delimiter="||")


def test_no_line_is_skipped_silently(tmp_path):
    """Leading blank lines are skipped; a preamble line DuckDB's sniffer would skip is read, and here does not
    fit the rows, so it is an error that names it."""
    lead = write(tmp_path, "lead.csv", b"\n\ntext,score\na,1\n\nb,2\n")
    raw = read_file(lead)
    assert raw["text"].tolist() == ["a", "b"] and raw["_line"].tolist() == [4, 6]
    pre = write(tmp_path, "pre.csv", b"# exported from a sheet\n1,a good film\n0,a bad film\n")
    with pytest.raises(PipelineError, match=r"pre\.csv line 2: expected 1 field \(as in the header\), found 2"):
        read_file(pre)


def test_toml_example_of_the_readme(tmp_path):
    """The README's example: a headerless, semicolon-delimited Latin-1 file, columns by position."""
    from pipeline.config import load_toml

    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "polarity.csv").write_bytes("1;\"caf\u00e9; a fine film\"\n0;dull\n".encode("latin-1"))
    conf = tmp_path / "build.toml"
    conf.write_text('[[datasets]]\nname = "polarity"\nsource = "file"\npath = "data/polarity.csv"\n'
                    'header = false\ndelimiter = ";"\nquote = "\\""\nencoding = "latin-1"\ntext = 2\nlabel = 1\n'
                    'label_kind = "binary"\n')
    (d,) = load_toml(conf)["datasets"]
    assert (d.header, d.delimiter, d.quote, d.encoding, d.text, d.label) == (False, ";", '"', "latin-1", 2, 1)
    f = load_dataset(d).frame
    assert f["text"].tolist() == ["caf\u00e9; a fine film", "dull"] and f["label"].tolist() == [1.0, 0.0]
