"""The first run: a progressive build swaps its finished steps in, pages say what is still being built, and
`make run`'s launcher serves the dashboard while the build goes on."""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import duckdb
import pytest
from streamlit.testing.v1 import AppTest

import warehouse
from pipeline.build import build, progress_path
from pipeline.config import SECTIONS
from pipeline.stages import layer_scores, schema_sql
from tests.browser import _free_port, artifacts_dir, browser_page, chromium_available, streamlit_server
from tests.conftest import ROOT
from warehouse.contracts import violations

QUIET = {"log": lambda *_: None}
# the study stages that need more than the tiny fixtures give are off: extract, histograms, distances,
# layer_scores and illusion_null remain
OFF = {name: {"enabled": False} for name in SECTIONS if name not in ("layer_scores", "illusion_null")}


def _state(path: Path) -> dict:
    con = duckdb.connect(str(path), read_only=True)
    try:
        stages = {r[0] for r in con.execute("select distinct stage from stage_log").fetchall()}
        meta = dict(con.execute("select key, value from meta").fetchall())
        bad = violations(con, extra_sql=schema_sql())
        rows = con.execute("select count(*) from neuron_histograms").fetchone()[0]
    finally:
        con.close()
    return {"stages": stages, "meta": meta, "bad": bad, "histogram_rows": rows}


@pytest.fixture
def make_cfg(tmp_path, tiny_spec, small_specs):
    from pipeline.config import make_config

    def make(**kw):
        return make_config(datasets=small_specs, models=[tiny_spec], warehouse=str(tmp_path / "w.duckdb"), topk=5,
                           progress=False, separability_per_dataset=0, umap_per_dataset=0, **OFF, **kw)

    return make


def test_a_progressive_build_publishes_each_finished_step(make_cfg):
    cfg = make_cfg()
    target = Path(cfg.warehouse)
    seen = []

    def log(message):
        if message.startswith("published "):
            seen.append(_state(target) | {"progress": json.loads(progress_path(target).read_text())})

    report = build(cfg, log=log, publish_every=0)
    order = ["extract", "histograms", "distances", "layer_scores", "illusion_null"]
    # one copy after every step but the last, each holding exactly the steps finished so far
    assert [s["stages"] for s in seen] == [set(order[:i]) for i in range(1, len(order))]
    for i, s in enumerate(seen, start=1):
        assert s["bad"] == [] and s["meta"]["build_status"] == f"partial: {i} of {len(order)} steps"
        assert s["meta"]["manifest_hash"].startswith("partial-")
        statuses = [step["status"] for step in s["progress"]["steps"]]
        assert statuses == ["computed"] * i + ["pending"] * (len(order) - i)
        assert s["progress"]["pid"] == os.getpid()
    assert seen[0]["histogram_rows"] == 0 and seen[1]["histogram_rows"] > 0
    final = _state(target)
    assert final["stages"] == set(order) and final["meta"]["build_status"] == "complete"
    assert not progress_path(target).exists() and not report.up_to_date
    assert build(cfg, **QUIET).up_to_date  # the finished file is what a plain build would have written


def test_a_build_stopped_midway_leaves_its_finished_steps_for_the_next(make_cfg, monkeypatch):
    cfg = make_cfg()
    target = Path(cfg.warehouse)

    def stopped(ctx):
        raise KeyboardInterrupt

    monkeypatch.setattr(layer_scores, "run", stopped)
    with pytest.raises(KeyboardInterrupt):
        build(cfg, **QUIET, publish_every=0)
    left = _state(target)
    assert left["stages"] == {"extract", "histograms", "distances"} and left["bad"] == []
    assert not progress_path(target).exists() and not list(target.parent.glob("w.duckdb.tmp-*"))
    monkeypatch.undo()
    report = build(cfg, **QUIET, publish_every=0)
    assert report.stages["extract"] == {f"tiny/{d}": "reused" for d in ("questions", "pairs", "news")}
    assert report.stages["histograms"] == report.stages["distances"] == {"tiny": "reused"}
    assert report.stages["layer_scores"] == report.stages["illusion_null"] == {"tiny": "computed"}


def _running(target: Path, steps: list[tuple[str, str]], started: float) -> None:
    """A progress file as a running build writes it (this process's pid: alive)."""
    progress_path(target).write_text(json.dumps({"pid": os.getpid(), "started_at": started,
                                                 "updated_at": time.time(), "steps": [
        {"stage": s, "run_id": "tiny", "status": status, "seconds": 60.0 if status == "computed" else None}
        for s, status in steps]}))


