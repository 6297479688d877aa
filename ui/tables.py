"""Every table shown gets a CSV download next to it."""
from __future__ import annotations

import pandas as pd
import streamlit as st


def table(df: pd.DataFrame, name: str, **kwargs) -> None:
    st.dataframe(df, hide_index=True, width="stretch", **kwargs)
    # The CSV is written when the button is clicked, not on every rerun (most reruns never download).
    st.download_button(f"Download {name}.csv", lambda: df.to_csv(index=False).encode(), file_name=f"{name}.csv",
                       mime="text/csv", key=f"dl_{name}", on_click="ignore")


def details(label: str, key: str, where=None):
    """A collapsed expander whose content runs only while it is open: returns (container, is_open).

    A plain expander's content is sent to the browser and drawn even while it is closed, so a page full of
    closed detail tables would pay for them on every rerun. Opening or closing it reruns the page."""
    box = (where or st).expander(label, key=key, on_change="rerun")
    return box, bool(box.open)
