"""Anisotropy page in real chromium: the charts draw, a word from the URL is looked up, typing another one
updates the lookup and the URL."""
import duckdb
import pytest

from tests.browser import artifacts_dir, browser_page, chromium_available, streamlit_server
from tests.test_app_anisotropy import build_anisotropy_warehouse

pytestmark = pytest.mark.skipif(not chromium_available(), reason="Debian chromium not installed (make test installs it)")


@pytest.fixture(scope="module")
def aniso_warehouse(tmp_path_factory, tiny_model_dir, fixture_files):
    return build_anisotropy_warehouse(tmp_path_factory.mktemp("aniso-browser") / "w.duckdb", tiny_model_dir,
                                      fixture_files, lstm=False)


def test_anisotropy_word_lookup_in_chromium(aniso_warehouse):
    con = duckdb.connect(str(aniso_warehouse), read_only=True)
    (w1, n1), (w2, n2) = con.execute(
        "select word, count(distinct dataset) from anisotropy_words where run_id = 'tiny' group by word "
        "order by count(distinct dataset) desc, word limit 2").fetchall()
    # the page lists the contexts of the pooled sample first, else of the first dataset that has the word
    text2 = con.execute("select s.text from anisotropy_contexts c join sentences s using (dataset, sentence_id) "
                        "where c.run_id = 'tiny' and c.word = ? and c.used order by c.sample <> '(pooled)', "
                        "c.sample, c.dataset, c.sentence_id limit 1", [w2]).fetchone()[0]
    con.close()
    with streamlit_server(aniso_warehouse) as url, browser_page() as page:
        page.goto(f"{url}/anisotropy?word={w1}", wait_until="networkidle")
        page.get_by_text(f"{w1}: in {n1} sample(s)").wait_for(timeout=60_000)
        page.get_by_text("Does self-similarity fall with depth on this model?").wait_for(timeout=30_000)
        charts = page.locator('[data-testid="stVegaLiteChart"]')
        charts.nth(9).wait_for(state="visible", timeout=30_000)  # 8 layer charts + the word's 2
        assert charts.count() >= 10
        box = page.get_by_label("Word (lower-case letters; e.g. one of the most static words below)")
        box.fill(w2)
        box.press("Enter")
        page.get_by_text(f"{w2}: in {n2} sample(s)").wait_for(timeout=30_000)
        # the first pooled context of the new word is listed (its word in bold, so match a plain stretch)
        start = text2.lower().index(w2)
        stretch = text2[:start].strip() or text2[start + len(w2):].strip()
        page.get_by_text(stretch[:20], exact=False).first.wait_for(timeout=30_000)
        assert f"word={w2}" in page.url
        assert page.locator('[data-testid="stException"]').count() == 0
        page.wait_for_timeout(1000)
        page.screenshot(path=str(artifacts_dir() / "anisotropy.png"), full_page=True)
