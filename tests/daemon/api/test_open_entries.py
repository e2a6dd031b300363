"""Entries are visible from the moment a ticket closes (issue 8): a closed ticket inside its merge window is listed
as an `open` entry with `held_until`, over real HTTP; "finish now" finalizes it exactly once, a reopen continues it,
and racing the two never loses or doubles a second."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from daemon.clock import FakeClock
from daemon.services import SERVICES
from tests.events import HALO_INSTANCE, batch, beat, closed, opened
from tests.support import RunningDaemon, assert_api_error
from tests.support import get_entries as entries
from tests.support import get_timers as timers

CONFIG = "[timing]\ngrace_s = 30\nmerge_s = 600\n" + HALO_INSTANCE  # the defaults, spelled out for the arithmetic
EVENTS = "/api/v1/browser/events"


async def send(d: RunningDaemon, events: list[dict[str, Any]]) -> int:
    response = await d.http.post(EVENTS, json=batch(events))
    assert response.status_code == 200, response.text
    acked: int = response.json()["acked"]
    return acked


def worked(seq: int, t0: float, tab: int, ticket: int, seconds: int) -> list[dict[str, Any]]:
    """Open `ticket` in `tab` at t0, heartbeats every 20 s, close it at t0 + seconds (seqs seq .. seq + seconds/20)."""
    events = [opened(seq, t0, tab, ticket)]
    events += [beat(seq + i, t0 + 20 * i) for i in range(1, seconds // 20)]
    events.append(closed(seq + max(1, seconds // 20), t0 + seconds, tab))
    return events


async def finalize_all(d: RunningDaemon, clock: FakeClock) -> None:
    """Browser silent past every grace and merge window, then a tick: whatever is held becomes a stored entry."""
    clock.advance(30 + 600 + 61)
    await d.app[SERVICES].timers.tick()


async def stored(d: RunningDaemon) -> list[dict[str, Any]]:
    return [e for e in await entries(d) if e["status"] != "open"]


async def test_a_closed_ticket_shows_its_open_entry_at_once(tc: RunningDaemon, fake_clock: FakeClock) -> None:
    t0 = fake_clock.now()
    fake_clock.set(t0 + 600)
    assert await send(tc, worked(1, t0, 7, 101, 600)) == 31
    [timer] = (await timers(tc))["timers"]

    [entry] = await entries(tc)
    assert entry["status"] == "open" and entry["id"] == timer["id"] == entry["timer_id"]
    assert (entry["ticket_id"], entry["instance"], entry["source"]) == (101, "halo", "timer")
    assert (entry["actual_seconds"], entry["billed_seconds"]) == (600, 600)
    assert (entry["started_at"], entry["ended_at"]) == (t0, t0 + 600)
    assert entry["held_until"] == t0 + 600 + 600  # the merge window, from the close
    assert entry["status_reason"] == ""
    # Filters treat it like any entry; it has no audit trail yet.
    assert [e["id"] for e in (await tc.http.get("/api/v1/entries", params={"status": "open"})).json()["entries"]] == [
        entry["id"]
    ]
    assert (await tc.http.get("/api/v1/entries", params={"status": "queued"})).json()["entries"] == []
    assert (await tc.http.get("/api/v1/entries", params={"ticket": "102"})).json()["entries"] == []
    assert (await tc.http.get("/api/v1/entries", params={"to": str(t0)})).json()["entries"] == []
    one = (await tc.http.get(f"/api/v1/entries/{entry['id']}")).json()
    assert one == {"entry": entry, "history": []}

    # Past grace (the timer is "stopped" in its merge window) it is still the same open entry.
    fake_clock.set(t0 + 700)
    assert await send(tc, [beat(32, t0 + 700)]) == 32
    [again] = await entries(tc)
    assert (again["status"], again["id"], again["actual_seconds"], again["held_until"]) == (
        "open",
        entry["id"],
        600,
        t0 + 1200,
    )
    # At the end of the window it becomes the stored entry, posted as before.
    fake_clock.set(t0 + 1200)
    assert await send(tc, [beat(33, t0 + 1200)]) == 33
    [final] = await entries(tc)
    assert final["status"] == "queued" and final["id"] != entry["id"] and final["actual_seconds"] == 600


async def test_a_short_open_entry_says_it_would_be_voided(tc: RunningDaemon, fake_clock: FakeClock) -> None:
    t0 = fake_clock.now()
    fake_clock.set(t0 + 40)
    assert await send(tc, [opened(1, t0, 7, 101), beat(2, t0 + 20), closed(3, t0 + 40, 7)]) == 3
    [entry] = await entries(tc)
    assert (entry["status"], entry["status_reason"], entry["actual_seconds"]) == ("open", "too_short", 40)


async def test_finish_now_finalizes_once_and_a_reopen_starts_a_new_entry(
    tc: RunningDaemon, fake_clock: FakeClock
) -> None:
    t0 = fake_clock.now()
    fake_clock.set(t0 + 600)
    await send(tc, worked(1, t0, 7, 101, 600))
    [held] = await entries(tc)

    response = await tc.http.post(f"/api/v1/entries/{held['id']}/finish")
    assert response.status_code == 200, response.text
    finished = response.json()
    assert (finished["status"], finished["actual_seconds"], finished["timer_id"]) == ("queued", 600, held["id"])
    assert (finished["started_at"], finished["ended_at"]) == (t0, t0 + 600)
    assert await entries(tc) == [finished]
    assert (await timers(tc))["timers"] == []
    history = (await tc.http.get(f"/api/v1/entries/{finished['id']}")).json()["history"]
    assert [(h["from_status"], h["to_status"], h["comment"]) for h in history] == [
        (None, "pending", "closed"),
        ("pending", "queued", "approval: none"),
    ]

    # Once only: finishing again is refused and changes nothing.
    assert_api_error(await tc.http.post(f"/api/v1/entries/{held['id']}/finish"), 409, "invalid_transition")
    assert_api_error(await tc.http.post(f"/api/v1/entries/{finished['id']}/finish"), 409, "invalid_transition")
    assert_api_error(await tc.http.post("/api/v1/entries/t999/finish"), 404, "not_found")
    assert await entries(tc) == [finished]

    # Reopening the ticket inside what was the merge window starts a new timer and a new entry.
    fake_clock.set(t0 + 800)
    await send(tc, worked(32, t0 + 700, 8, 101, 100))
    [first, reopened] = await entries(tc)
    assert first == finished
    assert (reopened["status"], reopened["actual_seconds"]) == ("open", 100)
    assert reopened["id"] != held["id"]
    await finalize_all(tc, fake_clock)
    assert [(e["status"], e["actual_seconds"]) for e in await entries(tc)] == [("queued", 600), ("queued", 100)]


async def test_a_reopened_ticket_continues_its_entry_and_cannot_be_finished(
    tc: RunningDaemon, fake_clock: FakeClock
) -> None:
    t0 = fake_clock.now()
    fake_clock.set(t0 + 750)
    await send(tc, worked(1, t0, 7, 101, 600))
    [held] = await entries(tc)
    await send(tc, [opened(32, t0 + 700, 8, 101), beat(33, t0 + 720), beat(34, t0 + 740)])
    assert await entries(tc) == []  # running again: a live timer, not a held entry
    error = assert_api_error(await tc.http.post(f"/api/v1/entries/{held['id']}/finish"), 409, "invalid_transition")
    assert "only a closed ticket" in error["message"]
    fake_clock.set(t0 + 800)
    await send(tc, [beat(35, t0 + 760), beat(36, t0 + 780), closed(37, t0 + 800, 8)])
    await finalize_all(tc, fake_clock)
    [entry] = await entries(tc)
    assert entry["actual_seconds"] == 700 and entry["segments"] == [[t0, t0 + 600], [t0 + 700, t0 + 800]]


async def test_racing_finish_now_with_a_reopen_never_loses_or_doubles_time(
    tc: RunningDaemon, fake_clock: FakeClock
) -> None:
    """Each round: a ticket worked 600 s and closed; then "finish now" and a reopen (100 s more) race over HTTP.

    Whichever wins, the ticket's time is 700 s in total, in one entry (reopen first: finish refused) or two (finish
    first: the reopen starts anew), and the finish answer says which happened. (Both orders are also pinned one at
    a time by the two tests above.)
    """
    seq = 1
    for round_ in range(8):
        t0 = fake_clock.now()
        ticket = 200 + round_
        fake_clock.set(t0 + 600)
        await send(tc, worked(seq, t0, 10 + round_, ticket, 600))
        seq += 31
        [held] = [e for e in await entries(tc) if e["status"] == "open"]
        fake_clock.set(t0 + 800)
        reopen = [opened(seq, t0 + 700, 100 + round_, ticket)] + [beat(seq + i, t0 + 700 + 20 * i) for i in range(1, 5)]
        seq += 5

        async def finish(entry_id: str = held["id"]) -> httpx.Response:
            return await tc.http.post(f"/api/v1/entries/{entry_id}/finish")

        if round_ % 2:
            finished, _ = await asyncio.gather(finish(), send(tc, reopen))
        else:
            _, finished = await asyncio.gather(send(tc, reopen), finish())
        await send(tc, [closed(seq, t0 + 800, 100 + round_)])
        seq += 1
        await finalize_all(tc, fake_clock)
        mine = [e for e in await stored(tc) if e["ticket_id"] == ticket]
        assert sum(e["actual_seconds"] for e in mine) == 700, mine
        assert len({e["id"] for e in mine}) == len(mine)
        if finished.status_code == 200:
            assert [e["actual_seconds"] for e in mine] == [600, 100]
            assert finished.json()["id"] == mine[0]["id"]
        else:
            assert_api_error(finished, 409, "invalid_transition")
            assert [e["actual_seconds"] for e in mine] == [700]
    assert all(e["status"] != "open" for e in await entries(tc))


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/api/v1/entries/nope/finish", 404, "not_found"),
        ("/api/v1/entries/%20/finish", 404, "not_found"),
    ],
)
async def test_finishing_what_is_not_held_is_a_clear_4xx(
    tc: RunningDaemon, fake_clock: FakeClock, path: str, status: int, code: str
) -> None:
    t0 = fake_clock.now()
    fake_clock.set(t0 + 100)
    await send(tc, [opened(1, t0, 7, 101), beat(2, t0 + 20)])  # running, not held
    [timer] = (await timers(tc))["timers"]
    assert_api_error(await tc.http.post(path), status, code)
    assert_api_error(await tc.http.post(f"/api/v1/entries/{timer['id']}/finish"), 409, "invalid_transition")
    assert (await timers(tc))["timers"][0]["state"] == "running"
    assert await entries(tc) == []
