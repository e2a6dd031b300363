"""The summary over real HTTP on a real daemon and SQLite file: for a generated table of entries (every status,
source, billable value, company, work type, tickets, tasks, across midnights and a DST change), every row's seconds
equal the sum over `GET /api/v1/entries` with the row's `filter`, to the second, and the totals equal the rows."""

from __future__ import annotations

import random
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from daemon.clock import FakeClock
from daemon.entries.model import BUCKETS, STATUSES, Segment
from daemon.entries.service import NewEntry
from daemon.services import SERVICES
from daemon.timers.model import TicketRef
from tests.events import HALO_ORIGIN, batch, beat, closed, opened
from tests.support import RunningDaemon, assert_api_error

CONFIG = f"""
approval = "two"
timezone = "Europe/Berlin"
user_name = "pia"

[[instances]]
name = "halo"
kind = "halopsa"
origins = ["{HALO_ORIGIN}"]

[[instances]]
name = "at"
kind = "autotask"
origins = ["https://ww5.autotask.net"]
"""
BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=BERLIN).timestamp()
SPAN_START = datetime(2026, 10, 1, tzinfo=BERLIN).timestamp()  # covers the end of DST (2026-10-25)
GROUPS = ("day", "ticket", "company", "work_type", "billable", "status", "period")


@pytest.fixture(autouse=True)
def _now(fake_clock: FakeClock) -> None:
    fake_clock.set(NOW)


async def generate(d: RunningDaemon, n: int, seed: int) -> None:
    """n entries written through the daemon's own EntryService and store, with statuses set as the table says."""
    rnd = random.Random(seed)
    service = d.app[SERVICES].entries
    made = []
    for _ in range(n):
        start = rnd.uniform(SPAN_START, NOW - 30 * 3600)
        if rnd.random() < 0.1:  # some start late in the evening and run past midnight
            start = start - start % 86400 + 22 * 3600 + rnd.uniform(0, 7000)
        length = rnd.choice([60, 61, 900, 3599, 3600, 5400, 7201, 20000])
        pick = rnd.random()
        ticket = None
        task = None
        if pick < 0.45:
            ticket = TicketRef(instance="halo", kind="halopsa", id=rnd.choice([4711, 4712, 88]))
        elif pick < 0.6:
            ticket = TicketRef(instance="at", kind="autotask", number=rnd.choice(["T20261101.0001", "T20261101.0002"]))
        elif pick < 0.65:
            ticket = TicketRef(instance="at", kind="autotask", id=99)
        else:
            task = rnd.choice(["Admin", "Training", "Internal meeting"])
        new = NewEntry(
            source=rnd.choice(["timer", "manual", "automation"]),
            segments=[Segment(start, start + length)],
            ticket=ticket,
            task=task,
            company=rnd.choice(["", "Contoso", "Fabrikam", "=cmd|' /C calc'!A0"]),
            work_type=rnd.choice(["", "Remote", "Onsite"]),
            billable=rnd.choice(["", "yes", "no", "agreement"]),
            summary=rnd.choice(["Printer offline", "VPN", ""]),
        )
        entry, audit = service.build(new, NOW)
        entry.status = rnd.choice([s for s in STATUSES if s != "open"])  # type: ignore[assignment]
        made.append((entry, audit))
    async with d.app[SERVICES].db.transaction() as tx:
        for entry, audit in made:
            await service.store.insert(tx, entry, audit)


async def listed(d: RunningDaemon, query: dict[str, str]) -> list[dict[str, Any]]:
    """Every entry `GET /api/v1/entries` lists for the query, page by page."""
    found: list[dict[str, Any]] = []
    while True:
        r = await d.http.get("/api/v1/entries", params={**query, "limit": "5000", "offset": str(len(found))})
        assert r.status_code == 200, r.text
        page = r.json()["entries"]
        found += page
        if len(page) < 5000:
            return found


