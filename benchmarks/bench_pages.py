"""Every page in a real browser: first meaningful paint and the main selection's round-trip (issue 8's bar).

    python -m benchmarks.bench_pages [--warehouse warehouse/illusion.duckdb] [--changes 3]

Starts the dashboard on a free localhost port and, in Debian chromium, walks the pages of app.py's navigation
in order, as tests/test_walk.py does (the same page list and the same "main selection": the sidebar layer,
else the first sidebar selectbox with another choice, or a query on the SQL console):
- first meaningful paint: from navigation to the page's title, every chart drawn and the app idle (the first
  page also pays for the server's cold start, so it is reported apart);
- round-trip: from the click that commits the selection change (the option picked, Run pressed) to the app
  idle again with every chart drawn, ``--changes`` times per page (p50 of those). Opening the list and
  reading its options beforehand is the test driver's time and is not counted.
"Idle" is Streamlit's status widget hidden after it has shown (it is polled every 50 ms; a run short enough
never to show it counts from the change to the first poll that finds it hidden after 250 ms).
Baseline in the same run: the same page script run in-process by Streamlit's AppTest (the same queries and
analysis, no server, websocket or browser), first run and a warm rerun, so the gap is what serving and drawing
cost. Bars: first paint <= 3 s, round-trip <= 1 s.
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np

FIRST_PAINT_BAR = 3.0
ROUND_TRIP_BAR = 1.0


def wait_idle(page, start: float, timeout: float = 120.0) -> float:
    """Seconds from ``start`` until the app is idle (the status widget gone after it has shown, or not shown
    within 250 ms) and every chart on the page is drawn."""
    from tests.browser import charts_drawn

    status = page.locator('[data-testid="stStatusWidget"]')
    seen = False
    while time.perf_counter() - start < timeout:
        visible = status.count() > 0 and status.first.is_visible()
        seen = seen or visible
        if not visible and (seen or time.perf_counter() - start > 0.25):
            charts_drawn(page, (timeout - (time.perf_counter() - start)) * 1000)
            return time.perf_counter() - start
        page.wait_for_timeout(50)
    raise TimeoutError("the app did not become idle")


def in_process(warehouse: str, pages: list[tuple[str, str]]) -> dict[str, tuple[float, float]]:
    """Per page: seconds of its script's first run and of a rerun, in-process with AppTest."""
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    os.environ["ILLUSION_WAREHOUSE"] = str(Path(warehouse).resolve())
    views = Path(__file__).resolve().parent.parent / "views"
    app = (views.parent / "app.py").read_text()
    out = {}
    for title, path in pages:
        file = next(m for m in app.splitlines() if f'title="{title}"' in m).split('"')[1]
        at = AppTest.from_file(str(views.parent / file), default_timeout=300)
        t = time.perf_counter()
        at.run()
        first = time.perf_counter() - t
        t = time.perf_counter()
        at.run()
        out[title] = (first, time.perf_counter() - t)
    return out


def main() -> None:
    from tests.browser import browser_page, change_main_selection, nav_pages, streamlit_server

    ap = argparse.ArgumentParser()
    ap.add_argument("--warehouse", default=os.environ.get("ILLUSION_WAREHOUSE", "warehouse/illusion.duckdb"))
    ap.add_argument("--changes", type=int, default=3, help="selection changes timed per page")
    args = ap.parse_args()
    print(f"warehouse {args.warehouse}; load average {os.getloadavg()[0]:.2f}")
    base = in_process(args.warehouse, nav_pages())
    rows, errors = [], []
    with streamlit_server(args.warehouse, timeout=120) as url, browser_page() as page:
        t = time.perf_counter()
        page.goto(f"{url}/")
        page.locator("h1").first.wait_for(timeout=120_000)
        cold = wait_idle(page, t)
        for title, path in nav_pages():
            t = time.perf_counter()
            page.goto(f"{url}/{path}")
            page.locator("h1").first.wait_for(timeout=120_000)
            paint = wait_idle(page, t)
            trips, what = [], ""
            for _ in range(args.changes):
                committed = []
                what = change_main_selection(page, title, mark=lambda: committed.append(time.perf_counter()))
                trips.append(wait_idle(page, committed[-1]))
            if page.locator('[data-testid="stException"]').count():
                errors.append(title)
            rows.append((title, paint, float(np.median(trips)), max(trips), what))
    print(f"cold server: the home page's first paint took {1000 * cold:.0f} ms (not counted below)")
    print(f"{'page':26s} {'first paint ms':>15s} {'round-trip p50 ms':>18s} {'max ms':>8s} "
          f"{'AppTest run / rerun ms':>23s}  selection changed")
    for title, paint, p50, worst, what in rows:
        first, rerun = base[title]
        print(f"{title:26s} {1000 * paint:15.0f} {1000 * p50:18.0f} {1000 * worst:8.0f} "
              f"{f'{1000 * first:.0f} / {1000 * rerun:.0f}':>23s}  {what}")
    paints = [r[1] for r in rows]
    trips = [r[2] for r in rows]
    print(f"bars: first paint <= {FIRST_PAINT_BAR:g} s on {sum(p <= FIRST_PAINT_BAR for p in paints)}/{len(rows)} pages "
          f"(worst {max(paints):.2f} s); round-trip p50 <= {ROUND_TRIP_BAR:g} s on "
          f"{sum(p <= ROUND_TRIP_BAR for p in trips)}/{len(rows)} pages (worst {max(trips):.2f} s); "
          f"exceptions: {', '.join(errors) or 'none'}; load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
