"""Nearest sentences in real chromium: open the page from a sentence list's link URL and see the neighbours."""
import numpy as np
import pytest

import warehouse
from analysis.neighbours import nearest
from tests.browser import artifacts_dir, browser_page, chromium_available, streamlit_server
from ui.links import neighbours_link

pytestmark = pytest.mark.skipif(not chromium_available(), reason="Debian chromium not installed (make test installs it)")


def _nearest_text(path, sid):
    con = warehouse.connect_read_only(path)
    x = np.array(con.execute("select vec from activations where run_id = 'tiny' and layer = 1 and pooling = 'mean' "
                             "and dataset = 'questions' order by sentence_id").df()["vec"].tolist(), np.float32)
    ids, sims = nearest(x, x[sid], 1, exclude=sid)
    texts = [r[0] for r in con.execute("select text from sentences where dataset = 'questions' and sentence_id in "
                                       "(?, ?) order by sentence_id = ?", [sid, int(ids[0]), sid]).fetchall()]
    con.close()
    return texts[1], texts[0], float(sims[0])  # the query's text, its nearest neighbour's text and similarity


def test_neighbours_page_from_a_sentence_link_in_chromium(small_warehouse):
    link = neighbours_link("tiny", 1, "mean", "questions", 3)
    query, neighbour, sim = _nearest_text(small_warehouse, 3)
    with streamlit_server(small_warehouse) as url, browser_page() as page:
        page.goto(f"{url}{link}&within=questions&k=4", wait_until="networkidle")
        page.get_by_text("Nearest 4 to questions #3").wait_for(timeout=60_000)
        page.get_by_text(query).first.wait_for(timeout=30_000)
        grid = page.locator('[data-testid="stDataFrame"]')
        grid.first.wait_for(state="visible", timeout=30_000)
        assert grid.count() == 1
        # the grid draws on a canvas; its (off-screen) accessible table holds the cells
        try:
            grid.locator('[role="gridcell"]', has_text=neighbour).first.wait_for(state="attached", timeout=30_000)
        finally:
            (artifacts_dir() / "neighbours.html").write_text(page.content())
        cells = grid.locator('[role="gridcell"]').all_inner_texts()
        assert any(c.startswith(f"{sim:.4f}") for c in cells), cells[:20]
        page.locator('[data-testid="stVegaLiteChart"]').first.wait_for(state="visible", timeout=30_000)
        assert page.locator('[data-testid="stException"]').count() == 0
        assert "sid=3" in page.url and "layer=1" in page.url
        page.wait_for_timeout(500)
        page.screenshot(path=str(artifacts_dir() / "neighbours.png"), full_page=True)
