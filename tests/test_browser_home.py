"""The home page in a real Debian chromium, driven by Playwright."""
import duckdb
import pytest

from tests.browser import artifacts_dir, browser_page, chromium_available, streamlit_server

pytestmark = pytest.mark.skipif(not chromium_available(), reason="Debian chromium not installed (make test installs it)")


def test_home_in_chromium_shows_dataset_table(small_warehouse):
    con = duckdb.connect(str(small_warehouse), read_only=True)
    names = [r[0] for r in con.execute("select dataset from datasets order by dataset").fetchall()]
    con.close()
    with streamlit_server(small_warehouse) as url, browser_page() as page:
        page.goto(f"{url}/?layer=1&pooling=mean", wait_until="networkidle")
        page.get_by_text("Datasets", exact=True).wait_for(timeout=30_000)
        table = page.locator('[data-testid="stDataFrame"]').first
        table.wait_for(state="visible", timeout=30_000)
        page.locator('[data-testid="stVegaLiteChart"]').first.wait_for(state="visible", timeout=30_000)
        # the last element of the page: the script has run to the end
        page.get_by_text("Manifest (schema version, code version, config)").wait_for(timeout=30_000)
        assert page.locator('[data-testid="stException"]').count() == 0
        body = page.inner_text("body")
        for name in names:
            assert name in body
        page.screenshot(path=str(artifacts_dir() / "home.png"), full_page=True)
        # the home page is about the run: no layer or pooling box, and the URL keeps the other pages' selection
        assert page.get_by_role("combobox", name="Model run").input_value() == "tiny"
        assert page.get_by_role("combobox", name="Layer").count() == 0
        assert page.get_by_role("combobox", name="Pooling").count() == 0
        assert "layer=1" in page.url and "pooling=mean" in page.url and "run=tiny" in page.url
