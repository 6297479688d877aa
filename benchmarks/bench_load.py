"""Load: N concurrent real-browser sessions on the neuron-drift page for a fixed time, each changing neurons
and layers; reports errors and p50/p95 latency, and stops by itself.

    python -m benchmarks.bench_load [--warehouse warehouse/illusion.duckdb] [--sessions 20] [--seconds 120]

One Streamlit server on localhost, one Debian chromium with one isolated context (its own Streamlit session)
per simulated user. Each user loops: type a new neuron index and press Enter, or pick another layer in the
sidebar, then wait until the page shows the new heading and the app is idle. Latency is from the input to
that moment. An error is a timeout (> 30 s), a Streamlit exception element, or a page that never loaded.
Baseline in the same run: one user alone (the same loop, sequential), so the gap is what sharing 2 cores
with the other sessions costs. Bar: 0 errors, p95 <= 2 s.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import time

import numpy as np

TIMEOUT_MS = 30_000


async def _user(browser, url: str, uid: int, seconds: float, hidden: int, layers: list[int], out: dict) -> None:
    from playwright.async_api import Error as PlaywrightError

    rng = random.Random(uid)
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    try:
        unit = rng.randrange(hidden)
        await page.goto(f"{url}/drift?unit={unit}", timeout=120_000)
        await page.get_by_text(f"neuron {unit} · layer").first.wait_for(timeout=120_000)
    except PlaywrightError as e:
        out["errors"].append(f"user {uid}: first load: {str(e).splitlines()[0]}")
        await context.close()
        return
    status = page.locator('[data-testid="stStatusWidget"]')
    layer = layers[-1]
    deadline = time.monotonic() + seconds  # from this user's first view on
    while time.monotonic() < deadline:
        try:
            if rng.random() < 0.7:
                unit = rng.randrange(hidden)
                box = page.get_by_label(f"Neuron (0 to {hidden - 1})")
                await box.fill(str(unit))
                t = time.perf_counter()
                await box.press("Enter")
                kind = "neuron"
            else:
                layer = rng.choice([x for x in layers if x != layer])
                await page.locator('[data-testid="stSelectbox"]').filter(has_text="Layer").click()
                t = time.perf_counter()
                await page.get_by_role("option").filter(has_text=f"{layer}: ").first.click()
                kind = "layer"
            await page.get_by_text(f"neuron {unit} · layer {layer} (").first.wait_for(timeout=TIMEOUT_MS)
            await status.wait_for(state="hidden", timeout=TIMEOUT_MS)
            out["latency"].append((kind, time.perf_counter() - t))
            if await page.locator('[data-testid="stException"]').count():
                out["errors"].append(f"user {uid}: Streamlit exception after a {kind} change")
        except PlaywrightError as e:
            out["errors"].append(f"user {uid}: {str(e).splitlines()[0]}")
            try:  # recover: reload the view this user was on
                await page.goto(f"{url}/drift?unit={unit}&layer={layer}", timeout=120_000)
            except PlaywrightError:
                break
        await page.wait_for_timeout(rng.randint(200, 800))  # a person reads for a moment
    await context.close()


async def _drive(url: str, sessions: int, seconds: float, hidden: int, layers: list[int]) -> dict:
    from playwright.async_api import async_playwright

    from tests.browser import CHROMIUM, CHROMIUM_ARGS

    out: dict = {"latency": [], "errors": []}
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        await asyncio.gather(*[_user(browser, url, i, seconds, hidden, layers, out) for i in range(sessions)])
        await browser.close()
    return out


def _shape(path: str) -> tuple[int, list[int]]:
    import warehouse
    from warehouse import queries

    con = warehouse.connect_read_only(path)
    run = queries.runs(con).iloc[0]
    layers = queries.layers(con, run["run_id"])["layer"].tolist()
    con.close()
    return int(run["hidden_size"]), layers


def _summary(res: dict) -> dict:
    lat = [s for _, s in res["latency"]]
    return {"actions": len(lat), "errors": len(res["errors"]),
            "p50_ms": round(1000 * float(np.percentile(lat, 50))) if lat else -1,
            "p95_ms": round(1000 * float(np.percentile(lat, 95))) if lat else -1}


def main() -> None:
    from tests.browser import streamlit_server

    ap = argparse.ArgumentParser()
    ap.add_argument("--warehouse", default=os.environ.get("ILLUSION_WAREHOUSE", "warehouse/illusion.duckdb"))
    ap.add_argument("--sessions", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=120)
    ap.add_argument("--baseline-seconds", type=float, default=30)
    ap.add_argument("--json", help="also write the figures to this file")
    args = ap.parse_args()
    hidden, layers = _shape(args.warehouse)
    print(f"warehouse {args.warehouse}; {args.sessions} sessions x {args.seconds:.0f} s; "
          f"{os.cpu_count()} cores; load average {os.getloadavg()[0]:.2f}", flush=True)
    with streamlit_server(args.warehouse) as url:
        solo = asyncio.run(_drive(url, 1, args.baseline_seconds, hidden, layers))
        res = asyncio.run(_drive(url, args.sessions, args.seconds, hidden, layers))
    alone, many = _summary(solo), _summary(res)
    res["errors"] = solo["errors"] + res["errors"]
    print(f"{'':34s} {'actions':>8s} {'errors':>7s} {'p50 ms':>8s} {'p95 ms':>8s}")
    print(f"{'baseline: 1 session alone':34s} {alone['actions']:8d} {alone['errors']:7d} {alone['p50_ms']:8} "
          f"{alone['p95_ms']:8}")
    print(f"{f'{args.sessions} concurrent sessions':34s} {many['actions']:8d} {many['errors']:7d} "
          f"{many['p50_ms']:8} {many['p95_ms']:8}")
    for e in res["errors"][:10]:
        print("  error:", e)
    ok = many["errors"] == 0 and 0 <= many["p95_ms"] <= 2000
    print(f"bar: 0 errors and p95 <= 2000 ms -> {'PASS' if ok else 'FAIL'}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"sessions": args.sessions, "seconds": args.seconds, "alone": alone, "concurrent": many},
                      f, indent=2)


if __name__ == "__main__":
    main()
