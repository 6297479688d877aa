"""Streamlit glue shared by the pages: the cached read-only connection, the URL-backed selection, tables."""
