"""ui/url.py: the URL readers fall back to their defaults, the widgets round-trip through the URL, and set_params
has one rule (unchanged values are not rewritten, None or "" removes, one update per call)."""
from __future__ import annotations

import types

import pytest
from streamlit.testing.v1 import AppTest

from ui import url


class FakeParams:
    """A stand-in for st.query_params that records every write (each real write sends the browser a message)."""

    def __init__(self, **values):
        self.values = dict(values)
        self.writes = []

    def get(self, k, default=None):
        return self.values.get(k, default)

    def get_all(self, k):
        return [self.values[k]] if k in self.values else []

    def __contains__(self, k):
        return k in self.values

    def __iter__(self):
        return iter(list(self.values))

    def update(self, changed):
        self.writes.append(("update", dict(changed)))
        self.values.update(changed)

    def from_dict(self, new):
        self.writes.append(("from_dict", dict(new)))
        self.values = {k: (v[-1] if isinstance(v, list) else v) for k, v in new.items()}


@pytest.fixture
def qp(monkeypatch):
    def make(**values):
        fake = FakeParams(**values)
        monkeypatch.setattr(url, "st", types.SimpleNamespace(query_params=fake))
        return fake
    return make


def test_unchanged_values_are_not_rewritten(qp):
    fake = qp(run="tiny", layer="2")
    url.set_params(run="tiny", layer=2)  # 2 and "2" are the same URL text
    assert fake.writes == []


def test_changes_go_in_one_update(qp):
    fake = qp(run="tiny", layer="2")
    url.set_params(run="tiny", layer=3, k=10)
    assert fake.writes == [("update", {"layer": "3", "k": "10"})]
    assert fake.values == {"run": "tiny", "layer": "3", "k": "10"}


@pytest.mark.parametrize("empty", [None, ""])
def test_none_or_empty_removes(qp, empty):
    fake = qp(run="tiny", units="1,2", usig="x")
    url.set_params(units=empty, usig=empty, layer=1)
    assert len(fake.writes) == 1 and fake.writes[0][0] == "from_dict"
    assert fake.values == {"run": "tiny", "layer": "1"}


def test_removing_a_missing_parameter_writes_nothing(qp):
    fake = qp(run="tiny")
    url.set_params(units=None, q="")
    assert fake.writes == [] and fake.values == {"run": "tiny"}


def test_readers_fall_back_to_the_default(qp):
    qp(a="7", b="x", c="99", f="0.25", g="nan?", h="-3", choice="3", lst="b,zz,a,b")
    assert url.url_int("a", 1, 0, 10) == 7
    assert url.url_int("b", 1, 0, 10) == 1  # not a number
    assert url.url_int("c", 1, 0, 10) == 1  # out of range
    assert url.url_int("missing", 4, 0, 10) == 4
    assert url.url_int("f", 5, 0, 10) == 5  # a float is not an int
    assert url.url_float("f", 1.0, 0.0, 1.0) == 0.25
    assert url.url_float("g", 0.5, 0.0, 1.0) == 0.5
    assert url.url_float("h", 0.5, -1.0, 1.0) == 0.5
    assert url.url_choice("choice", [1, 2, 3], 1) == 3  # ints match their text
    assert url.url_choice("choice", ["x"], "x") == "x"
    assert url.url_choice("missing", ["x", "y"], "y") == "y"
    assert url.url_list("lst", ["a", "b", "c"]) == ["b", "a", "b"]
    assert url.url_list("missing", ["a"]) == []
    assert url.get("a") == "7" and url.get("missing") == "" and url.get("missing", "d") == "d"


def _widgets_script():
    import streamlit as st

    from ui import url

    run = url.selectbox("Run", ["a", "b", "c"], "run", key="w_run", default=2)
    k = url.number_input("k", "k", 10, 1, 50, key="w_k")
    ds = url.multiselect("Datasets", ["news", "questions"], "ds", key="w_ds", default=["news", "questions"])
    by = url.radio("By", ["mev_adj", "mev"], "by", key="w_by")
    st.write(f"{run}|{k}|{','.join(ds)}|{by}")


def _shown(at) -> str:
    return at.markdown[-1].value


def test_widgets_round_trip_through_the_url():
    at = AppTest.from_function(_widgets_script)
    at.query_params.update({"run": "a", "k": "7", "ds": "questions", "by": "nonsense"})
    at.run()
    assert not at.exception
    assert _shown(at) == "a|7|questions|mev_adj"
    at.selectbox(key="w_run").set_value("b").run()
    at.number_input(key="w_k").set_value(12).run()
    at.multiselect(key="w_ds").select("news").run()
    at.radio(key="w_by").set_value("mev").run()
    assert _shown(at) == "b|12|questions,news|mev"
    assert {k: at.query_params[k] for k in ("run", "k", "ds", "by")} in (
        {"run": "b", "k": "12", "ds": "questions,news", "by": "mev"},
        {"run": ["b"], "k": ["12"], "ds": ["questions,news"], "by": ["mev"]})


def test_widgets_use_their_defaults_for_bad_urls():
    at = AppTest.from_function(_widgets_script)
    at.query_params.update({"run": "zzz", "k": "500", "ds": "nope"})
    at.run()
    assert not at.exception
    assert _shown(at) == "c|10|news,questions|mev_adj"
    at.multiselect(key="w_ds").unselect("news").unselect("questions").run()
    assert "ds" not in at.query_params  # an empty choice removes the parameter
