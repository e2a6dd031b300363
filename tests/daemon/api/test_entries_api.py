"""The entries API over real HTTP: manual entries, filters, one entry with its audit trail, edits and the approval
actions with approval "none", "one" and "two"."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from daemon.clock import FakeClock
from daemon.services import SERVICES
from daemon.store.outbox import OutboxStore
from tests.support import RunningDaemon, assert_api_error, await_until, make_settings, start_daemon

INSTANCES = """
[[instances]]
name = "halo"
kind = "halopsa"
origins = ["https://acme.halopsa.com"]

[[instances]]
name = "halo2"
kind = "halopsa"
origins = ["https://other.halopsa.com"]
"""


@pytest.fixture
async def daemons(tmp_path: Path, fake_clock: FakeClock) -> AsyncIterator[Callable[[str], Any]]:
    started: list[RunningDaemon] = []

    async def start(approval: str = "none") -> RunningDaemon:
        text = f'approval = "{approval}"\nuser_name = "pia"\n{INSTANCES}'
        running = await start_daemon(make_settings(tmp_path / approval, config_text=text), clock=fake_clock)
        started.append(running)
        return running

    try:
        yield start
    finally:
        for running in started:
            await settle_outbox(running)
            await running.stop()


async def settle_outbox(d: RunningDaemon) -> None:
    """Wait until the outbox worker has tried every queued entry (no credentials: it puts them off for a minute).

    A queued entry is briefly "being posted" while the worker looks at it, and stopping the daemon while the worker
    is inside a transaction leaves it open (see the report on Database.transaction and cancellation).
    """

    async def settled() -> bool:
        busy = await d.app[SERVICES].db.scalar(
            "SELECT count(*) FROM outbox o JOIN entries e ON e.id = o.entry_id "
            "WHERE e.status = 'queued' AND (o.sending_since IS NOT NULL OR o.last_error = '')"
        )
        return int(busy) == 0

    await await_until(settled, what="the outbox to try every queued entry")


@pytest.fixture
async def tc(daemons: Callable[[str], Any]) -> RunningDaemon:
    running: RunningDaemon = await daemons("none")
    return running


async def create(d: RunningDaemon, body: dict[str, Any]) -> dict[str, Any]:
    response = await d.http.post("/api/v1/entries", json=body)
    assert response.status_code == 201, response.text
    entry: dict[str, Any] = response.json()
    return entry


async def listed(d: RunningDaemon, params: dict[str, str] | None = None) -> list[str]:
    response = await d.http.get("/api/v1/entries", params=params)
    assert response.status_code == 200, response.text
    return [e["id"] for e in response.json()["entries"]]


async def act(d: RunningDaemon, entry_id: str, action: str, comment: str | None = None) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"json": {"comment": comment}} if comment is not None else {}
    response = await d.http.post(f"/api/v1/entries/{entry_id}/{action}", **kwargs)
    assert response.status_code == 200, response.text
    entry: dict[str, Any] = response.json()
    return entry


async def detail(d: RunningDaemon, entry_id: str) -> dict[str, Any]:
    response = await d.http.get(f"/api/v1/entries/{entry_id}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def moves(history: list[dict[str, Any]]) -> list[tuple[str | None, str]]:
    return [(h["from_status"], h["to_status"]) for h in history]


# --- creating by hand ---------------------------------------------------------------------------------------------


async def test_a_manual_ticket_entry_is_queued_and_a_task_entry_pending(
    tc: RunningDaemon, fake_clock: FakeClock
) -> None:
    now = fake_clock.now()
    ticket = await create(tc, {"started_at": now - 3600, "ended_at": now - 1800, "ticket": "4711", "instance": "halo"})
    assert (ticket["status"], ticket["ticket_id"], ticket["instance"]) == ("queued", 4711, "halo")
    assert (ticket["source"], ticket["actual_seconds"], ticket["billed_seconds"]) == ("manual", 1800, 1800)
    task = await create(tc, {"started_at": now - 900, "seconds": 600, "task": "Admin", "notes": "expenses"})
    assert (task["status"], task["task"], task["instance"], task["notes"]) == ("pending", "Admin", "", "expenses")
    assert task["ended_at"] == now - 300
    short = await create(tc, {"started_at": now - 800, "seconds": 30, "task": "Admin"})
    assert (short["status"], short["status_reason"]) == ("voided", "too_short")
    assert await listed(tc) == [ticket["id"], task["id"], short["id"]]


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"started_at": -3600, "ended_at": -7200, "task": "Admin"}, 422),
        ({"started_at": -100_000, "ended_at": -10, "task": "Admin"}, 422),
        ({"started_at": -60, "ended_at": 7200, "task": "Admin"}, 422),
        ({"started_at": -3600, "seconds": 60, "task": "Admin", "ticket": "1", "instance": "halo"}, 422),
        ({"started_at": -3600, "seconds": 60, "ticket": "1", "instance": "nowhere"}, 422),
        ({"started_at": -3600, "seconds": 60, "ticket": "1"}, 422),  # two instances: which one?
        ({"started_at": -3600, "seconds": 60}, 422),
        ({"started_at": -3600, "task": "Admin"}, 422),
        ({"started_at": "yesterday", "seconds": 60, "task": "Admin"}, 422),
        ({"started_at": -3600, "seconds": 60, "task": "Admin", "status": "posted"}, 422),
        ({"started_at": -3600, "seconds": 60, "task": "Admin", "billable": "maybe"}, 422),
    ],
)
async def test_bad_manual_entries_get_one_error_shape_and_create_nothing(
    tc: RunningDaemon, fake_clock: FakeClock, body: dict[str, Any], status: int
) -> None:
    now = fake_clock.now()
    shifted = {k: now + v if k in ("started_at", "ended_at") and isinstance(v, int) else v for k, v in body.items()}
    assert_api_error(await tc.http.post("/api/v1/entries", json=shifted), status, "invalid_input")
    assert await listed(tc) == []


# --- filters ------------------------------------------------------------------------------------------------------


async def test_filters(tc: RunningDaemon, fake_clock: FakeClock) -> None:
    now = fake_clock.now()
    a = await create(tc, {"started_at": now - 7200, "ended_at": now - 6000, "ticket": "11", "instance": "halo"})
    b = await create(tc, {"started_at": now - 5000, "ended_at": now - 4000, "ticket": "22", "instance": "halo"})
    c = await create(tc, {"started_at": now - 3000, "ended_at": now - 2000, "task": "Admin"})
    d = await create(tc, {"started_at": now - 1000, "ended_at": now - 500, "ticket": "11", "instance": "halo2"})

    def iso(ts: float) -> str:
        return datetime.fromtimestamp(ts).astimezone().isoformat()

    assert await listed(tc) == [a["id"], b["id"], c["id"], d["id"]]
    assert await listed(tc, {"from": str(now - 4500)}) == [b["id"], c["id"], d["id"]]
    assert await listed(tc, {"from": iso(now - 4500)}) == [b["id"], c["id"], d["id"]]
    assert await listed(tc, {"to": str(now - 3000)}) == [a["id"], b["id"]]
    assert await listed(tc, {"from": iso(now - 4500), "to": iso(now - 2500)}) == [b["id"], c["id"]]
    assert await listed(tc, {"status": "pending"}) == [c["id"]]
    assert await listed(tc, {"status": "pending,queued"}) == [a["id"], b["id"], c["id"], d["id"]]
    assert await listed(tc, {"status": "posted"}) == []
    assert await listed(tc, {"ticket": "11"}) == [a["id"], d["id"]]
    assert await listed(tc, {"ticket": "#11", "instance": "halo"}) == [a["id"]]
    assert await listed(tc, {"limit": "2", "offset": "1"}) == [b["id"], c["id"]]


@pytest.mark.parametrize(
    "params",
    [
        {"from": "last tuesday"},
        {"to": "2024-13-45"},
        {"status": "done"},
        {"status": "pending,bogus"},
        {"ticket": "abc"},
        {"ticket": "0"},
        {"limit": "0"},
        {"limit": "many"},
        {"offset": "-1"},
        {"sort": "desc"},
    ],
)
async def test_bad_filters_are_400(tc: RunningDaemon, params: dict[str, str]) -> None:
    assert_api_error(await tc.http.get("/api/v1/entries", params=params), 400, "invalid_query")


# --- one entry, edits -----------------------------------------------------------------------------------------------


async def test_one_entry_with_its_history(tc: RunningDaemon, fake_clock: FakeClock) -> None:
    now = fake_clock.now()
    entry = await create(tc, {"started_at": now - 3600, "seconds": 600, "ticket": "4711", "instance": "halo"})
    body = await detail(tc, entry["id"])
    assert body["entry"] == entry
    assert body["history"] == [
        {"at": now, "actor": "pia", "from_status": None, "to_status": "pending", "comment": "manual"},
        {"at": now, "actor": "system", "from_status": "pending", "to_status": "queued", "comment": "approval: none"},
    ]
    assert_api_error(await tc.http.get("/api/v1/entries/no-such-entry"), 404, "not_found")


async def test_edits_only_where_allowed(tc: RunningDaemon, fake_clock: FakeClock) -> None:
    now = fake_clock.now()
    task = await create(tc, {"started_at": now - 3600, "seconds": 600, "task": "Admin"})
    fake_clock.advance(5)
    response = await tc.http.patch(
        f"/api/v1/entries/{task['id']}", json={"notes": "filed", "ended_at": now - 2400, "billable": "no"}
    )
    assert response.status_code == 200, response.text
    edited = response.json()
    assert (edited["notes"], edited["actual_seconds"], edited["billable"]) == ("filed", 1200, "no")
    history = (await detail(tc, task["id"]))["history"]
    assert history[-1] == {
        "at": now + 5,
        "actor": "pia",
        "from_status": "pending",
        "to_status": "pending",
        "comment": "edited: billable, notes, time",
    }
    for bad in ({"ended_at": now - 7200}, {"ended_at": now + 7200}, {"status": "queued"}, {"notes": 1}):
        assert_api_error(await tc.http.patch(f"/api/v1/entries/{task['id']}", json=bad), 422, "invalid_input")
    assert (await detail(tc, task["id"]))["entry"] == edited

    queued = await create(tc, {"started_at": now - 3600, "seconds": 600, "ticket": "4711", "instance": "halo"})
    await settle_outbox(tc)
    assert_api_error(await tc.http.patch(f"/api/v1/entries/{queued['id']}", json={"notes": "x"}), 409, "not_editable")
    voided = await act(tc, queued["id"], "void", "duplicate")
    assert voided["status"] == "voided" and voided["status_reason"] == "duplicate"
    assert_api_error(await tc.http.patch(f"/api/v1/entries/{queued['id']}", json={"notes": "x"}), 409, "not_editable")
    assert (await detail(tc, queued["id"]))["entry"] == voided
    assert_api_error(await tc.http.patch("/api/v1/entries/nope", json={"notes": "x"}), 404, "not_found")


# --- approvals -------------------------------------------------------------------------------------------------------


async def test_approval_two_submit_approve_approve_queue(daemons: Callable[[str], Any], fake_clock: FakeClock) -> None:
    d: RunningDaemon = await daemons("two")
    now = fake_clock.now()
    entry = await create(d, {"started_at": now - 3600, "seconds": 900, "ticket": "4711", "instance": "halo"})
    assert entry["status"] == "pending"
    assert (await act(d, entry["id"], "submit"))["status"] == "submitted"
    fake_clock.advance(60)
    assert (await act(d, entry["id"], "approve", "looks right"))["status"] == "approved_l1"
    fake_clock.advance(60)
    final = await act(d, entry["id"], "approve")
    assert final["status"] == "queued"
    await settle_outbox(d)
    history = (await detail(d, entry["id"]))["history"]
    assert moves(history) == [
        (None, "pending"),
        ("pending", "submitted"),
        ("submitted", "approved_l1"),
        ("approved_l1", "approved"),
        ("approved", "queued"),
    ]
    assert [h["at"] for h in history] == [now, now, now + 60, now + 120, now + 120]
    assert [h["actor"] for h in history] == ["pia", "pia", "pia", "pia", "system"]
    assert history[2]["comment"] == "looks right"
    rows = await OutboxStore(d.app[SERVICES].db).rows()
    assert [(r.entry_id, r.status) for r in rows] == [(entry["id"], "queued")]
    # Queued: no more approvals, no edits.
    assert_api_error(await d.http.post(f"/api/v1/entries/{entry['id']}/approve"), 409, "invalid_transition")
    assert_api_error(await d.http.post(f"/api/v1/entries/{entry['id']}/submit"), 409, "invalid_transition")


async def test_approval_one_reject_edit_resubmit(daemons: Callable[[str], Any], fake_clock: FakeClock) -> None:
    d: RunningDaemon = await daemons("one")
    now = fake_clock.now()
    entry = await create(d, {"started_at": now - 3600, "seconds": 900, "ticket": "4711", "instance": "halo"})
    eid = entry["id"]
    await act(d, eid, "submit")
    before = await detail(d, eid)
    for body in (None, {"comment": ""}, {"comment": "  "}):
        response = (
            await d.http.post(f"/api/v1/entries/{eid}/reject", json=body)
            if body
            else await d.http.post(f"/api/v1/entries/{eid}/reject")
        )
        assert_api_error(response, 422, "invalid_input")
    assert await detail(d, eid) == before
    rejected = await act(d, eid, "reject", "wrong ticket: this was 4712")
    assert (rejected["status"], rejected["status_reason"]) == ("rejected", "wrong ticket: this was 4712")
    response = await d.http.patch(f"/api/v1/entries/{eid}", json={"notes": "moved to the right ticket"})
    assert response.status_code == 200, response.text
    assert (await act(d, eid, "submit"))["status"] == "submitted"
    assert (await act(d, eid, "approve"))["status"] == "queued"
    history = (await detail(d, eid))["history"]
    assert moves(history) == [
        (None, "pending"),
        ("pending", "submitted"),
        ("submitted", "rejected"),
        ("rejected", "rejected"),
        ("rejected", "submitted"),
        ("submitted", "approved"),
        ("approved", "queued"),
    ]
    assert history[2]["comment"] == "wrong ticket: this was 4712"
    assert history[3]["comment"] == "edited: notes"


async def test_void_and_retry(daemons: Callable[[str], Any], fake_clock: FakeClock) -> None:
    d: RunningDaemon = await daemons("one")
    now = fake_clock.now()
    entry = await create(d, {"started_at": now - 3600, "seconds": 900, "ticket": "4711", "instance": "halo"})
    eid = entry["id"]
    assert_api_error(await d.http.post(f"/api/v1/entries/{eid}/retry"), 409, "invalid_transition")
    await act(d, eid, "submit")
    await act(d, eid, "approve")
    await settle_outbox(d)
    assert_api_error(await d.http.post(f"/api/v1/entries/{eid}/retry"), 409, "invalid_transition")
    # The PSA refuses it for good (what the outbox records), the technician edits and retries.
    await OutboxStore(d.app[SERVICES].db).failed(eid, "ticket 4711 is closed", fake_clock.now())
    failed = (await detail(d, eid))["entry"]
    assert (failed["status"], failed["status_reason"]) == ("failed", "ticket 4711 is closed")
    assert (await d.http.patch(f"/api/v1/entries/{eid}", json={"notes": "reopened"})).status_code == 200
    assert (await act(d, eid, "retry"))["status"] == "queued"
    await settle_outbox(d)
    voided = await act(d, eid, "void", "posted by hand instead")
    assert voided["status"] == "voided"
    assert_api_error(await d.http.post(f"/api/v1/entries/{eid}/void"), 409, "invalid_transition")
    assert_api_error(await d.http.post(f"/api/v1/entries/{eid}/submit"), 409, "invalid_transition")
    assert await OutboxStore(d.app[SERVICES].db).rows() == []
    assert moves((await detail(d, eid))["history"])[-4:] == [
        ("queued", "failed"),
        ("failed", "failed"),
        ("failed", "queued"),
        ("queued", "voided"),
    ]


@pytest.mark.parametrize("action", ["submit", "approve", "reject", "void", "retry"])
async def test_actions_on_unknown_entries_and_bad_bodies(tc: RunningDaemon, fake_clock: FakeClock, action: str) -> None:
    assert_api_error(await tc.http.post(f"/api/v1/entries/nope/{action}", json={"comment": "x"}), 404, "not_found")
    now = fake_clock.now()
    entry = await create(tc, {"started_at": now - 3600, "seconds": 600, "task": "Admin"})
    before = await detail(tc, entry["id"])
    response = await tc.http.post(f"/api/v1/entries/{entry['id']}/{action}", json={"comment": 5})
    assert_api_error(response, 422, "invalid_input")
    response = await tc.http.post(f"/api/v1/entries/{entry['id']}/{action}", json={"comment": "x", "as": "admin"})
    assert_api_error(response, 422, "invalid_input")
    assert await detail(tc, entry["id"]) == before
