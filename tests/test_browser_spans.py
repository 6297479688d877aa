"""Span-match page in real chromium: open a selection from the URL, widen the span with the keyboard, change the
threshold, and see the units, the matches and the URL follow."""
import re

import pytest

import warehouse
from analysis.spans import decode_states, word_spans
from tests.browser import artifacts_dir, browser_page, chromium_available, streamlit_server

pytestmark = pytest.mark.skipif(not chromium_available(), reason="Debian chromium not installed (make test installs it)")


def _n_on(path, dataset, sentence_id, w0, w1, thr):
    """Units >= thr over the words w0..w1 of a stored sentence, computed here from the stored blob."""
    con = warehouse.connect_read_only(path)
    text, starts, ends = con.execute(
        "select s.text, u.starts, u.ends from token_units u join sentences s using (dataset, sentence_id) "
        "where u.run_id = 'tiny' and u.dataset = ? and u.sentence_id = ?", [dataset, sentence_id]).fetchone()
    n, dtype, scale, blob = con.execute(
        "select n_units, dtype, scale, states from token_states where run_id = 'tiny' and layer = 2 and dataset = ? "
        "and sentence_id = ?", [dataset, sentence_id]).fetchone()
    con.close()
    x = decode_states(blob, n, dtype, scale)
    words = word_spans(text)
    a, b = words[w0][0], words[w1][1]
    idx = [i for i, (s, e) in enumerate(zip(starts, ends)) if e > a and s < b]
    return int((x[idx] >= thr).all(0).sum())


def test_span_page_selects_a_span_in_chromium(small_warehouse):
    with streamlit_server(small_warehouse) as url, browser_page() as page:
        page.goto(f"{url}/spans?sent=news:3&span=1-1", wait_until="networkidle")
        page.get_by_text("1. Select a sentence and a span").wait_for(timeout=30_000)
        n = _n_on(small_warehouse, "news", 3, 1, 1, 0.3)
        page.get_by_text(re.compile(rf"{n} of 32 units are ≥ 0\.3 at every step")).wait_for(timeout=30_000)
        page.get_by_text("2. Matches: where else are these units on?").wait_for(timeout=30_000)
        page.get_by_text(re.compile(r"matching spans in [\d,]+ stored steps")).wait_for(timeout=30_000)
        nav = page.locator('[data-testid="stSidebarNav"]')
        more = nav.get_by_role("button", name=re.compile(r"View \d+ more"))
        if more.count():  # past 10 pages the menu folds the rest
            more.click()
        nav.get_by_text("Span match").wait_for(timeout=15_000)
        # widen the span: focus the slider's upper thumb and press the right arrow twice
        thumbs = page.get_by_role("slider")
        thumbs.nth(1).focus()
        thumbs.nth(1).press("ArrowRight")
        thumbs.nth(1).press("ArrowRight")
        n3 = _n_on(small_warehouse, "news", 3, 1, 3, 0.3)
        page.get_by_text(re.compile(rf"{n3} of 32 units are ≥ 0\.3 at every step")).wait_for(timeout=30_000)
        page.wait_for_function("() => window.location.search.includes('span=1-3')", timeout=30_000)
        # a lower threshold
        box = page.get_by_label("Threshold")
        box.fill("0.10")
        box.press("Enter")
        n01 = _n_on(small_warehouse, "news", 3, 1, 3, 0.1)
        page.get_by_text(re.compile(rf"{n01} of 32 units are ≥ 0\.1 at every step")).wait_for(timeout=30_000)
        page.wait_for_function("() => window.location.search.includes('thr=0.1')", timeout=30_000)
        page.locator('[data-testid="stVegaLiteChart"]').first.wait_for(state="visible", timeout=30_000)
        assert page.locator('[data-testid="stException"]').count() == 0
        page.wait_for_timeout(1000)
        page.screenshot(path=str(artifacts_dir() / "spans.png"), full_page=True)
    assert n01 >= n3
