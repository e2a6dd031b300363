"""Automation runs logged as time, end to end: a real daemon on a loopback port, the three sandbox PSAs on theirs,
runs posted to `POST /api/v1/automation-runs`, and what each PSA stored read back from the sandbox.

Per PSA: apply_to none / all / tag; log as the starter, the ticket's assignee, a named user (Autotask through
impersonation, its header checked, and a clear failure when the API user may not impersonate); per-automation
minutes; a repeated run id; an overlap with a running timer (added, absorbed); skipped runs with their reasons.
ConnectWise: a window that would end in the future — by our clock, or by the PSA's clock running behind — lands
shifted to end at the PSA's now.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from daemon.clock import FakeClock
from daemon.sandbox.autotask import STORE as AT_STORE
from daemon.sandbox.autotask.store import API_USER as AT_API_USER
from daemon.sandbox.autotask.store import OTHER as AT_OTHER
from daemon.sandbox.connectwise.app import CW_STORE
from tests.daemon.automation.world import (
    KINDS,
    OTHER_TICKET,
    SkewedClock,
    World,
    automation,
    world_of,
)
from tests.support import await_until, yesterday_at

OTHER_ID = {"connectwise": "152", "autotask": str(AT_OTHER), "halopsa": "4"}
"""The `other_user` of each sandbox's SEED, as the PSA stores who the time is for."""


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    async with world_of(tmp_path) as made:
        yield made


# -- apply_to: none, all, tag ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
async def test_apply_to_none_all_and_tag_decide_which_runs_are_logged(world: World, kind: str) -> None:
    await world.automations(
        automation("Nothing", apply_to="none"),
        automation("Everyone", apply_to="all"),
        automation("Managed only", apply_to="tag:managed"),
    )
    none = await world.run(kind, "Nothing")
    assert none["status"] == "skipped" and none["entry_id"] is None
    assert 'applies to no clients (apply_to = "none")' in none["reason"]

    every = await world.run(kind, "Everyone", ticket=OTHER_TICKET[kind])
    managed = await world.run(kind, "Managed only")  # the service ticket's company is tagged "managed"
    unmanaged = await world.run(kind, "Managed only", ticket=OTHER_TICKET[kind])
    assert unmanaged["status"] == "skipped" and unmanaged["entry_id"] is None
    assert "applies to clients tagged 'managed'" in unmanaged["reason"]
    assert "Northwind" in unmanaged["reason"] or "Fabrikam" in unmanaged["reason"]  # names the client

    for run in (every, managed):
        assert run["status"] == "logged", run
        entry = await world.settled(run["entry_id"])
        assert entry["status"] == "posted", entry
        assert entry["source"] == "automation"
        assert entry["automation"] == run["automation"]
        assert len(world.stored(kind, run["entry_id"])) >= 1
    # Nothing stored for the skipped ones, and the list shows every run with what became of it.
    runs = {r["run_id"]: r for r in await world.runs()}
    assert runs[none["run_id"]]["status"] == "skipped"
    assert runs[unmanaged["run_id"]]["reason"] == unmanaged["reason"]
    assert runs[managed["run_id"]]["entry_status"] == "posted"
    assert [r["run_id"] for r in await world.runs(status="skipped")] == [unmanaged["run_id"], none["run_id"]]


async def test_a_disabled_or_unknown_automation_is_recorded_as_skipped_with_the_reason(world: World) -> None:
    await world.automations(automation("Off", enabled=False))
    off = await world.run("connectwise", "Off")
    unknown = await world.run("connectwise", "Never configured")
    assert (off["status"], off["reason"]) == ("skipped", "automation 'Off' is disabled")
    assert (unknown["status"], unknown["reason"]) == ("skipped", "no automation named 'Never configured' is configured")
    listed = {r["run_id"]: r for r in await world.runs()}
    assert listed[off["run_id"]]["reason"] == "automation 'Off' is disabled"
    assert listed[unknown["run_id"]]["status"] == "skipped"
    entries = (await world.api.get("/api/v1/entries")).json()["entries"]
    assert entries == []


