"""The scoped rules' board, role and long-run cap act, end to end (issue 11).

- board: the ticket look-up's board (ConnectWise board, Autotask queue, Halo team) is carried on the timer and the
  automation run to the entry, and a `match = { board = ... }` rule shapes the entry;
- role: the rules' `role` reaches the PSA (ConnectWise workRole, Autotask roleID, winning over the resource's default
  role); HaloPSA's contract has no role on a time entry, so none is sent;
- long-run cap: a timer is stopped at the cap the rules scoped to its context set, another at the global one.

Real parts: a daemon on loopback with the sandbox PSAs (`tests.daemon.automation.world`), and for the cap the timer
service on a real SQLite file with a FakeClock.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from daemon.clock import FakeClock
from daemon.entries.model import EntryFilter
from daemon.entries.service import EntryService
from daemon.sandbox.autotask.store import ENGINEER as AT_ENGINEER
from daemon.sandbox.autotask.store import OTHER as AT_OTHER
from daemon.sandbox.autotask.store import PROJECT_MANAGER as AT_PROJECT_MANAGER
from daemon.settings import parse_config
from daemon.store.db import Database
from daemon.timers.model import TicketRef
from daemon.timers.service import TimerService
from tests.daemon.automation.world import KINDS, World, automation, world_of
from tests.support import await_until

BOARD = {"connectwise": "Help Desk", "autotask": "Service Desk", "halopsa": "Service Desk"}
"""The board / queue / team of each sandbox's service ticket, as its connector reports it (Autotask: the queueID
picklist's label)."""
ROLE = {"connectwise": "Project Manager", "autotask": str(AT_PROJECT_MANAGER), "halopsa": "Project Manager"}
"""A role the logged-as user has but is not their default (ConnectWise member 152: Engineer; Autotask asmith:
Senior Engineer)."""
STORED_ROLE = {"connectwise": "Project Manager", "autotask": str(AT_PROJECT_MANAGER), "halopsa": ""}
"""What the PSA records: HaloPSA has no role on a time entry."""
OTHER_ID = {"connectwise": "152", "autotask": str(AT_OTHER), "halopsa": "4"}


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    async with world_of(tmp_path) as made:
        yield made


async def put_rules(world: World, kind: str, board: str) -> None:
    """A rule for `board` (written in another case, with spaces) on `kind`'s instance, and one for a board no ticket
    is on (which must not apply)."""
    rules: dict[str, Any] = {
        "scoped": [
            {
                "name": "desk",
                "match": {"instance": world.sandboxes[kind].name, "board": f"  {board.upper()} "},
                "rounding": {"increment_s": 900, "direction": "up"},
                "min_seconds": 0,
                "role": ROLE[kind],
            },
            {"name": "elsewhere", "match": {"board": "No Such Board"}, "rounding": {"increment_s": 3600}},
        ]
    }
    response = await world.api.put("/api/v1/rules", json=rules)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("kind", KINDS)
async def test_a_board_rule_shapes_an_automation_runs_entry_and_its_role_reaches_the_psa(
    world: World, kind: str
) -> None:
    await put_rules(world, kind, BOARD[kind])
    seed = world.sandboxes[kind].module.SEED
    await world.automations(automation("Reset", log_as=f"user:{seed.other_user}"))
    run = await world.run(kind, "Reset")  # 4 minutes
    entry = await world.settled(run["entry_id"])
    assert entry["status"] == "posted", entry
    assert (entry["board"], entry["role"], entry["billed_seconds"]) == (BOARD[kind], ROLE[kind], 900)
    sources = {note["rule"]: note["source"] for note in entry["explanation"]}
    assert sources["rounding"].startswith("rule 'desk'") and "board" in sources["rounding"]
    assert sources["role"].startswith("rule 'desk'")
    [record] = world.stored(kind, run["entry_id"])
    assert record.who == OTHER_ID[kind]
    assert record.role == STORED_ROLE[kind]


async def test_without_a_role_rule_autotask_keeps_the_resources_default_role(world: World) -> None:
    await world.automations(automation("Reset", log_as="user:asmith"))
    run = await world.run("autotask", "Reset")
    entry = await world.settled(run["entry_id"])
    assert entry["status"] == "posted", entry
    assert entry["role"] == ""
    [record] = world.stored("autotask", run["entry_id"])
    assert record.role == str(AT_ENGINEER)  # asmith's default: the rule's role above is what changed it


