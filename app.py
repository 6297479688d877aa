"""Illusion Lab dashboard: routing only. Pages live in views/ (not pages/: a fresh server would auto-discover that folder and serve /drift without this router), queries in warehouse/queries/."""
import streamlit as st

st.set_page_config(page_title="Illusion Lab", page_icon="🔬", layout="wide")
st.navigation([
    st.Page("views/home.py", title="Home", icon="🏠", default=True),
    st.Page("views/drift.py", title="Neuron drift", icon="🧭", url_path="drift"),
    st.Page("views/illusion.py", title="Illusion score", icon="🎭", url_path="illusion"),
    st.Page("views/shift.py", title="Distribution shift", icon="📊", url_path="shift"),
    st.Page("views/transfer.py", title="Explanation transfer", icon="🔁", url_path="transfer"),
    st.Page("views/separability.py", title="Dataset separability", icon="🗺️", url_path="separability"),
    st.Page("views/tokens.py", title="Monotonicity & locality", icon="📈", url_path="tokens"),
    st.Page("views/outliers.py", title="Outliers", icon="🧿", url_path="outliers"),
    st.Page("views/neighbours.py", title="Nearest sentences", icon="🧲", url_path="neighbours"),
    st.Page("views/annotate.py", title="Blind annotation", icon="✍️", url_path="annotate"),
    st.Page("views/sql.py", title="SQL console", icon="🧮", url_path="sql"),
    st.Page("views/anisotropy.py", title="Anisotropy", icon="🌀", url_path="anisotropy"),
    st.Page("views/spans.py", title="Span match", icon="🔦", url_path="spans"),
    st.Page("views/sentiment.py", title="Sentiment neuron", icon="💬", url_path="sentiment"),
    st.Page("views/attention.py", title="Attention clusters", icon="🧩", url_path="attention"),
    st.Page("views/attention_example.py", title="Attention of one item", icon="🔍", url_path="attention_example"),
# Past 10 pages the menu shows the first ones and a "View more" button: an expanded menu of every page
# would push each page's own sidebar controls below the fold.
]).run()

