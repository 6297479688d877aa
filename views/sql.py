"""SQL console: read-only ad-hoc SQL over the warehouse. The safety model lives in warehouse/console.py."""
import altair as alt
import streamlit as st

from ui import charts, url
from ui import sql_model as model
from ui.db import connection
from ui.tables import table
from warehouse import console

st.title("SQL console")
st.caption(f"One read-only query at a time over every table of the warehouse: at most {console.MAX_ROWS:,} rows "
           f"are shown and a query is cancelled after {console.TIMEOUT_S} s. The query is kept in the URL, so a "
           f"link reproduces it. Ctrl+Enter runs it.")

con = connection()  # the dashboard's connection: stops the page when there is no (readable) warehouse
identity = model.identity()

examples = console.examples()


def _fill_editor():
    st.session_state["sql_text"] = examples[st.session_state["sql_example"]]
    st.session_state["sql_example"] = None  # back to the placeholder, so the same example can be reloaded


url_sql = url.get("q")
if "sql_text" not in st.session_state:
    st.session_state["sql_text"] = url_sql or next(iter(examples.values()))
st.selectbox("Examples", list(examples), index=None, placeholder="Load an example query into the editor…",
             key="sql_example", on_change=_fill_editor)
with st.form("sql_form", border=False):
    st.text_area("SQL", key="sql_text", height=260)
    submitted = st.form_submit_button("Run", type="primary")

with st.expander("Schema: tables, columns, descriptions and row counts"):
    tables = console.schema_tables(con)
    table(tables, "schema_tables", key="schema_tables_table")
    columns = console.schema_columns(con)
    chosen = st.selectbox("Columns of", tables["table_name"].tolist(), key="schema_table")
    table(columns[columns["table_name"] == chosen].drop(columns="table_name"), "schema_columns",
          key="schema_columns_table")

if submitted:
    url_sql = st.session_state["sql_text"].strip()
    url.set_params(q=url_sql)

if not url_sql:
    st.info("Write a query (or load an example) and press **Run**.")
    st.stop()

# The outcome is kept per session, so widgets below (chart options) do not rerun the query; Run does.
key = (identity, url_sql)
if submitted or st.session_state.get("sql_outcome", (None,))[0] != key:
    try:
        with st.spinner("Running…"):
            outcome = model.run_query(url_sql)
    except console.ConsoleError as e:
        outcome = str(e)
    st.session_state["sql_outcome"] = (key, outcome)
outcome = st.session_state["sql_outcome"][1]
if isinstance(outcome, str):
    st.error(outcome)
    st.stop()

frame = outcome.frame
n_rows, n_cols = frame.shape
st.caption(f"{n_rows:,} row{'s' * (n_rows != 1)} × {n_cols} column{'s' * (n_cols != 1)} in {outcome.seconds:.2f} s")
if outcome.truncated:
    st.warning(f"Showing the first {console.MAX_ROWS:,} rows: the query returned more. Add a `limit`, a filter "
               f"or an aggregate to see the rest.")
table(frame, "query", key="sql_result")
try:
    st.download_button("Download query.parquet", console.parquet_bytes(outcome.table), file_name="query.parquet",
                       mime="application/vnd.apache.parquet", key="dl_query_parquet")
except console.ConsoleError as e:
    st.caption(str(e))

kinds = console.chart_columns(outcome.table)


def result_chart(mark: str, x: str, x_kind: str, y: str, y_kind: str, colour: str | None, colour_kind: str | None):
    # chart_data names the columns x, y and colour; the user's column names are only titles
    encoding = {"x": alt.X("x", type=x_kind, title=x), "y": alt.Y("y", type=y_kind, title=y),
                "tooltip": [alt.Tooltip(c, type=kind, title=n) for c, kind, n in (("x", x_kind, x), ("y", y_kind, y))]}
    if colour:
        encoding["color"] = alt.Color("colour", type=colour_kind, title=colour)
    chart = getattr(alt.Chart(alt.NamedData("result")), f"mark_{mark}")(**({"point": True} if mark == "line" else {}))
    return chart.encode(**encoding).properties(height=360)


if len(frame) and kinds and st.toggle("Chart", key="sql_chart"):
    names = list(kinds)
    c1, c2, c3, c4 = st.columns(4)
    x = c1.selectbox("x", names, key="chart_x")
    y = c2.selectbox("y", names, index=min(1, len(names) - 1), key="chart_y")
    colour = c3.selectbox("Colour", names, index=None, placeholder="none", key="chart_colour")
    mark = c4.radio("Mark", ["line", "bar", "point"], horizontal=True, key="chart_mark")
    data = console.chart_data(outcome, x, y, colour)
    charts.show(result_chart, (mark, x, kinds[x], y, kinds[y], colour, kinds[colour] if colour else None),
                {"result": data}, width="stretch")