@pytest.mark.parametrize("kind", KINDS)
async def test_a_timers_entry_carries_its_tickets_board_into_the_rules(tmp_path: Path, kind: str) -> None:
    clock = FakeClock(time.time() - 7200)  # the daemon's; the sandbox's clock is the system's (an entry in its past)
    async with world_of(tmp_path, [kind], clock=clock) as world:
        sb = world.sandboxes[kind]
        await put_rules(world, kind, BOARD[kind])
        response = await world.api.post(
            "/api/v1/timers", json={"instance": sb.name, "ticket": str(sb.module.SEED.service_ticket)}
        )
        assert response.status_code == 201, response.text
        timer_id = response.json()["id"]

        async def looked_up() -> bool:
            timers = (await world.api.get("/api/v1/timers")).json()["timers"]
            return any(t["id"] == timer_id and t["company"] for t in timers)

        await await_until(looked_up, what="the ticket look-up")
        clock.advance(400)
        stopped = await world.api.post(f"/api/v1/timers/{timer_id}/stop")
        assert stopped.status_code == 200, stopped.text
        # 6m 40s, rounded up to the board rule's 15 minutes (the config rounds nothing)
        [entry] = stopped.json()["entries"]
        assert (entry["board"], entry["status"], entry["actual_seconds"], entry["billed_seconds"], entry["role"]) == (
            BOARD[kind],
            "queued",
            400,
            900,
            ROLE[kind],
        )
        posted = await world.settled(entry["id"])
        if kind == "autotask":
            # The connection's own resource has only the Technician role: the sandbox enforces Autotask's rule.
            assert posted["status"] == "failed", posted
            assert f"The Role ({ROLE[kind]}) is not active or not associated with Resource" in posted["status_reason"]
            return
        assert posted["status"] == "posted", posted
        [record] = world.stored(kind, entry["id"])
        assert record.role == STORED_ROLE[kind]


# -- the long-run cap per scope ------------------------------------------------------------------------------------

CAP_CONFIG = parse_config(
    '[[instances]]\nname = "halo"\nkind = "halopsa"\norigins = ["https://acme.halopsa.com"]\n'
    "[timing]\nlong_run_s = 36000\n"
    '[[rules.scoped]]\nmatch = { board = "Overnight jobs" }\nlong_run_s = 7200\n'
)
BOARDS = {101: "Overnight jobs", 102: "Service Desk"}


async def test_a_scoped_cap_stops_a_timer_at_its_own_cap_and_the_global_one_elsewhere(tmp_path: Path) -> None:
    clock = FakeClock()
    db = await Database.open(tmp_path / "cap.db")
    try:
        entries = EntryService(db, CAP_CONFIG, clock)
        svc = TimerService(db, CAP_CONFIG, clock, entries)

        async def lookup(ref: TicketRef) -> tuple[str, str, str]:
            return f"ticket {ref.id}", "Contoso", BOARDS[ref.id or 0]

        svc.lookup = lookup
        await svc.start()
        t0 = clock.now()
        overnight, _ = await svc.start_timer(ticket=TicketRef(instance="halo", kind="halopsa", id=101))
        desk, _ = await svc.start_timer(ticket=TicketRef(instance="halo", kind="halopsa", id=102))

        async def looked_up() -> bool:
            return all(v.company for v in svc.view().timers)

        await await_until(looked_up, what="the ticket look-ups")
        clock.advance(3600)
        await svc.tick()
        assert {v.id for v in svc.view().timers} == {overnight, desk}

        clock.advance(3601)  # past the overnight board's 2 h cap
        await svc.tick()
        assert [v.id for v in svc.view().timers] == [desk]
        [capped] = await entries.find(EntryFilter())
        assert (capped.timer_id, capped.board, capped.ended_at - capped.started_at) == (
            overnight,
            "Overnight jobs",
            7200,
        )
        assert "long_run" in capped.flags

        clock.advance(36000 - 7201 - 1)  # a second short of the global cap: the desk timer runs on
        await svc.tick()
        assert [v.id for v in svc.view().timers] == [desk]
        clock.advance(2)
        await svc.tick()
        assert svc.view().timers == []
        by_timer = {e.timer_id: e for e in await entries.find(EntryFilter())}
        assert by_timer[desk].ended_at - by_timer[desk].started_at == 36000
        assert by_timer[desk].board == "Service Desk" and "long_run" in by_timer[desk].flags
        assert by_timer[overnight].started_at == t0
    finally:
        await db.close()


# -- roles are picked from the PSA's list --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "typo", "fine"), [("connectwise", "Enginer", "Engineer"), ("autotask", "1", ROLE["autotask"])]
)
async def test_once_the_psas_roles_are_listed_a_rule_naming_another_is_refused(
    world: World, kind: str, typo: str, fine: str
) -> None:
    name = world.sandboxes[kind].name
    bad = {"scoped": [{"match": {"instance": name}, "role": typo}]}
    assert (await world.api.put("/api/v1/rules", json=bad)).status_code == 200  # no list known yet: taken
    response = await world.api.get(f"/api/v1/psa/{name}/work-types")
    assert response.status_code == 200, response.text
    assert fine in [r["value"] for r in response.json()["roles"]]

    response = await world.api.put("/api/v1/rules", json={**bad, "min_seconds": 5})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert (error["code"], error["details"]) == ("invalid_rules", {"field": "scoped[0].role"})
    assert (await world.api.get("/api/v1/rules")).json()["rules"] == bad  # the previous rules stay in force
    good = {"scoped": [{"match": {"instance": name}, "role": fine}]}
    assert (await world.api.put("/api/v1/rules", json=good)).status_code == 200
