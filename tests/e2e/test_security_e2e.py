"""The real extension in headless Chromium on a shared machine (docs/security.md):

* another user's program holding the daemon's port receives no token — not over REST, not over the WebSocket;
* revoking the pairing with the real CLI (`ticketclock clients --revoke`, a subprocess) makes the extension show
  "daemon refuses this browser — pair again" at once, against the real daemon.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import WSMsgType, web

from daemon.auth import hash_token, proof
from tests.e2e.conftest import ARTIFACTS, start_app
from tests.support import RunningDaemon, await_until, daemon_env, make_settings, start_daemon

pytestmark = pytest.mark.e2e

TOKEN = "tc_the-users-paired-token-0123456789abcdef"
DEADLINE_S = 20


class Squatter:
    """Another user's program on the port: records every byte it gets, answers like a daemon, proves nothing."""

    def __init__(self) -> None:
        self.rest_proves = False
        """Answer the REST hello as the real daemon would (as if the port changed hands just after it)."""
        self.seen: list[str] = []
        self.changed = asyncio.Event()

    def note(self, text: str) -> None:
        self.seen.append(text)
        self.changed.set()

    async def anything(self, request: web.Request) -> web.StreamResponse:
        self.note(f"{request.method} {request.path_qs} {dict(request.headers)} {await request.text()}")
        if request.path == "/api/v1/ws":
            ws = web.WebSocketResponse()
            await ws.prepare(request)
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    self.note(msg.data)
                    if json.loads(msg.data).get("type") == "prove":
                        await ws.send_json({"type": "proof", "proof": "0" * 64})
            return ws
        if request.path == "/api/v1/hello":
            if self.rest_proves:
                port = request.transport.get_extra_info("sockname")[1]  # type: ignore[union-attr]
                return web.json_response({"proof": proof(hash_token(TOKEN), request.query["challenge"], port)})
            return web.json_response({"proof": "0" * 64})
        return web.json_response({"timers": [], "idle_pending": None, "at": 0})

    def got_token(self) -> bool:
        return any(TOKEN in text for text in self.seen)


@pytest.fixture
async def squatter() -> AsyncIterator[tuple[Squatter, int]]:
    s = Squatter()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", s.anything)
    runner, port = await start_app(app)
    yield s, port
    await runner.cleanup()


async def status_of(sw: Any) -> str:
    state: str = await sw.evaluate("chrome.storage.session.get('status').then(r => r.status?.state ?? '')")
    return state


@pytest.mark.parametrize("port_changed_hands", [False, True], ids=["squatter", "squatter-after-rest-proof"])
async def test_a_program_holding_the_port_gets_no_token_from_the_extension(
    squatter: tuple[Squatter, int], browser: Any, port_changed_hands: bool
) -> None:
    s, port = squatter
    s.rest_proves = port_changed_hands
    ctx, sw = browser
    await sw.evaluate("([port, token]) => chrome.storage.local.set({daemonPort: port, token})", [port, TOKEN])

    async def unproven() -> bool:
        return s.got_token() or await status_of(sw) == "unproven"

    await await_until(unproven, timeout=DEADLINE_S, what="the worker to report an unproven listener")
    assert not s.got_token(), s.seen
    if not port_changed_hands:  # (with a REST answer only the real daemon could give, REST is the daemon's)
        ext_id = sw.url.split("/")[2]
        popup = await ctx.new_page()
        await popup.goto(f"chrome-extension://{ext_id}/popup.html")  # the popup's REST calls: the same rule
        await popup.wait_for_selector("#error:text('did not prove it is your TicketClock daemon')")
        ARTIFACTS.mkdir(exist_ok=True)
        await popup.screenshot(path=str(ARTIFACTS / "popup-daemon-unproven.png"))
    # The worker retries with backoff; whatever it sent so far and on a retry, the token was never among it.
    await sw.evaluate("globalThis.ticketclock.daemon.restart()")
    await await_until(unproven, timeout=DEADLINE_S, what="the retry to be refused too")
    assert any("GET /api/v1/hello?challenge=" in text for text in s.seen), s.seen  # a challenge, nothing secret
    if port_changed_hands:  # the socket's own proof stopped the hello
        assert any('"prove"' in text for text in s.seen), s.seen
    assert not any('"hello"' in text for text in s.seen)
    assert not s.got_token()
    assert await sw.evaluate("chrome.storage.local.get('token').then(r => r.token)") == TOKEN  # still paired


@pytest.fixture
async def real(tmp_path: Path) -> AsyncIterator[RunningDaemon]:
    """The user's own daemon (request it before `browser`: it is torn down after the browser)."""
    d = await start_daemon(make_settings(tmp_path / "home"))
    yield d
    await d.stop()


async def test_revoking_in_the_cli_shows_unpaired_in_the_extension_at_once(
    real: RunningDaemon, browser: Any, tmp_path: Path
) -> None:
    ctx, sw = browser
    ext_id = sw.url.split("/")[2]
    await sw.evaluate("port => chrome.storage.local.set({daemonPort: port})", real.port)

    code = (await real.http.post("/api/v1/pair/codes")).json()["code"]
    options = await ctx.new_page()
    await options.goto(f"chrome-extension://{ext_id}/options.html")
    await options.wait_for_selector("body[data-rendered='1']")
    await options.fill("#code", code)
    await options.click("#pair")
    await options.wait_for_selector("#pair-result[data-outcome='ok']")
    await options.wait_for_selector("#status[data-state='connected']", timeout=DEADLINE_S * 1000)
    [client] = (await real.http.get("/api/v1/clients")).json()["clients"]
    assert client["origin"] == f"chrome-extension://{ext_id}"

    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "daemon",
        "clients",
        "--revoke",
        client["id"],
        "--port",
        str(real.port),
        env=daemon_env(tmp_path / "home"),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, (out, err)

    # revoked: the daemon answers but refuses this browser (issue 15: not the "never paired" state)
    await options.wait_for_selector("#status[data-state='refused']", timeout=DEADLINE_S * 1000)
    assert await options.text_content("#paired") == "no"
    assert "Paired." not in (await options.text_content("#pair-result") or "")  # no stale success beside it
    assert await sw.evaluate("chrome.storage.local.get('token').then(r => r.token)") == ""
    popup = await ctx.new_page()
    await popup.goto(f"chrome-extension://{ext_id}/popup.html")
    await popup.wait_for_selector("body[data-rendered='1']")
    assert await popup.text_content("#status") == "daemon refuses this browser — pair again"
    ARTIFACTS.mkdir(exist_ok=True)
    await popup.screenshot(path=str(ARTIFACTS / "popup-refused.png"))
    await options.screenshot(path=str(ARTIFACTS / "options-refused.png"))
    assert (await real.http.get("/api/v1/clients")).json()["clients"] == []
