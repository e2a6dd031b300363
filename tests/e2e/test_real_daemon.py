"""End to end against the real daemon (daemon.app.create_app on a loopback port): pair through the options page,
open a ticket page, see the timer in the daemon and in the popup, act on it from the popup."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import ARTIFACTS
from tests.support import RunningDaemon, await_until, make_settings, start_daemon

pytestmark = pytest.mark.e2e


@pytest.fixture
async def real_daemon(tmp_path: Path, psa_port: int) -> AsyncIterator[RunningDaemon]:
    config = f"""
[[instances]]
name = "halo"
kind = "halopsa"
origins = ["http://127.0.0.1:{psa_port}"]
"""
    running = await start_daemon(make_settings(tmp_path / "daemon", config_text=config))
    try:
        yield running
    finally:
        await running.stop()


async def live_timers(d: RunningDaemon) -> list[dict[str, Any]]:
    response = await d.http.get("/api/v1/timers")
    assert response.status_code == 200, response.text
    timers: list[dict[str, Any]] = response.json()["timers"]
    return timers


async def test_ticket_page_starts_a_timer_in_the_real_daemon(
    real_daemon: RunningDaemon, browser: Any, psa_port: int
) -> None:
    # (The daemon is set up first so that it is torn down after the browser has closed its WebSocket.)
    ctx, sw = browser
    d = real_daemon
    await sw.evaluate("port => chrome.storage.local.set({daemonPort: port})", d.port)
    ext_id = sw.url.split("/")[2]

    # Pair the way a technician does: a code from the daemon, typed into the options page.
    code = (await d.http.post("/api/v1/pair/codes")).json()["code"]
    options = await ctx.new_page()
    await options.goto(f"chrome-extension://{ext_id}/options.html")
    await options.wait_for_selector("body[data-rendered='1']")
    await options.fill("#code", code)
    await options.click("#pair")
    await options.wait_for_selector("#pair-result[data-outcome='ok']")
    await options.wait_for_selector("#status[data-state='connected']", timeout=15_000)
    await options.wait_for_selector(f"#origins li:text('http://127.0.0.1:{psa_port}')")

    # The popup is a tab here (the real one is not a Playwright page); open it first so that the ticket tab,
    # opened next, is the active one: in focus mode only the ticket in view runs.
    popup = await ctx.new_page()
    await popup.set_viewport_size({"width": 400, "height": 360})
    await popup.goto(f"chrome-extension://{ext_id}/popup.html")
    await popup.wait_for_selector("body[data-rendered='1']")

    page = await ctx.new_page()
    await page.goto(f"http://127.0.0.1:{psa_port}/ticket?id=77")

    async def ticket_timer() -> list[dict[str, Any]]:
        return [t for t in await live_timers(d) if (t["ticket"] or {}).get("id") == 77 and t["running"]]

    timer = (await await_until(ticket_timer, timeout=15, what="a running timer for ticket 77"))[0]
    await popup.wait_for_selector(f"li.timer[data-id='{timer['id']}'] button.toggle:text('Pause')")
    assert await popup.text_content(f"li.timer[data-id='{timer['id']}'] .label") == timer["label"]
    assert await popup.text_content("#status") == "connected"
    ARTIFACTS.mkdir(exist_ok=True)
    await popup.screenshot(path=str(ARTIFACTS / "popup-real-daemon.png"))

    await popup.click(f"li.timer[data-id='{timer['id']}'] button.toggle")

    async def paused() -> bool:
        return any(t["id"] == timer["id"] and t["state"] == "paused" for t in await live_timers(d))

    await await_until(paused, timeout=10, what="the timer paused from the popup")
    await popup.wait_for_selector(f"li.timer[data-id='{timer['id']}'] button.toggle:text('Resume')")

    # Every event the extension sent was accepted: its queue drains.
    deadline = time.monotonic() + 10
    while (n := await sw.evaluate("chrome.storage.local.get('queue').then(r => r.queue.events.length)")) and (
        time.monotonic() < deadline
    ):
        await popup.wait_for_timeout(100)
    assert n == 0
