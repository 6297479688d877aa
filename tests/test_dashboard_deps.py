"""The dashboard must run from requirements.txt alone (Community Cloud): no torch, no pipeline imports."""
import ast
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DASHBOARD = [ROOT / "app.py", *ROOT.glob("views/*.py"), *ROOT.glob("ui/*.py"), *ROOT.glob("warehouse/*.py"),
             *ROOT.glob("analysis/*.py"), *ROOT.glob("annotations/*.py")]
LOCAL = {"ui", "warehouse", "analysis", "annotations"}
# import name -> distribution name in requirements.txt
DIST = {"streamlit": "streamlit", "duckdb": "duckdb", "pandas": "pandas", "numpy": "numpy", "altair": "altair",
        "pyarrow": "pyarrow", "scipy": "scipy", "sklearn": "scikit-learn", "threadpoolctl": "threadpoolctl"}


def imported_top_levels(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_dashboard_imports_only_what_requirements_txt_installs():
    pinned = {re.split(r"[=<>\[ ]", line.strip())[0].lower()
              for line in (ROOT / "requirements.txt").read_text().splitlines()
              if line.strip() and not line.startswith("#")}
    assert "torch" not in pinned and "transformers" not in pinned
    assert len(DASHBOARD) > 5
    for path in DASHBOARD:
        for name in imported_top_levels(path):
            if name in sys.stdlib_module_names or name in LOCAL:
                continue
            assert name in DIST, f"{path.relative_to(ROOT)} imports {name}, which requirements.txt does not install"
            assert DIST[name] in pinned, f"{DIST[name]} missing from requirements.txt"
