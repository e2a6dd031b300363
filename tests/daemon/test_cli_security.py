"""The CLI against a shared machine's dangers, as a user runs it (real subprocesses, real sockets):

* another user's program holding the port gets no token (HTTP and WebSocket), even if it relays to a real daemon;
* the real daemon proves itself and everything works; `ticketclock clients` lists and revokes pairings;
* ticket text cannot reach the terminal as escape sequences nor a spreadsheet as a formula;
* credentials never come from the command line; a prompt or standard input only, with a clear message at EOF.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from aiohttp import WSMsgType, web

from daemon.auth import ensure_token_file
from tests.support import RunningDaemon, daemon_env, make_settings, start_daemon, vacant_port

pytestmark = pytest.mark.slow

CLI_TIMEOUT_S = 60


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


async def cli(home: Path, *args: str, stdin: bytes = b"") -> Result:
    """`python -m daemon ARGS` in a subprocess (stdin a pipe: not a terminal)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "daemon",
        *args,
        env=daemon_env(home),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(stdin), CLI_TIMEOUT_S)
    assert proc.returncode is not None
    return Result(proc.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"))


@dataclass
class Squatter:
    """Another user's program on the port: it records every byte it is sent and answers like a daemon would."""

    relay_to: int | None = None
    """Forward /api/v1/hello to a real daemon on this port (a relay) instead of making up a proof."""
    seen: list[str] = field(default_factory=list)
    port: int = 0
    runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/api/v1/ws", self.ws)
        app.router.add_route("*", "/{tail:.*}", self.anything)
        self.runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", 0).start()
        self.port = self.runner.addresses[0][1]

    async def stop(self) -> None:
        assert self.runner is not None
        await self.runner.cleanup()

    def record(self, request: web.Request, body: str = "") -> None:
        self.seen.append(f"{request.method} {request.path_qs}\n{dict(request.headers)}\n{body}")

    async def anything(self, request: web.Request) -> web.Response:
        self.record(request, await request.text())
        if request.path == "/api/v1/hello":
            if self.relay_to is not None:
                async with httpx.AsyncClient() as http:
                    real = await http.get(f"http://127.0.0.1:{self.relay_to}/api/v1/hello", params=request.query)
                return web.json_response(real.json(), status=real.status_code)
            return web.json_response({"proof": "0" * 64})
        return web.json_response({"timers": [], "clients": [], "code": "12345678", "expires_at": 0, "entries": []})

    async def ws(self, request: web.Request) -> web.WebSocketResponse:
        self.record(request)
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                self.seen.append(msg.data)
                kind = json.loads(msg.data).get("type")
                if kind == "prove":
                    await ws.send_json({"type": "proof", "proof": "0" * 64})
                else:  # got what it wanted
                    await ws.close()
        return ws

    def got(self, secret: str) -> bool:
        return any(secret in text for text in self.seen)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    folder = tmp_path / "home"
    folder.mkdir()
    return folder


@pytest.fixture
async def squatter() -> AsyncIterator[Squatter]:
    s = Squatter()
    await s.start()
    yield s
    await s.stop()


@pytest.fixture
async def real(home: Path) -> AsyncIterator[RunningDaemon]:
    """The user's own daemon, in this process, on the data folder the CLI subprocess uses."""
    d = await start_daemon(make_settings(home))
    yield d
    await d.stop()


# --- item 2: the token only to a proven daemon ------------------------------------------------------------------


@pytest.mark.parametrize("command", [["timers"], ["pair"], ["clients"], ["entries", "--csv"], ["status"]])
async def test_a_program_holding_the_port_gets_no_token(home: Path, squatter: Squatter, command: list[str]) -> None:
    token = ensure_token_file(home / "data" / "token")
    result = await cli(home, *command, "--port", str(squatter.port))
    assert result.returncode == 1, result
    assert "did not prove it is your TicketClock daemon" in result.stderr
    assert "Traceback" not in result.stderr
    assert squatter.seen, "the CLI never asked"  # it did talk to the port: a challenge, nothing else
    assert not squatter.got(token)


async def test_doctor_flags_a_program_on_the_port_that_cannot_prove_itself(home: Path, squatter: Squatter) -> None:
    token = ensure_token_file(home / "data" / "token")
    result = await cli(home, "doctor", "--port", str(squatter.port))
    assert result.returncode == 1, result
    assert "[FAIL] something else answers" in result.stdout and "did not prove" in result.stdout
    assert not squatter.got(token)


async def test_doctor_with_the_real_daemon_says_it_proves_itself(home: Path, real: RunningDaemon) -> None:
    result = await cli(home, "doctor", "--port", str(real.port))
    assert "[ok] it proves it holds your token" in result.stdout, result


async def test_watch_sends_no_token_to_a_program_holding_the_port(home: Path, squatter: Squatter) -> None:
    token = ensure_token_file(home / "data" / "token")
    result = await cli(home, "watch", "--count", "1", "--port", str(squatter.port))
    assert result.returncode == 2, result
    assert "did not prove it is your TicketClock daemon" in result.stderr
    assert any('"prove"' in text for text in squatter.seen)
    assert not squatter.got(token)


async def test_a_relay_to_the_real_daemon_on_another_port_gets_no_token(
    home: Path, real: RunningDaemon, squatter: Squatter
) -> None:
    squatter.relay_to = real.port
    result = await cli(home, "timers", "--port", str(squatter.port))
    assert result.returncode == 1, result
    assert "did not prove" in result.stderr
    assert not squatter.got(real.token)


async def test_the_real_daemon_proves_itself_and_the_cli_works(home: Path, real: RunningDaemon) -> None:
    port = str(real.port)
    started = await cli(home, "start", "--task", "Admin", "--port", port)
    assert started.returncode == 0, started
    timers = await cli(home, "timers", "--port", port)
    assert timers.returncode == 0 and "Admin" in timers.stdout, timers
    watched = await cli(home, "watch", "--count", "1", "--port", port)
    assert watched.returncode == 0 and "Admin" in watched.stdout, watched


async def test_a_daemon_with_another_token_is_refused_without_sending_ours(home: Path, tmp_path: Path) -> None:
    mine = ensure_token_file(home / "data" / "token")
    other = await start_daemon(make_settings(tmp_path / "other-user"))
    try:
        result = await cli(home, "timers", "--port", str(other.port))
    finally:
        await other.stop()
    assert result.returncode == 1, result
    assert "does not hold your token" in result.stderr
    assert mine != other.token


# --- item 6: `ticketclock clients` --------------------------------------------------------------------------------


async def test_clients_lists_and_revokes_a_pairing(home: Path, real: RunningDaemon) -> None:
    code = (await real.http.post("/api/v1/pair/codes")).json()["code"]
    ext = "chrome-extension://abcdefghijklmnopabcdefghijklmnop"
    async with httpx.AsyncClient(base_url=real.base_url, headers={"Origin": ext}) as browser:
        pairing = (await browser.post("/api/v1/pair", json={"code": code, "client": "Chrome"})).json()
        auth = {"Authorization": f"Bearer {pairing['token']}"}
        assert (await browser.get("/api/v1/timers", headers=auth)).status_code == 200

        listed = await cli(home, "clients", "--port", str(real.port))
        assert listed.returncode == 0, listed
        assert pairing["client_id"] in listed.stdout and "Chrome" in listed.stdout and ext in listed.stdout

        revoked = await cli(home, "clients", "--revoke", pairing["client_id"], "--port", str(real.port))
        assert revoked.returncode == 0, revoked
        assert (await browser.get("/api/v1/timers", headers=auth)).status_code == 401

    again = await cli(home, "clients", "--port", str(real.port))
    assert "no paired clients" in again.stdout
    unknown = await cli(home, "clients", "--revoke", "c_000000000000", "--port", str(real.port))
    assert unknown.returncode == 1 and "not_found" in unknown.stderr


# --- item 7: terminal and spreadsheet injection ------------------------------------------------------------------

EVIL_NOTES = "\x1b]0;owned\x07\x1b[2J\x9b31mhi\u202eeman\r\n=1+2"
EVIL_TASK = '=HYPERLINK("http://evil.example")'


async def test_ticket_text_never_reaches_the_terminal_as_escapes(home: Path, real: RunningDaemon) -> None:
    started = await real.http.post("/api/v1/timers", json={"task": "\x1b[31mAdmin\x1b[0m", "notes": EVIL_NOTES})
    assert started.status_code == 201, started.text
    timer = started.json()["id"]
    assert (await real.http.post(f"/api/v1/timers/{timer}/stop")).status_code == 200
    for command in (["timers"], ["entries"], ["outbox"]):
        result = await cli(home, *command, "--port", str(real.port))
        assert result.returncode == 0, result
        for char in "\x1b\x07\x9b\u202e\r":
            assert char not in result.stdout + result.stderr, (command, result.stdout)
    listed = await cli(home, "entries", "--port", str(real.port))
    assert "hi" in listed.stdout  # the text stays, only the control characters go


async def test_a_label_echoed_back_is_printed_without_escapes(home: Path, real: RunningDaemon) -> None:
    result = await cli(home, "start", "--task", "\x1b]0;owned\x07Admin", "--port", str(real.port))
    assert result.returncode == 0, result
    assert "Admin" in result.stdout
    assert "\x1b" not in result.stdout and "\x07" not in result.stdout


async def test_csv_export_escapes_formulas_and_control_characters(home: Path, real: RunningDaemon) -> None:
    rows = [("=SUM(A1:A9)", "+1"), ("-2", "@cmd"), ("\t=x", "plain")]
    for task, notes in [(EVIL_TASK, EVIL_NOTES), *rows]:
        started = await real.http.post("/api/v1/timers", json={"task": task, "notes": notes})
        assert started.status_code == 201, started.text
        assert (await real.http.post(f"/api/v1/timers/{started.json()['id']}/stop")).status_code == 200
    result = await cli(home, "entries", "--csv", "--port", str(real.port))
    assert result.returncode == 0, result
    assert "\x1b" not in result.stdout and "\x9b" not in result.stdout
    table = list(csv.DictReader(io.StringIO(result.stdout)))
    assert len(table) == 4
    for row in table:
        for column, cell in row.items():
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), (column, cell)
    by_task = {row["task"]: row for row in table}
    assert by_task["'" + EVIL_TASK]["notes"].endswith("=1+2")  # inside a cell a formula sign is harmless
    assert by_task["'=SUM(A1:A9)"]["notes"] == "'+1"
    assert by_task["'-2"]["notes"] == "'@cmd"
    assert "'=x" in by_task  # (the daemon trims the task's leading tab)
    assert all(float(row["hours"]) >= 0 for row in table)  # numbers stay numbers


