"""A page-level snapshot of the dashboard: what every page shows on a warehouse, as JSON, to compare a refactor's
before and after (`python -m tests.snapshot_pages WAREHOUSE OUT.json`, then `--compare A.json B.json`).

Each page of the app's navigation runs in AppTest with the URL parameters given per page below (none: the page's
defaults). The snapshot keeps the text of titles, headers, captions, markdown, info/warning/error/success boxes
and metrics, every dataframe (values rounded to 6 significant digits), and every chart's data, so that a number
that moves on any page shows up in the comparison. Widgets' labels and values are kept too: a refactor must not
rename a widget or change its default.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Each page once with its defaults, and the pages whose main view depends on a selection once more with one.
VIEWS = [
    ("home", {}), ("drift", {}), ("drift", {"unit": "7", "k": "5"}), ("drift", {"dir": "random", "seed": "3"}),
    ("illusion", {}), ("separability", {}), ("tokens", {}), ("outliers", {}), ("annotate", {}), ("sql", {}),
    ("anisotropy", {}), ("spans", {}), ("spans", {"run": "textgenrnn"}), ("sentiment", {}),
    ("sentiment", {"run": "minilm"}), ("attention", {}),
]
TEXT_KINDS = ("title", "header", "subheader", "caption", "markdown", "info", "warning", "error", "success",
              "latex", "code", "text", "json")
WIDGET_KINDS = ("selectbox", "multiselect", "number_input", "slider", "select_slider", "radio", "checkbox",
                "toggle", "text_input", "text_area", "button")


def _round(v):
    if isinstance(v, float):
        if math.isnan(v) or math.isinf(v):
            return str(v)
        return float(f"{v:.6g}")
    if isinstance(v, (list, tuple)):
        return [_round(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _round(x) for k, x in v.items()}
    return v


def _frame(df) -> dict:
    import numpy as np
    import pandas as pd

    df = pd.DataFrame(df).reset_index(drop=False)
    rows = []
    for rec in df.astype(object).where(df.notna(), None).to_dict("records"):
        out = {}
        for k, v in rec.items():
            if isinstance(v, np.generic):
                v = v.item()
            elif isinstance(v, np.ndarray):
                v = v.tolist()
            elif hasattr(v, "isoformat"):
                v = v.isoformat()
            out[str(k)] = _round(v)
        rows.append(out)
    return {"columns": [str(c) for c in df.columns], "rows": rows}


def _chart_data(el) -> list:
    proto = getattr(el, "proto", None)
    spec = getattr(proto, "spec", "") if proto is not None else ""
    data = []
    try:
        for ds in getattr(proto, "datasets", []):
            import pyarrow as pa

            data.append(_frame(pa.ipc.open_stream(ds.data.data).read_pandas()))
    except Exception as e:  # a chart kind without arrow datasets: keep its spec's data only
        data.append(f"unreadable: {type(e).__name__}")
    try:
        values = json.loads(spec).get("data", {}).get("values") if spec else None
    except ValueError:
        values = None
    if values:
        data.append(_round(values))
    return data


def snapshot_view(page: str, params: dict, warehouse: str) -> dict:
    from streamlit.testing.v1 import AppTest

    os.environ["ILLUSION_WAREHOUSE"] = warehouse
    at = AppTest.from_file(str(ROOT / "views" / f"{page}.py"), default_timeout=300)
    for k, v in params.items():
        at.query_params[k] = v
    at.run()
    out: dict = {"exception": [e.value for e in at.exception]}
    for kind in TEXT_KINDS:
        items = [getattr(e, "value", None) or getattr(e, "body", None) for e in getattr(at, kind, [])]
        if items:
            out[kind] = [str(i) for i in items]
    out["metric"] = [[m.label, str(m.value), str(m.delta)] for m in at.metric]
    out["dataframe"] = [_frame(d.value) for d in at.dataframe]
    out["table"] = [_frame(t.value) for t in at.table]
    widgets = []
    for kind in WIDGET_KINDS:
        for w in getattr(at, kind, []):
            value = getattr(w, "value", None)
            widgets.append([kind, str(getattr(w, "label", "")), str(getattr(w, "key", "")),
                            _round(value if isinstance(value, (int, float, str, bool, list, type(None))) else str(value))])
    out["widgets"] = widgets
    charts = list(at.get("vega_lite_chart")) + list(at.get("arrow_vega_lite_chart"))
    out["charts"] = [_chart_data(c) for c in charts]
    out["query_params"] = {k: at.query_params[k] for k in sorted(at.query_params.keys())} if hasattr(
        at.query_params, "keys") else {}
    return _round(out)


def snapshot(warehouse: str) -> dict:
    result = {}
    for page, params in VIEWS:
        key = page + ("?" + "&".join(f"{k}={v}" for k, v in params.items()) if params else "")
        print(f"snapshot {key}", file=sys.stderr, flush=True)
        result[key] = snapshot_view(page, params, warehouse)
    return result


def compare(a: dict, b: dict, path: str = "") -> list[str]:
    """Every difference between two snapshots, as a path and the two values."""
    diffs = []
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if k not in a or k not in b:
                diffs.append(f"{path}/{k}: only in {'after' if k not in a else 'before'}")
            else:
                diffs += compare(a[k], b[k], f"{path}/{k}")
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            diffs.append(f"{path}: {len(a)} items before, {len(b)} after")
        for i, (x, y) in enumerate(zip(a, b)):
            diffs += compare(x, y, f"{path}[{i}]")
    elif a != b:
        diffs.append(f"{path}: {str(a)[:200]!r} -> {str(b)[:200]!r}")
    return diffs


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("warehouse", nargs="?")
    p.add_argument("out", nargs="?")
    p.add_argument("--compare", nargs=2, metavar=("BEFORE", "AFTER"))
    args = p.parse_args(argv)
    if args.compare:
        a, b = (json.loads(Path(f).read_text()) for f in args.compare)
        diffs = compare(a, b)
        for d in diffs:
            print(d)
        print(f"{len(diffs)} differences over {len(a)} views")
        return 1 if diffs else 0
    if not (args.warehouse and args.out):
        p.error("give WAREHOUSE OUT, or --compare BEFORE AFTER")
    Path(args.out).write_text(json.dumps(snapshot(args.warehouse), indent=1, sort_keys=True, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
