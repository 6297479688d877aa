"""Fetching pinned artefacts from PyPI, and the demo corpora built from them.

The first group runs on a fake artefact (a small tarball, no network). The rest is marked ``slow``: it uses
the real default cache (~/.cache/illusion-lab or $ILLUSION_CACHE, filled by ``python -m pipeline fetch``),
and one test downloads the VADER sdist again from PyPI into a temporary cache.
"""
from __future__ import annotations

import io
import re
import shutil
import tarfile
from pathlib import Path

import numpy as np
import pytest

from pipeline.cli import main
from pipeline.config import DatasetSpec
from pipeline.corpora import fetch as fetch_mod
from pipeline.corpora import load_dataset
from pipeline.corpora.demo import DEMO_CORPORA, VADER_FILES, load_demo
from pipeline.corpora.fetch import ARTEFACTS, Artefact, cache_dir, fetch, sha256_of, vader_dir
from pipeline.errors import PipelineError


# --- fetch logic on a fake artefact (fast, offline) ---------------------------------------------------------

def make_tarball(path: Path, files: dict[str, bytes]) -> str:
    with tarfile.open(path, "w:gz") as t:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return sha256_of(path)


@pytest.fixture
def fake(tmp_path, monkeypatch):
    """A fake artefact 'fake' whose 'download' copies a local tarball; .calls counts downloads."""
    src = tmp_path / "src" / "fakepkg-1.0.tar.gz"
    src.parent.mkdir()
    sha = make_tarball(src, {"fakepkg-1.0/data/a.txt": b"alpha\n", "fakepkg-1.0/data/sub/b.txt": b"beta\n",
                             "fakepkg-1.0/setup.py": b"print('not wanted')\n"})
    art = Artefact(name="fake", requirement="fakepkg==1.0", filename=src.name, sha256=sha, pip_args=(),
                   members=("fakepkg-1.0/data/",))
    monkeypatch.setitem(ARTEFACTS, "fake", art)

    class Fake:
        calls = 0
        payload = src

    def download(a, dest):
        assert a is art
        Fake.calls += 1
        shutil.copy(Fake.payload, dest / a.filename)
        return dest / a.filename

    monkeypatch.setattr(fetch_mod, "_download", download)
    Fake.art = art
    Fake.cache = tmp_path / "cache"
    return Fake


def test_fetch_extracts_members_and_marks_complete(fake):
    out = fetch("fake", fake.cache)
    assert out == fake.cache / f"fake-{fake.art.sha256[:12]}"
    assert (out / ".complete").read_text().strip() == fake.art.sha256
    assert (out / "fakepkg-1.0/data/a.txt").read_bytes() == b"alpha\n"
    assert (out / "fakepkg-1.0/data/sub/b.txt").read_bytes() == b"beta\n"
    assert not (out / "fakepkg-1.0/setup.py").exists()
    assert sha256_of(fake.cache / "downloads" / fake.art.filename) == fake.art.sha256
    assert fake.calls == 1
    # no temporary folders left behind
    assert sorted(p.name for p in fake.cache.iterdir()) == ["downloads", out.name]


def test_second_fetch_reuses_the_extraction(fake):
    out = fetch("fake", fake.cache)
    (out / "marker").write_text("still here")
    assert fetch("fake", fake.cache) == out
    assert fake.calls == 1 and (out / "marker").exists()


def test_corrupted_download_is_detected_and_redownloaded(fake):
    archive = fake.cache / "downloads" / fake.art.filename
    archive.parent.mkdir(parents=True)
    archive.write_bytes(b"junk bytes, truncated download")
    out = fetch("fake", fake.cache)
    assert fake.calls == 1
    assert sha256_of(archive) == fake.art.sha256
    assert (out / ".complete").exists()


def test_valid_download_without_extraction_is_not_downloaded_again(fake):
    fetch("fake", fake.cache)
    out = fake.cache / f"fake-{fake.art.sha256[:12]}"
    (out / ".complete").unlink()  # as if the extraction had been interrupted
    (out / "fakepkg-1.0/data/a.txt").write_text("half-written")
    assert fetch("fake", fake.cache) == out
    assert fake.calls == 1  # the archive in downloads/ was good
    assert (out / "fakepkg-1.0/data/a.txt").read_bytes() == b"alpha\n" and (out / ".complete").exists()


def test_download_with_wrong_hash_is_refused(fake, tmp_path):
    bad = tmp_path / "evil.tar.gz"
    make_tarball(bad, {"fakepkg-1.0/data/a.txt": b"tampered\n"})
    fake.payload = bad
    with pytest.raises(PipelineError) as e:
        fetch("fake", fake.cache)
    msg = str(e.value)
    assert f"expected {fake.art.sha256}" in msg and sha256_of(bad) in msg and "fetch fake" in msg
    assert not (fake.cache / f"fake-{fake.art.sha256[:12]}").exists()
    assert not (fake.cache / "downloads" / fake.art.filename).exists()
    assert [p.name for p in fake.cache.iterdir()] == ["downloads"]


def test_unknown_artefact():
    with pytest.raises(PipelineError, match=r"unknown artefact 'nope' \(known: vader, gensim, textgenrnn\)"):
        fetch("nope")


