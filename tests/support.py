"""Helpers shared by the tests: settings in a temporary folder, a daemon in-process on a real port, a daemon in a
subprocess, and polling with a deadline (never a fixed sleep).

Daemons bind port 0 and report the port they got (in-process: read from the socket; a subprocess: `daemon.json`
in its data folder, checked against the pid that GET /api/v1/health answers). No test picks a port for a server.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import msgspec
from aiohttp import web

from daemon.api.connections import LIMITS, GuardedRunner
from daemon.app import create_app
from daemon.clock import Clock, SystemClock
from daemon.runtime import DAEMON_FILE, listen_socket, read_daemon_file
from daemon.settings import Settings, parse_config

__all__ = [
    "HANG_TIMEOUT_S",
    "DaemonProcess",
    "RunningDaemon",
    "assert_api_error",
    "await_until",
    "daemon_output",
    "make_settings",
    "spawn_daemon",
    "start_daemon",
    "stop_process",
    "vacant_port",
    "wait_until",
]

T = TypeVar("T")
POLL_S = 0.02
DEADLINE_S = 30
"""Default overall deadline for polling: generous, it only matters when something is broken."""
HANG_TIMEOUT_S = 2
"""Client timeout for tests that inject a hang. The hang is endless, so this only has to outlast, on a loaded
machine, the ordinary requests the same client makes before and after it: seconds, not tenths."""
START_DEADLINE_S = 60
"""Deadline for a daemon subprocess to report and answer (a loaded CI machine can take seconds to import)."""


@contextlib.contextmanager
def vacant_port() -> Iterator[int]:
    """A loopback port where nothing listens, kept so while the block runs: a connection is refused.

    The port stays bound (not listening) by this process, so no other program or test gets it meanwhile; with
    SO_REUSEADDR, like the daemon's own socket, so `doctor` (which tries the daemon's bind) still finds it free.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        if os.name == "posix":
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", 0))
        yield s.getsockname()[1]


