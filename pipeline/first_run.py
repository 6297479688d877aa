"""`make run`: serve the dashboard as soon as the first steps of the demo build land, and keep building.

    python -m pipeline.first_run [--warehouse W] [--port P] [--publish-every S] [-- <pipeline build args>]

When no warehouse exists yet and the build is the demo's, it first builds a *first look* (``--first-look N``:
MiniLM on the first N sentences of each demo corpus, the drift, outliers, illusion-score and monotonicity
steps only; about a minute on 2 cores) and serves it. Then it starts ``python -m pipeline build --preset demo
--publish-every S`` (or the build arguments given after ``--``) in the background, which replaces the first
look with the whole demo, step by step. The build swaps each finished step in (pipeline.build); pages
whose step has not landed say so with the build's progress and fill in by themselves. Stopping this command
(Ctrl+C) stops both; the next run reuses every step that had landed. A warehouse that already exists is
served at once while the build brings it up to date.
"""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m pipeline.first_run", description=__doc__.split("\n")[0])
    p.add_argument("--warehouse", default="warehouse/illusion.duckdb")
    p.add_argument("--port", type=int, default=8501)
    p.add_argument("--publish-every", type=float, default=20.0, metavar="SECONDS",
                   help="swap the finished steps in at most this often (default 20)")
    p.add_argument("--first-look", type=int, default=1000, metavar="N",
                   help="with no warehouse yet, first serve MiniLM on N sentences per demo corpus (0: no first "
                        "look; default 1000)")
    p.add_argument("build_args", nargs="*", help="after --: the build's arguments (default: --preset demo)")
    return p


# The first look: the core pages' steps of MiniLM alone; the slow studies wait for the whole build.
FIRST_LOOK = ["--preset", "demo", "--no-lstm", "--svm-per-dataset", "0", "--umap-per-dataset", "0",
              "--set", "layer_scores.locality=false", "--quiet",
              *[a for stage in ("anisotropy", "token_states", "token_topk", "sentiment", "attention",
                                "dictionary")
                for a in ("--set", f"{stage}.enabled=false")]]


def first_look_command(args) -> list[str] | None:
    """The first look's build, or None when there is none to make (a warehouse exists, it is off, or the
    build is not the demo's)."""
    if args.first_look <= 0 or Path(args.warehouse).exists() or args.build_args:
        return None
    return [sys.executable, "-m", "pipeline", "build", *FIRST_LOOK, "--limit", str(args.first_look),
            "--warehouse", args.warehouse]


def commands(args) -> tuple[list[str], list[str]]:
    """(the build command, the dashboard command)."""
    build = [sys.executable, "-m", "pipeline", "build", *(args.build_args or ["--preset", "demo"]),
             "--warehouse", args.warehouse, "--publish-every", f"{args.publish_every:g}"]
    serve = [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.port", str(args.port),
             "--server.headless", "true", "--browser.gatherUsageStats", "false"]
    return build, serve


def _stop(*procs: subprocess.Popen | None) -> None:
    """Ctrl+C for each child (a build then removes its temporary file and progress file), a kill if it hangs."""
    for p in procs:
        if p is not None and p.poll() is None:
            p.send_signal(signal.SIGINT)
    for p in procs:
        if p is not None:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    # Ctrl+C and a plain kill both stop the build and the server. Set explicitly: a process started in the
    # background by a non-interactive shell inherits SIGINT ignored, and Python then leaves it ignored.
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    target = Path(args.warehouse)
    build_cmd, serve_cmd = commands(args)
    env = {**os.environ, "ILLUSION_WAREHOUSE": str(target.resolve())}
    t0 = time.time()
    first = first_look_command(args)
    if first is not None:
        print(f"building a first look ({args.first_look} sentences per demo corpus, MiniLM) to serve while the "
              f"whole demo builds", file=sys.stderr, flush=True)
        try:
            done = subprocess.run(first, cwd=ROOT, env=env)
        except KeyboardInterrupt:
            return 130
        if done.returncode != 0:
            return done.returncode
    build = subprocess.Popen(build_cmd, cwd=ROOT, env=env)
    server = None
    try:
        while not target.exists():
            if build.poll() is not None:
                print(f"error: the build stopped (exit code {build.returncode}) before {target} existed",
                      file=sys.stderr)
                return build.returncode or 1
            time.sleep(0.5)
        server = subprocess.Popen(serve_cmd, cwd=ROOT, env=env)
        print(f"serving {target} on http://localhost:{args.port} after {time.time() - t0:.0f} s; the build goes "
              f"on in the background and each page fills in when its step lands", file=sys.stderr, flush=True)
        reported = False
        while server.poll() is None:
            if not reported and build.poll() is not None:
                reported = True
                print(f"the build finished (exit code {build.returncode}) after {time.time() - t0:.0f} s",
                      file=sys.stderr, flush=True)
            time.sleep(0.5)
        return server.returncode
    except KeyboardInterrupt:
        return 130
    finally:
        _stop(server, build)


if __name__ == "__main__":
    sys.exit(main())
