"""Neuron drift page in real chromium: open a neuron from the URL, change it, see the new top sentences."""
import numpy as np
import pytest

import warehouse
from tests.browser import artifacts_dir, browser_page, chromium_available, streamlit_server

pytestmark = pytest.mark.skipif(not chromium_available(), reason="Debian chromium not installed (make test installs it)")


def _top_text(path, unit):
    con = warehouse.connect_read_only(path)
    x = np.array(con.execute("select vec from activations where run_id = 'tiny' and layer = 2 and pooling = 'cls' "
                             "and dataset = 'news' order by sentence_id").df()["vec"].tolist())
    best = int(np.argsort(-x[:, unit], kind="stable")[0])
    text = con.execute("select text from sentences where dataset = 'news' and sentence_id = ?", [best]).fetchone()[0]
    con.close()
    return text, float(x[best, unit])


def test_drift_page_changes_neuron_in_chromium(small_warehouse):
    with streamlit_server(small_warehouse) as url, browser_page() as page:
        page.goto(f"{url}/drift?unit=2&k=3", wait_until="networkidle")
        page.get_by_text("neuron 2 · layer 2").wait_for(timeout=30_000)
        # a shared link opened on a fresh server still goes through the router (views/, not pages/)
        page.locator('[data-testid="stSidebarNav"]').get_by_text("Neuron drift").wait_for(timeout=15_000)
        assert "app" not in page.locator('[data-testid="stSidebarNav"]').inner_text().split()
        text, value = _top_text(small_warehouse, 2)
        page.get_by_text(f"{value:+.3f}").first.wait_for(timeout=30_000)
        page.get_by_text(text).first.wait_for(timeout=30_000)
        box = page.get_by_label("Neuron (0 to 31)")
        box.fill("11")
        box.press("Enter")
        page.get_by_text("neuron 11 · layer 2").wait_for(timeout=30_000)
        text, value = _top_text(small_warehouse, 11)
        page.get_by_text(f"{value:+.3f}").first.wait_for(timeout=30_000)
        page.get_by_text(text).first.wait_for(timeout=30_000)
        assert page.locator('[data-testid="stException"]').count() == 0
        assert "unit=11" in page.url
        page.locator('[data-testid="stVegaLiteChart"]').first.wait_for(state="visible", timeout=30_000)
        page.wait_for_timeout(1000)
        page.screenshot(path=str(artifacts_dir() / "drift.png"), full_page=True)
