"""Bad input: every case fails with exit status 2 and ONE stderr line naming the file, line or parameter,
and the warehouse built before is left exactly as it was. A 10,000-token line is not bad input."""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import numpy as np
import pytest

from pipeline.build import build
from pipeline.cli import main
from pipeline.config import make_config

ROOT = Path(__file__).resolve().parent.parent


def file_digest(path: Path) -> tuple[str, int]:
    p = Path(path)
    return hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns


@pytest.fixture(scope="module")
def live(tmp_path_factory, tiny_spec, small_specs):
    """A warehouse built before the bad builds, and its (sha256, mtime)."""
    path = tmp_path_factory.mktemp("live") / "live.duckdb"
    cfg = make_config(datasets=small_specs[:1], models=[tiny_spec],
                      warehouse=str(path), topk=5, progress=False)
    build(cfg, log=lambda *_: None)
    return path, file_digest(path)


@pytest.fixture(scope="module")
def bad(tmp_path_factory, tiny_model_dir) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("bad")
    files = {
        "empty.csv": b"",
        "blank.tsv": b"\n  \n\t\n",
        "misnamed.csv": b"review,score\nA fine film.,1\nToo long.,-1\n",
        "undecodable.tsv": b"text\tscore\nfine line\t1\nanother fine line\t2\nna\xefve \xff line\t3\n",
        "ragged.tsv": b"text\tscore\nfirst\t1\nsecond\t2\n\nthird\t3\textra\nfourth\t4\n",
        "nonnumeric.csv": b"text,score\nfirst,1.5\n\nsecond,-2\nthird,very good\n",
        "good.csv": b"text,score\nfirst,1.5\nsecond,-2\n",
    }
    out = {}
    for name, data in files.items():
        (d / name).write_bytes(data)
        out[name] = d / name
    noweights = d / "tiny-without-weights"
    noweights.mkdir()
    copied = [f for f in tiny_model_dir.iterdir() if not f.name.endswith((".safetensors", ".bin"))]
    for f in copied:
        shutil.copy(f, noweights / f.name)
    assert (noweights / "config.json").exists() and (noweights / "tokenizer.json").exists()
    out["noweights"] = noweights
    return out


def args_for(live_path, model, *dataset_args, extra=()):
    args = ["build"]
    for a in dataset_args:
        args += ["--dataset", a]
    return args + ["--model", str(model), "--run-id", "tiny", "--max-length", "32", "--batch-size", "8",
                   "--topk", "5", "--warehouse", str(live_path), "--quiet", *extra]


def ds(path, name="bad", **kw):
    return ",".join([f"name={name}", "source=file", f"path={path}"] + [f"{k}={v}" for k, v in kw.items()])


# id -> (function of (bad files, tiny model dir) giving (dataset args, model, extra flags), expected fragments)
CASES = {
    "empty_file": (lambda b, m: ([ds(b["empty.csv"])], m, ()), ["empty.csv", "file is empty"]),
    "blank_file": (lambda b, m: ([ds(b["blank.tsv"])], m, ()), ["blank.tsv", "file is empty"]),
    "missing_text_column": (lambda b, m: ([ds(b["misnamed.csv"])], m, ()),
                            ["misnamed.csv", "no column 'text'", "columns: review, score"]),
    "misnamed_text_column": (lambda b, m: ([ds(b["misnamed.csv"], text="reviw")], m, ()),
                             ["misnamed.csv", "no column 'reviw'", "columns: review, score"]),
    "misnamed_label_column": (lambda b, m: ([ds(b["misnamed.csv"], text="review", label="stars",
                                                label_kind="score")], m, ()),
                              ["misnamed.csv", "no column 'stars' for label"]),
    "undecodable_bytes": (lambda b, m: ([ds(b["undecodable.tsv"])], m, ()),
                          ["undecodable.tsv line 4", "byte 0xef", "utf-8", "encoding="]),
    "ragged_tsv": (lambda b, m: ([ds(b["ragged.tsv"])], m, ()),
                   ["ragged.tsv line 5", "expected 2 fields", "found 3"]),
    "duplicate_dataset_names": (lambda b, m: ([ds(b["good.csv"], name="twice"), ds(b["good.csv"], name="twice")],
                                              m, ()), ["duplicate dataset name 'twice'"]),
    "unknown_model_offline": (lambda b, m: ([ds(b["good.csv"])], "some-org/not-a-model", ()),
                              ["some-org/not-a-model", "HF_HUB_OFFLINE"]),
    "model_folder_without_weights": (lambda b, m: ([ds(b["good.csv"])], b["noweights"], ()),
                                     ["tiny-without-weights", "no weights"]),
    "non_numeric_score": (lambda b, m: ([ds(b["nonnumeric.csv"], label="score", label_kind="score")], m, ()),
                          ["nonnumeric.csv line 5", "label column 'score'", "'very good'", "not a number"]),
    "dataset_limit_zero": (lambda b, m: ([ds(b["good.csv"], limit=0)], m, ()),
                           ["limit must be a positive integer, got 0", "name=bad"]),
    "cli_limit_zero": (lambda b, m: ([ds(b["good.csv"])], m, ("--limit", "0")),
                       ["--limit must be a positive integer, got 0"]),
}


