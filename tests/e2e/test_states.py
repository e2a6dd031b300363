"""The extension's connection states against the real daemon, as a user sees them: "daemon not running" only when
nothing answers, "daemon on another port" when a TicketClock daemon answers elsewhere, the options page explaining
the port box, and the options page opened once after installation with the pairing step first. Screenshots in
artifacts/ (popup-*.png, options-*.png)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import ARTIFACTS
from tests.support import DEADLINE_S, RunningDaemon, await_until, make_settings, start_daemon, vacant_port

pytestmark = pytest.mark.e2e


@pytest.fixture
async def real(tmp_path: Path) -> AsyncIterator[RunningDaemon]:
    d = await start_daemon(make_settings(tmp_path / "home"))
    yield d
    await d.stop()


async def open_page(ctx: Any, ext_id: str, name: str) -> Any:
    page = await ctx.new_page()
    await page.goto(f"chrome-extension://{ext_id}/{name}.html")
    await page.wait_for_selector("body[data-rendered='1']")
    return page


async def test_the_options_page_opens_once_after_installation_with_pairing_first(browser: Any) -> None:
    ctx, sw = browser
    ext_id = sw.url.split("/")[2]
    options_url = f"chrome-extension://{ext_id}/options.html"

    async def opened() -> list[Any]:
        return [p for p in ctx.pages if p.url == options_url]

    (page,) = await await_until(opened, what="the options page to open by itself")
    await page.wait_for_selector("body[data-rendered='1']")
    headings = await page.locator("h2").all_text_contents()
    assert headings[0] == "1. Pair this browser", headings
    help_text = await page.text_content("#port-help") or ""
    assert "47600" in help_text and "ticketclock doctor" in help_text
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "options-first-run.png"), full_page=True)
    assert await sw.evaluate("chrome.storage.local.get('onboarded').then(r => r.onboarded)") is True


async def test_not_running_versus_on_another_port(real: RunningDaemon, browser: Any) -> None:
    ctx, sw = browser
    ext_id = sw.url.split("/")[2]
    with vacant_port() as nobody:
        # paired earlier with the daemon on real.port (seen there); the options now name a port where nothing runs
        await sw.evaluate(
            "([port, seen]) => chrome.storage.local.set({daemonPort: port, seenPort: seen, token: 'tc_x'})",
            [nobody, real.port],
        )
        await sw.evaluate("globalThis.ticketclock.daemon.restart()")
        popup = await open_page(ctx, ext_id, "popup")
        await popup.wait_for_selector("#status[data-state='other_port']", timeout=DEADLINE_S * 1000)
        assert await popup.text_content("#status") == "daemon on another port"
        assert await popup.get_attribute("#status", "title") == (
            f"the daemon answers on port {real.port}; the options say {nobody}"
        )
        options = await open_page(ctx, ext_id, "options")
        await options.wait_for_selector("#status[data-state='other_port']")
        assert f"port {real.port}" in (await options.text_content("#status-detail") or "")
        ARTIFACTS.mkdir(exist_ok=True)
        await popup.screenshot(path=str(ARTIFACTS / "popup-other-port.png"))
        await options.screenshot(path=str(ARTIFACTS / "options-other-port.png"), full_page=True)

    await real.stop()  # now nothing answers anywhere it could be
    await sw.evaluate("globalThis.ticketclock.daemon.restart()")
    await popup.reload()
    await popup.wait_for_selector("#status[data-state='disconnected']", timeout=DEADLINE_S * 1000)
    assert await popup.text_content("#status") == "daemon not running"
    await popup.screenshot(path=str(ARTIFACTS / "popup-not-running.png"))