def test_cache_dir_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv("ILLUSION_CACHE", str(tmp_path / "env"))
    assert cache_dir(tmp_path / "explicit") == tmp_path / "explicit"
    assert cache_dir() == tmp_path / "env"
    monkeypatch.delenv("ILLUSION_CACHE")
    assert cache_dir() == Path.home() / ".cache" / "illusion-lab"


def test_fast_tests_see_an_isolated_cache(isolated_cache):
    assert cache_dir() == isolated_cache


def test_pinned_artefacts_are_well_formed():
    for name, art in ARTEFACTS.items():
        assert art.name == name
        assert re.fullmatch(r"[0-9a-f]{64}", art.sha256)
        assert art.filename.startswith(art.requirement.split("==")[0]) and "==" in art.requirement
        assert art.members


# --- the real artefacts and demo corpora (slow, default cache) ---------------------------------------------

@pytest.mark.slow
def test_real_cache_is_not_isolated(isolated_cache):
    assert cache_dir() != isolated_cache


@pytest.mark.slow
@pytest.mark.parametrize("name", list(ARTEFACTS))
def test_fetch_returns_cached_folders(name):
    out = fetch(name)
    art = ARTEFACTS[name]
    assert out.is_dir() and out.name == f"{name}-{art.sha256[:12]}"
    assert (out / ".complete").read_text().strip() == art.sha256
    assert sha256_of(cache_dir() / "downloads" / art.filename) == art.sha256
    assert any(out.rglob("*"))


@pytest.mark.slow
def test_cli_fetch_prints_folders(capsys):
    assert main(["fetch", "vader", "gensim"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [l.split(":")[0] for l in out] == ["vader", "gensim"]
    assert all(Path(l.split(": ", 1)[1]).is_dir() for l in out)


@pytest.mark.slow
def test_corrupted_real_download_is_fetched_again_from_pypi(tmp_path):
    art = ARTEFACTS["vader"]
    archive = tmp_path / "downloads" / art.filename
    archive.parent.mkdir()
    archive.write_bytes(b"\x1f\x8b junk: not the sdist " * 100)
    out = fetch("vader", tmp_path)
    assert sha256_of(archive) == art.sha256
    assert (out / ".complete").exists()
    assert (out / "vaderSentiment-3.3.2" / "additional_resources" / "hutto_ICWSM_2014.tar.gz").exists()
    assert len(load_demo("movies", tmp_path)) == 10_605


@pytest.mark.slow
def test_movies_every_line_counts():
    path = vader_dir() / VADER_FILES["movies"]
    raw = path.read_bytes()
    assert raw.count(b"\n") == 10_604 and not raw.endswith(b"\n")  # the last line has no newline
    df = load_demo("movies")
    assert len(df) == 10_605
    assert df["_line"].tolist() == list(range(1, 10_606))
    assert df["label"].between(-4, 4).all() and df["label"].std() > 1
    assert (df["text"].str.strip() != "").all()
    assert not df["text"].str.contains("\t").any()


@pytest.mark.slow
@pytest.mark.parametrize("key, n", [("movies", 10_605), ("amazon", 3_708), ("nyt", 5_190), ("tweets", 4_200)])
def test_vader_domains(key, n):
    ld = load_dataset(DatasetSpec(name=key, source="demo", path=key))
    assert len(ld.frame) == n and ld.n_dropped_empty == 0
    assert ld.label_kind == "score" == DEMO_CORPORA[key][0]
    labels = ld.frame["label"].to_numpy()
    assert np.isfinite(labels).all() and labels.min() >= -4 and labels.max() <= 4
    assert labels.min() < -2 and labels.max() > 2  # both ends of the scale are used
    # decoded line by line (UTF-8, else cp1252): no replacement characters, no UTF-8 read as Latin-1
    assert not ld.frame["text"].str.contains("\ufffd|\u00c3", regex=True).any()


@pytest.mark.slow
def test_demo_limit_head():
    full = load_demo("amazon")
    ld = load_dataset(DatasetSpec(name="amazon", source="demo", path="amazon", limit=25))
    assert ld.frame["text"].tolist() == full["text"].head(25).tolist()


@pytest.mark.slow
def test_wiki_first_500_sentences_without_markup():
    df = load_demo("wiki", enough=500)
    assert len(df) == 500
    texts = df["text"].tolist()
    assert len(set(texts)) > 450
    for t in texts:
        assert not re.search(r"[\[\]{}<>|=]|'''|https?:", t), t
        assert 4 <= len(t.split()) <= 80, t
    assert texts[0].startswith("Anarchism")
    ld = load_dataset(DatasetSpec(name="wiki", source="demo", path="wiki", limit=500))
    assert ld.frame["text"].tolist() == texts and ld.label_kind == "none"


@pytest.mark.slow
def test_news_sentences_from_the_lee_corpus():
    df = load_demo("news")
    assert len(df) > 1000
    texts = df["text"].tolist()
    assert texts[0].startswith("Hundreds of people have been forced to vacate their homes")
    assert any("Sydney" in t for t in texts)
    # sentences, not documents
    assert max(len(t.split()) for t in texts) <= 80 and np.median([len(t.split()) for t in texts]) < 40