async def check(d: RunningDaemon, query: dict[str, str]) -> dict[str, Any]:
    r = await d.http.get("/api/v1/summary", params=query)
    assert r.status_code == 200, r.text
    summary: dict[str, Any] = r.json()
    rows = summary["rows"]
    keys = [row["key"] for row in rows]
    assert len(keys) == len(set(keys)), keys
    for row in rows:
        entries = await listed(d, row["filter"])
        assert row["count"] == len(entries), row
        assert row["seconds"] == sum(e["actual_seconds"] for e in entries), row
        assert row["billed_seconds"] == sum(e["billed_seconds"] for e in entries), row
        for bucket, statuses in BUCKETS.items():
            assert row["buckets"][bucket] == sum(e["actual_seconds"] for e in entries if e["status"] in statuses)
        assert sum(row["buckets"].values()) == row["seconds"]
    totals = summary["totals"]
    assert totals["count"] == sum(r["count"] for r in rows)
    assert totals["seconds"] == sum(r["seconds"] for r in rows)
    assert totals["billed_seconds"] == sum(r["billed_seconds"] for r in rows)
    assert totals["buckets"] == {b: sum(r["buckets"][b] for r in rows) for b in BUCKETS}
    return summary


@pytest.mark.parametrize("group", GROUPS)
async def test_every_row_drills_down_to_its_entries(tc: RunningDaemon, group: str) -> None:
    await generate(tc, 600, seed=GROUPS.index(group))
    month = {"from": "2026-10-01T00:00:00", "to": "2026-11-01T00:00:00"}
    whole = await check(tc, {"group": group, "from": str(SPAN_START - 86400), "to": str(NOW)})
    assert whole["totals"]["count"] == 600
    await check(tc, {"group": group, **month})
    await check(tc, {"group": group, "period": "2026-10-26"})  # the week after the DST change
    await check(tc, {"group": group, "period": "2026-10-20", "company": "Contoso", "bucket": "pending,posted"})
    await check(tc, {"group": group, "from": str(SPAN_START), "kind": "task", "billable": "no"})


async def test_a_month_by_day(tc: RunningDaemon) -> None:
    await generate(tc, 300, seed=42)
    s = await check(tc, {"group": "day", "from": "2026-10-01", "to": "2026-11-01"})
    days = [r["key"] for r in s["rows"]]
    assert days == sorted(days) and all(d.startswith("2026-10-") for d in days)
    oct25 = next(r for r in s["rows"] if r["key"] == "2026-10-25")  # the 25-hour day
    assert oct25["label"] == "Sun 25 Oct"
    assert s["from"] == datetime(2026, 10, 1, tzinfo=BERLIN).timestamp()
    # the default window is the current period
    current = await check(tc, {"group": "status"})
    assert current["from"] == datetime(2026, 11, 30, tzinfo=BERLIN).timestamp()


@pytest.mark.parametrize(
    "query",
    [
        {"group": "week"},
        {"group": "day", "bucket": "lost"},
        {"group": "day", "from": "yesterday"},
        {"group": "day", "period": "2026-02-30"},
        {"group": "day", "billable": "maybe"},
        {"group": "day", "kind": "project"},
        {"group": "day", "colour": "red"},
        {"group": "day", "from": "1000000000", "to": "1900000000"},
    ],
)
async def test_bad_summary_queries_are_400(tc: RunningDaemon, query: dict[str, str]) -> None:
    assert_api_error(await tc.http.get("/api/v1/summary", params=query), 400, "invalid_query")


async def test_an_open_entry_counts_where_the_list_shows_it(tc: RunningDaemon, fake_clock: FakeClock) -> None:
    """A closed ticket inside its merge window is not stored yet, but the entry list shows it: so does the summary."""
    await generate(tc, 50, seed=3)
    t0 = NOW - 3600
    events = [opened(1, t0, 7, 4711)] + [beat(i, t0 + 20 * i) for i in range(1, 30)] + [closed(30, t0 + 600, 7)]
    fake_clock.set(t0 + 600)
    r = await tc.http.post("/api/v1/browser/events", json=batch(events))
    assert r.status_code == 200, r.text
    [held] = [e for e in (await tc.http.get("/api/v1/entries")).json()["entries"] if e["status"] == "open"]
    assert held["actual_seconds"] == 600
    for group in GROUPS:
        s = await check(tc, {"group": group})  # the current period: the open entry's
        assert s["totals"]["buckets"]["pending"] >= 600, group
    by_ticket = await check(tc, {"group": "ticket", "period": "current"})
    row = next(r for r in by_ticket["rows"] if r["key"] == "ticket:halo:4711")
    assert row["buckets"]["pending"] >= 600
