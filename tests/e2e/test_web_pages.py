"""The web pages' details a technician trips over (issue 10's polish), end to end: a real daemon on a FakeClock (set to
noon today, so the browser's "today" and the daemon's agree), browser events over real HTTP to make held, long-run
and idle time, and a headless Chromium signed in by a one-time link.

- Today lists held (open) entries with "held until …" and Finish now; the long-run review and the idle keep/drop
  decisions are shown and decided from the page.
- The summary shows every day of the period in its chart (hours on the axis, the table named as its text
  alternative), moves between periods with previous/next and shows their dates.
- An entry that is not editable (EDITABLE in daemon/entries/model.py, served by /api/v1/web/me) is read-only text
  saying why; an editable one is a form. Every list shows where an entry came from (timer / manual / automation).
- One date format everywhere: 24-hour, "Sun 29 Nov 12:00:05" in the audit trail, never the browser locale's.
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from daemon.clock import FakeClock
from daemon.entries.model import Segment
from daemon.entries.service import NewEntry
from daemon.services import SERVICES
from tests.e2e.conftest import CHROMIUM, _require_chromium
from tests.e2e.test_web_ui import check_page, settle
from tests.events import HALO_INSTANCE, batch, beat, closed, opened
from tests.support import RunningDaemon, make_settings, start_daemon

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module")]

CONFIG = 'approval = "one"\n[timing]\ngrace_s = 30\nmerge_s = 600\nlong_run_s = 3600\n' + HALO_INSTANCE
ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
AUDIT_TIME = re.compile(r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun) \d{1,2} [A-Z][a-z]{2} \d{2}:\d{2}:\d{2}$")


def noon_today() -> float:
    """Today 12:00 in this machine's zone (the browser's and the daemon's): the tests' times stay within today."""
    now = datetime.fromtimestamp(time.time()).astimezone()
    return now.replace(hour=12, minute=0, second=0, microsecond=0).timestamp()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Any]:
    _require_chromium()
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            yield b
        finally:
            await b.close()


@pytest_asyncio.fixture(loop_scope="module")
async def site(tmp_path: Path, browser: Any) -> AsyncIterator[tuple[RunningDaemon, FakeClock, Any]]:
    """A daemon on a FakeClock at noon today, and a browser page signed in to it by a one-time link."""
    clock = FakeClock(noon_today())
    d = await start_daemon(make_settings(tmp_path / "daemon", config_text=CONFIG), clock=clock)
    ctx = await browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        page = await ctx.new_page()
        yield d, clock, page
    finally:
        await ctx.close()
        await d.stop()


async def sign_in(d: RunningDaemon, page: Any, path: str = "/") -> None:
    made = await d.http.post("/api/v1/web/login-code", json={"next": path})
    assert made.status_code == 201, made.text
    await page.goto(made.json()["url"])
    await page.wait_for_url(f"{d.base_url}{path}")
    await settle(page)


async def send(d: RunningDaemon, events: list[dict[str, Any]]) -> None:
    response = await d.http.post("/api/v1/browser/events", json=batch(events))
    assert response.status_code == 200, response.text
    assert response.json()["acked"] == events[-1]["seq"]


def hhmm(epoch: float) -> str:
    return datetime.fromtimestamp(epoch).strftime("%H:%M")


async def test_today_shows_held_entries_the_long_run_review_and_the_idle_decision_and_decides_them(
    site: tuple[RunningDaemon, FakeClock, Any],
) -> None:
    d, clock, page = site
    t0 = clock.now()
    seq = 0

    def next_seq() -> int:
        nonlocal seq
        seq += 1
        return seq

    # ticket 102 runs past the long-run cap (1 h): its entry is held for review
    events = [opened(next_seq(), t0, 1, 102)]
    events += [beat(next_seq(), t0 + s) for s in range(20, 3701, 20)]
    events.append(closed(next_seq(), t0 + 3710, 1))
    # ticket 101: 10 minutes, then closed: held in its 10-minute merge window
    t1 = t0 + 3720
    events.append(opened(next_seq(), t1, 2, 101))
    events += [beat(next_seq(), t1 + s) for s in range(20, 601, 20)]
    events.append(closed(next_seq(), t1 + 600, 2))
    # ticket 103: away from t2 + 60 (reported at t2 + 300), back at t2 + 420: the idle decision
    t2 = t1 + 620
    events.append(opened(next_seq(), t2, 3, 103))
    for s in range(20, 481, 20):
        events.append(beat(next_seq(), t2 + s))
        if s == 300:
            events.append({"type": "idle", "seq": next_seq(), "at": t2 + 300, "state": "idle", "since": t2 + 60})
        if s == 420:
            events.append({"type": "idle", "seq": next_seq(), "at": t2 + 420, "state": "active"})
    clock.set(t2 + 480)
    await send(d, events)

    # what the API says is there: the page must show each of these
    entries = (await d.http.get("/api/v1/entries")).json()["entries"]
    [review] = [e for e in entries if "review" in e["flags"]]
    [held] = [e for e in entries if e["status"] == "open"]
    assert (review["ticket_id"], review["status"]) == (102, "pending")
    assert held["ticket_id"] == 101 and held["held_until"] == t1 + 600 + 600
    state = (await d.http.get("/api/v1/timers")).json()
    assert state["idle_pending"] is not None

    await sign_in(d, page)
    await page.wait_for_selector("h1 .pill:text('live')")
    # the running timer counts by the daemon's clock (here hours behind the browser's), not the browser's
    [running] = [t for t in state["timers"] if t["running"]]
    shown = await page.inner_text(f".elapsed[data-timer='{running['id']}']")
    h, m, s = (int(x) for x in shown.split(":"))
    assert running["elapsed_s"] <= h * 3600 + m * 60 + s < running["elapsed_s"] + 120, (shown, running)
    # the held entry: "held until …" and Finish now, with its source
    row = f"tr[data-id='{held['id']}']"
    assert await page.inner_text(f"{row} td.status") == f"held until {hhmm(held['held_until'])}"
    assert await page.inner_text(f"{row} .badge") == "timer"
    # its timer's card says the same, and it cannot be resumed (reopening the ticket continues it)
    card = f"li.timer[data-id='{held['timer_id']}']"
    assert await page.inner_text(f"{card} .state") == f"ticket closed: held until {hhmm(held['held_until'])}"
    assert await page.is_disabled(f"{card} button:text('Resume')")
    # the long-run review and the idle decision
    assert "#102" in await page.inner_text(f"section.review li[data-id='{review['id']}']")
    idle_text = await page.inner_text("section.idle")
    assert f"from {hhmm(t2 + 60)} to {hhmm(t2 + 420)}" in idle_text
    await check_page(page, "today-decisions")

    # idle: keep the time away, by keyboard
    await page.focus("section.idle button:text('Keep it')")
    await page.keyboard.press("Enter")
    await page.wait_for_selector("section.idle", state="hidden")
    timers = (await d.http.get("/api/v1/timers")).json()
    assert timers["idle_pending"] is None
    [t103] = [t for t in timers["timers"] if t["label"] == "#103"]
    assert "idle_kept" in t103["flags"]

    # the held entry: Finish now makes it a stored entry at once
    await page.focus(f"{row} button:text('Finish now')")
    await page.keyboard.press("Enter")
    await page.wait_for_selector("#flash:has-text('finished')")
    finished = [e for e in (await d.http.get("/api/v1/entries")).json()["entries"] if e.get("timer_id") == held["id"]]
    assert [e["status"] for e in finished] == ["pending"]
    await page.wait_for_selector(f"tr[data-id='{finished[0]['id']}'] td.status:text('pending')")
    assert await page.query_selector(row) is None

    # the long-run review: keep it (it is submitted for approval) and the section goes away
    await page.click(f"section.review li[data-id='{review['id']}'] button:text('Keep it')")
    await page.wait_for_selector("section.review", state="hidden")
    kept = (await d.http.get(f"/api/v1/entries/{review['id']}")).json()["entry"]
    assert kept["status"] == "submitted" and "review" not in kept["flags"]
    await check_page(page, "today-decided")


async def insert_automation(d: RunningDaemon, task: str, start: float, seconds: int) -> str:
    """An automation's entry, made as the automation runner makes it (EntryService.build + insert)."""
    services = d.app[SERVICES]
    entries = services.entries
    new = NewEntry(source="automation", segments=[Segment(start, start + seconds)], task=task, reason="automation")
    entry, audit = entries.build(new, d.clock.now())
    async with services.db.transaction() as tx:
        await entries.insert(tx, entry, audit)
    return entry.id


