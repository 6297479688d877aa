"""Every page in a real browser: first meaningful paint and the main selection's round-trip (issue 8's bar).

    python -m benchmarks.bench_pages [--warehouse warehouse/illusion.duckdb] [--changes 3] [--pages "Outliers,..."]

Starts the dashboard on a free localhost port and, in Debian chromium, walks the pages of app.py's navigation
in order, as tests/test_walk.py does (the same page list and the same "main selection": the sidebar layer,
else the first sidebar selectbox with another choice, or a query on the SQL console):
- first meaningful paint: from navigation to the end of the page's first script run and its drawing (the first
  page also pays for the server's cold start, so it is reported apart);
- round-trip: from the click that commits the selection change (the option picked, Run pressed) to the end of
  the rerun it causes and its drawing, ``--changes`` times per page (p50 of those). Opening the list and
  reading its options beforehand is the test driver's time and is not counted. The changes alternate (layer 0,
  1, 0, 1, ...), so a page reports both a change to a view it has not shown before in the session (its analysis
  computed for the first time) and a return to one it has (the URL, which holds the whole view, was seen).
"The end of a run" is the server's ``script_finished`` message, read from the page's websocket frames; "its
drawing" is the browser with no stale element left, every chart with its canvas or svg, and two animation
frames after that (tests.browser.drawn). Each check is one script in the page, polled every 10-20 ms.
(Until 2026-12-01 the end was Streamlit's status widget hidden, polled with Playwright locators: the widget
never shows for a short run, and the locators cost the page's main thread about 100 ms per round-trip.)
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


def wait_idle(page, runs, start: float, timeout: float = 120.0, quiet: float = 0.3) -> float:
    """Seconds from ``start`` until the server has finished the script run that ``start`` began (``runs``, a
    tests.browser.ScriptRuns on the page) and the browser has drawn its result (see tests.browser.drawn). A run
    that the page follows with another (a rerun it asks for) is waited for too: the clock stops at the drawing
    of the last run that ends with no websocket frame for ``quiet`` seconds after it."""
    from tests.browser import drawn

    while True:
        while not any(t > start for t in runs.finished):
            if time.perf_counter() - start > timeout:
                raise TimeoutError("the app did not finish its run")
            page.wait_for_timeout(10)
        ended = max(runs.finished)
        drawn(page)
        done = time.perf_counter()
        while time.perf_counter() - runs.last_frame < quiet:
            page.wait_for_timeout(20)
        if max(runs.finished) == ended and runs.last_frame <= done:
            return done - start
        start = ended  # another run followed: wait for it


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
    from tests.browser import ScriptRuns, browser_page, change_main_selection, nav_pages, streamlit_server

    ap = argparse.ArgumentParser()
    ap.add_argument("--warehouse", default=os.environ.get("ILLUSION_WAREHOUSE", "warehouse/illusion.duckdb"))
    ap.add_argument("--changes", type=int, default=4,
                    help="selection changes timed per page (they alternate: new views, then views seen before)")
    ap.add_argument("--pages", default="", help="comma-separated page titles to time (default: every page)")
    args = ap.parse_args()
    pages = nav_pages()
    if args.pages:
        wanted = [t.strip() for t in args.pages.split(",") if t.strip()]
        unknown = [t for t in wanted if t not in {title for title, _ in pages}]
        if unknown:
            raise SystemExit(f"--pages: no page titled {unknown[0]!r}; pages: {', '.join(t for t, _ in pages)}")
        pages = [p for p in pages if p[0] in wanted]
    print(f"warehouse {args.warehouse}; load average {os.getloadavg()[0]:.2f}")
    base = in_process(args.warehouse, pages)
    rows, errors = [], []
    with streamlit_server(args.warehouse, timeout=120) as url, browser_page() as page:
        runs = ScriptRuns(page)
        t = time.perf_counter()
        page.goto(f"{url}/")
        page.locator("h1").first.wait_for(timeout=120_000)
        cold = wait_idle(page, runs, t)
        for title, path in pages:
            t = time.perf_counter()
            page.goto(f"{url}/{path}")
            page.locator("h1").first.wait_for(timeout=120_000)
            paint = wait_idle(page, runs, t)
            # A change to a view not shown before in this session (a new layer: its analysis is computed) and a
            # return to one already shown (cached: what is left is the rerun, the transfer and the drawing).
            visited, fresh, seen, what = {page.url}, [], [], ""
            for _ in range(args.changes):
                committed = []
                what = change_main_selection(page, title, mark=lambda: committed.append(time.perf_counter()))
                trip = wait_idle(page, runs, committed[-1])
                (seen if page.url in visited else fresh).append(trip)
                visited.add(page.url)
            if page.locator('[data-testid="stException"]').count():
                errors.append(title)
            rows.append((title, paint, fresh, seen, what))
    print(f"cold server: the home page's first paint took {1000 * cold:.0f} ms (not counted below)")
    print(f"{'page':26s} {'first paint ms':>15s} {'new view p50 ms':>16s} {'seen view p50 ms':>17s} "
          f"{'all p50 ms':>11s} {'AppTest run / rerun ms':>23s}  selection changed")

    def ms(values):
        return f"{1000 * float(np.median(values)):.0f}" if values else "-"

    for title, paint, fresh, seen, what in rows:
        first, rerun = base[title]
        print(f"{title:26s} {1000 * paint:15.0f} {ms(fresh):>16s} {ms(seen):>17s} {ms(fresh + seen):>11s} "
              f"{f'{1000 * first:.0f} / {1000 * rerun:.0f}':>23s}  {what}")
    paints = [r[1] for r in rows]
    trips = [float(np.median(r[2] + r[3])) for r in rows]
    fresh = [float(np.median(r[2])) for r in rows if r[2]]
    seen = [float(np.median(r[3])) for r in rows if r[3]]
    print(f"bars: first paint <= {FIRST_PAINT_BAR:g} s on {sum(p <= FIRST_PAINT_BAR for p in paints)}/{len(rows)} pages "
          f"(worst {max(paints):.2f} s); round-trip p50 <= {ROUND_TRIP_BAR:g} s on "
          f"{sum(p <= ROUND_TRIP_BAR for p in trips)}/{len(rows)} pages (worst {max(trips):.2f} s), to a new view on "
          f"{sum(p <= ROUND_TRIP_BAR for p in fresh)}/{len(fresh)}, to a view seen before on "
          f"{sum(p <= ROUND_TRIP_BAR for p in seen)}/{len(seen)}; exceptions: {', '.join(errors) or 'none'}; "
          f"load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
