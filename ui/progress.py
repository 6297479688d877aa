"""A page whose data a running build has not written yet says so in one line, and shows the data once it lands.

A progressive build (`make run`, ``pipeline build --publish-every``) swaps its finished steps in along the way
and keeps ``<warehouse>.progress.json`` current (pipeline.build.Progress; this module reads the file only, so
the dashboard needs no pipeline import). ``wait_for(stage, run_id)`` at the top of a page: when the
warehouse's stage_log has no row of that stage (for that run) and a build is running, the page shows the
build's progress and checks every few seconds for the next swap, then reruns itself.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import streamlit as st

from ui import data
from ui.db import connection, warehouse_path
from warehouse import queries

POLL_SECONDS = 5


def progress_file(path: Path) -> Path:
    return path.with_name(path.name + ".progress.json")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def build_status(path: Path | None = None) -> dict | None:
    """The running build's progress file as a dict, or None when no build is running (no file, an unreadable
    one, or one left by a build that died)."""
    f = progress_file(path or warehouse_path())
    try:
        status = json.loads(f.read_text())
        pid = int(status["pid"])
        steps = list(status["steps"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return status if _alive(pid) and steps else None


def summary(status: dict, stage: str, run_id: str | None, now: float | None = None) -> str:
    """One line: the stage (and run) waited for, the build's steps done of total, what runs now, and an
    estimate of the time left (the mean time of the steps computed so far, times the steps left)."""
    steps = status["steps"]
    done = [s for s in steps if s["status"] in ("computed", "reused")]
    running = [s for s in steps if s["status"] == "running"]
    computed = [s["seconds"] for s in steps if s["status"] == "computed" and s["seconds"] is not None]
    left = len(steps) - len(done)
    elapsed = (now or time.time()) - float(status["started_at"])
    what = f"the {stage} step" + (f" of {run_id}" if run_id else "")
    line = (f"This page's data ({what}) is still being built: {len(done)} of {len(steps)} steps done"
            + (f", now {running[0]['stage']} of {running[0]['run_id']}" if running else "")
            + f", {elapsed / 60:.0f} min so far")
    if computed and left:
        line += f", about {left * sum(computed) / len(computed) / 60:.0f} min left"
    return line + ". It appears here by itself when that step lands."


@st.cache_resource(max_entries=8, show_spinner=False)
def _done(ident: tuple) -> frozenset:
    log = queries.stage_log(connection())
    return frozenset(zip(log["stage"], log["key"].str.split("/").str[0]))


def done(stage: str, run_id: str | None = None) -> bool:
    """Whether this warehouse's stage_log has the stage (for run_id, or for any run)."""
    have = _done(data.identity())
    return any(s == stage and (run_id is None or r == run_id) for s, r in have)


def wait_for(stage: str, run_id: str | None = None) -> None:
    """Stop the page with the build's progress while a running build has not yet written ``stage`` (for
    ``run_id``); rerun it when the warehouse is swapped. Without a running build, do nothing: the page says
    what it says about a warehouse built without that stage."""
    if done(stage, run_id):
        return
    status = build_status()
    if status is None:
        return
    st.info(summary(status, stage, run_id), icon="⏳")
    _watch(_identity())
    st.stop()


def note_running() -> None:
    """One line on a page that has its data (the home page) while a build is still running: what is being
    built, and that the other pages fill in by themselves. Reruns the page when the next step lands."""
    status = build_status()
    if status is None:
        return
    steps = status["steps"]
    done = sum(s["status"] in ("computed", "reused") for s in steps)
    runs = ", ".join(dict.fromkeys(s["run_id"] for s in steps))
    st.info(f"A build is running ({runs}): {done} of {len(steps)} steps done. What is shown is the file as it "
            f"stands; each page fills in, or is replaced by the full data, when its step lands.", icon="⏳")
    _watch(_identity())


def wait_for_file(path: Path) -> None:
    """No warehouse yet: while a build is running, show its progress and rerun when the first file lands."""
    status = build_status(path)
    if status is None:
        return
    first = status["steps"][0]
    st.info(summary(status, first["stage"], first["run_id"]).replace("This page's data", "The warehouse"),
            icon="⏳")
    _watch(None)
    st.stop()


def _identity() -> tuple | None:
    return data.identity() if warehouse_path().exists() else None


@st.fragment(run_every=POLL_SECONDS)
def _watch(ident: tuple | None) -> None:
    """Rerun the whole page once the warehouse file changes (a step landed) or the build ends."""
    if _identity() != ident or build_status() is None:
        st.rerun(scope="app")
