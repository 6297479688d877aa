"""Attention page in real chromium: open a layer from the URL, switch the layer and the algorithm in the sidebar,
highlight a length range; the URL and the caption follow."""
import pytest

from tests.attention_data import build_attention_warehouse
from tests.browser import artifacts_dir, browser_page, chromium_available, settle, streamlit_server

pytestmark = pytest.mark.skipif(not chromium_available(), reason="Debian chromium not installed (make test installs it)")


@pytest.fixture(scope="module")
def attn_warehouse(tmp_path_factory, tiny_model_dir, fixture_files):
    return build_attention_warehouse(tmp_path_factory.mktemp("attn-browser") / "w.duckdb", tiny_model_dir,
                                     fixture_files, heads=False)


def sidebar_select(page, label: str, option: str):
    page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]').filter(has_text=label).click()
    page.get_by_role("option", name=option, exact=True).click()


def test_attention_page_in_chromium(attn_warehouse):
    with streamlit_server(attn_warehouse) as url, browser_page() as page:
        page.goto(f"{url}/attention?run=tiny&dataset=questions&layer=2&features=summary", wait_until="networkidle")
        page.get_by_text("Every layer: the stored tests (the study's Table 5)").wait_for(timeout=60_000)
        page.get_by_text("Layer 2: clusters and highlighted ranges").wait_for(timeout=30_000)
        charts = page.locator('[data-testid="stVegaLiteChart"]')
        charts.nth(4).wait_for(state="visible", timeout=30_000)  # 2 scatters + box plots
        assert page.locator('[data-testid="stException"]').count() == 0
        sidebar_select(page, "Layer (block)", "1: blocks.0")
        page.get_by_text("Layer 1: clusters and highlighted ranges").wait_for(timeout=60_000)
        page.wait_for_function("() => window.location.search.includes('layer=1')", timeout=30_000)
        settle(page)  # the Algorithm box is keyed per layer: let the rerun replace it
        sidebar_select(page, "Algorithm", "gmm")
        page.get_by_text("Clusters shown: gmm covariance=full").wait_for(timeout=60_000)
        page.wait_for_function("() => window.location.search.includes('algo=gmm')", timeout=30_000)
        page.locator('[data-testid="stSelectbox"]').filter(has_text="Highlight by").click()
        page.get_by_role("option", name="WordPiece length", exact=True).click()
        box = page.get_by_label("Ranges (comma-separated, e.g. 9-15, 20-22, 60-81)")
        box.fill("1-12")
        box.press("Enter")
        page.get_by_text("Highlighted: WordPiece length in 1-12").wait_for(timeout=60_000)
        assert "ranges=1-12" in page.url
        assert page.locator('[data-testid="stException"]').count() == 0
        page.wait_for_timeout(1500)
        page.screenshot(path=str(artifacts_dir() / "attention.png"), full_page=True)