# -- log_as: starter, assignee, named user ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
async def test_log_as_starter_assignee_and_named_user_reach_the_psa_as_that_user(world: World, kind: str) -> None:
    seed = world.sandboxes[kind].module.SEED
    await world.automations(
        automation("As starter", log_as="starter"),
        automation("As assignee", log_as="assignee"),
        automation("As named", log_as=f"user:{seed.other_user}"),
    )
    starter = await world.run(kind, "As starter", started_by=seed.other_user)
    assignee = await world.run(kind, "As assignee", started_by=seed.other_user)
    named = await world.run(kind, "As named", started_by="")
    expected = {
        starter["entry_id"]: OTHER_ID[kind],
        assignee["entry_id"]: seed.assignee,
        named["entry_id"]: OTHER_ID[kind],
    }
    for entry_id, who in expected.items():
        entry = await world.settled(entry_id)
        assert entry["status"] == "posted", entry
        [record] = world.stored(kind, entry_id)
        assert record.who == who, (entry["log_as"], record)
    assert seed.assignee != OTHER_ID[kind]  # the three are told apart


async def test_autotask_logs_for_a_named_resource_through_impersonation(world: World) -> None:
    store = world.sandboxes["autotask"].app[AT_STORE]
    await world.automations(automation("As Alice", log_as="user:asmith"))
    run = await world.run("autotask", "As Alice")
    entry = await world.settled(run["entry_id"])
    assert entry["status"] == "posted", entry
    creates = [r for r in store.requests if r.method == "POST" and r.path.lower().endswith("/timeentries")]
    assert [r.impersonation for r in creates] == [str(AT_OTHER)]
    assert creates[0].body["resourceID"] == AT_OTHER
    [stored] = [e for e in store.time_entries.values() if str(e["id"]) in entry["psa_ids"]]
    assert stored["resourceID"] == AT_OTHER
    assert stored["impersonatorCreatorResourceID"] == AT_API_USER


async def test_autotask_without_the_impersonation_permission_fails_clearly(world: World) -> None:
    store = world.sandboxes["autotask"].app[AT_STORE]
    store.impersonation = False
    await world.automations(automation("As Alice", log_as="user:asmith"))
    run = await world.run("autotask", "As Alice")
    entry = await world.settled(run["entry_id"])
    assert entry["status"] == "failed"
    reason = entry["status_reason"]
    assert f"Autotask refused to log time as resource {AT_OTHER} through impersonation" in reason
    assert "Allow impersonation of resources" in reason
    assert "does not allow impersonation" in reason  # the PSA's own words follow
    assert store.time_entries == {}
    [listed] = await world.runs(status="failed")
    assert (listed["run_id"], listed["status"], listed["reason"]) == (run["run_id"], "failed", reason)


# -- minutes, the ConnectWise future window ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
async def test_per_automation_minutes_replace_the_measured_span(world: World, kind: str) -> None:
    await world.automations(automation("Twenty", minutes=20), automation("Measured"))
    end = yesterday_at(12)
    twenty = await world.run(kind, "Twenty", started_at=end - 90, finished_at=end)
    measured = await world.run(kind, "Measured", started_at=end - 300, finished_at=end)
    for run, seconds in ((twenty, 1200), (measured, 300)):
        entry = await world.settled(run["entry_id"])
        assert entry["status"] == "posted", entry
        assert (entry["ended_at"], entry["ended_at"] - entry["started_at"]) == (end, seconds)
        assert entry["actual_seconds"] == seconds
        [record] = world.stored(kind, run["entry_id"])
        assert record.hours == pytest.approx(seconds / 3600, abs=0.01)


async def test_a_connectwise_window_ending_in_the_future_lands_ending_at_now(world: World) -> None:
    """Pia's case: 20 minutes ending at the run's end, which is ahead of now (the script's clock runs fast)."""
    await world.automations(automation("Pia", minutes=20))
    ahead = time.time() + 120
    run = await world.run("connectwise", "Pia", finished_at=ahead, started_at=ahead - 60)
    assert run["status"] == "logged"  # created from the run, not refused
    entry = await world.settled(run["entry_id"])
    assert entry["status"] == "posted", entry
    assert entry["ended_at"] == ahead  # the entry keeps the run's window; the connector shifts what it sends
    cw = world.sandboxes["connectwise"].app[CW_STORE]
    [stored] = [e for e in cw.entries.values() if str(e.id) in entry["psa_ids"]]
    assert stored.end - stored.start == 1200
    assert stored.end <= stored.date_entered < stored.end + 60


