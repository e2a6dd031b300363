#!/usr/bin/env python3
"""Post a backlog of time entries to the sandbox PSAs through a real daemon process, and measure it.

Phases (each bounded by a count and a wall-clock limit):

  autotask     N entries (default 1,000) queued while the instance has no credentials, then the credentials are
               stored (PUT /api/v1/psa/{name}/credentials) and the whole backlog drains against the Autotask sandbox
               with `latency_s` per request (default 50 ms) and its vendor rule of 3 requests in flight per endpoint.
               The rule allows 3 / latency requests/s; requests per entry are counted from the sandbox's own logs
               (Faults.log plus the requests its thread limit refused), so the ratio is
                   entries/s * requests per entry / (3 / latency)       (target >= 0.9)
  connectwise  N entries to the ConnectWise sandbox answering every 20th API request with 429 and a small
               Retry-After; reports the time, and counts each entry's marker in the sandbox's store: zero duplicates
               and zero lost, or the script fails.

  reference    the same sandbox, after the daemon's phase: a bare client in its own process doing nothing but POST
               the same time entry with 3 in flight (`--reference-count` requests; httpx, the daemon's HTTP client,
               and aiohttp's for context). Its ratio to the limit is the most any client on that HTTP library gets
               on this machine in this run: the ceiling the daemon's own ratio is read against.

The daemon runs as a subprocess (`python -m daemon serve`, TICKETCLOCK_HOME in a temporary folder, `credentials =
"file"`), as a user would run it; the sandboxes run in this process on 127.0.0.1. Prints ONE JSON line on stdout
(progress on stderr); exits 1 if an entry is lost or duplicated.

    .venv/bin/python bench/post_backlog.py [--entries 1000] [--latency 0.05]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import msgspec
from aiohttp import web

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from daemon.clock import SystemClock  # noqa: E402
from daemon.connectors.base import marker  # noqa: E402
from daemon.runtime import read_daemon_file  # noqa: E402
from daemon.sandbox import sandbox_module  # noqa: E402
from daemon.sandbox.faults import FAULTS, Faults  # noqa: E402

DAY = 86_400
LIMIT_S = 600.0
"""No phase may run longer than this."""


def log(*args: Any) -> None:
    print(*args, file=sys.stderr, flush=True)


def toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml(v) for v in value) + "]"
    return json.dumps(str(value))


class Sandbox:
    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.module = sandbox_module(kind)
        self.app = self.module.create_app(clock=SystemClock())
        self.runner = web.AppRunner(self.app, access_log=None, handler_cancellation=True, shutdown_timeout=0.1)
        self.instance: dict[str, Any] = {}
        self.credentials: dict[str, Any] = {}

    async def start(self) -> None:
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        host, port = self.runner.addresses[0][:2]
        instance, credentials = self.module.demo_instance(f"http://{host}:{port}")
        self.instance = msgspec.to_builtins(instance)
        self.credentials = msgspec.to_builtins(credentials)

    @property
    def name(self) -> str:
        name: str = self.instance["name"]
        return name

    @property
    def faults(self) -> Faults:
        return self.app[FAULTS]

    def count(self) -> int:
        """Records in the sandbox, cheaply (polled while timing, in the sandbox's own event loop)."""
        if self.kind == "autotask":
            return len(self.app[self.module.STORE].time_entries)
        if self.kind == "connectwise":
            return len(self.app[self.module.CW_STORE].entries)
        return len(self.module.stored_entries(self.app))

    def marker_counts(self, ids: list[str]) -> dict[str, int]:
        """How many stored records carry each entry's marker (Autotask: one per part; entries here never split)."""
        wanted = {marker(i): i for i in ids}
        counts = dict.fromkeys(ids, 0)
        for s in self.module.stored_entries(self.app):
            text = s.notes + "\n" + s.internal_notes
            start = text.find("[ticketclock:")
            while start >= 0:
                end = text.find("]", start)
                entry_id = wanted.get(text[start : end + 1])
                if entry_id is not None:
                    counts[entry_id] += 1
                start = text.find("[ticketclock:", end)
        return counts


class Daemon:
    def __init__(self, home: Path, sandboxes: list[Sandbox]) -> None:
        self.home = home
        self.port = 0
        """Bound by the daemon itself (--port 0), read back from its daemon.json in start()."""
        lines = ['credentials = "file"', 'timezone = "UTC"']
        for sb in sandboxes:
            lines += [
                "",
                "[[instances]]",
                *(f"{k} = {toml(v)}" for k, v in sb.instance.items() if k != "options" and v),
            ]
            if sb.instance.get("options"):
                lines += ["", "[instances.options]", *(f"{k} = {toml(v)}" for k, v in sb.instance["options"].items())]
        config = home / "config" / "config.toml"
        config.parent.mkdir(parents=True, exist_ok=True)
        config.write_text("\n".join(lines) + "\n", encoding="utf-8")
        self.proc: subprocess.Popen[bytes] | None = None
        self.client: httpx.AsyncClient | None = None

    async def start(self) -> float:
        env = {**os.environ, "TICKETCLOCK_HOME": str(self.home), "PYTHONUNBUFFERED": "1"}
        started = time.perf_counter()
        profile = os.environ.get("TC_BENCH_PROFILE")  # a path: run the daemon under cProfile, stats written there
        command = [sys.executable, *(["-m", "cProfile", "-o", profile] if profile else []), "-m", "daemon"]
        with (self.home / "daemon.log.txt").open("wb") as out:
            self.proc = subprocess.Popen(
                [*command, "serve", "--port", "0"],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        async with httpx.AsyncClient(timeout=1) as probe:
            while time.perf_counter() - started < 30:
                if self.proc.poll() is not None:
                    raise SystemExit(f"daemon exited: {(self.home / 'daemon.log.txt').read_text()}")
                report = read_daemon_file(self.home / "data")
                if report is not None and report.pid == self.proc.pid:
                    try:
                        health = await probe.get(f"http://127.0.0.1:{report.port}/api/v1/health")
                    except httpx.HTTPError:
                        pass
                    else:
                        if health.status_code == 200 and health.json().get("pid") == self.proc.pid:
                            self.port = report.port
                            break
                await asyncio.sleep(0.02)
            else:
                raise SystemExit("daemon did not answer within 30 s")
        cold = time.perf_counter() - started
        token = (self.home / "data" / "token").read_text(encoding="utf-8").strip()
        self.client = httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{self.port}",
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
            limits=httpx.Limits(max_connections=16),
        )
        return cold

    @property
    def api(self) -> httpx.AsyncClient:
        assert self.client is not None
        return self.client

    async def stop(self) -> None:
        if self.client is not None:
            await self.client.aclose()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


async def create_entries(daemon: Daemon, sb: Sandbox, count: int) -> list[str]:
    """`count` ten-minute entries on past days (100 a day, never across UTC midnight), 8 requests at a time."""
    first_day = (time.time() // DAY - 1 - count // 100) * DAY
    ticket = str(sb.module.SEED.service_ticket)
    ids: list[str] = [""] * count
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(count):
        queue.put_nowait(i)

    async def worker() -> None:
        while not queue.empty():
            i = queue.get_nowait()
            start = first_day + (i // 100) * DAY + 1800 + (i % 100) * 720
            body = {"instance": sb.name, "ticket": ticket, "started_at": start, "ended_at": start + 600}
            response = await daemon.api.post("/api/v1/entries", json={**body, "notes": f"backlog {sb.kind} #{i}"})
            if response.status_code != 201:
                raise SystemExit(f"creating an entry failed: {response.status_code} {response.text}")
            ids[i] = response.json()["id"]

    await asyncio.gather(*(worker() for _ in range(8)))
    return ids


async def statuses(daemon: Daemon, instance: str) -> dict[str, int]:
    entries = (await daemon.api.get("/api/v1/entries", params={"instance": instance, "limit": "5000"})).json()
    counts: dict[str, int] = {}
    for e in entries["entries"]:
        counts[e["status"]] = counts.get(e["status"], 0) + 1
    return counts


async def wait_for(what: str, check: Any, limit: float = LIMIT_S, every: float = 0.01) -> None:
    deadline = time.monotonic() + limit
    while not await check():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out after {limit:.0f} s waiting for {what}")
        await asyncio.sleep(every)


async def drain(daemon: Daemon, sb: Sandbox, ids: list[str]) -> dict[str, Any]:
    """Store the credentials, then time the backlog until the sandbox holds every entry."""

    async def all_waiting() -> bool:
        rows = (await daemon.api.get("/api/v1/outbox")).json()["rows"]
        mine = [r for r in rows if r["instance"] == sb.name]
        return len(mine) == len(ids) and all(r["last_error"].startswith("no credentials") for r in mine)

    await wait_for("the backlog to wait for credentials", all_waiting, every=0.1)
    store_before = sb.count()
    log_before = len(sb.faults.log)
    throttled_before = sb.app[sb.module.STORE].throttled if sb.kind == "autotask" else 0
    started = time.perf_counter()
    response = await daemon.api.put(f"/api/v1/psa/{sb.name}/credentials", json={"credentials": sb.credentials})
    if response.status_code != 200:
        raise SystemExit(f"credentials refused: {response.text}")

    async def stored_all() -> bool:
        return sb.count() - store_before >= len(ids)

    await wait_for(f"{len(ids)} entries in the {sb.kind} sandbox", stored_all)
    elapsed = time.perf_counter() - started

    async def all_posted() -> bool:
        return (await statuses(daemon, sb.name)).get("posted", 0) >= len(ids)

    await wait_for("the daemon to record every entry as posted", all_posted, limit=60, every=0.1)
    requests = len(sb.faults.log) - log_before
    throttled = (sb.app[sb.module.STORE].throttled - throttled_before) if sb.kind == "autotask" else 0
    counts = sb.marker_counts(ids)
    return {
        "entries": len(ids),
        "seconds": round(elapsed, 3),
        "entries_per_s": round(len(ids) / elapsed, 1),
        "requests": requests + throttled,
        "requests_per_entry": round((requests + throttled) / len(ids), 3),
        "status_429": sum(1 for _, _, status in sb.faults.log[log_before:] if status == 429) + throttled,
        "duplicates": sum(1 for n in counts.values() if n > 1),
        "lost": sum(1 for n in counts.values() if n == 0),
        "statuses": await statuses(daemon, sb.name),
    }


async def reference_client(library: str, url: str, headers: dict[str, str], body: bytes, count: int) -> float:
    """In the reference client's own process: `count` POSTs of `body`, 3 in flight; returns the seconds taken."""
    left = count

    async def loop(post: Any) -> None:
        nonlocal left
        while left > 0:
            left -= 1
            status = await post()
            if status >= 300:
                raise SystemExit(f"the reference client was answered {status}")

    if library == "httpx":
        async with httpx.AsyncClient(timeout=30) as client:

            async def post_httpx() -> int:
                return (await client.post(url, content=body, headers=headers)).status_code

            await post_httpx()  # the connection pool warm, like the daemon's after its first look-ups
            started = time.perf_counter()
            await asyncio.gather(*(loop(post_httpx) for _ in range(3)))
    else:
        import aiohttp

        async with aiohttp.ClientSession() as session:

            async def post_aiohttp() -> int:
                async with session.post(url, data=body, headers=headers) as response:
                    await response.read()
                    return response.status

            await post_aiohttp()
            started = time.perf_counter()
            await asyncio.gather(*(loop(post_aiohttp) for _ in range(3)))
    return time.perf_counter() - started


async def reference(sb: Sandbox, library: str, count: int, latency: float) -> dict[str, Any]:
    """Run the bare reference client against `sb` in a subprocess; its rate as a ratio to the limit."""
    seed = sb.module.SEED
    store = sb.app[sb.module.STORE]
    role = next(r["roleID"] for r in store.service_desk_roles.values() if r["resourceID"] == int(seed.api_user))
    body = {
        "ticketID": seed.service_ticket,
        "resourceID": int(seed.api_user),
        "roleID": role,
        "dateWorked": "2026-01-05T00:00:00Z",
        "startDateTime": "2026-01-05T10:00:00Z",
        "endDateTime": "2026-01-05T10:10:00Z",
        "hoursWorked": 0.1667,
        "summaryNotes": "reference client",
        "internalNotes": "reference client",
    }
    credentials = sb.credentials
    job = {
        "library": library,
        "url": f"{sb.instance['api_url']}/ATServicesRest/V1.0/TimeEntries",
        "headers": {
            "ApiIntegrationCode": credentials["integration_code"],
            "UserName": credentials["username"],
            "Secret": credentials["secret"],
            "Content-Type": "application/json",
            "Accept": "application/json",
        },
        "body": json.dumps(body),
        "count": count,
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "--reference-client",
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        cwd=ROOT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(json.dumps(job).encode()), LIMIT_S)
    if proc.returncode != 0:
        raise SystemExit(f"the {library} reference client failed ({proc.returncode})")
    seconds = float(out)
    return {
        "library": library,
        "requests": count,
        "seconds": round(seconds, 3),
        "ratio_to_limit": round(count / seconds / (3 / latency), 3),
    }


async def main() -> int:
    if sys.argv[1:] == ["--reference-client"]:
        job = json.loads(sys.stdin.read())
        seconds = await reference_client(job["library"], job["url"], job["headers"], job["body"].encode(), job["count"])
        print(seconds)
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=1000)
    parser.add_argument("--latency", type=float, default=0.05, help="Autotask sandbox latency per request, seconds")
    parser.add_argument("--retry-after", type=float, default=0.05, help="ConnectWise 429 Retry-After, seconds")
    parser.add_argument(
        "--reference-count", type=int, default=1000, help="POSTs of each bare reference client (0: no reference)"
    )
    args = parser.parse_args()
    if not 1 <= args.entries <= 5000:
        parser.error("--entries: 1 to 5000")

    autotask, connectwise = Sandbox("autotask"), Sandbox("connectwise")
    await autotask.start()
    await connectwise.start()
    autotask.faults.latency_s = args.latency
    connectwise.faults.rate_limit_every = 20
    connectwise.faults.retry_after_s = args.retry_after
    result: dict[str, Any] = {
        "bench": "post_backlog",
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "daemon": "subprocess",
        "sandboxes": "in the bench process",
    }
    with tempfile.TemporaryDirectory(prefix="tc-bench-") as tmp:
        daemon = Daemon(Path(tmp), [autotask, connectwise])
        try:
            result["cold_start_s"] = round(await daemon.start(), 3)
            log(f"daemon up on port {daemon.port}; queueing {args.entries} entries per PSA")
            at_ids = await create_entries(daemon, autotask, args.entries)
            cw_ids = await create_entries(daemon, connectwise, args.entries)

            log("autotask: draining the backlog")
            at = await drain(daemon, autotask, at_ids)
            allowed = 3 / args.latency
            at["latency_s"] = args.latency
            at["allowed_requests_per_s"] = round(allowed, 1)
            at["achieved_requests_per_s"] = round(at["requests"] / at["seconds"], 1)
            at["ratio_to_limit"] = round(at["entries_per_s"] * at["requests_per_entry"] / allowed, 3)
            at["peak_in_flight"] = max(autotask.app[autotask.module.STORE].peak_in_flight.values())
            result["autotask"] = at
            log(f"autotask: {at}")

            if args.reference_count:
                references = [
                    await reference(autotask, lib, args.reference_count, args.latency) for lib in ("httpx", "aiohttp")
                ]
                httpx_ratio = references[0]["ratio_to_limit"]
                at["bare_httpx_ratio_to_limit"] = httpx_ratio
                at["ratio_to_bare_httpx"] = round(at["ratio_to_limit"] / httpx_ratio, 3)
                result["reference_clients"] = references
                log(f"reference clients: {references}")

            log("connectwise: draining the backlog with a 429 every 20th request")
            cw = await drain(daemon, connectwise, cw_ids)
            cw["rate_limit_every"] = 20
            cw["retry_after_s"] = args.retry_after
            result["connectwise"] = cw
            log(f"connectwise: {cw}")
        finally:
            await daemon.stop()
            await autotask.runner.cleanup()
            await connectwise.runner.cleanup()
    ok = all(result[k]["duplicates"] == 0 and result[k]["lost"] == 0 for k in ("autotask", "connectwise"))
    result["ok"] = ok
    result["autotask_target_met"] = result["autotask"]["ratio_to_limit"] >= 0.9
    print(json.dumps(result), flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
