"""The sandbox control endpoint (`/_sandbox/…`) and `ticketclock sandbox`: faults switched from outside the sandbox
process, its store read back, bound ports reported."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from aiohttp import web

from daemon.clock import FakeClock
from daemon.connectors.base import marker
from daemon.sandbox import KINDS, sandbox_module
from daemon.sandbox.control import FaultSwitches
from daemon.sandbox.faults import FAULTS, Faults
from tests.daemon.sandbox.process import spawn_sandboxes
from tests.support import stop_process

SWITCHES = {f for f in FaultSwitches.__struct_fields__ if f != "reset"}
COUNTERS = {"requests", "in_flight", "peak_in_flight", "log"}


def test_every_fault_switch_can_be_set_from_outside() -> None:
    fields = set(Faults.__dataclass_fields__)
    assert fields - COUNTERS == SWITCHES


@pytest.fixture(params=KINDS)
async def served(request: pytest.FixtureRequest) -> AsyncIterator[tuple[str, web.Application, httpx.AsyncClient]]:
    kind: str = request.param
    app = sandbox_module(kind).create_app(clock=FakeClock())
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            yield kind, app, http
    finally:
        await runner.cleanup()


async def test_faults_are_set_read_and_reset(served: tuple[str, web.Application, httpx.AsyncClient]) -> None:
    _, app, http = served
    response = await http.post("/_sandbox/faults", json={"error_after_commit_next": 2, "latency_s": 0.01})
    assert response.status_code == 200, response.text
    assert response.json()["error_after_commit_next"] == 2
    faults = app[FAULTS]
    assert (faults.error_after_commit_next, faults.latency_s) == (2, 0.01)
    assert (await http.get("/_sandbox/faults")).json()["latency_s"] == 0.01
    response = await http.post("/_sandbox/faults", json={"reset": True, "fail_next": 1})
    assert response.status_code == 200
    assert (faults.error_after_commit_next, faults.latency_s, faults.fail_next) == (0, 0.0, 1)


@pytest.mark.parametrize(
    "body",
    [
        b'{"no_such_fault": 1}',
        b'{"fail_next": "many"}',
        b'{"fail_next": -1, "latency_s": 5}',
        b'{"error_after_commit_status": 200}',
        b"[1, 2]",
        b"not json",
    ],
)
async def test_bad_switches_are_refused_and_change_nothing(
    served: tuple[str, web.Application, httpx.AsyncClient], body: bytes
) -> None:
    _, app, http = served
    before = (await http.get("/_sandbox/faults")).json()
    response = await http.post("/_sandbox/faults", content=body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "bad_request" and error["message"]
    assert (await http.get("/_sandbox/faults")).json() == before
    assert app[FAULTS].latency_s == 0.0


async def test_entries_lists_the_store(served: tuple[str, web.Application, httpx.AsyncClient]) -> None:
    kind, app, http = served
    module = sandbox_module(kind)
    assert (await http.get("/_sandbox/entries")).json() == {"entries": []}
    assert module.stored_entries(app) == []


async def test_the_control_paths_do_not_count_as_vendor_api_requests(
    served: tuple[str, web.Application, httpx.AsyncClient],
) -> None:
    _, app, http = served
    await http.post("/_sandbox/faults", json={"fail_next": 5, "rate_limit_every": 1})
    assert (await http.get("/_sandbox/entries")).status_code == 200
    assert app[FAULTS].requests == 0 and app[FAULTS].fail_next == 5


@pytest.mark.slow
def test_the_sandbox_command_binds_free_ports_and_takes_faults(tmp_path: Path) -> None:
    proc, sandboxes = spawn_sandboxes(tmp_path, "--kind", "halopsa", "--fault", "error_after_commit_next=1")
    try:
        assert set(sandboxes) == {"halopsa"}
        halo = sandboxes["halopsa"]
        assert halo.base_url.startswith("http://127.0.0.1:") and not halo.base_url.endswith(":0")
        assert halo.faults()["error_after_commit_next"] == 1
        assert halo.instance["api_url"] == halo.base_url and halo.credentials["client_secret"]
        assert all(page.startswith(halo.base_url) for page in halo.ticket_pages) and len(halo.ticket_pages) == 2
        assert httpx.get(halo.ticket_pages[0], timeout=10).status_code == 200
        # A write through the vendor API: stored, then answered 502 as by a gateway.
        token = httpx.post(
            f"{halo.base_url}/auth/token",
            params={"tenant": halo.credentials["tenant"]},
            data={
                "grant_type": "client_credentials",
                "client_id": halo.credentials["client_id"],
                "client_secret": halo.credentials["client_secret"],
                "scope": "all",
            },
            timeout=10,
        ).json()["access_token"]
        action = [{"ticket_id": 1001, "timetaken": 0.5, "note": marker("remote-1")}]
        response = httpx.post(
            f"{halo.base_url}/api/Actions", json=action, headers={"Authorization": f"Bearer {token}"}, timeout=10
        )
        assert response.status_code == 502
        assert [marker("remote-1") in s.notes for s in halo.stored()] == [True]
        assert halo.faults()["error_after_commit_next"] == 0
    finally:
        stop_process(proc)
