"""A person's walk through every page, in real chromium, on a demo warehouse built by the real pipeline.

The warehouse: `python -m pipeline build --preset demo --limit 250` (both runs, MiniLM and the textgenrnn
LSTM, every stage at its defaults; 250 sentences per demo corpus keep it to a few minutes on 2 cores). On
every page of the app's navigation the walk opens the page, waits for its charts, changes the main selection
(the sidebar layer, or the page's own main input where it has no layer), waits again, checks there is no
Streamlit exception element, and saves a screenshot into the artifacts folder that `make test` prints.
Timings are recorded by benchmarks (bench_page, bench_load), not asserted here.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.browser import (WALK_TIMEOUT, artifacts_dir, browser_page, change_main_selection, chromium_available,
                           nav_pages, settle, streamlit_server)

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not chromium_available(), reason="Debian chromium not installed (make test installs it)")]
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def demo_warehouse(tmp_path_factory) -> Path:
    """The small demo build, or an existing warehouse named by $ILLUSION_WALK_WAREHOUSE (to walk your own)."""
    if os.environ.get("ILLUSION_WALK_WAREHOUSE"):
        return Path(os.environ["ILLUSION_WALK_WAREHOUSE"])
    path = tmp_path_factory.mktemp("walk") / "demo.duckdb"
    res = subprocess.run([sys.executable, "-m", "pipeline", "build", "--preset", "demo", "--limit", "250",
                          "--warehouse", str(path), "--quiet"], cwd=ROOT, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-3000:]
    return path


def test_walk_every_page(demo_warehouse):
    pages = nav_pages()
    assert len(pages) >= 8 and pages[0] == ("Home", "")
    shots = artifacts_dir() / "walk"
    shots.mkdir(parents=True, exist_ok=True)
    done = []
    with streamlit_server(demo_warehouse, timeout=120) as url, browser_page() as page:
        for i, (title, path) in enumerate(pages):
            page.goto(f"{url}/{path}", wait_until="networkidle")
            page.locator("h1").first.wait_for(timeout=WALK_TIMEOUT)
            settle(page)
            assert page.locator('[data-testid="stException"]').count() == 0, f"{title}: exception on open"
            change = change_main_selection(page, title)
            settle(page)
            assert page.locator('[data-testid="stException"]').count() == 0, f"{title}: exception after {change}"
            page.screenshot(path=str(shots / f"{i:02d}-{path or 'home'}.png"), full_page=True)
            done.append((title, change))
    assert [t for t, _ in done] == [t for t, _ in pages]
