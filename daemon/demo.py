"""`ticketclock demo`: the daemon wired to the three sandbox PSAs, so a newcomer sees the whole loop.

With `--scripted`, a technician's morning is replayed as browser events (opening a ticket in each sandbox PSA,
15 minutes on each with heartbeats, closing it); the timers become entries, the entries are posted to the
sandboxes, and the outbox shows them as posted.
"""

from __future__ import annotations

from typing import Any

import httpx

from daemon.clock import Clock
from daemon.sandbox import TICKET_PATHS, sandbox_module

__all__ = ["TICKET_PATHS", "morning_events", "replay_morning"]


def ticket_url(kind: str, base: str) -> str:
    return f"{base}{TICKET_PATHS[kind]}{sandbox_module(kind).SEED.service_ticket}"


def morning_events(instances: list[dict[str, Any]], start: float, minutes: int = 15) -> list[dict[str, Any]]:
    """Browser events for `minutes` on each instance's seeded ticket, one after the other, from `start`."""
    events: list[dict[str, Any]] = []
    at = start

    def add(**event: Any) -> None:
        events.append({"seq": len(events) + 1, "at": at, **event})

    add(type="window_focused", window=1)
    for i, inst in enumerate(instances):
        tab = 10 + i
        add(type="tab_opened", tab=tab, window=1, url=ticket_url(inst["kind"], inst["origins"][0]), active=True)
        add(type="tab_activated", tab=tab, window=1)
        for _ in range(minutes * 3):
            at += 20
            add(type="heartbeat")
        add(type="tab_closed", tab=tab, window=1)
        at += 5
        add(type="heartbeat")
    at += 700  # past the grace period and the merge window: the last entry finalizes too
    add(type="heartbeat")
    return events


async def replay_morning(port: int, token: str, clock: Clock) -> int:
    """Post the morning (three hours ago) to the daemon; returns the acknowledged seq."""
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {token}"}
    ) as http:
        instances = (await http.get("/api/v1/psa")).json()["instances"]
        events = morning_events(instances, clock.now() - 3 * 3600)
        response = await http.post(
            "/api/v1/browser/events", json={"type": "batch", "install": "demo", "events": events}
        )
        response.raise_for_status()
        return int(response.json()["acked"])
