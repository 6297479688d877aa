"""Per-example attention in real chromium: from the attention page's item link to the item's head x layer view,
then from that sentence's link to its nearest neighbours (issue 22's check)."""
import duckdb
import pytest

from tests.browser import artifacts_dir, browser_page, charts_drawn, chromium_available, settle, streamlit_server
from tests.test_attention_example import example_warehouse

pytestmark = pytest.mark.skipif(not chromium_available(), reason="Debian chromium not installed (make test installs it)")


@pytest.fixture(scope="module")
def ex_warehouse(tmp_path_factory, tiny_model_dir, fixture_files):
    return example_warehouse(tmp_path_factory, tiny_model_dir, fixture_files)


def test_attention_view_and_neighbours_from_sentence_links_in_chromium(ex_warehouse):
    con = duckdb.connect(str(ex_warehouse), read_only=True)
    sid, text = con.execute("select e.sentence_id, s.text from attention_examples e join sentences s using "
                            "(dataset, sentence_id) where dataset = 'sts' order by sentence_id limit 1").fetchone()
    first = con.execute("select min(sentence_id) from attention_points where dataset = 'sts'").fetchone()[0]
    con.close()
    assert first == sid  # every item is stored here: the attention page offers the first
    with streamlit_server(ex_warehouse) as url, browser_page() as page:
        page.goto(f"{url}/attention?run=tiny&dataset=sts&layer=2&features=summary", wait_until="networkidle")
        link = page.locator('a[href*="/attention_example?"]').first
        link.wait_for(timeout=60_000)
        href = link.get_attribute("href")
        assert f"sentence={sid}" in href and "layer=2" in href
        page.goto(url + href[href.index("/attention_example"):], wait_until="networkidle")
        page.get_by_text("Every head of every layer ·").wait_for(timeout=60_000)
        page.get_by_text(text).first.wait_for(timeout=30_000)
        page.get_by_text("Weights: stored").wait_for(timeout=30_000)  # a stored item opens on its stored weights
        settle(page)
        charts_drawn(page)
        assert page.locator('[data-testid="stVegaLiteChart"]').count() == 3  # the grid, the heatmap, the lines
        assert page.locator('[data-testid="stException"]').count() == 0
        assert "layer=2" in page.url and f"sentence={sid}" in page.url
        page.screenshot(path=str(artifacts_dir() / "attention_example.png"), full_page=True)
        # the same item, live from the model: the page says so
        page.get_by_text("the model, live").click()
        page.get_by_text("Weights: live").wait_for(timeout=60_000)
        page.wait_for_function("() => window.location.search.includes('source=live')", timeout=30_000)
        nn = page.locator('a[href*="/neighbours?"]').first
        nn.wait_for(timeout=30_000)
        href = nn.get_attribute("href")
        page.goto(url + href[href.index("/neighbours"):] + "&k=3", wait_until="networkidle")
        page.get_by_text(f"Nearest 3 to sts #{sid}").wait_for(timeout=60_000)
        grid = page.locator('[data-testid="stDataFrame"]')
        grid.first.wait_for(state="visible", timeout=30_000)
        assert grid.count() >= 1
        assert page.locator('[data-testid="stException"]').count() == 0
        page.wait_for_timeout(500)
        page.screenshot(path=str(artifacts_dir() / "attention_example_neighbours.png"), full_page=True)