async def test_a_connectwise_clock_behind_ours_still_gets_a_window_ending_at_its_now(tmp_path: Path) -> None:
    """The PSA's clock runs 5 minutes behind the daemon's: a run that ended at our now ends in the PSA's future.
    The connector reads the PSA's clock from its `Date` header and shifts the window to end at the PSA's now."""
    psa_clock = SkewedClock(-300)
    async with world_of(tmp_path, ["connectwise"], clocks={"connectwise": psa_clock}) as world:
        await world.automations(automation("Pia", minutes=20))
        now = time.time()
        run = await world.run("connectwise", "Pia", started_at=now - 30, finished_at=now)
        entry = await world.settled(run["entry_id"])
        assert entry["status"] == "posted", entry
        cw = world.sandboxes["connectwise"].app[CW_STORE]
        [stored] = [e for e in cw.entries.values() if str(e.id) in entry["psa_ids"]]
        assert stored.end - stored.start == 1200
        assert stored.end <= stored.date_entered < stored.end + 60  # by the PSA's clock: ends at its now


# -- a repeated run id ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
async def test_the_same_run_id_twice_makes_one_entry(world: World, kind: str) -> None:
    await world.automations(automation("Once"))
    run_id = uuid.uuid4().hex
    first = await world.run(kind, "Once", run_id=run_id)
    again = await world.run(kind, "Once", run_id=run_id, expect=200)
    assert first["repeat"] is False and again["repeat"] is True
    assert again["entry_id"] == first["entry_id"] and again["received_at"] == first["received_at"]
    # Sent at once by eight clients: still one.
    racing = await asyncio.gather(*(world.run(kind, "Once", run_id="race-" + run_id, expect=None) for _ in range(8)))
    assert sorted(r["repeat"] for r in racing) == [False] + [True] * 7
    assert len({r["entry_id"] for r in racing}) == 1
    for entry_id in (first["entry_id"], racing[0]["entry_id"]):
        assert (await world.settled(entry_id))["status"] == "posted"
        assert len(world.stored(kind, entry_id)) == 1
    entries = (await world.api.get("/api/v1/entries")).json()["entries"]
    assert sorted(e["id"] for e in entries) == sorted({first["entry_id"], racing[0]["entry_id"]})


# -- overlap with a running timer --------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
async def test_a_run_during_the_technicians_timer_is_flagged_and_added_or_absorbed(world: World, kind: str) -> None:
    sb = world.sandboxes[kind]
    await world.automations(automation("Adds", overlap="add"), automation("Absorbs", overlap="absorb"))
    response = await world.api.post(
        "/api/v1/timers", json={"instance": sb.name, "ticket": str(sb.module.SEED.service_ticket)}
    )
    assert response.status_code in (200, 201), response.text
    timer_id = response.json()["id"]
    now = time.time()
    added = await world.run(kind, "Adds", started_at=now - 150, finished_at=now - 30)
    absorbed = await world.run(kind, "Absorbs", started_at=now - 150, finished_at=now - 30)

    assert added["status"] == "logged"
    added_entry = await world.settled(added["entry_id"])
    assert added_entry["status"] == "posted" and "overlap" in added_entry["flags"]

    assert absorbed["status"] == "absorbed" and "absorbed" in absorbed["reason"]
    absorbed_entry = await world.entry(absorbed["entry_id"])
    assert absorbed_entry["status"] == "voided"
    assert absorbed_entry["billed_seconds"] == 0 and absorbed_entry["actual_seconds"] == 120
    assert {"overlap", "absorbed"} <= set(absorbed_entry["flags"])
    assert absorbed_entry["status_reason"].startswith("absorbed:")
    assert world.stored(kind, absorbed["entry_id"]) == []  # never posted: not billed twice

    timers = (await world.api.get("/api/v1/timers")).json()["timers"]
    assert "overlap" in next(t for t in timers if t["id"] == timer_id)["flags"]
    stopped = await world.api.post(f"/api/v1/timers/{timer_id}/stop")
    assert stopped.status_code == 200, stopped.text
    [timer_entry] = stopped.json()["entries"]
    assert "overlap" in timer_entry["flags"]  # flagged on both


# -- the entry: notes template, work type, billable, the rules' automation scope ---------------------------------------


