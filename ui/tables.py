"""Every table shown gets a CSV download next to it."""
from __future__ import annotations

import pandas as pd
import streamlit as st


def table(df: pd.DataFrame, name: str, **kwargs) -> None:
    st.dataframe(df, hide_index=True, width="stretch", **kwargs)
    # The CSV is written when the button is clicked, not on every rerun (most reruns never download).
    st.download_button(f"Download {name}.csv", lambda: df.to_csv(index=False).encode(), file_name=f"{name}.csv",
                       mime="text/csv", key=f"dl_{name}", on_click="ignore")
