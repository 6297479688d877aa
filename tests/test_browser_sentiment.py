"""Sentiment-neuron page in real chromium: open a view from the URL, switch the penalty, see the new numbers."""
import pytest

import warehouse
from tests.browser import artifacts_dir, browser_page, chromium_available, streamlit_server
from tests.sentiment_data import build_sentiment_warehouse, write_files
from warehouse import queries

pytestmark = pytest.mark.skipif(not chromium_available(), reason="Debian chromium not installed (make test installs it)")


@pytest.fixture(scope="module")
def senti_warehouse(tmp_path_factory, tiny_model_dir):
    folder = tmp_path_factory.mktemp("sentiment-browser")
    path = folder / "w.duckdb"
    build_sentiment_warehouse(path, tiny_model_dir, write_files(folder))
    return path


def sn_statement(path, penalty):
    con = warehouse.connect_read_only(path)
    clf = queries.sentiment_classifiers(con, "tiny", "reviews")
    units = queries.sentiment_units(con, "tiny", "reviews", "cls", penalty)
    con.close()
    sn = int(clf.query("feature == 'cls' and penalty == @penalty")["sn_unit"].iloc[0])
    return sn, f"{units.loc[sn, 'weight']:+.3f}"


def test_sentiment_page_in_chromium(senti_warehouse):
    with streamlit_server(senti_warehouse) as url, browser_page() as page:
        page.goto(f"{url}/sentiment?dataset=reviews&feature=cls&penalty=l2", wait_until="networkidle")
        page.get_by_text("Do the study's four findings hold here?").wait_for(timeout=120_000)
        sn, weight = sn_statement(senti_warehouse, "l2")
        page.get_by_text(weight).first.wait_for(timeout=30_000)
        page.get_by_text("Table 1: all units, SN deleted, SN only").wait_for(timeout=30_000)
        page.get_by_text("random 16-unit subsets beat the SN alone").wait_for(timeout=120_000)
        assert page.locator('[data-testid="stException"]').count() == 0
        # switch the penalty in the sidebar: the URL and the numbers follow
        page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]').filter(has_text="Penalty").click()
        page.get_by_role("option", name="L1 (the original)").click()
        sn1, weight1 = sn_statement(senti_warehouse, "l1")
        page.get_by_text(weight1).first.wait_for(timeout=120_000)
        page.wait_for_function("() => window.location.search.includes('penalty=l1')", timeout=30_000)
        page.get_by_text("Table 3: trailing-word attack").wait_for(timeout=120_000)
        page.locator('[data-testid="stVegaLiteChart"]').first.wait_for(state="visible", timeout=60_000)
        assert page.locator('[data-testid="stException"]').count() == 0
        page.wait_for_timeout(1500)
        page.screenshot(path=str(artifacts_dir() / "sentiment.png"), full_page=True)