def assert_one_error_line(err: str, fragments) -> str:
    lines = err.splitlines()
    assert len(lines) == 1, f"expected one stderr line, got {len(lines)}:\n{err}"
    line = lines[0]
    assert line.startswith("error: "), line
    for frag in fragments:
        assert frag in line, f"{frag!r} not in {line!r}"
    return line


def assert_untouched(live_path: Path, digest):
    assert file_digest(live_path) == digest, "the live warehouse changed"
    leftovers = sorted(p.name for p in live_path.parent.iterdir() if ".tmp-" in p.name)
    assert leftovers == [], leftovers
    con = duckdb.connect(str(live_path), read_only=True)
    try:
        assert con.execute("select dataset from datasets").fetchall() == [("questions",)]
    finally:
        con.close()


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_in_process(case, live, bad, tiny_model_dir, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    live_path, digest = live
    make_args, fragments = CASES[case]
    datasets, model, extra = make_args(bad, tiny_model_dir)
    rc = main(args_for(live_path, model, *datasets, extra=extra))
    out, err = capsys.readouterr()
    assert rc == 2
    assert out == ""
    assert_one_error_line(err, fragments)
    assert_untouched(live_path, digest)


@pytest.mark.parametrize("case", ["empty_file", "ragged_tsv", "non_numeric_score", "cli_limit_zero",
                                  "unknown_model_offline"])
def test_bad_input_subprocess(case, live, bad, tiny_model_dir):
    live_path, digest = live
    make_args, fragments = CASES[case]
    datasets, model, extra = make_args(bad, tiny_model_dir)
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    proc = subprocess.run([sys.executable, "-m", "pipeline", *args_for(live_path, model, *datasets, extra=extra)],
                          cwd=ROOT, capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr
    assert_one_error_line(proc.stderr, fragments)
    assert_untouched(live_path, digest)


def test_the_good_file_builds(bad, tiny_model_dir, tmp_path, capsys):
    """Control: the same command line with a good file succeeds, so the failures above are the inputs'."""
    target = tmp_path / "ok.duckdb"
    rc = main(args_for(target, tiny_model_dir, ds(bad["good.csv"], label="score", label_kind="score")))
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert "computed 1, reused 0" in out
    con = duckdb.connect(str(target), read_only=True)
    try:
        assert con.execute("select text, label from sentences order by sentence_id").fetchall() == \
            [("first", 1.5), ("second", -2.0)]
    finally:
        con.close()


def test_ten_thousand_token_line_is_truncated_not_an_error(tmp_path, tiny_model_dir, capsys):
    words = ("the river is near the old city " * 1500).split()  # 10,500 words, all whole-word WordPieces
    vocab = set((tiny_model_dir / "vocab.txt").read_text().split())
    assert set(words) <= vocab
    long_line = " ".join(words)
    p = tmp_path / "long.txt"
    p.write_text("a short first line.\n" + long_line + "\nand a short last line.\n")
    target = tmp_path / "long.duckdb"
    rc = main(args_for(target, tiny_model_dir, ds(p, name="long")))
    out, err = capsys.readouterr()
    assert rc == 0, err
    con = duckdb.connect(str(target), read_only=True)
    try:
        lengths = con.execute("select sentence_id, n_tokens, truncated from sentence_lengths "
                              "order by sentence_id").fetchall()
        assert [r[0] for r in lengths] == [0, 1, 2]
        assert lengths[1][1] == len(words) + 2 > 10_000  # + [CLS] and [SEP], counted before truncation
        assert lengths[1][2] is True
        assert lengths[0][2] is False and lengths[2][2] is False
        assert lengths[0][1] <= 32 and lengths[2][1] <= 32
        vecs = con.execute("select layer, pooling, vec from activations where dataset = 'long' and sentence_id = 1 "
                           "order by layer, pooling").fetchall()
        assert [(v[0], v[1]) for v in vecs] == [(l, p) for l in range(3) for p in ("cls", "mean")]
        for _, _, vec in vecs:
            assert len(vec) == 32 and np.isfinite(vec).all() and np.abs(vec).sum() > 0
        # Token counts cover the whole untruncated text, not just the first 32 pieces.
        toks = dict(con.execute("select token, n from sentence_tokens where dataset = 'long' and sentence_id = 1"
                                ).fetchall())
        assert toks == {"the": 3000, "river": 1500, "is": 1500, "near": 1500, "old": 1500, "city": 1500}
        info = subprocess.run([sys.executable, "-m", "pipeline", "info", "--warehouse", str(target)], cwd=ROOT,
                              capture_output=True, text=True, timeout=120)
        assert info.returncode == 0 and "truncated texts in tiny: 1 of 3" in info.stdout
    finally:
        con.close()


# --- the DuckDB file reader (issue 20): settings, positions, dialects -------------------------------------

MR_HEADERLESS = '\ufeff"1","a fine, funny film"\r\n"0","a ""bad"" film"\r\n"1","simply, superb"\r\n'.encode()


@pytest.fixture(scope="module")
def reader_files(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("reader")
    files = {
        "mr.csv": MR_HEADERLESS,
        "ragged.csv": b"text,score\nfirst,1\n\nsecond,2,extra\nthird,3\n",
        "latin.csv": "text,score\ncaf\u00e9,1\nna\u00efve,2\n".encode("latin-1"),
        "unclosed.csv": b'text,score\nfine,1\n"never closed,2\nafter,3\n',
        "dup.csv": b"id,text,text\n1,a,b\n2,c,d\n",
        "empty.jsonl": b"\n \n",
    }
    out = {}
    for name, data in files.items():
        (d / name).write_bytes(data)
        out[name] = d / name
    return out


READER_CASES = {
    "ragged_csv_sniffed": (lambda f: [ds(f["ragged.csv"])],
                           ["ragged.csv line 4", "expected 2 fields", "found 3", "delimiter=','"]),
    "position_out_of_range": (lambda f: [ds(f["mr.csv"], text=3)],
                              ["mr.csv", "text=3 is out of range", "2 columns", "columns: 1, 2"]),
    "name_in_headerless_file": (lambda f: [ds(f["mr.csv"])],
                                ["mr.csv", "no column 'text' for text", "columns: 1, 2", "no header"]),
    "bad_header_value": (lambda f: [ds(f["mr.csv"], header="maybe")],
                         ["name=bad", "header must be true, false or auto, got 'maybe'"]),
    "bad_delimiter": (lambda f: [ds(f["mr.csv"], delimiter=";;")], ["name=bad", "delimiter must be auto"]),
    "unknown_encoding": (lambda f: [ds(f["mr.csv"], encoding="klingon")], ["unknown encoding 'klingon'"]),
    "latin1_without_encoding": (lambda f: [ds(f["latin.csv"])],
                                ["latin.csv line 2", "byte 0xe9 at column 4", "byte offset 14", "encoding=utf-8"]),
    "unclosed_quote": (lambda f: [ds(f["unclosed.csv"], quote='"')],
                       ["unclosed.csv line 3", "quoted value is not closed", "quote=none"]),
    "duplicate_header_name": (lambda f: [ds(f["dup.csv"])], ["dup.csv", "the header names 'text' 2 times"]),
    "blank_jsonl": (lambda f: [ds(f["empty.jsonl"])], ["empty.jsonl", "file is empty"]),
}


@pytest.mark.parametrize("case", list(READER_CASES))
def test_reader_bad_input_in_process(case, live, reader_files, tiny_model_dir, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    live_path, digest = live
    make_args, fragments = READER_CASES[case]
    rc = main(args_for(live_path, tiny_model_dir, *make_args(reader_files)))
    out, err = capsys.readouterr()
    assert rc == 2
    assert out == ""
    assert_one_error_line(err, fragments)
    assert_untouched(live_path, digest)


def test_reader_settings_from_the_command_line_build(reader_files, tiny_model_dir, tmp_path, capsys):
    """Control: the same files with the right settings build, and the warehouse holds exactly their rows.
    (One dataset per build: the separability stage needs more rows than these files have.)"""
    builds = {
        "mr": (ds(reader_files["mr.csv"], name="mr", text=2, label=1, header="false", label_kind="binary"),
               [("a fine, funny film", 1.0, "1"), ('a "bad" film', 0.0, "0"), ("simply, superb", 1.0, "1")]),
        "latin": (ds(reader_files["latin.csv"], name="latin", encoding="latin-1", label="score", label_kind="score"),
                  [("caf\u00e9", 1.0, None), ("na\u00efve", 2.0, None)]),
        "dup": (ds(reader_files["dup.csv"], name="dup", text=3), [("b", None, None), ("d", None, None)]),
    }
    for name, (arg, expected) in builds.items():
        target = tmp_path / f"{name}.duckdb"
        rc = main(args_for(target, tiny_model_dir, arg))
        out, err = capsys.readouterr()
        assert rc == 0, err
        con = duckdb.connect(str(target), read_only=True)
        try:
            rows = con.execute("select text, label, label_text from sentences order by sentence_id").fetchall()
        finally:
            con.close()
        assert rows == expected, name
