"""The dashboard's warehouse connection: read-only, cached per file, one cursor per query (see queries.run)."""
from __future__ import annotations

import os
from pathlib import Path

import streamlit as st

import warehouse

BUILD_COMMAND = "make run  (or: python -m pipeline build --preset demo)"


def warehouse_path() -> Path:
    return warehouse.default_path()


@st.cache_resource(max_entries=4, show_spinner=False)
def _open(path: str, identity: tuple):
    # `identity` (inode, mtime) is part of the cache key: when a build swaps in a new file, the next
    # rerun opens it instead of serving the old one.
    return warehouse.connect_read_only(path)


def connection():
    """The connection for the configured warehouse, or stop the page with a message saying what to do."""
    path = warehouse_path()
    if not path.exists():
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
