"""Load with Streamlit websocket clients: N concurrent sessions on the neuron-drift page for a fixed time, each
changing neurons and layers through the page's own widgets; errors and p50/p95 latency; stops by itself.

    python -m benchmarks.bench_load_ws [--warehouse warehouse/illusion.duckdb] [--sessions 20] [--seconds 120]

The issue allows "browser sessions (or Streamlit websocket clients)". bench_load drives real chromium; on a
2-core machine its 20 renderers (each drawing the page's Vega charts) compete with the server for the same
cores, so it measures the rig as much as the app. Here each user is what the browser sends and receives
on Streamlit's websocket (`/_stcore/stream`), nothing drawn: it opens a session on /drift, finds the
"Neuron" number input and the "Layer" selectbox in the elements the server sends, then loops: set a new
neuron (70%) or another layer (30%) as a widget-state rerun, exactly as the browser does on Enter / pick,
and waits for the run's `script_finished`. Latency is from sending the rerun to that message; the run must
show the heading "neuron U · layer L (" and no exception element. An error is a timeout (> 30 s), an
exception element or a missing heading. Baseline in the same run: one user alone (same loop).

Two paces: back to back (each user sends its next change the moment the last one is drawn: 20 robots, the
server saturated) and a person's pace (`--think`, default 2 s: each user reads the result for a uniform
1-3 s before the next change). Bar: 0 errors, p95 <= 2 s; printed for each pace.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import random
import time

import numpy as np

TIMEOUT = 30.0


class Session:
    """One Streamlit session over the websocket."""

    def __init__(self, ws):
        self.ws = ws
        self.widgets: dict[str, tuple[str, object]] = {}  # label -> (id, proto)
        self.texts: list[str] = []
        self.exceptions: list[str] = []

    @classmethod
    async def open(cls, base: str):
        from websockets.asyncio.client import connect

        ws = await connect(base.replace("http://", "ws://") + "/_stcore/stream", subprotocols=["streamlit"],
                           max_size=256 * 1024 * 1024, open_timeout=TIMEOUT)
        return cls(ws)

    async def run(self, query: str, states: list | None = None) -> float:
        """Send one rerun (query string and widget states) and read until the run finishes; seconds taken."""
        from streamlit.proto.BackMsg_pb2 import BackMsg
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        msg = BackMsg()
        msg.rerun_script.query_string = query
        msg.rerun_script.page_name = "drift"
        if states:
            msg.rerun_script.widget_states.widgets.extend(states)
        self.texts, self.exceptions = [], []
        t = time.perf_counter()
        await self.ws.send(msg.SerializeToString())
        while True:
            raw = await asyncio.wait_for(self.ws.recv(), timeout=TIMEOUT - (time.perf_counter() - t))
            fwd = ForwardMsg()
            fwd.ParseFromString(raw)
            kind = fwd.WhichOneof("type")
            if kind == "delta" and fwd.delta.WhichOneof("type") == "new_element":
                self._element(fwd.delta.new_element)
            elif kind == "script_finished":
                return time.perf_counter() - t

    def _element(self, el) -> None:
        kind = el.WhichOneof("type")
        if kind in ("number_input", "selectbox"):
            w = getattr(el, kind)
            self.widgets[w.label] = (w.id, w)
        elif kind in ("markdown", "heading"):
            self.texts.append(getattr(el, kind).body)
        elif kind == "exception":
            self.exceptions.append(el.exception.message)


def widget_state(wid: str, **value):
    from streamlit.proto.WidgetStates_pb2 import WidgetState

    s = WidgetState(id=wid)
    for k, v in value.items():
        setattr(s, k, v)
    return s


async def user(url: str, uid: int, seconds: float, out: dict, think: float = 0.0) -> None:
    from websockets.exceptions import ConnectionClosed

    rng = random.Random(uid)
    try:
        s = await Session.open(url)
        await s.run("unit=0")
        nid, num = next((w for label, w in s.widgets.items() if label.startswith("Neuron (")), (None, None))
        lid, lay = s.widgets.get("Layer", (None, None))
        if nid is None or lid is None:
            raise RuntimeError(f"no Neuron/Layer widgets among {sorted(s.widgets)}")
    except Exception as e:  # noqa: BLE001  (a failed first load is this user's error, not the benchmark's)
        out["errors"].append(f"user {uid}: first load: {type(e).__name__}: {e}")
        return
    hidden = int(num.max) + 1
    options = list(lay.options)
    unit, layer = 0, options[lay.default] if lay.HasField("default") else options[-1]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if rng.random() < 0.7:
            unit = rng.randrange(hidden)
        else:
            layer = rng.choice([o for o in options if o != layer])
        states = [widget_state(nid, double_value=float(unit)), widget_state(lid, string_value=layer)]
        try:
            dt = await s.run(f"unit={unit}", states)
        except (asyncio.TimeoutError, ConnectionError, ConnectionClosed) as e:
            out["errors"].append(f"user {uid}: {type(e).__name__}: {e}")
            continue
        want = f"neuron {unit} · layer {layer.split(':')[0]} ("
        if s.exceptions:
            out["errors"].append(f"user {uid}: exception: {s.exceptions[0][:120]}")
        elif not any(want in t for t in s.texts):
            out["errors"].append(f"user {uid}: heading {want!r} not shown")
        else:
            out["latency"].append(dt)
        if think > 0:
            await asyncio.sleep(rng.uniform(0.5 * think, 1.5 * think))
    await s.ws.close()


async def drive(url: str, sessions: int, seconds: float, think: float = 0.0) -> dict:
    out = {"latency": [], "errors": []}
    await asyncio.gather(*(user(url, uid, seconds, out, think) for uid in range(sessions)))
    return out


def main() -> None:
    from tests.browser import streamlit_server

    ap = argparse.ArgumentParser()
    ap.add_argument("--warehouse", default=os.environ.get("ILLUSION_WAREHOUSE", "warehouse/illusion.duckdb"))
    ap.add_argument("--sessions", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=120)
    ap.add_argument("--baseline-seconds", type=float, default=30)
    ap.add_argument("--think", type=float, default=2.0,
                    help="a person's pace: mean seconds between a user's changes (uniform 0.5x-1.5x); 0 skips it")
    args = ap.parse_args()
    print(f"warehouse {args.warehouse}; {args.sessions} websocket sessions x {args.seconds:g} s; "
          f"{os.cpu_count()} cores; load average {os.getloadavg()[0]:.2f}")
    paces = [("back to back", 0.0)] + ([(f"a person's pace ({args.think:g} s)", args.think)] if args.think > 0 else [])
    with streamlit_server(args.warehouse, timeout=120) as url:
        base = asyncio.run(drive(url, 1, args.baseline_seconds))
        loads = [(name, think, asyncio.run(drive(url, args.sessions, args.seconds, think))) for name, think in paces]
    print(f"{'':52s} {'actions':>8s} {'errors':>7s} {'p50 ms':>8s} {'p95 ms':>8s} {'actions/s':>10s}")
    rows = [("baseline: 1 session alone, back to back", base)]
    rows += [(f"{args.sessions} concurrent sessions, {name}", r) for name, _, r in loads]
    for name, r in rows:
        secs = args.baseline_seconds if r is base else args.seconds
        lat = np.array(r["latency"]) * 1000
        p50, p95 = (np.percentile(lat, 50), np.percentile(lat, 95)) if len(lat) else (float("nan"),) * 2
        print(f"{name:52s} {len(lat):8d} {len(r['errors']):7d} {p50:8.0f} {p95:8.0f} {len(lat) / secs:10.1f}")
    for name, _, r in loads:
        for e in r["errors"][:10]:
            print(f"  error ({name}): {e}")
    for name, _, r in loads:
        lat = np.array(r["latency"]) * 1000
        ok = not r["errors"] and len(lat) and np.percentile(lat, 95) <= 2000
        print(f"bar ({name}): 0 errors and p95 <= 2000 ms -> {'PASS' if ok else 'FAIL'}")
    print(f"load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
