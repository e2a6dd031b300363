"""Helpers shared by the tests: free ports, settings in a temporary folder, a daemon in-process on a real port,
a daemon in a subprocess, and polling with a deadline (never a fixed sleep)."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
from aiohttp import web

from daemon.app import create_app
from daemon.clock import Clock, SystemClock
from daemon.settings import Settings, parse_config

__all__ = [
    "RunningDaemon",
    "assert_api_error",
    "await_until",
    "daemon_output",
    "free_port",
    "make_settings",
    "spawn_daemon",
    "start_daemon",
    "stop_process",
    "wait_until",
]

T = TypeVar("T")
POLL_S = 0.02


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def make_settings(tmp_path: Path, *, port: int | None = None, config_text: str = "") -> Settings:
    """Settings with config, data and logs under `tmp_path`; `config_text` is parsed (and written) as the config."""
    config_file = tmp_path / "config" / "config.toml"
    if config_text:
        config_file.parent.mkdir(parents=True, exist_ok=True)
        config_file.write_text(config_text, encoding="utf-8")
    return Settings(
        config=parse_config(config_text, config_file),
        config_file=config_file,
        data_dir=tmp_path / "data",
        log_dir=tmp_path / "logs",
        port=free_port() if port is None else port,
    )


@dataclass
class RunningDaemon:
    """A daemon built by `create_app`, served on a real loopback port by this test's event loop."""

    app: web.Application
    port: int
    base_url: str
    token: str
    settings: Settings
    runner: web.AppRunner
    clock: Clock
    http: httpx.AsyncClient
    """Ready to use: base_url set and `Authorization: Bearer <token>` sent on every request."""
    upstream: httpx.AsyncClient
    """The client handed to create_app as `http`."""

    async def stop(self) -> None:
        await self.http.aclose()
        await self.runner.cleanup()
        await self.upstream.aclose()


async def get_timers(d: RunningDaemon) -> dict[str, Any]:
    """GET /api/v1/timers (the state push's shape), asserting success."""
    response = await d.http.get("/api/v1/timers")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def get_entries(d: RunningDaemon) -> list[dict[str, Any]]:
    """GET /api/v1/entries, asserting success."""
    response = await d.http.get("/api/v1/entries")
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["entries"]
    return found


async def start_daemon(settings: Settings, *, clock: Clock | None = None) -> RunningDaemon:
    clock = SystemClock() if clock is None else clock
    upstream = httpx.AsyncClient(timeout=10)
    app = create_app(settings, clock=clock, http=upstream)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    try:
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", settings.port, reuse_address=False)
        await site.start()
    except BaseException:
        await runner.cleanup()
        await upstream.aclose()
        raise
    token = settings.token_file.read_text(encoding="utf-8").strip()
    base_url = f"http://127.0.0.1:{settings.port}"
    http = httpx.AsyncClient(base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=10)
    return RunningDaemon(
        app=app,
        port=settings.port,
        base_url=base_url,
        token=token,
        settings=settings,
        runner=runner,
        clock=clock,
        http=http,
        upstream=upstream,
    )


def assert_api_error(response: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    """The one error shape: {"error": {"code": snake_case, "message": non-empty str, "details": any}}, as JSON."""
    assert response.status_code == status, f"{response.status_code} != {status}: {response.text[:500]}"
    assert response.headers.get("content-type", "").split(";")[0].strip() == "application/json", response.headers
    body = response.json()
    assert isinstance(body, dict) and set(body) == {"error"}, body
    error = body["error"]
    assert isinstance(error, dict) and set(error) == {"code", "message", "details"}, error
    assert isinstance(error["code"], str) and re.fullmatch(r"[a-z][a-z0-9]*(_[a-z0-9]+)*", error["code"]), error
    assert isinstance(error["message"], str) and error["message"].strip(), error
    if code is not None:
        assert error["code"] == code, error
    return error


def wait_until(predicate: Callable[[], T], timeout: float = 10, what: str = "condition") -> T:
    """Poll `predicate` until it returns something truthy; return that. AssertionError at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(POLL_S)


async def await_until(predicate: Callable[[], Awaitable[T]], timeout: float = 10, what: str = "condition") -> T:
    """Async `wait_until`: awaits `predicate()` until it is truthy."""
    deadline = time.monotonic() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(POLL_S)


def daemon_env(home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["TICKETCLOCK_HOME"] = str(home)
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("PYTHONWARNINGS", None)
    return env


def daemon_output(home: Path) -> tuple[str, str]:
    """What a spawned daemon printed so far: (stdout, stderr)."""
    out = home / "daemon.stdout.txt"
    err = home / "daemon.stderr.txt"
    return (
        out.read_text(encoding="utf-8", errors="replace") if out.exists() else "",
        err.read_text(encoding="utf-8", errors="replace") if err.exists() else "",
    )


def _health(port: int) -> bool:
    try:
        response = httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=1)
    except httpx.HTTPError:
        return False
    return response.status_code == 200


def spawn_daemon(home: Path, port: int, *extra_args: str, timeout: float = 20) -> subprocess.Popen[bytes]:
    """Run `python -m daemon serve --port PORT` with TICKETCLOCK_HOME=home; return once /api/v1/health answers.

    Output goes to files in `home` (see `daemon_output`). Stop it with `stop_process`.
    """
    home.mkdir(parents=True, exist_ok=True)
    with (home / "daemon.stdout.txt").open("wb") as out, (home / "daemon.stderr.txt").open("wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "daemon", "serve", "--port", str(port), *extra_args],
            env=daemon_env(home),
            stdout=out,
            stderr=err,
            stdin=subprocess.DEVNULL,
        )
    deadline = time.monotonic() + timeout
    while not _health(port):
        if proc.poll() is not None or time.monotonic() > deadline:
            code = stop_process(proc)
            stdout, stderr = daemon_output(home)
            raise AssertionError(f"daemon did not come up (exit {code})\nstdout:\n{stdout}\nstderr:\n{stderr}")
        time.sleep(POLL_S)
    return proc


def stop_process(proc: subprocess.Popen[Any], timeout: float = 10) -> int:
    """Kill (if still running) and reap a process; returns its exit code."""
    if proc.poll() is None:
        proc.kill()
    return proc.wait(timeout=timeout)
