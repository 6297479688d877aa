"""The SQL console's connection: separate from ui.db's shared connection and locked down for user SQL
(warehouse/console.py holds the safety model)."""
from __future__ import annotations

import streamlit as st

from ui import data
from warehouse import console


@st.cache_resource(max_entries=2, show_spinner=False)
def _console(path: str, inode: int, mtime_ns: int):
    # Keyed like ui.db's connection on (inode, mtime), so a rebuilt warehouse gets a new one.
    return console.connect(path)


def identity() -> tuple:
    """The warehouse file's (path, inode, mtime): a query's outcome is kept per file and query."""
    return data.identity()


def run_query(sql: str):
    """console.run_query on the locked-down connection of the current warehouse file."""
    return console.run_query(_console(*identity()), sql)
