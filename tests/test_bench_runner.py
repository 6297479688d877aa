"""benchmarks.run_all: the README it writes carries every benchmark's output, status and the machine."""
from benchmarks import run_all


def test_render_lists_machine_and_each_benchmark_with_its_status():
    info = {"cpu": "Test CPU, 2 logical cores", "load average at start": "0.50"}
    results = [
        {"module": "bench_query", "command": "python -m benchmarks.bench_query", "returncode": 0, "seconds": 12.4,
         "started": "2026-11-22 13:00 UTC", "load": 0.5, "stdout": "neuron_top p50 12.7 ms", "stderr_tail": ""},
        {"module": "bench_page", "command": "python -m benchmarks.bench_page", "returncode": 3, "seconds": 1.0,
         "started": "2026-11-22 13:01 UTC", "load": 1.25, "stdout": "", "stderr_tail": "RuntimeError: streamlit did not start"},
    ]
    text = run_all.render(info, results)
    assert "- cpu: Test CPU, 2 logical cores" in text
    assert "`python -m benchmarks.bench_query`: ok, 12 s wall time, started 2026-11-22 13:00 UTC at load average 0.50" in text
    assert "```\nneuron_top p50 12.7 ms\n```" in text
    assert "`python -m benchmarks.bench_page`: FAILED (exit 3)" in text
    assert "RuntimeError: streamlit did not start" in text
    assert text.index("## bench_query") < text.index("## bench_page")
    # the description is the benchmark's own docstring, not a copy kept here
    assert run_all.describe("bench_query").split()[0] in text


def test_every_listed_benchmark_has_a_docstring_and_every_script_is_listed():
    listed = {m for m, _ in run_all.benches("w.duckdb")}
    scripts = {p.stem for p in run_all.HERE.glob("bench_*.py")}
    assert scripts <= listed, f"benchmarks not run by make bench: {sorted(scripts - listed)}"
    for module in scripts:
        assert run_all.describe(module), module


def test_only_reruns_the_named_benchmarks_and_keeps_the_others_sections(tmp_path, monkeypatch):
    out = tmp_path / "README.md"
    old = [{"module": m, "command": f"python -m benchmarks.{m}", "returncode": 0, "seconds": 5.0,
            "started": "2026-11-01 10:00 UTC", "load": 0.2, "stdout": f"old figure of {m}", "stderr_tail": ""}
           for m in ("bench_extract", "bench_query", "bench_spans")]
    out.write_text(run_all.render({"cpu": "old"}, old))

    def fake(module, args):
        return {"module": module, "command": f"python -m benchmarks.{module}", "returncode": 0, "seconds": 1.0,
                "started": "2026-11-22 12:00 UTC", "load": 1.0, "stdout": f"new figure of {module}",
                "stderr_tail": ""}

    monkeypatch.setattr(run_all, "run_one", fake)
    assert run_all.main(["--only", "bench_query", "--out", str(out)]) == 0
    text = out.read_text()
    assert "new figure of bench_query" in text and "old figure of bench_query" not in text
    assert "old figure of bench_extract" in text and "old figure of bench_spans" in text
    assert "started 2026-11-01 10:00 UTC" in text  # the kept sections say when they ran
    assert text.index("## bench_extract") < text.index("## bench_query") < text.index("## bench_spans")
    assert text.count("## bench_query") == 1
