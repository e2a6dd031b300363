"""The popup in the real extension against the real daemon: a closed ticket's entry is shown at once ("held until
10:42 — reopening continues it") and "Finish now" makes it final, by keyboard; notices that changed billed time
raise a browser notification and are listed in the popup until marked read. Every new popup state is screenshotted
into artifacts/."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from tests.e2e.conftest import ARTIFACTS
from tests.e2e.test_real_daemon import daemons, open_ticket, pair, ticket_id, wait_timers  # noqa: F401
from tests.support import RunningDaemon, await_until
from tests.support import get_entries as entries

pytestmark = pytest.mark.e2e

HELD = """
[timing]
grace_s = 1
merge_s = 600
min_seconds = 0
heartbeat_s = 5
"""


async def open_popup(ctx: Any, sw: Any, height: int = 420) -> Any:
    popup = await ctx.new_page()
    await popup.set_viewport_size({"width": 400, "height": height})
    await popup.goto(f"chrome-extension://{sw.url.split('/')[2]}/popup.html")
    await popup.wait_for_selector("body[data-rendered='1']")
    return popup


async def test_a_closed_tickets_entry_is_held_in_the_popup_and_finished_by_keyboard(
    daemons: Callable[..., Awaitable[RunningDaemon]],  # noqa: F811
    browser: Any,
    psa_port: int,
) -> None:
    ctx, sw = browser
    d = await daemons(HELD)
    await pair(sw, d)
    popup = await open_popup(ctx, sw)
    page = await open_ticket(ctx, psa_port, 301)
    timer = (await wait_timers(d, lambda ts: ts.get(301, {}).get("state") == "running", "ticket 301 running"))[301]
    await page.close()

    async def held() -> list[dict[str, Any]]:
        return [e for e in await entries(d) if e["status"] == "open" and e["id"] == timer["id"]]

    [entry] = await await_until(held, timeout=15, what="the closed ticket's open entry")
    until = time.strftime("%H:%M", time.localtime(entry["held_until"]))
    card = f"li.timer[data-id='{timer['id']}']"
    await popup.wait_for_selector(f"{card} .held:text('held until {until} — reopening continues it')")
    assert await popup.is_visible(f"{card} button.finish")
    assert not await popup.is_visible(f"{card} button.toggle")  # nothing to pause on a closed ticket
    assert not await popup.is_visible(f"{card} button.stop")
    ARTIFACTS.mkdir(exist_ok=True)
    await popup.screenshot(path=str(ARTIFACTS / "popup-held-entry.png"))

    # Keyboard only: focus "Finish now" and press Enter.
    await popup.focus(f"{card} button.finish")
    await popup.keyboard.press("Enter")

    async def finished() -> list[dict[str, Any]]:
        return [e for e in await entries(d) if e["timer_id"] == timer["id"] and e["status"] != "open"]

    [final] = await await_until(finished, timeout=10, what="the entry finished from the popup")
    assert final["status"] in ("pending", "queued") and final["ticket_id"] == 301
    await popup.wait_for_selector(card, state="detached")
    assert [e for e in await entries(d) if e["ticket_id"] == 301] == [final]  # exactly once
    assert await popup.is_hidden("#error")
    await popup.screenshot(path=str(ARTIFACTS / "popup-held-entry-finished.png"))


async def test_a_notice_raises_a_browser_notification_and_is_listed_until_read(
    daemons: Callable[..., Awaitable[RunningDaemon]],  # noqa: F811
    browser: Any,
    psa_port: int,
) -> None:
    ctx, sw = browser
    d = await daemons('[timing]\nmode = "open"\nheartbeat_s = 5\n')  # open mode: every open ticket is timed
    await pair(sw, d)
    popup = await open_popup(ctx, sw, height=520)
    assert await popup.is_hidden("#notices")

    # A second browser (another install) opens ten tickets at once: the tenth is not timed, which changes billed time.
    now = time.time()
    url = f"http://127.0.0.1:{psa_port}/ticket?id="  # the PSA look-alike's ticket pages
    tab = {"type": "tab_opened", "at": now, "window": 9, "active": True}
    events = [{**tab, "seq": n, "tab": 900 + n, "url": f"{url}{500 + n}"} for n in range(1, 11)]
    response = await d.http.post("/api/v1/browser/events", json={"type": "batch", "install": "other", "events": events})
    assert response.status_code == 200, response.text
    [notice] = (await d.http.get("/api/v1/notices")).json()["notices"]
    assert notice["code"] == "limit_reached" and notice["alert"]

    async def notified() -> dict[str, Any]:
        shown: dict[str, Any] = await sw.evaluate("chrome.notifications.getAll()")
        return shown

    shown = await await_until(notified, timeout=10, what="a browser notification for the eviction")
    assert list(shown) == [f"notice-{notice['id']}"]

    item = f"#notice-list li[data-id='{notice['id']}']"
    await popup.wait_for_selector(item)
    assert await popup.text_content("#notices-title") == "1 new notice"
    assert notice["message"] in (await popup.text_content(item) or "")
    ARTIFACTS.mkdir(exist_ok=True)
    await popup.screenshot(path=str(ARTIFACTS / "popup-notices.png"))

    await popup.focus("#notices-read")
    await popup.keyboard.press("Enter")
    await popup.wait_for_selector("#notices", state="hidden")
    assert (await d.http.get("/api/v1/notices")).json()["unread"] == 0