async def test_the_entry_carries_the_template_and_the_rules_automation_scope(tmp_path: Path) -> None:
    rules = """
[[rules.scoped]]
name = "scripts"
match = { automation = "Reset password" }
rounding = { increment_s = 900, direction = "up" }
"""
    async with world_of(tmp_path, ["connectwise"], extra=rules) as world:
        await world.automations(
            automation(
                "Reset password",
                notes="{automation} by {started_by}: {outcome} ({notes})",
                billable="no",
                work_type="Remote Support",
            )
        )
        run = await world.run("connectwise", "Reset password", started_by="jdoe")
        entry = await world.settled(run["entry_id"])
        assert entry["status"] == "posted", entry
        assert entry["notes"] == "Reset password by jdoe: success (reset the password)"
        assert (entry["billable"], entry["work_type"], entry["billed_seconds"]) == ("no", "Remote Support", 900)
        rounding = next(n for n in entry["explanation"] if n["rule"] == "rounding")
        assert rounding["source"] == "rule 'scripts' (automation 'Reset password')"
        [record] = world.stored("connectwise", run["entry_id"])
        assert (record.notes, record.billable) == (entry["notes"], "DoNotBill")


async def test_a_run_on_a_ticket_the_psa_does_not_know_fails_with_its_message_and_can_be_sent_again(
    world: World,
) -> None:
    await world.automations(automation("Any"))
    run_id = uuid.uuid4().hex
    missing = await world.run("connectwise", "Any", ticket=99999, run_id=run_id)
    assert missing["status"] == "failed" and missing["entry_id"] is None
    assert "Ticket with id 99999 not found" in missing["reason"]
    # Failed before it made an entry: the same run id is decided again (here: the same answer, still one row).
    again = await world.run("connectwise", "Any", ticket=99999, run_id=run_id)
    assert again["status"] == "failed" and again["repeat"] is False
    assert [r["run_id"] for r in await world.runs()] == [run_id]


async def test_runs_wait_for_nothing_when_the_psa_cannot_be_asked_unless_tags_are_needed(tmp_path: Path) -> None:
    async with world_of(tmp_path, ["autotask"], connect=False) as world:
        await world.automations(automation("All"), automation("Tagged", apply_to="tag:managed"))
        logged = await world.run("autotask", "All")
        assert logged["status"] == "logged"
        tagged = await world.run("autotask", "Tagged")
        assert tagged["status"] == "failed" and "credentials" in tagged["reason"]


async def test_the_runs_list_is_newest_first_and_filters(world: World) -> None:
    await world.automations(automation("A"), automation("B", enabled=False))
    ids = [(await world.run("halopsa", name))["run_id"] for name in ("A", "B", "A")]
    assert [r["run_id"] for r in await world.runs()] == ids[::-1]
    assert [r["run_id"] for r in await world.runs(automation="A")] == [ids[2], ids[0]]
    assert [r["run_id"] for r in await world.runs(limit="1")] == [ids[2]]
    await await_until(lambda: _all_posted(world, [ids[0], ids[2]]), what="the logged runs' entries to be posted")


async def _all_posted(world: World, run_ids: list[str]) -> bool:
    runs = {r["run_id"]: r for r in await world.runs()}
    return all(runs[i]["entry_status"] == "posted" for i in run_ids)


async def test_tags_the_psa_maps_keep_applying_to_later_runs_on_the_same_ticket(tmp_path: Path) -> None:
    """`apply_to = "tag:customer"` where the tag comes from the PSA (Autotask companyType 1) and lapses after
    `company_tags.refresh_s` unless a look-up renews it: a run after that interval still sees the tag."""
    mapping = """
[company_tags]
refresh_s = 60

[[company_tags.map]]
instance = "autotask-sandbox"
attribute = "companyType"
value = "1"
tags = ["customer"]
"""
    clock = FakeClock(time.time())
    async with world_of(tmp_path, ["autotask"], extra=mapping, clock=clock) as world:
        await world.automations(automation("Customers", apply_to="tag:customer"))
        first = await world.run("autotask", "Customers", finished_at=clock.now() - 300)
        assert first["status"] == "logged", first
        clock.advance(61)
        later = await world.run("autotask", "Customers", finished_at=clock.now() - 300)
        assert later["status"] == "logged", later
