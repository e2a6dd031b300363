"""GET /api/v1/outbox per instance (web-contract.md "Outbox"): health from the last attempts, never assumed, and the
counts and backlog progress, against the Halo sandbox on a real loopback socket (the World of test_outbox.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.daemon.test_outbox import WAIT_S, World, _world, connected
from tests.support import await_until

KIND = "halopsa"


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    async with _world(tmp_path, short_timeout=False) as made:
        yield made


async def instance(world: World) -> dict[str, Any]:
    response = await world.api.get("/api/v1/outbox")
    assert response.status_code == 200, response.text
    name = world.sandboxes[KIND].name
    found: dict[str, Any] = next(i for i in response.json()["instances"] if i["name"] == name)
    return found


async def until(world: World, check: Any, what: str) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        found = await instance(world)
        return found if check(found) else None

    result: dict[str, Any] = await await_until(probe, timeout=WAIT_S, what=what)
    return result


async def test_no_credentials_is_said_and_the_entries_count_as_queued(world: World) -> None:
    await world.create(KIND, 2)
    found = await until(world, lambda i: i["queued"] == 2, "two queued entries")
    assert found["health"] == "no_credentials" and "connect" in found["last_error"]
    assert found["progress"]["total"] == 2 and found["progress"]["posted"] == 0


async def test_an_unreachable_psa_is_not_ok_and_recovers_to_ok_with_its_backlog_counted(world: World) -> None:
    sb = await connected(world, KIND)
    sb.faults.fail_next = 1_000_000
    await world.create(KIND, 3)
    down = await until(world, lambda i: i["health"] == "unreachable", "the PSA reported unreachable")
    assert down["last_error"] and down["queued"] + down["sending"] == 3 and down["failed"] == 0
    assert down["progress"]["total"] == 3
    sb.faults.fail_next = 0
    await world.settled()
    up = await until(world, lambda i: i["health"] == "ok", "the PSA back to ok")
    assert up["last_error"] == "" and up["queued"] == 0 and up["progress"]["total"] == 0


async def test_a_rate_limiting_psa_says_so(world: World) -> None:
    sb = await connected(world, KIND)
    sb.faults.retry_after_s = 0.05
    sb.faults.rate_limit_every = 1
    await world.create(KIND, 1)
    found = await until(world, lambda i: i["health"] == "rate_limited", "the PSA reported rate limiting")
    assert found["last_error"]
    sb.faults.rate_limit_every = 0
    await world.settled()
