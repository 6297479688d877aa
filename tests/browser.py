"""Real-browser helpers: a Streamlit server on a free localhost port, driven by Debian chromium."""
from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]


def chromium_available() -> bool:
    return Path(CHROMIUM).exists()


def artifacts_dir() -> Path:
    d = Path(os.environ.get("ILLUSION_ARTIFACTS", ROOT / "test-artifacts"))
    d.mkdir(parents=True, exist_ok=True)
    return d


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def streamlit_server(warehouse_path, timeout: float = 60, python: str = sys.executable, extra_env=None,
                     cwd=ROOT):
    """``streamlit run app.py`` on a free port with ILLUSION_WAREHOUSE set; yields the base URL.
    ``python`` picks the interpreter (e.g. a dashboard-only venv), ``extra_env`` adds variables."""
    port = _free_port()
    env = dict(os.environ, ILLUSION_WAREHOUSE=str(warehouse_path), **(extra_env or {}))
    proc = subprocess.Popen(
        [python, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false"],
        cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + timeout
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.time() > deadline:
                out = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
                raise RuntimeError(f"streamlit did not start: {out[-2000:]}")
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


@contextlib.contextmanager
def browser_page():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser.new_page(viewport={"width": 1400, "height": 1000})
        finally:
            browser.close()


# --- the walk through every page (tests/test_walk.py, benchmarks/bench_pages.py) ---
WALK_TIMEOUT = 120_000  # ms


def nav_pages() -> list[tuple[str, str]]:
    """(title, url path) of every page, read from app.py's st.navigation list ('' for the default page)."""
    out = []
    for m in re.finditer(r'st\.Page\("views/(\w+)\.py", title="([^"]+)"[^)]*\)', (ROOT / "app.py").read_text()):
        path = re.search(r'url_path="([^"]+)"', m.group(0))
        out.append((m.group(2), path.group(1) if path else ""))
    return out


# One script per poll, run in the page: counting the charts and their canvases with Playwright locators cost a
# DevTools round-trip per chart and about 100 ms of the page's own main thread per round-trip measured.
_UNDRAWN_JS = """() => [...document.querySelectorAll('[data-testid="stVegaLiteChart"]')]
    .filter(c => !c.querySelector('canvas, svg')).length"""
_STATUS_JS = """() => { const s = document.querySelector('[data-testid="stStatusWidget"]');
    return !!s && s.getClientRects().length > 0 && getComputedStyle(s).visibility !== 'hidden'; }"""


def charts_drawn(page, timeout: float = WALK_TIMEOUT) -> None:
    """Wait until every chart on the page has its canvas or svg. The charts are counted afresh on each poll:
    a rerun can leave fewer charts than the last (e.g. a constant neuron has no histogram), and waiting on a
    chart element that the rerun removed would never end."""
    deadline = time.time() + timeout / 1000
    while True:
        undrawn = page.evaluate(_UNDRAWN_JS)
        if not undrawn:
            return
        if time.time() > deadline:
            raise TimeoutError(f"{undrawn} chart(s) on the page not drawn after {timeout / 1000:g} s")
        page.wait_for_timeout(100)


class ScriptRuns:
    """The times at which the server said a script run ended, read from the page's own websocket frames (the
    ``script_finished`` ForwardMsg; a run cut short for a rerun is not an end).

    Streamlit's status widget is no signal for a fast run: it shows only after a delay, so a rerun of a few
    hundred ms never shows it, and a benchmark that waited for it to hide would stop the clock while the old
    page was still on screen."""

    def __init__(self, page):
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        self._msg = ForwardMsg
        self.finished: list[float] = []
        self.last_frame = 0.0
        page.on("websocket", lambda ws: ws.on("framereceived", self._frame))

    def _frame(self, payload) -> None:
        self.last_frame = time.perf_counter()
        if not isinstance(payload, bytes):
            return
        msg = self._msg()
        try:
            msg.ParseFromString(payload)
        except Exception:  # noqa: BLE001 - not a ForwardMsg: nothing to record
            return
        if msg.WhichOneof("type") == "script_finished" and \
                msg.script_finished != msg.ScriptFinishedStatus.FINISHED_EARLY_FOR_RERUN:
            self.finished.append(self.last_frame)


_DRAWN_JS = """() => new Promise(done => {
    const ready = () => !document.querySelector('[data-stale="true"]') && [...document.querySelectorAll(
        '[data-testid="stVegaLiteChart"]')].every(c => c.querySelector('canvas, svg'));
    const poll = () => ready() ? requestAnimationFrame(() => requestAnimationFrame(() => done(true)))
                               : setTimeout(poll, 20);
    poll();
})"""


def drawn(page) -> None:
    """Return once the page has no stale element left from the last run, every chart has its canvas or svg,
    and the browser has painted a frame after that (two animation frames)."""
    page.evaluate(_DRAWN_JS)


def status_visible(page) -> bool:
    """Whether Streamlit's running indicator shows (one script in the page, no locator round-trips)."""
    return bool(page.evaluate(_STATUS_JS))


def settle(page, timeout: float = WALK_TIMEOUT) -> None:
    """Wait until the app is idle and every chart on the page is drawn."""
    page.wait_for_timeout(500)
    page.locator('[data-testid="stStatusWidget"]').wait_for(state="hidden", timeout=timeout)
    charts_drawn(page, timeout)


def selectbox_value(box) -> str:
    """The option a Streamlit selectbox shows (its combobox input's value)."""
    return box.locator("input").first.input_value()


def pick_other(page, box, timeout: float = WALK_TIMEOUT, mark=None) -> str | None:
    """Open a selectbox and choose its first option other than the current one; returns that option's text
    once the box shows it (None, and the list closed, when there is no other option). ``mark()``, if given,
    is called just before the click that commits the choice (a benchmark's start: opening the list and reading
    its options is the test driver's time, not the app's)."""
    current = selectbox_value(box)
    box.click()
    options = page.get_by_role("option")
    options.first.wait_for(timeout=timeout)
    texts = [options.nth(j).inner_text().strip() for j in range(options.count())]
    others = [t for t in texts if t != current]
    if not others:
        page.keyboard.press("Escape")
        return None
    option = page.get_by_role("option", name=others[0], exact=True).first
    option.wait_for(timeout=timeout)
    if mark:
        mark()
    option.click()
    deadline = time.time() + timeout / 1000
    while selectbox_value(box) != others[0]:
        if time.time() > deadline:
            raise TimeoutError(f"the selectbox did not switch to {others[0]!r}")
        page.wait_for_timeout(100)
    return others[0]


def change_main_selection(page, title: str, timeout: float = WALK_TIMEOUT, mark=None) -> str:
    """Change what the page is about; returns a short description of the change. ``mark()``, if given, is
    called just before the action that commits the change (see pick_other)."""
    mark = mark or (lambda: None)
    # a rerun may still be replacing the widgets: wait until some selection is on the page
    page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"], '
                 'button[data-variant="segmented_control"], textarea').first.wait_for(timeout=timeout)
    layer_box = page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]').filter(has_text="Layer")
    if layer_box.count():
        choice = pick_other(page, layer_box.first, timeout, mark)
        if choice is not None:
            layer = choice.split(":")[0].strip()
            page.wait_for_url(re.compile(rf"layer={layer}\b"), timeout=timeout)
            return f"layer -> {choice}"
    if title == "SQL console":
        editor = page.locator("textarea").first
        editor.fill("select dataset, count(*) as n from sentences group by dataset order by dataset")
        run = page.get_by_role("button", name=re.compile("Run")).first
        run.wait_for(timeout=timeout)
        mark()
        run.click()
        page.get_by_text(re.compile(r"\d+ rows? × 2 columns in")).first.wait_for(timeout=timeout)
        return "ran a query"
    # no layer (e.g. the sentiment page): the first sidebar selectbox that offers another choice
    boxes = page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]')
    for i in range(boxes.count()):
        label = boxes.nth(i).inner_text().strip()
        choice = pick_other(page, boxes.nth(i), timeout, mark)
        if choice is not None:
            return f"{label} -> {choice}"
    # a segmented control (e.g. the blind-annotation page's Annotate / Results view): the first other option
    choices = page.locator("button[data-variant='segmented_control'][aria-checked='false']:not(:disabled)")
    if page.locator("button[data-variant='segmented_control']").count():
        choices.first.wait_for(timeout=timeout)
        text = choices.first.inner_text().strip()
        mark()
        choices.first.click()
        page.locator("button[data-variant='segmented_control'][aria-checked='true']").filter(
            has_text=text).first.wait_for(timeout=timeout)
        return f"view -> {text}"
    raise AssertionError(f"page {title!r}: no main selection to change")
