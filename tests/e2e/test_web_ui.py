"""The web UI end to end: the real daemon (create_app on a loopback port), the real extension in a headless
Chromium, and the pages driven as a person would (keyboard first). Each page is screenshotted to
artifacts/web-*.png and checked with axe-core (node_modules/axe-core, from package.json): no serious or critical
violation. One browser serves the whole module (its pages share the profile's cookie jar)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import ARTIFACTS, ROOT
from tests.e2e.test_real_daemon import daemon_config, pair
from tests.support import RunningDaemon, await_until, make_settings, start_daemon

pytestmark = pytest.mark.e2e

AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
CONFIG = 'approval = "two"\n'


async def axe_violations(page: Any) -> list[dict[str, Any]]:
    """Serious and critical axe-core violations of the page as it is now (axe is injected by the test, not served)."""
    if not AXE.exists():
        pytest.fail(f"{AXE} missing: run `npm install` (scripts/setup --test does)")
    # through the DevTools protocol: the pages' CSP (rightly) refuses inline scripts
    cdp = await page.context.new_cdp_session(page)
    await cdp.send("Runtime.evaluate", {"expression": AXE.read_text(encoding="utf-8")})
    await cdp.detach()
    found: list[dict[str, Any]] = await page.evaluate(
        """async () => {
          const r = await axe.run(document, {resultTypes: ["violations"]});
          return r.violations.filter(v => v.impact === "serious" || v.impact === "critical")
            .map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.map(n => n.target.join(" ")).slice(0, 5)}));
        }"""
    )
    return found


async def settle(page: Any) -> None:
    await page.wait_for_selector("body[data-rendered='1']")


async def check_page(page: Any, name: str) -> None:
    """Screenshot at 1280 x 800 and at 800 px wide, and no serious/critical axe violation."""
    ARTIFACTS.mkdir(exist_ok=True)
    await page.set_viewport_size({"width": 1280, "height": 800})
    await page.screenshot(path=str(ARTIFACTS / f"web-{name}.png"), full_page=True)
    await page.set_viewport_size({"width": 800, "height": 800})
    await page.screenshot(path=str(ARTIFACTS / f"web-{name}-800.png"), full_page=True)
    await page.set_viewport_size({"width": 1280, "height": 800})
    assert await axe_violations(page) == [], name


@pytest.fixture
async def web(tmp_path: Path, psa_port: int, browser: Any) -> AsyncIterator[dict[str, Any]]:
    d = await start_daemon(make_settings(tmp_path / "daemon", config_text=CONFIG + daemon_config(psa_port)))
    ctx, sw = browser
    try:
        await pair(sw, d)
        yield {"d": d, "ctx": ctx, "sw": sw, "ext_id": sw.url.split("/")[2]}
    finally:
        await ctx.close()  # the browser first: its WebSocket must not hold the daemon's shutdown
        await d.stop()


async def sign_in_from_the_popup(web: dict[str, Any]) -> Any:
    ctx = web["ctx"]
    popup = await ctx.new_page()
    await popup.goto(f"chrome-extension://{web['ext_id']}/popup.html")
    await settle(popup)
    async with ctx.expect_page() as opened:
        await popup.click("#webui")
    page = await opened.value
    await page.wait_for_url(f"{web['d'].base_url}/timesheet")
    assert "code=" not in page.url  # the 303 took the code out of the address bar
    cookies = {c["name"]: c for c in await ctx.cookies(web["d"].base_url)}
    assert cookies["tc_session"]["httpOnly"] and cookies["tc_session"]["sameSite"] == "Strict"
    await popup.close()
    await settle(page)
    return page


async def has_route(d: RunningDaemon, path: str) -> bool:
    return (await d.http.get(path)).status_code != 404


async def test_sign_in_from_the_popup_then_today_live_every_page_checked_and_sign_out(web: dict[str, Any]) -> None:
    d: RunningDaemon = web["d"]
    page = await sign_in_from_the_popup(web)

    # Today: start a task timer with the keyboard; the card arrives over the WebSocket and REST refresh
    await page.goto(f"{d.base_url}/")
    await settle(page)
    await page.wait_for_selector("h1 .pill:text('live')")
    await page.focus("#start-task")
    await page.keyboard.type("Admin")
    await page.keyboard.press("Enter")
    await page.wait_for_selector("li.timer .label:text('Admin')")
    timers = (await d.http.get("/api/v1/timers")).json()["timers"]
    assert [t["task"] for t in timers] == ["Admin"]
    # pausing from the page goes through the cookie and the Origin check, and the push updates the card
    await page.click("li.timer button:text('Pause')")
    await page.wait_for_selector("li.timer button:text('Resume')")
    assert (await d.http.get("/api/v1/timers")).json()["timers"][0]["running"] is False
    await check_page(page, "today")

    pages = [
        ("timesheet", "/api/v1/timesheets/current"),
        ("summary", "/api/v1/summary?period=current&group=day"),
        ("approvals", "/api/v1/approvals?level=1"),
        ("outbox", "/api/v1/outbox"),
    ]
    for name, api_path in pages:
        if not await has_route(d, api_path):
            continue  # served by the web-api branch; checked once both are merged
        await page.goto(f"{d.base_url}/{name}")
        await settle(page)
        assert not await page.query_selector("main > p.error"), await page.inner_text("main")
        await check_page(page, name)

    # signing out: the page says how to sign in again, and the cookie no longer works
    await page.click("#signout")
    await page.wait_for_selector("main h1:text('Signed out')")
    await page.goto(f"{d.base_url}/")
    await page.wait_for_selector("body[data-signed-out='1']")
    assert "ticketclock open" in await page.inner_text("main")
    await check_page(page, "signed-out")


async def test_a_used_link_shows_how_to_get_a_new_one(web: dict[str, Any]) -> None:
    d: RunningDaemon = web["d"]
    url = (await d.http.post("/api/v1/web/login-code", json={})).json()["url"]
    first = await web["ctx"].new_page()
    await first.goto(url)
    await first.wait_for_url(f"{d.base_url}/")
    second = await web["ctx"].new_page()
    response = await second.goto(url)
    assert response.status == 400
    assert "ticketclock open" in await second.inner_text("body")
    await check_page(second, "link-used")


async def test_timesheet_keyboard_entry_edit_submit_and_two_level_approval(web: dict[str, Any]) -> None:
    d: RunningDaemon = web["d"]
    if not await has_route(d, "/api/v1/timesheets/current"):
        pytest.skip("the timesheet API (web-api branch) is not merged into this branch yet")
    page = await sign_in_from_the_popup(web)
    await page.wait_for_selector("table.grid")
    # add a task row from the list, type 1:30 into Monday's cell, Enter
    await page.select_option("#add-task", index=1)
    task = await page.eval_on_selector("#add-task", "s => s.value")
    await page.click(".add-row button[type=submit]")
    row = f"tr[data-key='task:{task}']"
    first = f"{row} input.cell"
    await page.focus(first)
    await page.keyboard.type("1:30")
    await page.keyboard.press("Enter")
    await page.wait_for_selector(f"{row} input.cell[value='1:30']")
    # a bad duration: the error sits beside the cell, and nothing changed
    await page.focus(first)
    await page.keyboard.type("abc")
    await page.keyboard.press("Enter")
    await page.wait_for_selector(f"{row} input.cell[aria-invalid='true']")
    described = await page.eval_on_selector(
        first, "i => document.getElementById(i.getAttribute('aria-describedby')).textContent"
    )
    assert described
    sheet = (await d.http.get("/api/v1/timesheets/current")).json()
    mine = next(r for r in sheet["rows"] if r["task"] == task)
    assert mine["total_seconds"] == 5400
    await page.keyboard.press("Escape")
    # the arrow key moves to the next day's cell
    await page.keyboard.press("ArrowRight")
    assert await page.evaluate("document.activeElement.dataset.d") == "1"
    await page.keyboard.press("ArrowLeft")
    # open the cell's entries with Shift+Enter and edit the notes
    await page.keyboard.press("Shift+Enter")
    await page.wait_for_selector("dialog[open] form.entry-edit")
    await page.fill("dialog[open] textarea", "Weekly planning")
    await page.click("dialog[open] button:text('Save entry')")
    entry_id = mine["cells"][0]["entries"][0]
    await await_until(lambda: _entry_notes(d, entry_id), what="the notes saved from the dialog")
    await page.keyboard.press("Escape")
    await check_page(page, "timesheet")
    # submit, approve at level 1 then level 2
    await page.click("#submit-period")
    await page.wait_for_selector("#flash:has-text('Submitted')")
    for level in (1, 2):
        await page.goto(f"{d.base_url}/approvals?level={level}")
        await settle(page)
        await page.check(f"tr[data-id='{entry_id}'] input[type=checkbox]")
        await page.click("#approve")
        await page.wait_for_selector("#flash:has-text('Approved 1')")
    await check_page(page, "approvals")
    status = (await d.http.get(f"/api/v1/entries/{entry_id}")).json()["entry"]["status"]
    assert status in ("approved", "queued", "posted")


async def _entry_notes(d: RunningDaemon, entry_id: str) -> bool:
    return bool((await d.http.get(f"/api/v1/entries/{entry_id}")).json()["entry"]["notes"] == "Weekly planning")