# --- item 8: credentials never on argv ---------------------------------------------------------------------------

HALO = """credentials = "file"

[[instances]]
name = "{name}"
kind = "halopsa"
api_url = "http://127.0.0.1:{port}"
origins = ["http://127.0.0.1:{port}"]
"""


def halo_home(home: Path) -> None:
    (home / "config").mkdir(parents=True, exist_ok=True)
    with vacant_port() as port:  # the PSA is never reached: these tests stop before any request
        (home / "config" / "config.toml").write_text(HALO.format(name="halo", port=port), encoding="utf-8")


async def test_connect_refuses_credentials_on_the_command_line(home: Path) -> None:
    halo_home(home)
    with vacant_port() as port:
        result = await cli(home, "connect", "halo", "--set", "client_secret=hunter2", "--port", str(port))
    assert result.returncode == 2, result
    assert "never taken from the command line" in result.stderr
    assert "hunter2" not in result.stdout + result.stderr


@pytest.mark.parametrize("stdin", [b"", b"client_id=abc\n"])
async def test_connect_with_too_little_on_standard_input_says_so_without_a_traceback(home: Path, stdin: bytes) -> None:
    halo_home(home)
    with vacant_port() as port:
        result = await cli(home, "connect", "halo", "--port", str(port), stdin=stdin)
    assert result.returncode == 2, result
    assert "standard input ended without" in result.stderr and "client_secret" in result.stderr
    assert "Traceback" not in result.stderr


async def test_connect_reads_credentials_from_standard_input(home: Path) -> None:
    import msgspec

    from daemon.clock import SystemClock
    from daemon.sandbox import halopsa as sandbox

    runner = web.AppRunner(sandbox.create_app(clock=SystemClock()), access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        port = runner.addresses[0][1]
        instance, credentials = sandbox.demo_instance(f"http://127.0.0.1:{port}")
        d = await start_daemon(make_settings(home, config_text=HALO.format(name=instance.name, port=port)))
        try:
            fields = msgspec.to_builtins(credentials)
            lines = "".join(f"{k}={v}\n" for k, v in fields.items() if v)
            result = await cli(home, "connect", instance.name, "--port", str(d.port), stdin=lines.encode())
            assert result.returncode == 0, result
            assert "credentials stored" in result.stdout
            [status] = [s for s in (await d.http.get("/api/v1/psa")).json()["instances"] if s["name"] == instance.name]
            assert status["credentials"]
        finally:
            await d.stop()
    finally:
        await runner.cleanup()
