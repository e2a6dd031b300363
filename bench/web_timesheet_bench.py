#!/usr/bin/env python3
"""The timesheet page for a 4-week period with 5,000 entries, rendered in headless Chromium (target < 1 s).

A real daemon process (`python -m daemon serve --port 0`, TICKETCLOCK_HOME in a temporary folder, `[timesheet]
period = "monthly"`, timezone UTC) is seeded over its API with --entries manual task entries (default 5,000) on the
first 28 days of the previous month (a period entirely in the past), spread over --rows tasks. The browser signs in
with a one-time code (POST /api/v1/web/login-code), then loads /timesheet?period=<first day> --runs times (default 5)
in a fresh page each time. The figure is `performance.mark("timesheet-grid")`'s startTime: milliseconds from the
start of the navigation to the grid being in the DOM (daemon/web/timesheet.js sets it), so it includes the HTML,
the modules, GET /api/v1/timesheets/{period} and building the grid. Prints ONE JSON line (progress on stderr).

    .venv/bin/python bench/web_timesheet_bench.py [--entries 5000] [--rows 40] [--runs 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from daemon.runtime import read_daemon_file  # noqa: E402

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
LIMIT_S = 600.0


def log(*args: Any) -> None:
    print(*args, file=sys.stderr, flush=True)


async def start_daemon(home: Path) -> tuple[subprocess.Popen[bytes], int, str]:
    config = home / "config" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text('timezone = "UTC"\n\n[timesheet]\nperiod = "monthly"\n', encoding="utf-8")
    env = {**os.environ, "TICKETCLOCK_HOME": str(home), "PYTHONUNBUFFERED": "1"}
    with (home / "daemon.log.txt").open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "daemon", "serve", "--port", "0"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    started = time.perf_counter()
    async with httpx.AsyncClient(timeout=1) as probe:
        while time.perf_counter() - started < 30:
            if proc.poll() is not None:
                raise SystemExit(f"daemon exited: {(home / 'daemon.log.txt').read_text()}")
            report = read_daemon_file(home / "data")
            if report is not None and report.pid == proc.pid:
                try:
                    health = await probe.get(f"http://127.0.0.1:{report.port}/api/v1/health")
                except httpx.HTTPError:
                    pass
                else:
                    if health.status_code == 200:
                        token = (home / "data" / "token").read_text(encoding="utf-8").strip()
                        return proc, report.port, token
            await asyncio.sleep(0.05)
    proc.terminate()
    raise SystemExit("daemon did not answer within 30 s")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


async def seed(api: httpx.AsyncClient, first: date, count: int, rows: int) -> None:
    """`count` entries over 28 days: each day's share back to back from 06:00 UTC, tasks taken in turn."""
    per_day = -(-count // 28)
    minutes = max(1, min(10, (16 * 60) // per_day))
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(count):
        queue.put_nowait(i)
    deadline = time.perf_counter() + LIMIT_S

    async def worker() -> None:
        while not queue.empty() and time.perf_counter() < deadline:
            i = queue.get_nowait()
            day, slot = divmod(i, per_day)
            start = datetime.combine(first + timedelta(days=day), datetime.min.time(), UTC) + timedelta(
                hours=6, minutes=slot * minutes
            )
            body = {
                "task": f"Task {i % rows:02d}",
                "started_at": start.timestamp(),
                "ended_at": start.timestamp() + minutes * 60,
                "notes": f"bench {i}",
            }
            r = await api.post("/api/v1/entries", json=body)
            if r.status_code != 201:
                raise SystemExit(f"seeding entry {i}: {r.status_code} {r.text}")
            if i % 500 == 0:
                log(f"seeded {i}/{count}")

    await asyncio.gather(*(worker() for _ in range(8)))
    if not queue.empty():
        raise SystemExit("seeding took too long")


async def measure(base: str, api: httpx.AsyncClient, period: str, runs: int) -> list[float]:
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        try:
            ctx = await browser.new_context(viewport={"width": 1280, "height": 800})
            link = (await api.post("/api/v1/web/login-code", json={})).json()["url"]
            page = await ctx.new_page()
            await page.goto(link)  # sets the session cookie
            await page.wait_for_selector("body[data-rendered='1']")
            await page.close()
            figures = []
            for run in range(runs):
                page = await ctx.new_page()
                await page.goto(f"{base}/timesheet?period={period}")
                await page.wait_for_selector("table.grid", timeout=60_000)
                ms = await page.evaluate("performance.getEntriesByName('timesheet-grid')[0].startTime")
                cells = await page.eval_on_selector_all("input.cell", "c => c.length")
                log(f"run {run + 1}: {ms:.0f} ms to the grid ({cells} cells)")
                figures.append(float(ms))
                await page.close()
            return figures
        finally:
            await browser.close()


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=5000)
    parser.add_argument("--rows", type=int, default=40)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    today = datetime.now(UTC).date()
    first = (today.replace(day=1) - timedelta(days=1)).replace(day=1)  # the previous month: entirely past
    with tempfile.TemporaryDirectory(prefix="tc-web-bench-") as tmp:
        proc, port, token = await start_daemon(Path(tmp))
        base = f"http://127.0.0.1:{port}"
        try:
            async with httpx.AsyncClient(
                base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60
            ) as api:
                t0 = time.perf_counter()
                await seed(api, first, args.entries, args.rows)
                seeded_s = time.perf_counter() - t0
                sheet = (await api.get(f"/api/v1/timesheets/{first.isoformat()}")).json()
                counted = sum(len(c["entries"]) for r in sheet["rows"] for c in r["cells"])
                if counted != args.entries:
                    raise SystemExit(f"the period holds {counted} entries, not {args.entries}")
                t1 = time.perf_counter()
                api_ms = []
                for _ in range(args.runs):
                    t1 = time.perf_counter()
                    await api.get(f"/api/v1/timesheets/{first.isoformat()}")
                    api_ms.append((time.perf_counter() - t1) * 1000)
                figures = await measure(base, api, first.isoformat(), args.runs)
        finally:
            stop(proc)
    median = statistics.median(figures)
    print(
        json.dumps(
            {
                "bench": "web_timesheet",
                "period": sheet["period"]["id"],
                "period_days": len(sheet["days"]),
                "entries": args.entries,
                "rows": len(sheet["rows"]),
                "cells": len(sheet["rows"]) * len(sheet["days"]),
                "grid_ms": [round(f, 1) for f in figures],
                "median_grid_ms": round(median, 1),
                "target_ms": 1000,
                "ok": median < 1000,
                "api_ms_median": round(statistics.median(api_ms), 1),
                "seed_s": round(seeded_s, 1),
                "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} cpu",
            }
        )
    )
    return 0 if median < 1000 else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
