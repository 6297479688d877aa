"""Explanation-transfer page in real chromium: write an explanation from one dataset's examples, see its transfer
table (read back through its CSV download and checked against sklearn on the stored held-out examples)."""
import io

import pandas as pd
import pytest
from sklearn.metrics import f1_score

import warehouse
from analysis.illusion import concept_hits
from tests.browser import artifacts_dir, browser_page, charts_drawn, chromium_available, streamlit_server

pytestmark = pytest.mark.skipif(not chromium_available(), reason="Debian chromium not installed (make test installs it)")


def _expected_f1(path, unit, keywords):
    con = warehouse.connect_read_only(path)
    held = con.execute("select e.dataset, e.quantile, s.text from quantile_examples e join sentences s "
                       "using (dataset, sentence_id) where run_id = 'tiny' and layer = 2 and pooling = 'cls' "
                       "and unit = ? and heldout", [unit]).df()
    con.close()
    return {d: f1_score(g["quantile"] > 0, concept_hits(g["text"].tolist(), keywords=keywords), zero_division=0)
            for d, g in held.groupby("dataset")}


def test_transfer_page_scores_a_written_explanation_in_chromium(small_warehouse):
    with streamlit_server(small_warehouse) as url, browser_page() as page:
        page.goto(f"{url}/transfer?unit=5&ref=news", wait_until="networkidle")
        page.get_by_text("Its examples on news, by activation quantile").wait_for(timeout=30_000)
        box = page.get_by_label("Keywords, comma-separated (whole words, any case)")
        box.fill("the, a")
        box.press("Enter")
        page.get_by_text("Written on news").wait_for(timeout=30_000)
        page.locator('[data-testid="stApp"][data-test-script-state="notRunning"]').wait_for(timeout=30_000)
        with page.expect_download() as download:
            page.get_by_role("button", name="Download transfer_scores.csv").click()
        shown = pd.read_csv(io.StringIO(download.value.path().read_text())).set_index("dataset")
        assert shown.loc["news", "verdict"] == "reference"
        assert set(shown["verdict"]) <= {"reference", "holds", "breaks", "better", "at chance",
                                         "no signal on reference"}
        expected = _expected_f1(small_warehouse, 5, ["the", "a"])
        assert shown["f1"].to_dict() == pytest.approx(expected)
        page.wait_for_function("() => window.location.search.includes('expl=')", timeout=30_000)
        assert page.locator('[data-testid="stException"]').count() == 0
        charts_drawn(page)
        page.wait_for_timeout(500)
        page.screenshot(path=str(artifacts_dir() / "transfer.png"), full_page=True)
