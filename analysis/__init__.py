"""Pure analysis functions: numpy/pandas in, numbers out. No I/O, no Streamlit, no torch."""