async def test_summary_every_day_prev_next_read_only_entries_sources_and_one_date_format(
    site: tuple[RunningDaemon, FakeClock, Any],
) -> None:
    d, clock, page = site
    t = clock.now()
    made = []
    for start, end in ((t - 3 * 3600, t - 3 * 3600 + 5400), (t - 3600, t - 1800)):
        r = await d.http.post(
            "/api/v1/entries", json={"task": "Admin", "started_at": start, "ended_at": end, "notes": "planning"}
        )
        assert r.status_code == 201, r.text
        made.append(r.json())
    submitted, pending = made
    assert (await d.http.post(f"/api/v1/entries/{submitted['id']}/submit", json={})).status_code == 200
    auto_id = await insert_automation(d, "Backups", t - 1200, 900)
    sheet = (await d.http.get("/api/v1/timesheets/current")).json()
    period = sheet["period"]

    await sign_in(d, page, "/summary")
    # the period's dates, and every one of its days in the chart (only today has time)
    assert period["start"][:4] in await page.inner_text(".period-bar h2")
    assert await page.get_attribute("figure.chart", "data-days") == str(len(sheet["days"]))
    today = datetime.fromtimestamp(t).date().isoformat()
    assert set(await page.eval_on_selector_all("figure.chart rect", "rs => rs.map(r => r.dataset.day)")) == {today}
    axis = await page.eval_on_selector_all("figure.chart text", "ts => ts.map(t => t.textContent)")
    assert "0h" in axis and "2h" in axis  # 2:15 today: the axis is in hours
    # the chart's text alternative is the table: the SVG says so and the table is named
    described = await page.get_attribute("figure.chart svg", "aria-describedby")
    assert "table" in await page.inner_text(f"#{described}")
    assert await page.inner_text("#summary-table caption")

    # drill down from today's total: each entry with its source
    await page.click(f"tr[data-key='{today}'] button.total")
    await page.wait_for_selector("table.drill tbody tr[data-id]")
    sources = await page.eval_on_selector_all(
        "table.drill tbody tr[data-id]",
        "rows => Object.fromEntries(rows.map(r => [r.dataset.id, r.querySelector('.badge').textContent]))",
    )
    assert sources == {submitted["id"]: "manual", pending["id"]: "manual", auto_id: "automation"}

    # a submitted entry is read-only and says why; a pending one is a form
    await page.click(f"table.drill tr[data-id='{submitted['id']}'] button:text('Details')")
    view = f"table.drill tr[data-detail-of='{submitted['id']}'] section.entry-view"
    await page.wait_for_selector(view)
    assert await page.inner_text(f"{view} .why") == "Submitted: waiting for approval."
    assert await page.query_selector_all(f"{view} input, {view} textarea, {view} select, {view} button") == []
    assert "planning" in await page.inner_text(f"{view} dl")
    # the audit trail: one date format (24-hour, "Sun 29 Nov 09:00:00"), not the browser locale's
    stamps = await page.eval_on_selector_all(f"{view} details.audit li time", "ts => ts.map(t => t.textContent)")
    assert stamps and all(AUDIT_TIME.match(s) for s in stamps), stamps
    await page.click(f"table.drill tr[data-id='{pending['id']}'] button:text('Details')")
    await page.wait_for_selector(f"table.drill tr[data-detail-of='{pending['id']}'] form.entry-edit textarea")
    # its times are 24-hour HH:MM like every time on the pages (a type="time" input follows the browser's locale:
    # "11:00 AM" in en-US); a time that is not one is refused beside the form and changes nothing
    form = f"table.drill tr[data-detail-of='{pending['id']}'] form.entry-edit"
    start = f"{form} input[id$='-start']"
    assert await page.eval_on_selector(start, "i => [i.type, i.value]") == ["text", hhmm(t - 3600)]
    await page.fill(start, "25:00")
    await page.click(f"{form} button:text('Save entry')")
    await page.wait_for_selector(f"{start}[aria-invalid='true']")
    assert "HH:MM" in await page.inner_text(f"{form} p.error")
    assert (await d.http.get(f"/api/v1/entries/{pending['id']}")).json()["entry"] == pending
    await page.fill(start, hhmm(t - 3600 - 900))
    await page.click(f"{form} button:text('Save entry')")
    await page.wait_for_selector("#flash:has-text('Entry saved')")
    moved = (await d.http.get(f"/api/v1/entries/{pending['id']}")).json()["entry"]
    assert (moved["started_at"], moved["actual_seconds"]) == (t - 3600 - 900, 2700)
    await check_page(page, "summary-drill")

    # previous period: its own dates in the bar and the address, nothing in it; next comes back
    await page.click(".period-bar a:text('Previous')")
    await page.wait_for_url(re.compile(rf"period={period['prev']}"))
    await settle(page)
    assert period["prev"] != period["id"]
    prev = (await d.http.get(f"/api/v1/timesheets/{period['prev']}")).json()["period"]
    assert await page.inner_text(".period-bar h2") == period_text(prev)
    assert "No time in this period" in await page.inner_text("main")
    assert await page.query_selector("figure.chart") is None  # no chart of nothing, pointing at no table
    await check_page(page, "summary-empty")
    await page.click(".period-bar a:text('Next')")
    await page.wait_for_url(re.compile(rf"period={period['id']}"))
    await settle(page)
    await page.wait_for_selector(f"tr[data-key='{today}']")
    assert await page.inner_text(".period-bar h2") == period_text(period)


def period_text(p: dict[str, Any]) -> str:
    """ "Mon 23 Nov \u2013 Sun 29 Nov 2026" (an en dash): the timesheet's and the summary's period heading."""

    def day(iso: str) -> str:
        d = date.fromisoformat(iso)
        return f"{d:%a} {d.day} {d:%b}"

    return f"{day(p['start'])} \u2013 {day(p['end'])} {p['end'][:4]}"
