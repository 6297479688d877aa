"""SQL console in real chromium: open a deep link, see its rows, type and run a new query, see the URL follow."""
from urllib.parse import parse_qs, quote, urlparse

import pytest

from tests.browser import artifacts_dir, browser_page, chromium_available, streamlit_server

pytestmark = pytest.mark.skipif(not chromium_available(), reason="Debian chromium not installed (make test installs it)")


def wait_for(page, text: str) -> None:
    """Wait for ``text``, then for the script run that drew it to finish (elements below it update later)."""
    page.get_by_text(text).wait_for(timeout=30_000)
    page.locator('[data-testid="stApp"][data-test-script-state="notRunning"]').wait_for(timeout=30_000)


def shown_csv(page) -> list[str]:
    """The result's rows, via its CSV download (the grid itself is drawn on a canvas)."""
    with page.expect_download() as download:
        page.get_by_role("button", name="Download query.csv").click()
    return download.value.path().read_text().splitlines()


def test_sql_console_deep_link_and_new_query_in_chromium(small_warehouse):
    first = "select dataset, count(*) as n_sentences from sentences group by dataset order by dataset"
    second = "select 'zebra-' || sentence_id as tag from sentences where dataset = 'pairs' order by sentence_id limit 3"
    with streamlit_server(small_warehouse) as url, browser_page() as page:
        page.goto(f"{url}/sql?q={quote(first)}", wait_until="networkidle")
        wait_for(page, "3 rows × 2 columns")
        assert shown_csv(page) == ["dataset,n_sentences", "news,24", "pairs,16", "questions,24"]
        editor = page.get_by_role("textbox", name="SQL", exact=True)
        assert editor.input_value() == first
        editor.fill(second)
        page.get_by_role("button", name="Run", exact=True).click()
        wait_for(page, "3 rows × 1 column")
        page.wait_for_function("() => window.location.search.includes('zebra')", timeout=30_000)
        assert parse_qs(urlparse(page.url).query)["q"] == [second]
        assert shown_csv(page) == ["tag", "zebra-0", "zebra-1", "zebra-2"]
        assert page.locator('[data-testid="stException"]').count() == 0
        page.wait_for_timeout(1000)
        page.screenshot(path=str(artifacts_dir() / "sql.png"), full_page=True)
