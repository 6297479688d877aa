"""The dashboard's warehouse connection: read-only, cached per file, one cursor per query (see queries.run)."""
from __future__ import annotations

import os
import threading
from pathlib import Path

import streamlit as st

import warehouse
from warehouse import remote

BUILD_COMMAND = "make run  (or: python -m pipeline build --preset demo)"
# Sessions run in threads of one process: the first one downloads, the others wait and then reuse the file.
_DOWNLOAD_LOCK = threading.Lock()


def warehouse_path() -> Path:
    return warehouse.default_path()


def _setting(name: str) -> str | None:
    """An environment variable, else a Streamlit secret of the same name (Community Cloud), else None."""
    if os.environ.get(name):
        return os.environ[name]
    try:
        value = st.secrets.get(name)
    except (FileNotFoundError, KeyError, AttributeError, st.errors.StreamlitSecretNotFoundError):
        return None
    return str(value) if value else None


def _ensure_downloaded(path: Path) -> None:
    """With ILLUSION_WAREHOUSE_URL set, fetch the published warehouse once (with a progress bar)."""
    url = _setting("ILLUSION_WAREHOUSE_URL")
    if not url:
        return
    sha = _setting("ILLUSION_WAREHOUSE_SHA256")
    if remote.is_current(path, url, sha):
        return
    with _DOWNLOAD_LOCK:
        if not remote.is_current(path, url, sha):
            _download(url, path, sha)


def _download(url: str, path: Path, sha: str | None) -> None:
    bar = st.progress(0.0, text=f"Downloading the warehouse from {url}")

    def step(done: int, total: int | None) -> None:
        bar.progress(min(done / total, 1.0) if total else 0.0,
                     text=f"Downloading the warehouse: {done / 1e6:,.1f} MB" + (f" of {total / 1e6:,.1f}" if total else ""))

    try:
        remote.download(url, path, sha, progress=step)
    except remote.DownloadError as e:
        bar.empty()
        st.error(str(e))
        st.stop()
    bar.empty()


@st.cache_resource(max_entries=4, show_spinner=False)
def _open(path: str, identity: tuple):
    # `identity` (inode, mtime) is part of the cache key: when a build swaps in a new file, the next
    # rerun opens it instead of serving the old one.
    return warehouse.connect_read_only(path)


def connection():
    """The connection for the configured warehouse, or stop the page with a message saying what to do."""
    path = warehouse_path()
    _ensure_downloaded(path)
    if not path.exists():
        from ui.progress import wait_for_file  # ui.progress reads through this module

        wait_for_file(path)
        st.error(f"No warehouse at `{path}`.")
        st.markdown(f"Build one with:\n\n```\n{BUILD_COMMAND}\n```\n\nor point `ILLUSION_WAREHOUSE` at a "
                    f"built file.")
        st.stop()
    stat = os.stat(path)
    try:
        return _open(str(path), (stat.st_ino, stat.st_mtime_ns))
    except warehouse.WarehouseError as e:
        st.error(str(e))
        st.stop()