def test_a_page_whose_step_has_not_landed_says_so(make_cfg, monkeypatch, tmp_path):
    cfg = make_cfg()
    target = Path(cfg.warehouse)
    partial = tmp_path / "partial.duckdb"

    def keep_first(message):
        if message.startswith("published ") and not partial.exists():
            shutil.copyfile(target, partial)  # the copy after extraction alone

    build(cfg, log=keep_first, publish_every=0)
    monkeypatch.setenv("ILLUSION_WAREHOUSE", str(partial))
    _running(partial, [("extract", "computed"), ("histograms", "running"), ("distances", "pending"),
                       ("layer_scores", "pending"), ("illusion_null", "pending")], time.time() - 125)
    at = AppTest.from_file(str(ROOT / "views" / "drift.py"), default_timeout=60).run()
    assert not at.exception, at.exception
    assert len(at.info) == 1 and not at.dataframe
    line = at.info[0].value
    assert line.startswith("This page's data (the histograms step of tiny) is still being built: 1 of 5 steps "
                           "done, now histograms of tiny, 2 min so far, about 4 min left.")
    # the home page needs extraction only: it shows the run, and one line on the running build
    at = AppTest.from_file(str(ROOT / "views" / "home.py"), default_timeout=60).run()
    assert not at.exception and at.metric and len(at.info) == 1
    assert at.info[0].value.startswith("A build is running (tiny): 1 of 5 steps done.")
    # a progress file left by a build that died is ignored
    status = json.loads(progress_path(partial).read_text())
    progress_path(partial).write_text(json.dumps(status | {"pid": _dead_pid()}))
    monkeypatch.setenv("ILLUSION_WAREHOUSE", str(target))  # the complete file: the page shows its data
    at = AppTest.from_file(str(ROOT / "views" / "drift.py"), default_timeout=60).run()
    assert not at.exception and at.dataframe


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_make_runs_launcher_serves_while_the_build_goes_on(tmp_path, tiny_model_dir, fixture_files):
    """`python -m pipeline.first_run` over a tiny config: the dashboard answers, the build completes behind it,
    and Ctrl+C stops both."""
    config = tmp_path / "tiny.toml"
    off = "".join(f"[{name}]\nenabled = false\n" for name in OFF)
    config.write_text(
        f'topk = 5\n{off}\n[[models]]\nrun_id = "tiny"\nkind = "transformer"\npath = "{tiny_model_dir}"\n'
        f'max_length = 32\nbatch_size = 8\n'
        f'[[datasets]]\nname = "news"\nsource = "file"\npath = "{fixture_files["news"]}"\ntext = "sentence"\n'
        f'[[datasets]]\nname = "questions"\nsource = "file"\npath = "{fixture_files["questions"]}"\n'
        f'text = "question"\n')
    target, port, log = tmp_path / "w.duckdb", _free_port(), tmp_path / "out.txt"
    proc = subprocess.Popen([sys.executable, "-m", "pipeline.first_run", "--warehouse", str(target), "--port",
                             str(port), "--publish-every", "0", "--", "--config", str(config), "--quiet",
                             "--svm-per-dataset", "0", "--umap-per-dataset", "0"],
                            cwd=ROOT, stdout=log.open("w"), stderr=subprocess.STDOUT)
    try:
        deadline, served, complete = time.time() + 120, False, False
        while time.time() < deadline and not (served and complete):
            assert proc.poll() is None, log.read_text()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as r:
                    served = served or r.status == 200
            except OSError:
                pass
            complete = target.exists() and not progress_path(target).exists() and \
                _state(target)["meta"].get("build_status") == "complete"
            time.sleep(0.5)
        assert served and complete
        con = warehouse.connect_read_only(target)
        assert con.execute("select count(*) from neuron_histograms").fetchone()[0] > 0
        con.close()
        while time.time() < deadline and "the build finished" not in log.read_text():
            time.sleep(0.5)  # the build process exits a little after its file is complete
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
    out = log.read_text()
    assert proc.returncode == 130 and "serving" in out and "the build finished (exit code 0)" in out


@pytest.mark.skipif(not chromium_available(), reason="Debian chromium not installed (make test installs it)")
def test_the_drift_page_shows_the_progress_then_the_data_when_it_lands(make_cfg, tmp_path):
    """In chromium: the drift page of a warehouse whose histograms have not landed shows the build's progress
    line; when the complete file is swapped in, the page fills in by itself (no reload)."""
    cfg = make_cfg()
    target, served = Path(cfg.warehouse), tmp_path / "served.duckdb"

    def keep_first(message):
        if message.startswith("published ") and not served.exists():
            shutil.copyfile(target, served)  # extraction only

    build(cfg, log=keep_first, publish_every=0)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])  # the "running build"
    try:
        progress_path(served).write_text(json.dumps({"pid": sleeper.pid, "started_at": time.time() - 30,
                                                     "updated_at": time.time(), "steps": [
            {"stage": "extract", "run_id": "tiny", "status": "computed", "seconds": 20.0},
            {"stage": "histograms", "run_id": "tiny", "status": "running", "seconds": None}]}))
        with streamlit_server(served) as url, browser_page() as page:
            page.goto(f"{url}/drift?unit=2&k=3", wait_until="networkidle")
            page.get_by_text(re.compile(r"still being built: 1 of 2 steps done, now histograms of tiny")
                             ).wait_for(timeout=30_000)
            assert page.get_by_text("neuron 2 · layer 2").count() == 0
            page.screenshot(path=str(artifacts_dir() / "first_run_progress.png"))
            os.replace(shutil.copyfile(target, tmp_path / "complete.duckdb"), served)  # the build's last swap
            progress_path(served).unlink()
            page.get_by_text("neuron 2 · layer 2").wait_for(timeout=30_000)
            assert page.get_by_text(re.compile("still being built")).count() == 0
            assert page.locator('[data-testid="stException"]').count() == 0
    finally:
        sleeper.kill()


def test_the_first_look_is_built_only_for_a_new_demo_warehouse(tmp_path):
    from pipeline.first_run import first_look_command, parser

    target = tmp_path / "w.duckdb"
    cmd = first_look_command(parser().parse_args(["--warehouse", str(target)]))
    assert cmd[cmd.index("--limit") + 1] == "1000" and "--no-lstm" in cmd and "attention.enabled=false" in cmd
    assert cmd[cmd.index("--warehouse") + 1] == str(target) and "--preset" in cmd
    assert first_look_command(parser().parse_args(["--warehouse", str(target), "--first-look", "0"])) is None
    assert first_look_command(parser().parse_args(["--warehouse", str(target), "--", "--config", "my.toml"])) is None
    target.write_bytes(b"")  # a warehouse exists (finished or partial): straight to the full build
    assert first_look_command(parser().parse_args(["--warehouse", str(target)])) is None
