"""Crash and concurrency, as a user meets them: two real build processes at once, and a rebuild while the
dashboard (a real Streamlit server and real readers) is reading the file. The kill -9 case is in
test_build.py."""
from __future__ import annotations

import random
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import warehouse
from tests.browser import artifacts_dir, browser_page, chromium_available, streamlit_server
from warehouse.contracts import violations

ROOT = Path(__file__).resolve().parent.parent


def _big_text(tiny_model_dir, path: Path, n: int = 3000) -> Path:
    words = [w for w in (tiny_model_dir / "vocab.txt").read_text().split() if w.isalpha() and len(w) > 2]
    rng = random.Random(1)
    path.write_text("".join(" ".join(rng.choice(words) for _ in range(rng.randint(8, 40))) + "\n"
                            for _ in range(n)))
    return path


def _build_args(model_dir, target, *datasets) -> list[str]:
    args = [sys.executable, "-m", "pipeline", "build", "--model", str(model_dir), "--run-id", "tiny",
            "--max-length", "32", "--batch-size", "8", "--topk", "5", "--svm-per-dataset", "0",
            "--warehouse", str(target)]
    for name, path, *extra in datasets:
        args += ["--dataset", ",".join([f"name={name},source=file,path={path}", *extra])]
    return args


def _datasets(path) -> str:
    con = warehouse.connect_read_only(path)
    try:
        return con.execute("select string_agg(dataset, ',' order by dataset) from datasets").fetchone()[0]
    finally:
        con.close()


def _start_and_wait_for_extraction(args) -> subprocess.Popen:
    """Start a build process and return once it is writing its temporary file (its log says extracting)."""
    proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    for line in proc.stderr:
        if line.startswith("extracting"):
            return proc
    proc.wait()
    raise AssertionError(f"build exited with {proc.returncode} before extracting")


def test_two_builds_at_once_second_is_refused_and_the_file_is_sound(tiny_model_dir, fixture_files, tmp_path):
    target = tmp_path / "w.duckdb"
    big = _big_text(tiny_model_dir, tmp_path / "big.txt")
    first = _start_and_wait_for_extraction(_build_args(tiny_model_dir, target, ("big", big)))
    try:
        second = subprocess.run(_build_args(tiny_model_dir, target, ("news", fixture_files["news_txt"])),
                                cwd=ROOT, capture_output=True, text=True, timeout=300)
    finally:
        rest = first.stderr.read()
        first.wait(timeout=600)
    assert second.returncode == 2
    lines = second.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {target}: another build is running (pid {first.pid}")
    assert first.returncode == 0, rest
    assert _datasets(target) == "big"  # the first build's data, complete, and nothing of the refused one
    con = warehouse.connect_read_only(target)
    try:
        assert violations(con) == []
        assert con.execute("select count(*) from activations").fetchone()[0] == 3000 * 3 * 2
    finally:
        con.close()
    assert [p.name for p in tmp_path.iterdir() if ".tmp-" in p.name] == []


def test_readers_see_old_or_new_never_an_error_during_a_rebuild(tiny_model_dir, fixture_files, tmp_path):
    target = tmp_path / "w.duckdb"
    big = _big_text(tiny_model_dir, tmp_path / "big.txt", n=1500)
    subprocess.run(_build_args(tiny_model_dir, target, ("news", fixture_files["news_txt"])), cwd=ROOT, check=True,
                   capture_output=True)
    seen: list[str] = []
    errors: list[str] = []
    stop = threading.Event()

    def read_forever():
        while not stop.is_set():
            try:
                seen.append(_datasets(target))
            except Exception as e:  # noqa: BLE001 - any failure of a reader is what this test looks for
                errors.append(f"{type(e).__name__}: {e}")

    readers = [threading.Thread(target=read_forever) for _ in range(3)]
    for r in readers:
        r.start()
    try:
        subprocess.run(_build_args(tiny_model_dir, target, ("big", big), ("news", fixture_files["news_txt"])),
                       cwd=ROOT, check=True, capture_output=True, timeout=600)
        time.sleep(0.5)
    finally:
        stop.set()
        for r in readers:
            r.join()
    assert errors == []
    assert set(seen) == {"news", "big,news"}, set(seen)
    first_new = seen.index("big,news")
    assert len(seen) > 50 and first_new > 0


@pytest.mark.skipif(not chromium_available(), reason="Debian chromium not installed (make test installs it)")
def test_app_shows_the_new_warehouse_after_a_swap(tiny_model_dir, fixture_files, tmp_path):
    """The app's cached connection and cached data are keyed by the file's identity: after a rebuild swaps
    the file, the next page view shows the new data, with no restart and no error."""
    target = tmp_path / "w.duckdb"
    subprocess.run(_build_args(tiny_model_dir, target, ("news", fixture_files["news_txt"])), cwd=ROOT, check=True,
                   capture_output=True)
    with streamlit_server(target) as url, browser_page() as page:
        page.goto(url, wait_until="networkidle")
        page.get_by_text("1 datasets, 24 sentences in all.").wait_for(timeout=60_000)
        page.goto(f"{url}/drift?unit=3", wait_until="networkidle")
        page.get_by_text("neuron 3 · layer 2").wait_for(timeout=60_000)
        subprocess.run(_build_args(tiny_model_dir, target, ("news", fixture_files["news_txt"]),
                                   ("questions", fixture_files["questions"], "text=question")),
                       cwd=ROOT, check=True, capture_output=True)
        page.goto(url, wait_until="networkidle")
        page.get_by_text("2 datasets, 48 sentences in all.").wait_for(timeout=60_000)
        page.goto(f"{url}/drift?unit=3", wait_until="networkidle")
        page.get_by_text("neuron 3 · layer 2").wait_for(timeout=60_000)
        page.get_by_text("questions").first.wait_for(timeout=60_000)
        assert page.locator('[data-testid="stException"]').count() == 0
        page.screenshot(path=str(artifacts_dir() / "after-swap-drift.png"), full_page=True)
