"""End to end: the real extension in headless Chromium against the recording fake daemon (recorder.py)."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest

from tests.e2e.conftest import ARTIFACTS, NON_PSA_MARKER
from tests.e2e.recorder import PAIR_CODE, Recorder, timer_view

pytestmark = pytest.mark.e2e

CW_PATH = "/v4_6_release/services/system_io/Service/fv_sr100_request.rails?service_recid={}"
HALO_PATH = "/ticket?id={}"
AUTOTASK_PATH = "/Mvc/ServiceDesk/TicketDetail.mvc?workspace=False&ticketId={}"


def seqs_strictly_increase(rec: Recorder) -> None:
    seqs = [e["seq"] for e in rec.applied]
    assert seqs == sorted(set(seqs)), seqs


def with_url(url: str) -> Any:
    return lambda r: [e for e in r.applied if e.get("url") == url or any(t["url"] == url for t in e.get("tabs", []))]


async def poll(ext: dict[str, Any], expression: str, ok: Any, timeout: float = 10.0) -> Any:
    """Evaluate `expression` in the service worker until ok(value); returns the value."""
    deadline = time.monotonic() + timeout
    while True:
        value = await ext["sw"].evaluate(expression)
        if ok(value) or time.monotonic() > deadline:
            assert ok(value), json.dumps(value, indent=1)
            return value
        await asyncio.sleep(0.05)


async def stop_service_worker(ctx: Any, ext_id: str) -> None:
    cdp = await ctx.browser.new_browser_cdp_session()
    targets = (await cdp.send("Target.getTargets"))["targetInfos"]
    tid = next(
        t["targetId"]
        for t in targets
        if t["type"] == "service_worker" and t["url"].startswith(f"chrome-extension://{ext_id}/")
    )
    await cdp.send("Target.closeTarget", {"targetId": tid})
    await cdp.detach()


async def test_hello_identifies_the_extension(ext: dict[str, Any]) -> None:
    hello = ext["hello"]
    assert hello["_origin"] == f"chrome-extension://{ext['ext_id']}"
    assert hello["token"] == "test-token"
    assert hello["version"] == "0.1.0"
    assert hello["install"] and hello["instance"]
    stored = await ext["sw"].evaluate("chrome.storage.local.get('installId').then(r => r.installId)")
    assert stored == hello["install"]


async def test_psa_tab_events_reach_the_daemon(ext: dict[str, Any], psa_port: int) -> None:
    ctx, rec = ext["ctx"], ext["rec"]
    base = f"http://127.0.0.1:{psa_port}"
    page = await ctx.new_page()
    for path in (HALO_PATH.format(77), CW_PATH.format(12345), AUTOTASK_PATH.format(555)):
        await page.goto(base + path)
        got = await rec.wait_for(with_url(base + path))
    tab = got[0]["tab"]
    opened = rec.events(type="tab_opened", tab=tab)
    assert len(opened) == 1 and opened[0]["url"] == base + HALO_PATH.format(77)
    assert set(opened[0]) <= {"type", "seq", "at", "tab", "window", "url", "title", "active", "page_ticket"}
    await rec.wait_for(lambda r: r.events(type="tab_updated", tab=tab, title="Autotask ticket 555"))
    await page.close()
    closed = await rec.wait_for(lambda r: r.events(type="tab_closed", tab=tab))
    assert set(closed[0]) == {"type", "seq", "at", "tab", "window"}
    seqs_strictly_increase(rec)
    now = time.time()
    assert all(now - 60 < e["at"] <= now for e in rec.applied)


async def test_non_psa_pages_never_reach_the_daemon(ext: dict[str, Any], psa_port: int, other_port: int) -> None:
    ctx, rec = ext["ctx"], ext["rec"]
    psa = f"http://127.0.0.1:{psa_port}"
    other = f"http://127.0.0.1:{other_port}"
    ticket = await ctx.new_page()
    await ticket.goto(psa + HALO_PATH.format(1))
    first = await rec.wait_for(with_url(psa + HALO_PATH.format(1)))
    psa_tab = first[0]["tab"]

    stranger = await ctx.new_page()  # a non-PSA tab: opened, navigated, activated, closed
    await stranger.goto(f"{other}/mail?{NON_PSA_MARKER}")
    await stranger.goto(f"{other}/search?q={NON_PSA_MARKER}")
    await ticket.bring_to_front()
    await stranger.bring_to_front()
    await stranger.close()

    # The PSA tab navigates away to the other site: for the daemon the ticket is closed, nothing more.
    await ticket.goto(f"{other}/elsewhere?{NON_PSA_MARKER}")
    await rec.wait_for(lambda r: r.events(type="tab_closed", tab=psa_tab))
    await ticket.goto(f"{other}/more?{NON_PSA_MARKER}")  # after the close: nothing at all
    await ticket.close()

    barrier = await ctx.new_page()  # everything before this has been handled when its event arrives
    await barrier.goto(psa + HALO_PATH.format(2))
    await rec.wait_for(with_url(psa + HALO_PATH.format(2)))

    everything = json.dumps(rec.messages)
    assert NON_PSA_MARKER not in everything
    assert str(other_port) not in everything
    reported_tabs = {e["tab"] for e in rec.applied if "tab" in e}
    assert reported_tabs <= {psa_tab, -1, *(e["tab"] for e in rec.events(type="tab_opened"))}
    assert rec.events(type="tab_activated", tab=-1), "attention leaving the PSA is reported without the tab"
    seqs_strictly_increase(rec)


async def test_events_queued_while_the_daemon_is_down_replay_in_order(ext: dict[str, Any], psa_port: int) -> None:
    ctx, rec, server = ext["ctx"], ext["rec"], ext["server"]
    psa = f"http://127.0.0.1:{psa_port}"
    last_seq = rec.applied[-1]["seq"]
    await server.stop()
    await rec.wait_for(lambda r: r.closes >= 1)

    down_from = time.time()
    page = await ctx.new_page()
    await page.goto(psa + HALO_PATH.format(31))
    await page.goto(psa + CW_PATH.format(32))
    await page.close()
    down_until = time.time()
    queued = await poll(
        ext,
        "chrome.storage.local.get('queue').then(r => r.queue.events)",
        lambda q: any(e["type"] == "tab_closed" for e in q),
    )
    story = [(e["type"], e.get("url")) for e in queued if e["type"] in ("tab_opened", "tab_updated", "tab_closed")]
    assert story[0] == ("tab_opened", psa + HALO_PATH.format(31))
    assert ("tab_updated", psa + CW_PATH.format(32)) in story
    assert story[-1] == ("tab_closed", None)
    queued_seqs = [e["seq"] for e in queued]

    await server.start()  # same port, same durable state
    await rec.wait_for(lambda r: len(r.hellos()) >= 2, timeout=30)
    replayed = await rec.wait_for(lambda r: [e for e in r.applied if e["seq"] > last_seq and e["type"] == "snapshot"])
    new = [e for e in rec.applied if e["seq"] > last_seq]
    assert [e["seq"] for e in new[: len(queued)]] == queued_seqs, "the queue arrives whole and in order"
    assert [e["at"] for e in new[: len(queued)]] == [e["at"] for e in queued], "with the times they happened"
    for e in queued:
        assert down_from - 0.1 <= e["at"] <= down_until + 0.1
    assert replayed[0]["seq"] > queued_seqs[-1], "the fresh snapshot comes after the replay"
    seqs_strictly_increase(rec)
    await poll(ext, "chrome.storage.local.get('queue').then(r => r.queue.events.length)", lambda n: n == 0)


async def test_service_worker_restart_loses_nothing(ext: dict[str, Any], psa_port: int) -> None:
    ctx, rec = ext["ctx"], ext["rec"]
    psa = f"http://127.0.0.1:{psa_port}"
    page = await ctx.new_page()
    await page.goto(psa + HALO_PATH.format(41))
    opened = await rec.wait_for(with_url(psa + HALO_PATH.format(41)))
    tab = opened[0]["tab"]
    before = rec.applied[-1]["seq"]

    await stop_service_worker(ctx, ext["ext_id"])
    await rec.wait_for(lambda r: r.closes >= 1)

    # The tab id -> reported map survived in storage.session: the close still reaches the daemon.
    await page.goto(psa + HALO_PATH.format(42))
    await rec.wait_for(with_url(psa + HALO_PATH.format(42)), timeout=20)
    last_seen_open = rec.applied[-1]["seq"]
    await page.close()

    def gone(r: Any) -> bool:
        # Either the close itself, or — when the new worker's reconnect snapshot raced the close — a snapshot
        # taken after it that no longer holds the tab: both tell the daemon the ticket's tab is gone.
        closes = r.events(type="tab_closed", tab=tab)
        later = [e for e in r.applied if e["seq"] > last_seen_open and e["type"] == "snapshot"]
        return bool(closes) or any(all(t["tab"] != tab for t in e["tabs"]) for e in later)

    await rec.wait_for(gone)
    hellos = rec.hellos()
    assert len(hellos) >= 2
    assert hellos[-1]["instance"] != hellos[0]["instance"], "a new worker says hello with a new instance id"
    assert {h["install"] for h in hellos} == {hellos[0]["install"]}
    assert min(e["seq"] for e in rec.applied if e["seq"] > before) == before + 1, "seq continues, nothing skipped"
    seqs_strictly_increase(rec)


async def test_content_script_reads_the_connectwise_ticket_header(ext: dict[str, Any], psa_port: int) -> None:
    ctx, rec = ext["ctx"], ext["rec"]
    page = await ctx.new_page()
    await page.goto(f"http://127.0.0.1:{psa_port}/v4_6_release/ConnectWise.aspx?locale=en_US#t=4242")
    got = await rec.wait_for(lambda r: [e for e in r.applied if e.get("page_ticket") == "4242"])
    assert got[0]["type"] in ("tab_opened", "tab_updated")
    await page.evaluate("location.hash = 't=5151'")
    await rec.wait_for(lambda r: [e for e in r.applied if e.get("page_ticket") == "5151"])


async def test_pairing_through_the_options_page(ext: dict[str, Any]) -> None:
    ctx, rec, sw = ext["ctx"], ext["rec"], ext["sw"]
    page = await ctx.new_page()
    await page.goto(f"chrome-extension://{ext['ext_id']}/options.html")
    await page.wait_for_selector("body[data-rendered='1']")
    assert await page.text_content("#status") == "connected"

    await page.fill("#code", "00000000")
    await page.click("#pair")
    await page.wait_for_selector("#pair-result[data-outcome='pairing_code_invalid']")
    assert "pairing code is not right" in (await page.text_content("#pair-result") or "")
    assert await sw.evaluate("chrome.storage.local.get('token').then(r => r.token)") == "test-token"

    await page.fill("#code", PAIR_CODE)
    await page.click("#pair")
    await page.wait_for_selector("#pair-result[data-outcome='ok']")
    token = await sw.evaluate("chrome.storage.local.get('token').then(r => r.token)")
    assert token == rec.issued_tokens[-1]
    pairs = [body for method, path, body in rec.requests if path == "/api/v1/pair"]
    assert pairs[-1]["code"] == PAIR_CODE
    assert pairs[-1]["client"] in ("Chromium", "Chrome", "Edge")
    # The worker reconnects with the new token.
    await rec.wait_for(lambda r: [h for h in r.hellos() if h["token"] == token])


async def test_popup_renders_timers_and_acts(ext: dict[str, Any]) -> None:
    ctx, rec, sw = ext["ctx"], ext["rec"], ext["sw"]
    now = time.time()
    rec.timers = [
        timer_view(),
        timer_view(
            id="t2",
            slot=1,
            colour="#3cb44b",
            label="#12345",
            ticket={"instance": "cw", "kind": "connectwise", "id": 12345, "number": None},
            summary="VPN drops every hour",
            company="Northwind Traders",
            elapsed_s=3725.0,
            last_attended=now + 5,
        ),
        timer_view(
            id="t3",
            slot=2,
            colour="#4363d8",
            kind="manual",
            state="paused",
            paused_by="user",
            running=False,
            ticket=None,
            task="Admin",
            label="Admin",
            summary="",
            company="",
            elapsed_s=300.0,
            last_attended=now - 100,
        ),
    ]
    await rec.push_state()
    # The badge counts running timers, in the attended one's colour.
    await poll(ext, "chrome.action.getBadgeText({})", lambda text: text == "2")
    assert await sw.evaluate("chrome.action.getBadgeBackgroundColor({})") == [0x3C, 0xB4, 0x4B, 255]

    page = await ctx.new_page()
    await page.set_viewport_size({"width": 400, "height": 600})
    await page.goto(f"chrome-extension://{ext['ext_id']}/popup.html")
    await page.wait_for_selector("body[data-rendered='1']")
    await page.wait_for_selector("li.timer >> nth=2")
    labels = await page.locator("li.timer .label").all_text_contents()
    assert labels == ["#77", "#12345", "Admin"]
    assert await page.text_content("#status") == "connected"
    assert await page.text_content("li.timer[data-id='t3'] .elapsed") == "0:05:00"
    assert (await page.text_content("li.timer[data-id='t2'] .elapsed") or "").startswith("1:02:")
    assert "Northwind Traders" in (await page.text_content("li.timer[data-id='t2'] .sub") or "")

    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "popup.png"))

    await page.click("li.timer[data-id='t1'] button.toggle")
    await rec.wait_for(lambda r: ("POST", "/api/v1/timers/t1/pause", None) in r.requests)
    await page.wait_for_selector("li.timer[data-id='t1'] button.toggle:text('Resume')")

    await page.click("li.timer[data-id='t1'] summary")
    await page.fill("li.timer[data-id='t1'] textarea.notes", "Replaced the fuser")
    await page.click("#start-task")  # blur saves
    await rec.wait_for(lambda r: ("PATCH", "/api/v1/timers/t1", {"notes": "Replaced the fuser"}) in r.requests)

    await page.fill("#start-task", "Team meeting")
    await page.click("#start button[type=submit]")
    await rec.wait_for(lambda r: ("POST", "/api/v1/timers", {"task": "Team meeting"}) in r.requests)
    await page.wait_for_selector("li.timer .label:text('Team meeting')")


async def test_popup_shows_the_error_text_when_the_daemon_is_down(ext: dict[str, Any]) -> None:
    await ext["server"].stop()
    page = await ext["ctx"].new_page()
    await page.goto(f"chrome-extension://{ext['ext_id']}/popup.html")
    await page.wait_for_selector("body[data-rendered='1']")
    assert "daemon is not running" in (await page.text_content("#error") or "")
