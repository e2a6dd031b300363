"""A timer whose billable flag nobody chose leaves it to the rules: its entry gets the configured default (and a
scoped rule's), not a hard-coded "agreement". A flag the user chose wins."""

from __future__ import annotations

from typing import Any

from daemon.clock import FakeClock
from tests.events import HALO_INSTANCE, batch, closed, opened
from tests.support import RunningDaemon
from tests.support import get_entries as entries

CONFIG = (
    """
billable_default = "no"

[timing]
grace_s = 0
merge_s = 0
"""
    + HALO_INSTANCE
)


async def stop(d: RunningDaemon, timer_id: str) -> None:
    r = await d.http.post(f"/api/v1/timers/{timer_id}/stop")
    assert r.status_code == 200, r.text


async def started(d: RunningDaemon, body: dict[str, Any]) -> dict[str, Any]:
    r = await d.http.post("/api/v1/timers", json=body)
    assert r.status_code == 201, r.text
    timer: dict[str, Any] = r.json()
    return timer


async def test_a_manual_timer_without_a_choice_gets_the_configured_default(
    tc: RunningDaemon, fake_clock: FakeClock
) -> None:
    unset = await started(tc, {"ticket": "4711"})
    chosen = await started(tc, {"ticket": "4712", "billable": "yes"})
    assert (unset["billable"], chosen["billable"]) == (None, "yes")
    fake_clock.advance(600)
    await stop(tc, unset["id"])
    await stop(tc, chosen["id"])
    by_ticket = {e["ticket_id"]: e for e in await entries(tc)}
    assert (by_ticket[4711]["billable"], by_ticket[4712]["billable"]) == ("no", "yes")
    billable_note = next(n for n in by_ticket[4711]["explanation"] if n["rule"] == "billable")
    assert "no" in billable_note["detail"], billable_note


async def test_a_browser_timer_gets_the_configured_default(tc: RunningDaemon, fake_clock: FakeClock) -> None:
    t0 = fake_clock.now()
    r = await tc.http.post("/api/v1/browser/events", json=batch([opened(1, t0, 10, 4711)]))
    assert r.status_code == 200, r.text
    fake_clock.advance(600)
    r = await tc.http.post("/api/v1/browser/events", json=batch([closed(2, fake_clock.now(), 10)]))
    assert r.status_code == 200, r.text
    fake_clock.advance(5)
    found: list[dict[str, Any]] = []
    for _ in range(200):  # the close is settled by the daemon's own ticking, on the fake clock
        found = [e for e in await entries(tc) if e["ticket_id"] == 4711]
        if found:
            break
        fake_clock.advance(1)
        await tc.http.get("/api/v1/timers")
    assert found and found[0]["billable"] == "no", found
