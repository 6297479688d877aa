"""``make bench``: run every benchmark and rewrite benchmarks/README.md with their figures and the machine.

    python -m benchmarks.run_all [--warehouse warehouse/illusion.duckdb] [--only bench_query,bench_page]

With ``--only`` the named benchmarks are re-run and the others' sections are kept from the existing README.

Each benchmark runs as its own process (so one's memory and threads do not colour the next), its standard
output is kept verbatim (progress bars, which go to stderr, are not), and README.md is written from
scratch: how to run, the machine (CPU, cores, RAM, versions, commit, load average), then one section per
benchmark with its command, exit status, wall time and output. A failing benchmark is reported in its
section and makes the run exit non-zero; the others still run. Methods and design notes: METHODS.md.
"""
from __future__ import annotations

import argparse
import datetime as dt
import importlib
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def benches(warehouse: str) -> list[tuple[str, list[str]]]:
    """(module, arguments) in run order. Page-level benchmarks read the demo warehouse."""
    return [
        ("bench_extract", []),
        ("bench_query", []),
        ("bench_stages", []),
        ("bench_page", ["--warehouse", warehouse]),
        ("bench_pages", ["--warehouse", warehouse]),
        ("bench_feature_page", []),
        ("bench_load", ["--warehouse", warehouse]),
        ("bench_load_ws", ["--warehouse", warehouse]),
        ("bench_anisotropy", []),
        ("bench_spans", []),
        ("bench_sentiment", []),
        ("bench_attention", []),
        ("bench_illusion_null", ["--n-sentences", "50000", "--n-null", "1000"]),
        ("bench_shift", ["--n-sentences", "50000", "--hidden", "768"]),
        ("bench_transfer", []),
        ("bench_neighbours", []),
        ("bench_dictionary", []),
        ("bench_decoder", []),
        ("bench_ray", []),
        ("bench_first_run", []),
        ("bench_footprint", ["--warehouse", warehouse]),
    ]


def _first(path: str, key: str) -> str:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(key):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def machine() -> dict[str, str]:
    versions = {}
    for mod in ("torch", "transformers", "duckdb", "streamlit", "numpy", "sklearn"):
        try:
            versions[mod] = importlib.import_module(mod).__version__
        except ImportError:
            versions[mod] = "not installed"
    mem_kb = _first("/proc/meminfo", "MemTotal").split()[0]
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    dirty = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True)
    return {
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": f"{_first('/proc/cpuinfo', 'model name')}, {os.cpu_count()} logical cores",
        "memory": f"{int(mem_kb) / 1024 ** 2:.1f} GiB" if mem_kb.isdigit() else "unknown",
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "versions": ", ".join(f"{k} {v}" for k, v in versions.items()),
        "commit": (commit.stdout.strip() or "unknown") + (" (with uncommitted changes)" if dirty.stdout.strip() else ""),
        "load average at start": f"{os.getloadavg()[0]:.2f}",
    }


def run_one(module: str, args: list[str]) -> dict:
    cmd = [sys.executable, "-m", f"benchmarks.{module}", *args]
    t = time.time()
    started = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    load = os.getloadavg()[0]
    res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    return {"module": module, "started": started, "load": load, "command": " ".join(["python", "-m", f"benchmarks.{module}", *args]),
            "returncode": res.returncode, "seconds": time.time() - t, "stdout": res.stdout.rstrip(),
            "stderr_tail": "\n".join(res.stderr.rstrip().splitlines()[-15:])}


def describe(module: str) -> str:
    """The first paragraph of a benchmark's docstring, read without importing it."""
    import ast

    src = (HERE / f"{module}.py").read_text()
    doc = ast.get_docstring(ast.parse(src)) or ""
    return doc.split("\n\n", 1)[0].replace("\n", " ").strip()


def kept_sections(path: Path, modules: list[str]) -> dict[str, str]:
    """The sections of an earlier README.md for the given benchmark modules (text from its heading up to the
    next one), so that ``--only`` refreshes some benchmarks and keeps the others' figures."""
    try:
        text = path.read_text()
    except OSError:
        return {}
    out = {}
    for part in text.split("\n## ")[1:]:
        name = part.split("\n", 1)[0].strip()
        if name in modules:
            out[name] = "## " + part.rstrip() + "\n"
    return out


def render(info: dict[str, str], results: list[dict], kept: dict[str, str] | None = None,
           order: list[str] | None = None) -> str:
    lines = ["# Benchmarks", "",
             "Generated by `make bench` (`python -m benchmarks.run_all`); do not edit by hand. What each "
             "benchmark measures, the design choices behind the figures and annotated earlier results are in "
             "[METHODS.md](METHODS.md). Speed is never asserted in the test suite; the bars are printed here.", "",
             "On a 2-core machine a second busy process roughly halves every figure: compare runs only at "
             "similar load (each benchmark prints its load average).", "",
             "## Machine", ""]
    lines += [f"- {k}: {v}" for k, v in info.items()]
    lines.append("")
    fresh = {r["module"]: r for r in results}
    for module in order or list(fresh):
        if module not in fresh:
            if kept and module in kept:
                lines += [kept[module]]
            continue
        r = fresh[module]
        status = "ok" if r["returncode"] == 0 else f"FAILED (exit {r['returncode']})"
        lines += [f"## {r['module']}", "", describe(r["module"]), "",
                  f"`{r['command']}`: {status}, {r['seconds']:.0f} s wall time, started {r['started']} at "
                  f"load average {r['load']:.2f}", "", "```", r["stdout"] or "(no output)", "```", ""]
        if r["returncode"] != 0 and r["stderr_tail"]:
            lines += ["Last lines of its error output:", "", "```", r["stderr_tail"], "```", ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--warehouse", default=os.environ.get("ILLUSION_WAREHOUSE", "warehouse/illusion.duckdb"))
    ap.add_argument("--only", help="comma-separated benchmark modules (default: all)")
    ap.add_argument("--out", default=str(HERE / "README.md"))
    args = ap.parse_args(argv)
    todo = benches(args.warehouse)
    order = [m for m, _ in todo if (HERE / f"{m}.py").exists()]
    kept = {}
    if args.only:
        wanted = set(args.only.split(","))
        unknown = wanted - {m for m, _ in todo}
        if unknown:
            ap.error(f"--only: unknown benchmark(s) {', '.join(sorted(unknown))}")
        todo = [(m, a) for m, a in todo if m in wanted]
        # the other benchmarks keep their last figures (each section says when and at what load it ran)
        kept = kept_sections(Path(args.out), [m for m in order if m not in wanted])
    todo = [(m, a) for m, a in todo if (HERE / f"{m}.py").exists()]
    info = machine()
    results = []
    for module, margs in todo:
        print(f"running {module} ...", flush=True)
        results.append(run_one(module, margs))
        print(results[-1]["stdout"], flush=True)
    Path(args.out).write_text(render(info, results, kept, order) + "\n")
    print(f"wrote {args.out}")
    return 0 if all(r["returncode"] == 0 for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
