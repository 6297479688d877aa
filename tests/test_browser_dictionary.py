"""Dictionary features in real chromium: the drift page on a feature of the dictionary run (its top sentence and
value, as stored), then the illusion page's comparison of the features with neurons and random directions."""
import numpy as np
import pytest

import warehouse
from tests.browser import artifacts_dir, browser_page, charts_drawn, chromium_available, streamlit_server
from tests.test_dictionary_stage import shared_build

pytestmark = pytest.mark.skipif(not chromium_available(), reason="Debian chromium not installed (make test installs it)")


@pytest.fixture(scope="module")
def dictionary_warehouse(tmp_path_factory, tiny_model_dir, fixture_files):
    return shared_build(tmp_path_factory, tiny_model_dir, fixture_files)[0]


def _strongest(path):
    """(unit, its top news sentence, the value there) of the feature with the largest max-pooled value."""
    con = warehouse.connect_read_only(path)
    try:
        x = np.array(con.execute("select vec from activations where run_id = 'tiny-sae' and pooling = 'max' and "
                                 "dataset = 'news' order by sentence_id").df()["vec"].tolist())
        unit = int(np.argmax(x.max(axis=0)))
        best = int(np.argsort(-x[:, unit], kind="stable")[0])
        text = con.execute("select text from sentences where dataset = 'news' and sentence_id = ?", [best]).fetchone()[0]
        scored = con.execute("select count(*) from illusion_null_scores where run_id = 'tiny-sae' and pooling = 'max'")\
            .fetchone()[0]
    finally:
        con.close()
    assert scored == 128  # every feature has its illusion score
    return unit, text, float(x[best, unit])


def test_feature_drift_and_comparison_in_chromium(dictionary_warehouse):
    unit, text, value = _strongest(dictionary_warehouse)
    with streamlit_server(dictionary_warehouse) as url, browser_page() as page:
        page.goto(f"{url}/drift?run=tiny-sae&layer=0&pooling=max&unit={unit}&k=3", wait_until="networkidle")
        page.get_by_text(f"neuron {unit} · layer 0").wait_for(timeout=30_000)
        page.get_by_text(f"{value:+.3f}").first.wait_for(timeout=30_000)
        page.get_by_text(text).first.wait_for(timeout=30_000)
        assert page.locator('[data-testid="stException"]').count() == 0
        page.screenshot(path=str(artifacts_dir() / "dictionary-drift.png"), full_page=True)

        page.goto(f"{url}/illusion?run=tiny-sae", wait_until="networkidle")
        page.get_by_text("Dictionary features against neurons and random directions").wait_for(timeout=30_000)
        page.get_by_text("than neurons (median").first.wait_for(timeout=30_000)
        page.get_by_text("than random directions (median").first.wait_for(timeout=30_000)
        page.get_by_role("button", name="Download dictionary_comparison.csv").wait_for(timeout=30_000)
        page.locator('[data-testid="stApp"][data-test-script-state="notRunning"]').wait_for(timeout=30_000)
        charts_drawn(page, timeout=60_000)
        assert "dpool=mean" in page.url or "dpool=max" in page.url
        assert page.locator('[data-testid="stException"]').count() == 0
        page.screenshot(path=str(artifacts_dir() / "dictionary-illusion.png"), full_page=True)
