"""End to end against the real daemon (daemon.app.create_app on a loopback port) with the real extension in a
headless Chromium and the PSA look-alike pages: pairing, attention between tabs and windows, closing a ticket,
a daemon restart with queued events, idle, and the popup.

Timing rules are judged on browser time (the extension's event times): grace and merge windows only expire when a
later event arrives, at the latest the heartbeat every `heartbeat_s` (5 s here). Tests therefore poll the daemon's
REST API up to a deadline; they never assert on durations."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import ARTIFACTS
from tests.support import RunningDaemon, await_until, make_settings, start_daemon
from tests.support import get_entries as entries

pytestmark = pytest.mark.e2e

FAST = """
[timing]
grace_s = 1
merge_s = 0
min_seconds = 0
heartbeat_s = 5
"""
SLOW_S = 30  # deadline for anything that waits on a heartbeat


def daemon_config(psa_port: int, timing: str = "") -> str:
    return f"""{timing}
[[instances]]
name = "halo"
kind = "halopsa"
origins = ["http://127.0.0.1:{psa_port}"]
"""


@pytest.fixture
async def daemons(tmp_path: Path, psa_port: int) -> AsyncIterator[Callable[..., Awaitable[RunningDaemon]]]:
    """Start real daemons with a [timing] table; all still running are stopped at the end (after the browser:
    request this fixture before `browser`)."""
    running: list[RunningDaemon] = []

    async def start(timing: str = FAST, *, again: RunningDaemon | None = None) -> RunningDaemon:
        """A new daemon, or (again=) one on the same port, data dir and config as a stopped one."""
        if again is not None:
            assert again.http.is_closed, "stop it first"
            d = await start_daemon(again.settings)  # the port it had: the extension remembers it
        else:
            d = await start_daemon(
                make_settings(tmp_path / f"daemon{len(running)}", config_text=daemon_config(psa_port, timing))
            )
        running.append(d)
        return d

    yield start
    for d in running:
        if not d.http.is_closed:
            await d.stop()


async def pair(sw: Any, d: RunningDaemon) -> None:
    """Pair the extension with the daemon from its service worker (the options page flow is tested separately)
    and wait until it is connected and knows the PSA origins."""
    code = (await d.http.post("/api/v1/pair/codes")).json()["code"]
    await sw.evaluate(
        """async ([port, code]) => {
          const r = await fetch(`http://127.0.0.1:${port}/api/v1/pair`, {
            method: "POST", headers: {"Content-Type": "application/json"},
            body: JSON.stringify({code, client: "e2e"})});
          if (!r.ok) throw new Error(`pair: ${r.status} ${await r.text()}`);
          const {token} = await r.json();
          await chrome.storage.local.set({daemonPort: port, token});
        }""",
        [d.port, code],
    )

    async def ready() -> bool:
        return bool(
            await sw.evaluate(
                """async () => {
                  const {status} = await chrome.storage.session.get("status");
                  const {config} = await chrome.storage.local.get("config");
                  return status?.state === "connected" && (config?.instances ?? []).length > 0;
                }"""
            )
        )

    await await_until(ready, timeout=15, what="the extension connected and configured")


async def live_timers(d: RunningDaemon) -> list[dict[str, Any]]:
    response = await d.http.get("/api/v1/timers")
    assert response.status_code == 200, response.text
    timers: list[dict[str, Any]] = response.json()["timers"]
    return timers


def ticket_id(t: dict[str, Any]) -> int | None:
    return (t["ticket"] or {}).get("id")


async def wait_timers(
    d: RunningDaemon, want: Callable[[dict[int, dict[str, Any]]], bool], what: str, timeout: float = 15
) -> dict[int, dict[str, Any]]:
    """Poll GET /api/v1/timers until `want(timers by ticket id)` holds; returns that map."""
    last: dict[int, dict[str, Any]] = {}

    async def check() -> dict[int, dict[str, Any]]:
        nonlocal last
        timers = await live_timers(d)
        ids = [ticket_id(t) for t in timers if ticket_id(t) is not None]
        assert len(ids) == len(set(ids)), f"a ticket has two timers: {timers}"
        last = {ticket_id(t): t for t in timers if ticket_id(t) is not None}  # type: ignore[misc]
        return last if want(last) else {}

    try:
        return await await_until(check, timeout=timeout, what=what)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; last timers: {summary(last)}") from None


def summary(by_ticket: dict[int, dict[str, Any]]) -> dict[int, tuple[str, str | None]]:
    return {k: (t["state"], t["paused_by"]) for k, t in by_ticket.items()}


def running(t: dict[str, Any] | None) -> bool:
    return t is not None and t["state"] == "running"


def paused_by(t: dict[str, Any] | None, why: str) -> bool:
    return t is not None and t["state"] == "paused" and t["paused_by"] == why


def attends(on: int, off: int) -> Callable[[dict[int, dict[str, Any]]], bool]:
    """Ticket `on` runs and `off` is paused because attention is elsewhere."""
    return lambda ts: running(ts.get(on)) and paused_by(ts.get(off), "attention")


def ticket_url(psa_port: int, n: int) -> str:
    return f"http://127.0.0.1:{psa_port}/ticket?id={n}"


async def open_ticket(ctx: Any, psa_port: int, n: int) -> Any:
    page = await ctx.new_page()
    await page.goto(ticket_url(psa_port, n))
    return page


async def test_ticket_page_starts_a_timer_in_the_real_daemon(
    daemons: Callable[..., Awaitable[RunningDaemon]], browser: Any, psa_port: int
) -> None:
    # (The daemon is set up first so that it is torn down after the browser has closed its WebSocket.)
    ctx, sw = browser
    d = await daemons("[timing]\nmin_seconds = 0\n")
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
    await page.goto(ticket_url(psa_port, 77))

    timer = (await wait_timers(d, lambda ts: running(ts.get(77)), "a running timer for ticket 77"))[77]
    card = f"li.timer[data-id='{timer['id']}']"
    await popup.wait_for_selector(f"{card} button.toggle:text('Pause')")
    assert await popup.text_content(f"{card} .label") == timer["label"]
    assert await popup.text_content("#status") == "connected"
    assert (await popup.text_content(f"{card} .elapsed") or "").strip()  # the elapsed time is shown
    ARTIFACTS.mkdir(exist_ok=True)
    await popup.screenshot(path=str(ARTIFACTS / "popup-real-daemon.png"))

    await popup.click(f"{card} button.toggle")
    await wait_timers(d, lambda ts: paused_by(ts.get(77), "user"), "the timer paused from the popup", timeout=10)
    await popup.wait_for_selector(f"{card} button.toggle:text('Resume')")

    # Stop from the popup: the timer leaves the daemon and the popup, and its entry exists.
    await popup.click(f"{card} button.stop")

    async def stopped_entry() -> list[dict[str, Any]]:
        if any(t["id"] == timer["id"] for t in await live_timers(d)):
            return []
        return [e for e in await entries(d) if e["timer_id"] == timer["id"]]

    entry = (await await_until(stopped_entry, timeout=10, what="the entry of the timer stopped from the popup"))[0]
    assert entry["ticket_id"] == 77
    assert entry["status"] in ("pending", "queued"), entry
    await popup.wait_for_selector(card, state="detached")

    # Every event the extension sent was accepted: its queue drains.
    deadline = time.monotonic() + 10
    while (n := await sw.evaluate("chrome.storage.local.get('queue').then(r => r.queue.events.length)")) and (
        time.monotonic() < deadline
    ):
        await popup.wait_for_timeout(100)
    assert n == 0


async def test_switching_tabs_moves_attention(
    daemons: Callable[..., Awaitable[RunningDaemon]], browser: Any, psa_port: int
) -> None:
    ctx, sw = browser
    d = await daemons()
    await pair(sw, d)
    first = await open_ticket(ctx, psa_port, 101)
    await wait_timers(d, lambda ts: running(ts.get(101)), "ticket 101 running")
    second = await open_ticket(ctx, psa_port, 102)  # same window: the new tab is the active one
    await wait_timers(
        d, lambda ts: running(ts.get(102)) and paused_by(ts.get(101), "attention"), "attention moved to 102"
    )
    for page, on, off in ((first, 101, 102), (second, 102, 101), (first, 101, 102)):
        await page.bring_to_front()
        await wait_timers(d, attends(on, off), f"ticket {on} running and {off} paused by attention")


async def test_closing_the_last_tab_of_a_ticket_yields_an_entry(
    daemons: Callable[..., Awaitable[RunningDaemon]], browser: Any, psa_port: int
) -> None:
    ctx, sw = browser
    d = await daemons()
    await pair(sw, d)
    page = await open_ticket(ctx, psa_port, 201)
    timer = (await wait_timers(d, lambda ts: running(ts.get(201)), "ticket 201 running"))[201]
    await page.close()

    async def finalized() -> list[dict[str, Any]]:
        if any(ticket_id(t) == 201 for t in await live_timers(d)):
            return []
        return [e for e in await entries(d) if e["ticket_id"] == 201]

    found = await await_until(finalized, timeout=SLOW_S, what="ticket 201 finalized into an entry after grace")
    assert len(found) == 1, found
    assert found[0]["timer_id"] == timer["id"]
    assert found[0]["status"] in ("pending", "queued"), found[0]


async def new_window(ctx: Any, url: str) -> Any:
    """Open `url` in a new normal browser window (CDP Target.createTarget with newWindow) and return its page."""
    cdp = await ctx.browser.new_browser_cdp_session() if ctx.browser else None
    if cdp is None:  # a persistent context has no Browser object: go through a page's session
        helper = ctx.pages[0] if ctx.pages else await ctx.new_page()
        cdp = await ctx.new_cdp_session(helper)
    async with ctx.expect_page(lambda p: p.url.startswith(url.split("?")[0])) as info:
        await cdp.send("Target.createTarget", {"url": url, "newWindow": True})
    await cdp.detach()
    page = await info.value
    await page.wait_for_load_state()
    return page


async def window_ids(sw: Any) -> dict[str, int]:
    ids: dict[str, int] = await sw.evaluate(
        "async () => Object.fromEntries((await chrome.tabs.query({})).map(t => [t.url, t.windowId]))"
    )
    return ids


@pytest.mark.parametrize("mode", ["focus", "open"])
async def test_two_tickets_in_two_windows(
    daemons: Callable[..., Awaitable[RunningDaemon]], browser: Any, psa_port: int, mode: str
) -> None:
    ctx, sw = browser
    d = await daemons(FAST.replace("[timing]", f'[timing]\nmode = "{mode}"'))
    await pair(sw, d)
    a = await open_ticket(ctx, psa_port, 301)
    await wait_timers(d, lambda ts: running(ts.get(301)), "ticket 301 running")
    b = await new_window(ctx, ticket_url(psa_port, 302))
    windows = await window_ids(sw)
    assert windows[ticket_url(psa_port, 301)] != windows[ticket_url(psa_port, 302)], windows

    if mode == "open":
        await wait_timers(d, lambda ts: running(ts.get(301)) and running(ts.get(302)), "both tickets running")
        for page in (a, b):
            await page.bring_to_front()
            await wait_timers(d, lambda ts: running(ts.get(301)) and running(ts.get(302)), "both still running")
        return
    # Headless Chromium reports every window as focused and fires no windows.onFocusChanged when a page is
    # brought to front (nor on chrome.windows.update): drive the extension's focus listener the way Chrome would.
    for page, on, off in ((b, 302, 301), (a, 301, 302), (b, 302, 301)):
        await page.bring_to_front()
        await sw.evaluate("w => ticketclock.tabs.onFocusChanged(w)", windows[ticket_url(psa_port, on)])
        await wait_timers(d, attends(on, off), f"only ticket {on} (focused window) running")


async def test_daemon_restart_replays_queued_events(
    daemons: Callable[..., Awaitable[RunningDaemon]], browser: Any, psa_port: int
) -> None:
    ctx, sw = browser
    d = await daemons()
    await pair(sw, d)
    page = await open_ticket(ctx, psa_port, 401)
    first = (await wait_timers(d, lambda ts: running(ts.get(401)), "ticket 401 running"))[401]
    await d.stop()

    async def disconnected() -> bool:
        state = await sw.evaluate("chrome.storage.session.get('status').then(r => r.status?.state)")
        return bool(state != "connected")

    await await_until(disconnected, timeout=10, what="the extension noticing the daemon is gone")
    await page.goto(ticket_url(psa_port, 402))  # while the daemon is down: queued

    async def queued() -> bool:
        return bool(
            await sw.evaluate(
                """url => chrome.storage.local.get('queue').then(
                     r => r.queue.events.some(e => JSON.stringify(e).includes(url)))""",
                ticket_url(psa_port, 402),
            )
        )

    await await_until(queued, timeout=10, what="the navigation to ticket 402 queued by the extension")

    d2 = await daemons(again=d)
    assert d2.port == d.port
    ts = await wait_timers(d2, lambda ts: running(ts.get(402)), "ticket 402 running after the restart", SLOW_S)
    assert 401 not in ts or ts[401]["id"] == first["id"], summary(ts)

    async def first_settled() -> bool:
        live = {ticket_id(t): t for t in await live_timers(d2)}
        if 401 in live:
            return bool(live[401]["id"] == first["id"])
        return any(e["timer_id"] == first["id"] and e["ticket_id"] == 401 for e in await entries(d2))

    await await_until(first_settled, timeout=SLOW_S, what="ticket 401's timer or entry after the restart")

    # The first ticket is no longer shown: after grace (merge_s = 0) it becomes exactly one entry.
    async def first_entry() -> list[dict[str, Any]]:
        if any(ticket_id(t) == 401 for t in await live_timers(d2)):
            return []
        return [e for e in await entries(d2) if e["ticket_id"] == 401]

    found = await await_until(first_entry, timeout=SLOW_S, what="ticket 401 finalized into an entry")
    assert [e["timer_id"] for e in found] == [first["id"]], found
    await wait_timers(d2, lambda ts: running(ts.get(402)) and 401 not in ts, "only ticket 402 live")


async def test_idle_pauses_and_active_asks_keep_or_drop(
    daemons: Callable[..., Awaitable[RunningDaemon]], browser: Any, psa_port: int
) -> None:
    ctx, sw = browser
    d = await daemons()
    await pair(sw, d)
    await open_ticket(ctx, psa_port, 501)
    timer = (await wait_timers(d, lambda ts: running(ts.get(501)), "ticket 501 running"))[501]

    # Headless Chromium never goes idle: call the extension's idle listener as Chrome would.
    await sw.evaluate("ticketclock.tabs.onIdleStateChanged('idle')")
    await wait_timers(d, lambda ts: paused_by(ts.get(501), "idle"), "ticket 501 paused by idle")
    await sw.evaluate("ticketclock.tabs.onIdleStateChanged('active')")
    await wait_timers(d, lambda ts: running(ts.get(501)), "ticket 501 running again")

    async def pending() -> dict[str, Any]:
        p: dict[str, Any] = (await d.http.get("/api/v1/timers")).json()["idle_pending"] or {}
        return p

    decision = await await_until(pending, timeout=10, what="the keep-or-drop decision")
    assert decision["timers"] == [timer["id"]], decision
    assert decision["until"] is not None and decision["until"] >= decision["since"], decision