def make_settings(tmp_path: Path, *, port: int = 0, config_text: str = "") -> Settings:
    """Settings with config, data and logs under `tmp_path`; `config_text` is parsed (and written) as the config.

    Port 0: `start_daemon` binds a free port and returns settings carrying the port it got."""
    config_file = tmp_path / "config" / "config.toml"
    if config_text:
        config_file.parent.mkdir(parents=True, exist_ok=True)
        config_file.write_text(config_text, encoding="utf-8")
    return Settings(
        config=parse_config(config_text, config_file),
        config_file=config_file,
        data_dir=tmp_path / "data",
        log_dir=tmp_path / "logs",
        port=port,
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
    """Serve `create_app` on 127.0.0.1:`settings.port` (0: any free port) from this event loop.

    The socket is the real daemon's (`daemon.runtime.listen_socket`, SO_REUSEADDR as in `serve`), bound before the
    app is built so that the app knows its port; the returned `settings` carry that port, so a stopped daemon can
    be started again on the same port with `start_daemon(stopped.settings)`."""
    clock = SystemClock() if clock is None else clock
    sock = listen_socket("127.0.0.1", settings.port)
    settings = msgspec.structs.replace(settings, port=sock.getsockname()[1])
    upstream = httpx.AsyncClient(timeout=10)
    app = create_app(settings, clock=clock, http=upstream)
    runner = GuardedRunner(app, access_log=None, handle_signals=False)  # the daemon's own (connection limits)
    try:
        await runner.setup()
        await web.SockSite(runner, sock, backlog=app[LIMITS].backlog).start()
    except BaseException:
        sock.close()
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


def wait_until(predicate: Callable[[], T], timeout: float = DEADLINE_S, what: str = "condition") -> T:
    """Poll `predicate` until it returns something truthy; return that. AssertionError at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(POLL_S)


async def await_until(predicate: Callable[[], Awaitable[T]], timeout: float = DEADLINE_S, what: str = "condition") -> T:
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


class DaemonProcess(subprocess.Popen[bytes]):
    """A `python -m daemon serve` child; `port` is the port it reported, checked to be served by this very process."""

    port: int = 0


def _tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.splitlines()[-lines:])


def _reached(proc: DaemonProcess, data_dir: Path) -> tuple[int | None, str]:
    """(the port `proc` serves, or None; what was seen): its daemon.json names it and health answers its pid."""
    report = read_daemon_file(data_dir)
    if report is None:
        return None, f"no {data_dir / DAEMON_FILE} yet"
    if report.pid != proc.pid:
        return None, f"daemon.json names pid {report.pid}, not ours ({proc.pid}): a previous run's"
    try:
        response = httpx.get(f"http://127.0.0.1:{report.port}/api/v1/health", timeout=10)
    except httpx.HTTPError as exc:
        return None, f"port {report.port} from daemon.json: {type(exc).__name__} {exc}"
    try:
        body = response.json()
    except ValueError:
        body = None
    answered = body.get("pid") if response.status_code == 200 and isinstance(body, dict) else None
    if answered != proc.pid:
        return None, f"port {report.port} answers {response.status_code} {response.text[:200]!r}, not pid {proc.pid}"
    return report.port, "ok"


def spawn_daemon(
    home: Path,
    port: int = 0,
    *extra_args: str,
    timeout: float = START_DEADLINE_S,
    preexec_fn: Callable[[], None] | None = None,
) -> DaemonProcess:
    """Run `python -m daemon serve --port PORT` with TICKETCLOCK_HOME=home (port 0: any free port); return once it
    reported its port in daemon.json and GET /api/v1/health on that port answers its pid. `.port` is that port.

    Output goes to files in `home` (see `daemon_output`). Stop it with `stop_process`. `preexec_fn` (POSIX only)
    runs in the child before the daemon, e.g. to lower its file limit.
    """
    home.mkdir(parents=True, exist_ok=True)
    data_dir = home / "data"
    if "--data-dir" in extra_args:
        data_dir = Path(extra_args[extra_args.index("--data-dir") + 1])
    with (home / "daemon.stdout.txt").open("wb") as out, (home / "daemon.stderr.txt").open("wb") as err:
        proc = DaemonProcess(
            [sys.executable, "-m", "daemon", "serve", "--port", str(port), *extra_args],
            env=daemon_env(home),
            stdout=out,
            stderr=err,
            stdin=subprocess.DEVNULL,
            preexec_fn=preexec_fn,
        )
    deadline = time.monotonic() + timeout
    while True:
        got, seen = _reached(proc, data_dir)
        if got is not None:
            proc.port = got
            return proc
        exited = proc.poll() is not None
        if exited or time.monotonic() > deadline:
            code = stop_process(proc)
            stdout, stderr = daemon_output(home)
            why = f"exited with {code}" if exited else f"not ready after {timeout} s (killed: {code})"
            raise AssertionError(
                f"daemon {why}; last check: {seen}\nstdout (tail):\n{_tail(stdout)}\nstderr (tail):\n{_tail(stderr)}"
            )
        time.sleep(POLL_S)


def stop_process(proc: subprocess.Popen[Any], timeout: float = 10) -> int:
    """Kill (if still running) and reap a process; returns its exit code."""
    if proc.poll() is None:
        proc.kill()
    return proc.wait(timeout=timeout)


def yesterday_at(hour: float) -> float:
    """Yesterday at `hour` UTC, the tests' daemons' zone: wholly past at any time of day, and a window of a few hours
    from it crosses no midnight (where the Autotask connector rightly posts one record per day). A test that needs
    "now" only where it asserts nothing a midnight could change."""
    return (time.time() // 86_400 - 1) * 86_400 + hour * 3600


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(f"no TOML for {value!r}")


def instance_toml(instance: dict[str, Any]) -> list[str]:
    """The config lines of one `[[instances]]` table (and its options) from an instance as plain data."""
    lines = ["", "[[instances]]", *(f"{k} = {toml_value(v)}" for k, v in instance.items() if k != "options" and v)]
    if instance.get("options"):
        lines += ["", "[instances.options]", *(f"{k} = {toml_value(v)}" for k, v in instance["options"].items())]
    return lines


def write_psa_config(home: Path, *instances: dict[str, Any]) -> None:
    """A config naming these PSA instances (file credentials, UTC, an outbox that retries fast)."""
    lines = ['credentials = "file"', 'timezone = "UTC"', "", "[outbox]", "backoff_s = 0.02", "max_backoff_s = 0.2"]
    lines += ["max_attempts = 200"]
    for instance in instances:
        lines += instance_toml(instance)
    path = home / "config" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


@contextlib.asynccontextmanager
async def serve_sandbox(
    kind: str, ssl_context: ssl.SSLContext | None = None
) -> AsyncIterator[tuple[Any, web.Application, str]]:
    """One sandbox PSA of `kind` on 127.0.0.1 (any free port; HTTPS with `ssl_context`): (module, app, base URL)."""
    from daemon.sandbox import sandbox_module

    module = sandbox_module(kind)
    app = module.create_app(clock=SystemClock())
    runner = web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=0.1)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context).start()
        scheme = "https" if ssl_context is not None else "http"
        yield module, app, f"{scheme}://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


def daemon_api(home: Path, port: int) -> httpx.AsyncClient:
    """A client of the daemon serving `home` on `port`, with its CLI token."""
    token = (home / "data" / "token").read_text(encoding="utf-8").strip()
    return httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
