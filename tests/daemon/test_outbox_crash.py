"""The daemon killed in the middle of a post: the PSA has stored the time entry, the daemon never heard back.

First test: the sandbox PSA runs in the test process on a loopback port with `hang_after_commit_next` set (it commits
the entry, then never answers); the daemon is a real subprocess (`python -m daemon serve`). Once the sandbox holds the
entry, the daemon is SIGKILLed and started again: it must look the entry up by its marker (find) and never post it a
second time.

Second test, everything across processes: the three sandbox PSAs in their own process (`python -m daemon sandbox
--port-base 0 --json`), driven through their control endpoint; the daemon a subprocess. 429s, 503s, connections
dropped after commit, 502s after commit and hangs after commit on all three, the daemon SIGKILLed while a write
hangs and started again: every entry ends up exactly once in each sandbox's store, read back over HTTP.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from aiohttp import web

from daemon.connectors.base import marker
from daemon.sandbox import KINDS, sandbox_module
from daemon.sandbox.faults import FAULTS
from tests.daemon.sandbox.process import spawn_sandboxes
from tests.support import (
    await_until,
    daemon_api,
    daemon_output,
    serve_sandbox,
    spawn_daemon,
    stop_process,
    write_psa_config,
    yesterday_at,
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL (POSIX)"),
]

ENTRIES = 3


@pytest.fixture
async def served(request: pytest.FixtureRequest) -> AsyncIterator[tuple[Any, web.Application, str]]:
    async with serve_sandbox(request.param) as served:
        yield served


async def start(home: Path) -> tuple[subprocess.Popen[bytes], int]:
    proc = await asyncio.to_thread(spawn_daemon, home)
    return proc, proc.port


@pytest.mark.parametrize("served", KINDS, indirect=True)
async def test_killed_mid_post_then_restarted_posts_nothing_twice(
    served: tuple[Any, web.Application, str], tmp_path: Path
) -> None:
    module, app, base_url = served
    faults = app[FAULTS]
    instance, credentials = module.demo_instance(base_url)
    home = tmp_path / "home"
    write_psa_config(home, msgspec.to_builtins(instance))

    proc, port = await start(home)
    try:
        async with daemon_api(home, port) as client:
            response = await client.put(
                f"/api/v1/psa/{instance.name}/credentials", json={"credentials": msgspec.to_builtins(credentials)}
            )
            assert response.status_code == 200, response.text
            faults.hang_after_commit_next = 1
            base = yesterday_at(9)
            ids = []
            for i in range(ENTRIES):
                body = {
                    "instance": instance.name,
                    "ticket": str(module.SEED.service_ticket),
                    "started_at": base + i * 1800,
                    "ended_at": base + i * 1800 + 900,
                    "notes": f"crash test #{i}",
                }
                created = await client.post("/api/v1/entries", json=body)
                assert created.status_code == 201, created.text
                ids.append(created.json()["id"])

        async def committed_and_hanging() -> bool:
            return faults.hang_after_commit_next == 0 and len(module.stored_entries(app)) >= 1

        await await_until(committed_and_hanging, timeout=20, what="the sandbox to commit the hung entry")
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=10) == -signal.SIGKILL
    finally:
        stop_process(proc)

    proc, port = await start(home)
    try:
        async with daemon_api(home, port) as client:

            async def all_posted() -> dict[str, Any] | None:
                listed = (await client.get("/api/v1/entries")).json()["entries"]
                mine = {e["id"]: e for e in listed if e["id"] in ids}
                return mine if len(mine) == ENTRIES and all(e["status"] == "posted" for e in mine.values()) else None

            try:
                entries = await await_until(all_posted, timeout=20, what="every entry to be posted after the restart")
            except AssertionError:
                raise AssertionError(f"not posted; daemon output: {daemon_output(home)}") from None
            history = [(await client.get(f"/api/v1/entries/{i}")).json()["history"] for i in ids]
    finally:
        stop_process(proc)

    stored = module.stored_entries(app)
    for entry_id in ids:
        tag = marker(entry_id)
        records = [s for s in stored if tag in s.notes or tag in s.internal_notes]
        assert len(records) == 1, f"{entry_id}: {len(records)} records in the PSA"
        assert [records[0].psa_id] == entries[entry_id]["psa_ids"]
    assert len(stored) == ENTRIES
    comments = [h[-1]["comment"] for h in history]
    assert "found after an uncertain attempt" in comments, comments


HANG_TIMEOUT: dict[str, dict[str, str | int]] = {
    # Hangs are injected below: the connectors give up on a request after 3 s (their default is 30 s).
    "connectwise": {"timeout_s": "3"},
    "autotask": {"timeout_ms": 3000},
    "halopsa": {"timeout_s": "3"},
}
PER_PSA = 8


async def test_a_fault_storm_across_processes_posts_every_entry_exactly_once(tmp_path: Path) -> None:
    sandbox_proc, sandboxes = await asyncio.to_thread(spawn_sandboxes, tmp_path / "sandboxes")
    daemon: subprocess.Popen[bytes] | None = None
    try:
        home = tmp_path / "home"
        instances = [
            {**sb.instance, "options": {**sb.instance.get("options", {}), **HANG_TIMEOUT[kind]}}
            for kind, sb in sandboxes.items()
        ]
        write_psa_config(home, *instances)
        for sb in sandboxes.values():
            sb.faults(
                retry_after_s=0.05,
                rate_limit_every=7,  # 429s
                error_every=11,  # 503s before anything is stored
                drop_after_commit_next=1,
                error_after_commit_next=2,  # a gateway's 502 after the entry was stored
                hang_after_commit_next=1,
            )
        daemon, port = await start(home)
        ids: dict[str, list[str]] = {}
        async with daemon_api(home, port) as client:
            for sb in sandboxes.values():
                response = await client.put(
                    f"/api/v1/psa/{sb.instance['name']}/credentials", json={"credentials": sb.credentials}
                )
                assert response.status_code == 200, response.text
            base = yesterday_at(7)
            for kind, sb in sandboxes.items():
                for i in range(PER_PSA):
                    body = {
                        "instance": sb.instance["name"],
                        "ticket": str(sandbox_module(kind).SEED.service_ticket),
                        "started_at": base + i * 1800,
                        "ended_at": base + i * 1800 + 1200,
                        "notes": f"storm {kind} #{i}",
                    }
                    created = await client.post("/api/v1/entries", json=body)
                    assert created.status_code == 201, created.text
                    ids.setdefault(kind, []).append(created.json()["id"])

        def hanging() -> bool:
            # A write the sandbox stored and is now hanging on: the daemon is waiting for its answer.
            return any(sb.faults()["hang_after_commit_next"] == 0 for sb in sandboxes.values())

        await await_until(lambda: asyncio.to_thread(hanging), timeout=30, what="a write to hang after commit")
        os.kill(daemon.pid, signal.SIGKILL)
        assert daemon.wait(timeout=10) == -signal.SIGKILL
        # The restarted daemon meets the faults not yet used up (the other PSAs' hangs, drops and 502s after commit),
        # and the 429s and 503s go on.

        daemon, port = await start(home)
        async with daemon_api(home, port) as client:

            async def all_posted() -> dict[str, Any] | None:
                listed = (await client.get("/api/v1/entries", params={"limit": "500"})).json()["entries"]
                mine = {e["id"]: e for e in listed if any(e["id"] in group for group in ids.values())}
                done = len(mine) == PER_PSA * len(sandboxes) and all(e["status"] == "posted" for e in mine.values())
                return mine if done else None

            try:
                entries = await await_until(all_posted, timeout=45, what="every entry to be posted after the restart")
            except AssertionError:
                raise AssertionError(f"not posted; daemon output: {daemon_output(home)}") from None
    finally:
        if daemon is not None:
            stop_process(daemon)
        stored = {kind: await asyncio.to_thread(sb.stored) for kind, sb in sandboxes.items()}
        log = {kind: await asyncio.to_thread(sb.faults) for kind, sb in sandboxes.items()}
        stop_process(sandbox_proc)

    for kind, records in stored.items():
        for entry_id in ids[kind]:
            tag = marker(entry_id)
            mine = [r for r in records if tag in r.notes or tag in r.internal_notes]
            assert len(mine) == 1, f"{kind}: entry {entry_id} is stored {len(mine)} times"
            assert [mine[0].psa_id] == entries[entry_id]["psa_ids"]
        assert len(records) == PER_PSA, f"{kind}: {len(records)} records for {PER_PSA} entries"
        faults = log[kind]
        assert faults["error_after_commit_next"] == 0 and faults["drop_after_commit_next"] == 0, (kind, faults)
        assert faults["hang_after_commit_next"] == 0, (kind, faults)
        assert {"429", "503", "502", "0"} <= set(faults["answered"]), (kind, faults)


async def test_a_502_after_commit_across_processes_is_found_not_posted_again(tmp_path: Path) -> None:
    """Item 1 end to end: the sandbox process (started with `--fault error_after_commit_next=2`) stores each PSA's
    first two entries and answers 502; the daemon process looks them up by marker and posts nothing twice."""
    sandbox_proc, sandboxes = await asyncio.to_thread(
        spawn_sandboxes, tmp_path / "sandboxes", "--fault", "error_after_commit_next=2"
    )
    daemon: subprocess.Popen[bytes] | None = None
    try:
        home = tmp_path / "home"
        write_psa_config(home, *(sb.instance for sb in sandboxes.values()))
        daemon, port = await start(home)
        ids: dict[str, list[str]] = {}
        async with daemon_api(home, port) as client:
            base = yesterday_at(8)
            for kind, sb in sandboxes.items():
                response = await client.put(
                    f"/api/v1/psa/{sb.instance['name']}/credentials", json={"credentials": sb.credentials}
                )
                assert response.status_code == 200, response.text
                for i in range(3):
                    body = {
                        "instance": sb.instance["name"],
                        "ticket": str(sandbox_module(kind).SEED.service_ticket),
                        "started_at": base + i * 1800,
                        "ended_at": base + i * 1800 + 900,
                    }
                    created = await client.post("/api/v1/entries", json=body)
                    assert created.status_code == 201, created.text
                    ids.setdefault(kind, []).append(created.json()["id"])

            async def all_posted() -> dict[str, Any] | None:
                listed = (await client.get("/api/v1/entries")).json()["entries"]
                mine = {e["id"]: e for e in listed if e["status"] == "posted"}
                return mine if all(i in mine for group in ids.values() for i in group) else None

            entries = await await_until(all_posted, timeout=30, what="every entry to be posted")
    finally:
        if daemon is not None:
            stop_process(daemon)
        stored = {kind: await asyncio.to_thread(sb.stored) for kind, sb in sandboxes.items()}
        answered = {kind: (await asyncio.to_thread(sb.faults))["answered"] for kind, sb in sandboxes.items()}
        stop_process(sandbox_proc)

    for kind, records in stored.items():
        assert answered[kind].get("502") == 2, (kind, answered[kind])
        assert len(records) == 3, f"{kind}: {len(records)} records for 3 entries"
        for entry_id in ids[kind]:
            (record,) = [r for r in records if marker(entry_id) in r.notes or marker(entry_id) in r.internal_notes]
            assert [record.psa_id] == entries[entry_id]["psa_ids"]
