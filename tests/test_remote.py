"""The Community Cloud path: a warehouse published at a URL, downloaded by the app at start."""
from __future__ import annotations

import contextlib
import functools
import hashlib
import http.server
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.browser import artifacts_dir, browser_page, chromium_available, streamlit_server
from warehouse import remote

ROOT = Path(__file__).resolve().parent.parent


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@contextlib.contextmanager
def http_server(folder: Path):
    """A local HTTP server over ``folder``, standing in for wherever a user publishes the file."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def published(small_warehouse, tmp_path_factory):
    folder = tmp_path_factory.mktemp("published")
    shutil.copy(small_warehouse, folder / "w.duckdb")
    sha = hashlib.sha256((folder / "w.duckdb").read_bytes()).hexdigest()
    with http_server(folder) as url:
        yield url, sha, folder / "w.duckdb"


def test_download_is_complete_checked_and_remembered(published, tmp_path):
    url, sha, original = published
    dest = tmp_path / "app" / "w.duckdb"
    seen = []
    remote.download(f"{url}/w.duckdb", dest, sha, progress=lambda done, total: seen.append((done, total)))
    assert dest.read_bytes() == original.read_bytes()
    assert seen[-1] == (original.stat().st_size, original.stat().st_size)
    assert remote.is_current(dest, f"{url}/w.duckdb", sha)
    assert not remote.is_current(dest, f"{url}/other.duckdb", sha)
    assert not remote.is_current(dest, f"{url}/w.duckdb", "0" * 64)


def test_bad_hash_or_missing_file_keeps_the_previous_copy(published, tmp_path):
    url, sha, _ = published
    dest = tmp_path / "w.duckdb"
    dest.write_bytes(b"previous")
    with pytest.raises(remote.DownloadError, match="does not match ILLUSION_WAREHOUSE_SHA256"):
        remote.download(f"{url}/w.duckdb", dest, "0" * 64)
    with pytest.raises(remote.DownloadError, match=r"nope.duckdb: download failed \(HTTP 404\)"):
        remote.download(f"{url}/nope.duckdb", dest)
    with pytest.raises(remote.DownloadError, match="expected an http"):
        remote.download("ftp://example.org/w.duckdb", dest)
    assert dest.read_bytes() == b"previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.duckdb"]  # no temporary file left behind


def test_app_downloads_the_warehouse_at_start(published, tmp_path, monkeypatch):
    url, sha, _ = published
    dest = tmp_path / "fresh" / "w.duckdb"
    monkeypatch.setenv("ILLUSION_WAREHOUSE", str(dest))
    monkeypatch.setenv("ILLUSION_WAREHOUSE_URL", f"{url}/w.duckdb")
    monkeypatch.setenv("ILLUSION_WAREHOUSE_SHA256", sha)
    at = AppTest.from_file(str(ROOT / "views" / "home.py"), default_timeout=60)
    at.run()
    assert not at.exception and not at.error
    assert dest.exists() and remote.is_current(dest, f"{url}/w.duckdb", sha)
    assert any("**3 datasets, 64 sentences in all.**" in m.value for m in at.markdown)


def test_app_reports_a_bad_url_in_one_line(tmp_path, monkeypatch, published):
    url, _, _ = published
    monkeypatch.setenv("ILLUSION_WAREHOUSE", str(tmp_path / "w.duckdb"))
    monkeypatch.setenv("ILLUSION_WAREHOUSE_URL", f"{url}/missing.duckdb")
    monkeypatch.delenv("ILLUSION_WAREHOUSE_SHA256", raising=False)
    at = AppTest.from_file(str(ROOT / "views" / "home.py"), default_timeout=60)
    at.run()
    assert not at.exception
    assert at.error[0].value == f"{url}/missing.duckdb: download failed (HTTP 404)"


@pytest.mark.slow
@pytest.mark.skipif(not chromium_available(), reason="Debian chromium not installed (make test installs it)")
def test_dashboard_runs_from_requirements_txt_alone_and_a_published_url(published, tmp_path):
    """Community Cloud installs requirements.txt only: a fresh venv without torch serves the app, which
    downloads the published warehouse at start; real chromium sees the home page."""
    url, sha, _ = published
    venv = tmp_path / "cloud-venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    py = str(venv / "bin" / "python")
    res = subprocess.run([py, "-m", "pip", "install", "--quiet", "-r", str(ROOT / "requirements.txt")],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-2000:]
    # the model stack stays out of the dashboard (sklearn is in: the attention page re-clusters live)
    probe = subprocess.run([py, "-c", "import importlib.util as u; print(u.find_spec('torch') is None, "
                                      "u.find_spec('transformers') is None, u.find_spec('sklearn') is None)"],
                           capture_output=True, text=True)
    assert probe.stdout.split() == ["True", "True", "False"]
    # the app as Community Cloud checks it out: a copy of the repository's files, no built warehouse in it
    app = tmp_path / "app"
    shutil.copytree(ROOT, app, ignore=shutil.ignore_patterns(".venv", ".git", "*.duckdb*", "test-artifacts",
                                                             "__pycache__", ".pytest_cache"))
    dest = app / "warehouse" / "illusion.duckdb"
    env = {"ILLUSION_WAREHOUSE_URL": f"{url}/w.duckdb", "ILLUSION_WAREHOUSE_SHA256": sha}
    with streamlit_server(dest, python=py, extra_env=env, cwd=app, timeout=120) as base, browser_page() as page:
        page.goto(base, wait_until="networkidle")
        page.get_by_text("3 datasets, 64 sentences in all.").wait_for(timeout=60_000)
        assert page.locator('[data-testid="stException"]').count() == 0
        page.screenshot(path=str(artifacts_dir() / "cloud-home.png"), full_page=True)
    assert remote.is_current(dest, f"{url}/w.duckdb", sha)
