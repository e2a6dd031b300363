"""The CLI's remote-control commands start light: no aiohttp server, no httpx, no PSA connectors, no event loop.

People run `ticketclock timers` by hand many times a day (issue 14); these checks keep a stray top-level import from
bringing the daemon's weight back silently. Real subprocesses: a fresh interpreter's `sys.modules` is the truth.
"""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support import daemon_env, spawn_daemon, stop_process

CONFIG = """
[[instances]]
name = "cw"
kind = "connectwise"
origins = ["https://na.myconnectwise.net"]
options = { member = "jdoe", read_timeout_s = 20 }

[[instances]]
name = "at"
kind = "autotask"
origins = ["https://ww5.autotask.net"]

[[instances]]
name = "halo"
kind = "halopsa"
origins = ["https://acme.halopsa.com"]
"""
"""A user's config names their PSAs: loading it checks each connector's options, which must stay light too."""

HEAVY = ("httpx", "httpcore", "aiohttp", "aiohttp.web", "asyncio", "aiosqlite", "ssl", "email", "keyring")
CHECK = f"""
import json, sys
loaded = [m for m in {HEAVY!r} if m in sys.modules]
loaded += sorted(m for m in sys.modules if m.startswith(("daemon.sandbox.", "daemon.api", "daemon.connectors.")))
# a config's options are checked when it loads: the connectors' option modules, never their clients
kinds = ("connectwise", "autotask", "halopsa")
light = {{"daemon.connectors.base", "daemon.connectors.options"}}
light |= {{f"daemon.connectors.{{k}}" for k in kinds}} | {{f"daemon.connectors.{{k}}.config" for k in kinds}}
loaded = [m for m in loaded if m not in light]
print(json.dumps(loaded))
"""


def heavy_modules(code: str, home: Path) -> list[str]:
    (home / "config").mkdir(parents=True, exist_ok=True)
    (home / "config" / "config.toml").write_text(CONFIG, encoding="utf-8")
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


def test_loading_a_config_with_every_psa_kind_loads_nothing_heavy(tmp_path: Path) -> None:
    load = "import os\nfrom daemon.cli.main import build_parser\nfrom daemon.cli.config import resolve_settings\n"
    load += "settings = resolve_settings(build_parser().parse_args(['timers']), dict(os.environ))\n"
    load += "assert [i.kind for i in settings.config.instances] == ['connectwise', 'autotask', 'halopsa']\n"
    assert heavy_modules(load, tmp_path) == []


def test_a_remote_command_against_a_running_daemon_loads_nothing_heavy(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / "config").mkdir(parents=True)
    (home / "config" / "config.toml").write_text(CONFIG, encoding="utf-8")
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


