"""Dataset separability page with AppTest on the small warehouse."""
from pathlib import Path

import duckdb
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parent.parent


def test_separability_page_shows_stored_results(monkeypatch, small_warehouse):
    monkeypatch.setenv("ILLUSION_WAREHOUSE", str(small_warehouse))
    at = AppTest.from_file(str(ROOT / "views" / "separability.py"), default_timeout=60)
    at.query_params.update({"layer": "1", "pooling": "mean"})
    at.run()
    assert not at.exception
    con = duckdb.connect(str(small_warehouse), read_only=True)
    stored = con.execute("select accuracy, n_test from separability where run_id = 'tiny' and layer = 1 "
                         "and pooling = 'mean'").fetchone()
    conf = con.execute("select true_dataset, predicted_dataset, n from separability_confusion where run_id = 'tiny' "
                       "and layer = 1 and pooling = 'mean' order by all").fetchall()
    con.close()
    assert any(f"**{stored[0]:.1%}** held-out accuracy over {stored[1]} test sentences" in m.value
               for m in at.markdown)
    shown = at.dataframe[1].value
    assert [tuple(r) for r in shown[["true_dataset", "predicted_dataset", "n"]].itertuples(index=False)] == conf
    assert len(at.dataframe[0].value) == 3 * 2  # every layer x pooling
    assert "No UMAP stored" in at.info[0].value
