"""Pages stay thin: no view imports duckdb or numpy (data work lives in ui/*_model.py and analysis/), and every
view is under 150 lines. Imports are read from the parsed module, so a lazy import inside a function counts."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

VIEWS = sorted((Path(__file__).resolve().parent.parent / "views").glob("*.py"))
FORBIDDEN = {"duckdb", "numpy"}
MAX_LINES = 150


def imported_modules(source: str) -> set[str]:
    """Top-level package of every module the source imports (``from x.y import z`` gives x)."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
        elif isinstance(node, ast.Call) and getattr(node.func, "id", None) == "__import__" and node.args \
                and isinstance(node.args[0], ast.Constant):
            names.add(str(node.args[0].value).split(".")[0])
    return names


def test_there_are_views():
    assert len(VIEWS) >= 12


@pytest.mark.parametrize("path", VIEWS, ids=lambda p: p.name)
def test_view_imports_neither_duckdb_nor_numpy(path):
    bad = imported_modules(path.read_text()) & FORBIDDEN
    assert not bad, f"{path.name} imports {sorted(bad)}: move the data work to ui/<page>_model.py or analysis/"


@pytest.mark.parametrize("path", VIEWS, ids=lambda p: p.name)
def test_view_is_short(path):
    n = len(path.read_text().splitlines())
    assert n < MAX_LINES, f"{path.name} has {n} lines (limit {MAX_LINES - 1}): split it into section functions over a model"


@pytest.mark.parametrize("source, found", [
    ("import duckdb", {"duckdb"}),
    ("import numpy as np", {"numpy"}),
    ("from numpy.linalg import norm", {"numpy"}),
    ("def f():\n    import duckdb\n", {"duckdb"}),
    ("duckdb = __import__('duckdb')", {"duckdb"}),
    ("from . import numpy", set()),  # a relative import is not the package
    ("import pandas as pd\nfrom ui import url", {"pandas", "ui"}),
])
def test_the_import_check_itself(source, found):
    assert imported_modules(source) == found