def test_a_serving_daemon_loads_httpx_only_when_it_first_talks_to_a_psa(tmp_path: Path) -> None:
    """`serve` builds the connectors' shared HTTP client on the first PSA request: until then no httpx (memory and
    cold start); nor the XLSX writer before the first XLSX export; nor the web pages' files (and importlib.resources'
    zip reader) before the first page. The daemon runs in a real subprocess; at ready
    it reports, then asks a PSA through the client."""
    serve = (
        "import asyncio, json, os, sys\n"
        "from daemon.cli.main import build_parser\n"
        "from daemon.cli.config import resolve_settings\n"
        "from daemon.cli import serving\n"
        "settings = resolve_settings(build_parser().parse_args(['serve', '--port', '0']), dict(os.environ))\n"
        "seen = {}\n"
        "def ready(port):\n"
        "    lazy = ('httpx', 'httpcore', 'anyio', 'xlsxwriter', 'zipfile')\n"
        "    seen['at_ready'] = [m for m in lazy if m in sys.modules]\n"
        "    from daemon.api.web import assets\n"
        "    if assets.cache_info().currsize:\n"
        "        seen['at_ready'].append('web assets read')\n"
        "    asyncio.get_running_loop().call_soon(os.kill, os.getpid(), 15)\n"
        "asyncio.run(serving.serve(settings, ready=ready))\n"
        "print(json.dumps(seen['at_ready']))\n"
    )
    home = tmp_path / "home"
    (home / "config").mkdir(parents=True)
    (home / "config" / "config.toml").write_text(CONFIG, encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-c", serve],
        env=daemon_env(home),
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []


OTHER_COMMANDS = tuple(f"daemon.cli.{m}" for m in ("remote", "doctor", "init", "extension", "autostart", "automation"))


def test_serve_runs_without_the_other_commands_modules(tmp_path: Path) -> None:
    """`ticketclock serve` parses with its own table (a lighter cold start): the console script's `main` runs the
    daemon in a real subprocess, which stops itself once it reported its port; the other commands' modules were never
    imported, and the full table still offers every command."""
    serve = (
        "import json, os, signal, sys, threading, time\n"
        "from pathlib import Path\n"
        "from daemon.cli.main import main\n"
        "report = Path(os.environ['TICKETCLOCK_HOME']) / 'data' / 'daemon.json'\n"
        "def stop_when_ready():\n"
        "    deadline = time.monotonic() + 60\n"
        "    while not report.exists() and time.monotonic() < deadline:\n"
        "        time.sleep(0.01)\n"
        "    os.kill(os.getpid(), signal.SIGTERM)\n"
        "threading.Thread(target=stop_when_ready, daemon=True).start()\n"
        "code = main(['serve', '--port', '0'])\n"
        f"print(json.dumps([code, [m for m in {OTHER_COMMANDS!r} if m in sys.modules]]))\n"
        "from daemon.cli.main import COMMANDS, ORDER\n"
        "assert list(COMMANDS) == list(ORDER)\n"
    )
    home = tmp_path / "home"
    result = subprocess.run(
        [sys.executable, "-c", serve],
        env=daemon_env(home),
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == [0, []]


@pytest.mark.parametrize(
    "argv", [["serve", "--help"], ["serve", "--bogus"], ["serve", "--port", "x"], ["serve", "extra"], ["serve", "-v"]]
)
def test_the_serve_table_parses_serve_as_the_full_table_does(argv: list[str]) -> None:
    """The lighter table `main` uses for `serve` gives the same arguments, help, usage and errors."""
    from daemon.cli.main import SERVE, build_parser

    def parse(table: dict[str, Any] | None) -> tuple[object, str, str]:
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                result: object = vars(build_parser(table).parse_args(argv))
            except SystemExit as exc:
                result = ("exit", exc.code)
        return result, out.getvalue(), err.getvalue()

    assert parse(SERVE) == parse(None)


def test_serve_starts_without_cyclic_gc_and_turns_it_on_once_listening(tmp_path: Path) -> None:
    """`ticketclock serve` imports and starts with the cyclic garbage collector off (a lighter cold start) and turns
    it on once it listens: no collection ran before the daemon reported its port, and it is on afterwards."""
    serve = (
        "import gc, json, os, signal, sys, threading, time\n"
        "from pathlib import Path\n"
        "from daemon.cli.main import main\n"
        "report = Path(os.environ['TICKETCLOCK_HOME']) / 'data' / 'daemon.json'\n"
        "before_report = []\n"
        "def collection(phase, info):\n"
        "    if phase == 'start' and not report.exists():\n"
        "        before_report.append(1)\n"
        "gc.callbacks.append(collection)\n"
        "seen = {}\n"
        "def stop_when_ready():\n"
        "    deadline = time.monotonic() + 60\n"
        "    while not (report.exists() and gc.isenabled()) and time.monotonic() < deadline:\n"
        "        time.sleep(0.01)\n"
        "    seen['enabled'] = gc.isenabled()\n"
        "    os.kill(os.getpid(), signal.SIGTERM)\n"
        "assert gc.isenabled()\n"
        "threading.Thread(target=stop_when_ready, daemon=True).start()\n"
        "code = main(['serve', '--port', '0'])\n"
        "print(json.dumps([code, len(before_report), seen.get('enabled'), gc.isenabled()]))\n"
    )
    home = tmp_path / "home"
    result = subprocess.run(
        [sys.executable, "-c", serve],
        env=daemon_env(home),
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == [0, 0, True, True]


async def test_the_shared_client_is_built_on_the_first_request_and_closed_once() -> None:
    from aiohttp import web

    from daemon.cli.serving import SharedHttp

    async def hello(request: web.Request) -> web.Response:
        return web.json_response({"path": request.path})

    app = web.Application()
    app.router.add_get("/x", hello)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    shared = SharedHttp()
    try:
        await shared.aclose()  # nothing built yet: nothing to close
        response = await shared.request("GET", f"http://127.0.0.1:{port}/x")
        assert response.json() == {"path": "/x"}
        response = await shared.request("GET", f"http://127.0.0.1:{port}/x")  # the same client, reused
        assert response.status_code == 200
    finally:
        await shared.aclose()
        await runner.cleanup()
