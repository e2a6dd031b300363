"""Admin tasks and work orders through the real daemon's outbox, against the sandbox PSAs, exactly once.

The daemon (`create_app` on a real loopback port, a real SQLite file) is configured with the three sandboxes and a
managed task list: "Admin" posts to the ConnectWise sandbox's charge code, "Training" to the Autotask sandbox's
internal billing code (regular time), "Team meeting" stays local. Entries are made through `POST /api/v1/entries`;
each sandbox answers the first time entry with a 502 *after* storing it, so the outbox must find the record by its
marker before posting again. The end state is read from the sandboxes' own stores.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from daemon.connectors.base import marker
from daemon.sandbox import KINDS
from tests.daemon.test_outbox import World, config_text, start_sandbox
from tests.support import await_until, make_settings, start_daemon, yesterday_at

TASKS = """
[[tasks]]
name = "Admin"
post = {{ instance = "{cw}", charge_code = {cw_code} }}

[[tasks]]
name = "Training"
post = {{ instance = "{at}", billing_code = {at_code} }}

[[tasks]]
name = "Team meeting"
"""


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    sandboxes = {kind: await start_sandbox(kind) for kind in KINDS}
    cw, at = sandboxes["connectwise"], sandboxes["autotask"]
    tasks = TASKS.format(cw=cw.name, cw_code=cw.module.SEED.task_code, at=at.name, at_code=at.module.SEED.task_code)
    try:
        daemon = await start_daemon(make_settings(tmp_path, config_text=config_text(sandboxes.values()) + tasks))
        made = World(daemon, sandboxes, {})
        try:
            yield made
        finally:
            await made.daemon.stop()  # the daemon a test may have restarted
    finally:
        for sb in sandboxes.values():
            await sb.runner.cleanup()


async def create(world: World, n: int, **target: Any) -> dict[str, Any]:
    """A 20-minute manual entry yesterday (UTC), the n-th of the test: never across midnight, never overlapping."""
    start = yesterday_at(6) + n * 25 * 60
    body = {"started_at": start, "ended_at": start + 20 * 60, "notes": f"tasks test #{n}", **target}
    response = await world.api.post("/api/v1/entries", json=body)
    assert response.status_code == 201, response.text
    entry: dict[str, Any] = response.json()
    return entry


async def test_tasks_and_work_orders_post_exactly_once_after_an_ambiguous_502(world: World) -> None:
    for kind in KINDS:
        await world.connect(kind)
        world.sandboxes[kind].faults.error_after_commit_next = 1  # the first write is stored, then answered 502
    made: dict[str, list[dict[str, Any]]] = {kind: [] for kind in KINDS}
    made["connectwise"].append(await create(world, 0, task="Admin"))
    made["autotask"].append(await create(world, 1, task="training"))  # task names match case-insensitively
    for n, kind in enumerate(KINDS, start=2):
        sb = world.sandboxes[kind]
        made[kind].append(await create(world, n, instance=sb.name, work_order=str(sb.module.SEED.work_order)))
    local = await create(world, 9, task="Team meeting")
    for kind, entries in made.items():
        for entry in entries:
            assert entry["status"] == "queued", entry
            assert entry["instance"] == world.sandboxes[kind].name
        world.created[kind] = [e["id"] for e in entries]

    entries = await world.check_exactly_once()  # posted, each marker stored once, psa_ids = the stored records

    for kind, mine in made.items():
        sb = world.sandboxes[kind]
        assert sb.faults.error_after_commit_next == 0, f"{kind}: the 502 after commit was never served"
        for entry in mine:
            assert entries[entry["id"]]["status"] == "posted"
            (stored,) = [s for s in sb.stored() if marker(entry["id"]) in s.notes + s.internal_notes]
            if entry["kind"] == "task":
                assert (stored.record, stored.ticket_id) == ("task", sb.module.SEED.task_code)
            else:
                assert entry["kind"] == "work_order"
                assert (stored.record, stored.ticket_id) == ("work_order", sb.module.SEED.work_order)
    for kind in ("connectwise", "autotask"):  # their only writes are time entries: one of each pair hit the 502
        comments = [
            (await world.api.get(f"/api/v1/entries/{e['id']}")).json()["history"][-1]["comment"] for e in made[kind]
        ]
        assert comments.count("found after an uncertain attempt") == 1, (kind, comments)

    # The local task is submitted, ends at approved, says why, and never reaches the outbox or a PSA.
    assert (local["status"], local["kind"], local["instance"]) == ("pending", "task", "")
    response = await world.api.post(f"/api/v1/entries/{local['id']}/submit")
    assert response.status_code == 200, response.text
    local = response.json()
    assert local["status"] == "approved"
    assert "not posted to a PSA" in local["status_reason"]
    assert all(r["entry_id"] != local["id"] for r in await world.outbox())
    assert not any(
        marker(local["id"]) in s.notes + s.internal_notes for sb in world.sandboxes.values() for s in sb.stored()
    )


async def test_a_task_whose_post_was_removed_fails_with_a_reason(world: World, tmp_path: Path) -> None:
    """An entry queued for a task that no longer posts there (the config changed before the daemon could post it)
    fails with a clear reason when the restarted daemon gets to it, and reaches no PSA."""
    await world.connect("connectwise")
    sb = world.sandboxes["connectwise"]
    sb.faults.fail_next = 1_000_000  # the PSA is down: the entry stays queued
    entry = await create(world, 0, task="Admin")
    assert entry["status"] == "queued"
    await world.daemon.stop()
    text = config_text(world.sandboxes.values()) + '\n[[tasks]]\nname = "Admin"\n'  # Admin is local now
    world.daemon = await start_daemon(make_settings(tmp_path, config_text=text))
    sb.faults.fail_next = 0

    async def failed() -> dict[str, Any] | None:
        found: dict[str, Any] = (await world.api.get(f"/api/v1/entries/{entry['id']}")).json()["entry"]
        return found if found["status"] == "failed" else None

    settled = await await_until(failed, what="the entry to fail")
    assert settled["status_reason"] == f"the task 'Admin' no longer posts to {sb.name} (see [[tasks]] in the config)"
    assert sb.stored() == []
