"""Timesheets over real HTTP on a real daemon and SQLite file: the grid of a period, typing durations into cells,
submitting a period, closing and reopening it (closed: every change to an entry inside it is refused)."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from daemon.clock import FakeClock
from tests.support import RunningDaemon, assert_api_error

CONFIG = """
approval = "one"
timezone = "Europe/Berlin"
user_name = "pia"

[rounding]
increment_s = 0

[[instances]]
name = "halo"
kind = "halopsa"
origins = ["https://acme.halopsa.com"]

[[tasks]]
name = "Training"

[[tasks]]
name = "Team meeting"
"""
BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 11, 27, 17, 0, tzinfo=BERLIN).timestamp()  # a Friday; the week began Monday 2026-11-23


def at(day: str, hh: int, mm: int = 0) -> float:
    return datetime.combine(date.fromisoformat(day), time(hh, mm), tzinfo=BERLIN).timestamp()


@pytest.fixture(autouse=True)
def _friday(fake_clock: FakeClock) -> None:
    fake_clock.set(NOW)


async def manual(d: RunningDaemon, start: float, seconds: int, **kw: Any) -> dict[str, Any]:
    body = {"started_at": start, "seconds": seconds, **kw}
    if "task" not in body and "ticket" not in body:
        body["ticket"] = "4711"
    r = await d.http.post("/api/v1/entries", json=body)
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    return out


async def sheet(d: RunningDaemon, period: str = "current") -> dict[str, Any]:
    r = await d.http.get(f"/api/v1/timesheets/{period}")
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


def row(s: dict[str, Any], key: str) -> dict[str, Any]:
    found = [r for r in s["rows"] if r["key"] == key]
    assert found, [r["key"] for r in s["rows"]]
    return found[0]


def cell(s: dict[str, Any], key: str, day: str) -> dict[str, Any]:
    c: dict[str, Any] = next(c for c in row(s, key)["cells"] if c["day"] == day)
    return c


async def put_cell(d: RunningDaemon, ref: dict[str, str], day: str, duration: str, period: str = "current") -> Any:
    return await d.http.put(f"/api/v1/timesheets/{period}/cells", json={"row": ref, "day": day, "duration": duration})


async def test_the_grid_of_a_week(tc: RunningDaemon, fake_clock: FakeClock) -> None:
    fake_clock.set(at("2026-11-30", 12))  # the next Monday: the week is over
    a = await manual(tc, at("2026-11-24", 9), 3600)
    b = await manual(tc, at("2026-11-24", 23, 30), 3600)  # runs past midnight: counts on Tuesday
    c = await manual(tc, at("2026-11-26", 8), 1800, task="Admin")
    voided = await manual(tc, at("2026-11-25", 8), 600)
    assert (await tc.http.post(f"/api/v1/entries/{voided['id']}/void", json={"comment": "dup"})).status_code == 200
    await manual(tc, at("2026-11-22", 12), 600)  # Sunday before: the previous period
    await manual(tc, at("2026-11-30", 0, 0) - 7200, 600)  # Sunday 22:00: still this period

    s = await sheet(tc, "2026-11-23")
    assert (await sheet(tc))["period"]["id"] == "2026-11-30"
    lo = datetime(2026, 11, 23, tzinfo=BERLIN).timestamp()
    hi = datetime(2026, 11, 30, tzinfo=BERLIN).timestamp()
    assert s["period"] == {
        "id": "2026-11-23",
        "start": "2026-11-23",
        "end": "2026-11-29",
        "kind": "weekly",
        "state": "open",
        "prev": "2026-11-16",
        "next": "2026-11-30",
        "from": lo,
        "to": hi,
    }
    assert s["days"] == [f"2026-11-{d}" for d in range(23, 30)]
    assert s["viewer"] == {"name": "pia", "roles": ["technician", "approver", "admin"]}
    tue = cell(s, "ticket:halo:4711", "2026-11-24")
    assert (tue["seconds"], sorted(tue["entries"]), tue["statuses"]) == (7200, sorted([a["id"], b["id"]]), ["pending"])
    assert cell(s, "ticket:halo:4711", "2026-11-25")["seconds"] == 0  # the voided entry is not counted
    assert cell(s, "ticket:halo:4711", "2026-11-29")["seconds"] == 600
    admin = row(s, "task:Admin")
    assert (admin["kind"], admin["task"], admin["total_seconds"]) == ("task", "Admin", 1800)
    assert cell(s, "task:Admin", "2026-11-26")["entries"] == [c["id"]]
    assert s["totals"] == {"days": [0, 7200, 0, 1800, 0, 0, 600], "seconds": 9600, "billed_seconds": 9600}
    assert "Admin" in s["tasks"]
    # any day of the period selects it; the previous one holds Sunday's entry
    assert (await sheet(tc, "2026-11-27"))["period"]["id"] == "2026-11-23"
    assert (await sheet(tc, "2026-11-16"))["totals"]["seconds"] == 600
    assert_api_error(await tc.http.get("/api/v1/timesheets/next-week"), 422, "invalid_input")


async def test_typing_durations_into_a_cell(tc: RunningDaemon) -> None:
    admin = {"task": "Admin"}
    r = await put_cell(tc, admin, "2026-11-25", "1:30")
    assert r.status_code == 200, r.text
    wed = next(c for c in r.json()["cells"] if c["day"] == "2026-11-25")
    assert wed["seconds"] == 5400
    first = (await tc.http.get(f"/api/v1/entries/{wed['entries'][0]}")).json()
    assert first["entry"]["started_at"] == at("2026-11-25", 9)  # 09:00 local
    assert first["entry"]["source"] == "manual"
    assert first["history"][0]["actor"] == "pia"

    r = await put_cell(tc, admin, "2026-11-25", "2h")  # more: a second entry after the first
    s = await sheet(tc)
    wed = cell(s, "task:Admin", "2026-11-25")
    assert wed["seconds"] == 7200 and len(wed["entries"]) == 2
    second = (await tc.http.get(f"/api/v1/entries/{wed['entries'][1]}")).json()["entry"]
    assert (second["started_at"], second["actual_seconds"]) == (at("2026-11-25", 10, 30), 1800)

    r = await put_cell(tc, admin, "2026-11-25", "1h")  # less: the newest is voided, the first shortened
    assert r.status_code == 200, r.text
    assert next(c for c in r.json()["cells"] if c["day"] == "2026-11-25")["seconds"] == 3600
    assert (await tc.http.get(f"/api/v1/entries/{second['id']}")).json()["entry"]["status"] == "voided"
    kept = (await tc.http.get(f"/api/v1/entries/{first['entry']['id']}")).json()
    assert (kept["entry"]["actual_seconds"], kept["entry"]["ended_at"]) == (3600, at("2026-11-25", 10))
    assert kept["history"][-1]["actor"] == "pia" and "cell set to 1:00" in kept["history"][-1]["comment"]

    for text, seconds in (("1.5", 5400), ("90m", 5400), ("1h 30m", 5400), ("0,25", 900), ("0", 0)):
        r = await put_cell(tc, admin, "2026-11-25", text)
        assert r.status_code == 200, (text, r.text)
        assert cell(await sheet(tc), "task:Admin", "2026-11-25")["seconds"] == seconds if seconds else True
    s = await sheet(tc)
    assert not [x for x in s["rows"] if x["key"] == "task:Admin"]  # "0" cleared every manual entry

    # a ticket row; today's cell ends by now, not in the future
    r = await put_cell(tc, {"instance": "halo", "ticket": "#4711"}, "2026-11-27", "8h")
    assert r.status_code == 200, r.text
    fri = next(c for c in r.json()["cells"] if c["day"] == "2026-11-27")
    e = (await tc.http.get(f"/api/v1/entries/{fri['entries'][0]}")).json()["entry"]
    assert (e["ticket_id"], e["ended_at"], e["actual_seconds"]) == (4711, NOW, 8 * 3600)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"row": {"task": "Admin"}, "day": "2026-11-25", "duration": "abc"}, "duration"),
        ({"row": {"task": "Admin"}, "day": "2026-11-25", "duration": "25h"}, "duration"),
        ({"row": {"task": "Admin"}, "day": "2026-11-25", "duration": "-1"}, "duration"),
        ({"row": {"task": "Admin"}, "day": "2026-12-25", "duration": "1"}, "day"),
        ({"row": {"task": "Admin"}, "day": "25.11.2026", "duration": "1"}, "day"),
        ({"row": {}, "day": "2026-11-25", "duration": "1"}, "row"),
        ({"row": {"task": "Admin", "ticket": "1"}, "day": "2026-11-25", "duration": "1"}, "row"),
        ({"row": {"task": "Admin"}, "day": "2026-11-28", "duration": "1"}, "duration"),  # tomorrow: the future
    ],
)
async def test_bad_cells_change_nothing(tc: RunningDaemon, body: dict[str, Any], field: str) -> None:
    before = await sheet(tc)
    r = await tc.http.put("/api/v1/timesheets/current/cells", json=body)
    error = assert_api_error(r, 422, "invalid_input")
    assert error["message"].startswith(field), error
    assert await sheet(tc) == before


async def test_a_cell_with_timer_time_only_grows(tc: RunningDaemon, fake_clock: FakeClock) -> None:
    fake_clock.set(at("2026-11-25", 9))
    started = await tc.http.post("/api/v1/timers", json={"task": "Admin"})
    assert started.status_code in (200, 201), started.text
    fake_clock.set(at("2026-11-25", 10))
    stopped = await tc.http.post(f"/api/v1/timers/{started.json()['id']}/stop")
    assert stopped.status_code == 200, stopped.text
    fake_clock.set(NOW)
    assert cell(await sheet(tc), "task:Admin", "2026-11-25")["seconds"] == 3600
    assert (await put_cell(tc, {"task": "Admin"}, "2026-11-25", "1:30")).status_code == 200
    assert cell(await sheet(tc), "task:Admin", "2026-11-25")["seconds"] == 5400
    assert (await put_cell(tc, {"task": "Admin"}, "2026-11-25", "1h")).status_code == 200  # the manual half goes
    before = await sheet(tc)
    assert cell(before, "task:Admin", "2026-11-25")["seconds"] == 3600
    error = assert_api_error(await put_cell(tc, {"task": "Admin"}, "2026-11-25", "0:30"), 409, "cell_has_tracked_time")
    assert "edit those entries instead" in error["message"]
    assert await sheet(tc) == before


async def test_submitting_a_period(tc: RunningDaemon) -> None:
    mine = [await manual(tc, at("2026-11-24", 9), 3600), await manual(tc, at("2026-11-26", 9), 1800, task="Admin")]
    earlier = await manual(tc, at("2026-11-20", 9), 600)
    rejected = await manual(tc, at("2026-11-25", 9), 600)
    for action, comment in (("submit", ""), ("reject", "wrong ticket")):
        r = await tc.http.post(f"/api/v1/entries/{rejected['id']}/{action}", json={"comment": comment})
        assert r.status_code == 200, r.text
    r = await tc.http.post("/api/v1/timesheets/current/submit")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["submitted"] == 3 and sorted(body["entries"]) == sorted([*(e["id"] for e in mine), rejected["id"]])
    statuses = {e["id"]: e["status"] for e in (await tc.http.get("/api/v1/entries")).json()["entries"]}
    assert statuses[earlier["id"]] == "pending"
    assert all(statuses[i] == "submitted" for i in body["entries"])
    history = (await tc.http.get(f"/api/v1/entries/{mine[0]['id']}")).json()["history"]
    assert history[-1]["actor"] == "pia" and history[-1]["to_status"] == "submitted"
    again = await tc.http.post("/api/v1/timesheets/current/submit")
    assert again.json() == {"submitted": 0, "entries": []}


async def test_a_closed_period_refuses_every_change(tc: RunningDaemon) -> None:
    inside = await manual(tc, at("2026-11-24", 9), 3600)
    submitted = await manual(tc, at("2026-11-24", 11), 600)
    assert (await tc.http.post(f"/api/v1/entries/{submitted['id']}/submit")).status_code == 200
    outside = await manual(tc, at("2026-11-20", 9), 600)

    r = await tc.http.post("/api/v1/timesheets/2026-11-25/close")
    assert r.status_code == 200, r.text
    assert r.json()["period"]["state"] == "closed"
    assert (await sheet(tc))["period"]["state"] == "closed"
    before = (await tc.http.get("/api/v1/entries")).json()

    refusals = [
        await tc.http.patch(f"/api/v1/entries/{inside['id']}", json={"notes": "late"}),
        await tc.http.patch(f"/api/v1/entries/{outside['id']}", json={"started_at": at("2026-11-24", 8)}),  # into it
        await tc.http.post("/api/v1/entries", json={"started_at": at("2026-11-26", 9), "seconds": 60, "task": "A"}),
        await put_cell(tc, {"task": "Admin"}, "2026-11-26", "1h"),
        await tc.http.post("/api/v1/timesheets/current/submit"),
        await tc.http.post(f"/api/v1/entries/{inside['id']}/submit"),
        await tc.http.post(f"/api/v1/entries/{inside['id']}/void"),
    ]
    for refused in refusals:
        error = assert_api_error(refused, 409, "period_closed")
        assert "2026-11-23 \N{EN DASH} 2026-11-29 is closed" in error["message"]
    assert (await tc.http.get("/api/v1/entries")).json() == before
    # approving still works; entries outside the period are still editable
    approved = await tc.http.post(f"/api/v1/entries/{submitted['id']}/approve")
    assert approved.status_code == 200, approved.text
    assert (await tc.http.patch(f"/api/v1/entries/{outside['id']}", json={"notes": "ok"})).status_code == 200

    r = await tc.http.post("/api/v1/timesheets/current/reopen")
    assert r.status_code == 200 and r.json()["period"]["state"] == "open"
    assert (await tc.http.patch(f"/api/v1/entries/{inside['id']}", json={"notes": "late"})).status_code == 200


async def test_the_task_list_is_the_managed_list_then_names_used_before(tc: RunningDaemon) -> None:
    assert (await sheet(tc))["tasks"] == ["Training", "Team meeting"]
    await manual(tc, at("2026-11-24", 9), 1800, task="Lunch and learn")
    await manual(tc, at("2026-11-24", 10), 1800, task="team MEETING")  # a managed task, however it was typed
    assert (await sheet(tc))["tasks"] == ["Training", "Team meeting", "Lunch and learn"]
