"""The CLI's remote-control commands start light: no aiohttp server, no httpx, no PSA connectors, no event loop.

People run `ticketclock timers` by hand many times a day (issue 14); these checks keep a stray top-level import from
bringing the daemon's weight back silently. Real subprocesses: a fresh interpreter's `sys.modules` is the truth.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.support import daemon_env, spawn_daemon, stop_process

HEAVY = ("httpx", "httpcore", "aiohttp", "aiohttp.web", "asyncio", "aiosqlite", "ssl")
CHECK = f"""
import json, sys
loaded = [m for m in {HEAVY!r} if m in sys.modules]
loaded += sorted(m for m in sys.modules if m.startswith(("daemon.connectors", "daemon.sandbox.", "daemon.api")))
print(json.dumps(loaded))
"""


def heavy_modules(code: str, home: Path) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-c", code + CHECK],
        env=daemon_env(home),
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    loaded: list[str] = json.loads(result.stdout.strip().splitlines()[-1])
    return loaded


def test_importing_the_cli_loads_nothing_heavy(tmp_path: Path) -> None:
    assert heavy_modules("import daemon.cli.main", tmp_path) == []


def test_a_remote_command_against_a_running_daemon_loads_nothing_heavy(tmp_path: Path) -> None:
    home = tmp_path / "home"
    proc = spawn_daemon(home)
    try:
        run = (
            "from daemon.cli.main import main\n"
            f"assert main(['timers', '--port', '{proc.port}']) == 0\n"
            f"assert main(['status', '--port', '{proc.port}']) == 0\n"
        )
        assert heavy_modules(run, home) == []
    finally:
        stop_process(proc)
