"""Illusion Lab dashboard: routing only. Pages live in pages/, queries in warehouse/queries/."""
import streamlit as st

st.set_page_config(page_title="Illusion Lab", page_icon="🔬", layout="wide")
st.navigation([
    st.Page("pages/home.py", title="Home", icon="🏠", default=True),
]).run()
