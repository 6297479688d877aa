"""benchmarks.run_all: the README it writes carries every benchmark's output, status and the machine."""
from benchmarks import run_all


def test_render_lists_machine_and_each_benchmark_with_its_status():
    info = {"cpu": "Test CPU, 2 logical cores", "load average at start": "0.50"}
    results = [
        {"module": "bench_query", "command": "python -m benchmarks.bench_query", "returncode": 0, "seconds": 12.4,
         "stdout": "neuron_top p50 12.7 ms", "stderr_tail": ""},
        {"module": "bench_page", "command": "python -m benchmarks.bench_page", "returncode": 3, "seconds": 1.0,
         "stdout": "", "stderr_tail": "RuntimeError: streamlit did not start"},
    ]
    text = run_all.render(info, results)
    assert "- cpu: Test CPU, 2 logical cores" in text
    assert "`python -m benchmarks.bench_query`: ok, 12 s wall time" in text
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
