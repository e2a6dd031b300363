"""Fixtures for the end-to-end tests: a real headless Chromium with the unpacked extension (extension/), PSA
look-alike pages, a non-PSA site, and the recording fake daemon (recorder.py). See
../../../shared/docs/extension-e2e-howto.md for the why of each launch flag.

Chromium missing: the tests skip, except when the environment variable CI is set, where they fail.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from tests.e2e.recorder import Recorder, RecorderServer

ROOT = Path(__file__).resolve().parents[2]
EXT_DIR = ROOT / "extension"  # absolute: an unpacked extension's id is derived from its path
ARTIFACTS = ROOT / "artifacts"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")

LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    f"--disable-extensions-except={EXT_DIR}",  # overrides Playwright's default --disable-extensions
    f"--load-extension={EXT_DIR}",
]

NON_PSA_MARKER = "NONPSA-SECRET-7d1f"


async def start_app(app: web.Application) -> tuple[web.AppRunner, int]:
    runner = web.AppRunner(app, shutdown_timeout=1.0)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, runner.addresses[0][1]


def _page(title: str, body: str = "", script: str = "") -> web.Response:
    html = f"<!doctype html><html><head><title>{title}</title></head>"
    html += f"<body>{body}<script>{script}</script></body></html>"
    return web.Response(text=html, content_type="text/html")


# ConnectWise's single-page app: the URL hash is opaque; the header says which ticket is open.
_CW_SPA_SCRIPT = """
function show() {
  const m = /t=(\\d+)/.exec(location.hash);
  document.getElementById('app').replaceChildren();
  if (m) {
    const h = document.createElement('div');
    h.className = 'ticket-header';
    h.textContent = 'Service Ticket #' + m[1] + ' - Printer jam';
    document.getElementById('app').append(h);
  }
}
setTimeout(show, 50);
window.addEventListener('hashchange', show);
"""


def make_psa_app() -> web.Application:
    """Ticket pages at the vendors' real URL shapes (the extension only looks at the origin; the daemon at the rest)."""

    async def cw_sr100(request: web.Request) -> web.Response:
        n = request.query.get("service_recid", "?")
        return _page(f"Service Ticket #{n}", f"<h1>Service Ticket #{n}</h1>")

    async def cw_spa(request: web.Request) -> web.Response:
        return _page("ConnectWise Manage", "<div id='app'></div>", _CW_SPA_SCRIPT)

    async def halo(request: web.Request) -> web.Response:
        return _page(f"Halo ticket {request.query.get('id', '?')}")

    async def autotask(request: web.Request) -> web.Response:
        return _page(f"Autotask ticket {request.query.get('ticketId', '?')}")

    app = web.Application()
    app.router.add_get("/v4_6_release/services/system_io/Service/fv_sr100_request.rails", cw_sr100)
    app.router.add_get("/v4_6_release/ConnectWise.aspx", cw_spa)
    app.router.add_get("/ticket", halo)
    app.router.add_get("/Mvc/ServiceDesk/TicketDetail.mvc", autotask)
    return app


def make_other_app() -> web.Application:
    """A site that is no PSA: nothing about it may ever reach the daemon."""

    async def page(request: web.Request) -> web.Response:
        return _page(f"{NON_PSA_MARKER} inbox", f"<h1>Ticket #999 {NON_PSA_MARKER}</h1>")

    app = web.Application()
    app.router.add_get("/{tail:.*}", page)
    return app


@pytest.fixture
async def psa_port() -> AsyncIterator[int]:
    runner, port = await start_app(make_psa_app())
    yield port
    await runner.cleanup()


@pytest.fixture
async def other_port() -> AsyncIterator[int]:
    runner, port = await start_app(make_other_app())
    yield port
    await runner.cleanup()


@pytest.fixture
async def recorder(psa_port: int) -> AsyncIterator[RecorderServer]:
    """The fake daemon, configured with one instance per PSA kind on the look-alike origin."""
    origin = f"http://127.0.0.1:{psa_port}"
    rec = Recorder(
        [
            {"name": "cw", "kind": "connectwise", "origins": [origin]},
            {"name": "halo", "kind": "halopsa", "origins": [origin]},
            {"name": "at", "kind": "autotask", "origins": [origin]},
        ]
    )
    server = RecorderServer(rec)
    await server.start()
    yield server
    await server.stop()
    assert not rec.invalid, f"the extension sent frames the daemon would refuse: {rec.invalid}"


def _require_chromium() -> None:
    if shutil.which(CHROMIUM):
        return
    message = f"chromium not found at {CHROMIUM} (apt-get install chromium)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
async def browser(tmp_path: Path) -> AsyncIterator[Any]:
    """A persistent Chromium context with the extension loaded, and its service worker."""
    _require_chromium()
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        ctx = await p.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS
        )
        try:
            sw = ctx.service_workers[0] if ctx.service_workers else await ctx.wait_for_event("serviceworker")
            yield ctx, sw
        finally:
            await ctx.close()


@pytest.fixture
async def ext(recorder: RecorderServer, browser: Any) -> dict[str, Any]:
    """The extension, paired with and connected to the recorder."""
    ctx, sw = browser
    rec = recorder.rec
    await sw.evaluate(
        "([port, token]) => chrome.storage.local.set({daemonPort: port, token})", [recorder.port, rec.token]
    )
    hellos = await rec.wait_for(lambda r: r.hellos())
    await rec.wait_for(lambda r: r.events(type="snapshot"))  # config received, origins known
    return {
        "ctx": ctx,
        "sw": sw,
        "ext_id": sw.url.split("/")[2],
        "server": recorder,
        "rec": rec,
        "hello": hellos[0],
    }
