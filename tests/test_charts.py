"""ui.charts: a chart's Vega-Lite spec is built once per (builder, arguments) and drawn with each call's data."""
import json
from pathlib import Path

import altair as alt
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from ui import charts


def bars(title: str):
    return alt.Chart(alt.NamedData("bars")).mark_bar().encode(x=alt.X("a:N", title=title), y="n:Q")


def test_spec_is_altairs_own_dict_without_the_default_view_size():
    s = charts.spec(bars, ("letters",))
    want = bars("letters").to_dict()
    want.pop("config")  # {'view': {'continuousWidth': 300, 'continuousHeight': 300}}, dropped as st.altair_chart does
    assert s == want
    assert s["data"] == {"name": "bars"} and s["encoding"]["x"]["title"] == "letters"


CALLS = []


def counted(title: str):
    CALLS.append(title)
    return bars(title)


def test_spec_is_built_once_per_builder_and_arguments():
    a1, a2, b = charts.spec(counted, ("a",)), charts.spec(counted, ("a",)), charts.spec(counted, ("b",))
    assert CALLS == ["a", "b"]
    assert a1 == a2 and a1 is not a2  # a copy each time: callers may change it
    a1["mark"] = "line"
    assert charts.spec(counted, ("a",))["mark"] == {"type": "bar"}
    assert b["encoding"]["x"]["title"] == "b"


def test_a_builder_that_closes_over_a_variable_is_refused():
    title = "outer"

    def closure():
        return bars(title)

    with pytest.raises(TypeError, match="closes over"):
        charts.spec(closure)
    with pytest.raises(TypeError, match="hashable"):
        charts.spec(bars, (["not", "hashable"],))


def test_show_ships_the_data_as_named_datasets(tmp_path):
    page = tmp_path / "page.py"
    page.write_text(
        "import altair as alt, pandas as pd\n"
        "from ui import charts\n"
        "def bars(title):\n"
        "    return alt.Chart(alt.NamedData('bars')).mark_bar().encode(x=alt.X('a:N', title=title), y='n:Q')\n"
        "charts.show(bars, ('letters',), {'bars': pd.DataFrame({'a': ['x', 'y'], 'n': [3, 5]})}, width='stretch')\n"
        "charts.show(bars, ('letters',), {'bars': pd.DataFrame({'a': ['z'], 'n': [7]})})\n")
    import sys
    root = str(Path(__file__).resolve().parent.parent)
    if root not in sys.path:
        sys.path.insert(0, root)
    at = AppTest.from_file(str(page)).run()
    assert not at.exception
    got = at.get("vega_lite_chart")
    assert len(got) == 2
    import pyarrow as pa
    frames = []
    for c in got:
        spec = json.loads(c.proto.spec)
        assert spec["data"] == {"name": "bars"} and spec["encoding"]["x"]["title"] == "letters"
        (ds,) = c.proto.datasets
        assert ds.name == "bars"
        frames.append(pa.ipc.open_stream(ds.data.data).read_pandas()[["a", "n"]])
    pd.testing.assert_frame_equal(frames[0], pd.DataFrame({"a": ["x", "y"], "n": [3, 5]}))
    pd.testing.assert_frame_equal(frames[1], pd.DataFrame({"a": ["z"], "n": [7]}))


def test_big_charts_are_drawn_on_a_canvas_small_ones_stay_svg(tmp_path):
    page = tmp_path / "page.py"
    page.write_text(
        "import altair as alt, pandas as pd\n"
        "from ui import charts\n"
        "def dots():\n"
        "    return alt.Chart(alt.NamedData('d')).mark_circle().encode(x='a:Q', y='b:Q')\n"
        f"charts.show(dots, (), {{'d': pd.DataFrame({{'a': range({charts.CANVAS_ROWS}), 'b': 0}})}})\n"
        f"charts.show(dots, (), {{'d': pd.DataFrame({{'a': range({charts.CANVAS_ROWS + 1}), 'b': 0}})}})\n")
    import sys
    root = str(Path(__file__).resolve().parent.parent)
    if root not in sys.path:
        sys.path.insert(0, root)
    at = AppTest.from_file(str(page)).run()
    assert not at.exception
    small, big = (json.loads(c.proto.spec) for c in at.get("vega_lite_chart"))
    assert "usermeta" not in small
    assert big["usermeta"] == {"embedOptions": {"renderer": "canvas"}}
