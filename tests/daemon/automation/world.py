"""A real daemon wired to the three sandbox PSAs on loopback, for automation runs end to end.

The sandboxes are the same look-alikes the outbox tests use (`tests.daemon.test_outbox`), each on its own clock: a
test may run a PSA's clock behind the daemon's (`SkewedClock`) to show the ConnectWise future-window rule. Runs are
posted through `POST /api/v1/automation-runs`; what the PSA stored is read from the sandbox itself.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import msgspec
from aiohttp import web

from daemon.clock import Clock, SystemClock
from daemon.connectors.base import marker
from daemon.sandbox import KINDS, sandbox_module
from daemon.sandbox.common import StoredEntry
from tests.daemon.test_outbox import Sandbox, config_text
from tests.support import RunningDaemon, await_until, make_settings, start_daemon, yesterday_at

__all__ = ["KINDS", "OTHER_TICKET", "SkewedClock", "World", "automation", "world_of"]

OTHER_TICKET = {"connectwise": 48213, "autotask": 54324, "halopsa": 1003}
"""A ticket of a client that is not tagged "managed" (Northwind, Northwind, Fabrikam)."""
COMPANIES = """
[[companies]]
name = "Contoso Dental"
tags = ["managed"]

[[companies]]
name = "Contoso Ltd"
tags = ["managed"]
"""


class SkewedClock:
    """The system clock, `offset` seconds off (a PSA whose clock runs behind or ahead of ours)."""

    def __init__(self, offset: float) -> None:
        self.offset = offset

    def now(self) -> float:
        return time.time() + self.offset

    def monotonic(self) -> float:
        return time.monotonic()


def automation(name: str, **settings: Any) -> dict[str, Any]:
    return {"name": name, **settings}


@dataclass
class World:
    daemon: RunningDaemon
    sandboxes: dict[str, Sandbox]
    names: dict[str, str] = field(default_factory=dict)

    @property
    def api(self) -> httpx.AsyncClient:
        return self.daemon.http

    async def connect(self, kind: str) -> Sandbox:
        sb = self.sandboxes[kind]
        response = await self.api.put(f"/api/v1/psa/{sb.name}/credentials", json={"credentials": sb.credentials})
        assert response.status_code == 200, response.text
        return sb

    async def automations(self, *items: dict[str, Any]) -> None:
        response = await self.api.put("/api/v1/automations", json={"automations": list(items)})
        assert response.status_code == 200, response.text

    async def run(
        self,
        kind: str,
        name: str,
        *,
        ticket: int | str | None = None,
        run_id: str | None = None,
        started_by: str = "",
        started_at: float | None = None,
        finished_at: float | None = None,
        expect: int | None = 201,
        **extra: Any,
    ) -> dict[str, Any]:
        """POST a run on `kind`'s sandbox (default: its service ticket, ending yesterday at noon, 4 minutes long)."""
        sb = self.sandboxes[kind]
        end = yesterday_at(12) if finished_at is None else finished_at
        body = {
            "automation": name,
            "instance": sb.name,
            "ticket": sb.module.SEED.service_ticket if ticket is None else ticket,
            "run_id": run_id or uuid.uuid4().hex,
            "started_by": started_by,
            "started_at": end - 240 if started_at is None else started_at,
            "finished_at": end,
            "outcome": "success",
            "notes": "reset the password",
            **extra,
        }
        response = await self.api.post("/api/v1/automation-runs", json=body)
        if expect is not None:
            assert response.status_code == expect, response.text
        answer: dict[str, Any] = response.json()
        return answer

    async def entry(self, entry_id: str) -> dict[str, Any]:
        response = await self.api.get(f"/api/v1/entries/{entry_id}")
        assert response.status_code == 200, response.text
        found: dict[str, Any] = response.json()["entry"]
        return found

    async def settled(self, entry_id: str) -> dict[str, Any]:
        """The entry once it left the queue (posted or failed)."""

        async def check() -> dict[str, Any] | None:
            entry = await self.entry(entry_id)
            return entry if entry["status"] in ("posted", "failed") else None

        return await await_until(check, what=f"entry {entry_id} to be posted or fail")

    def stored(self, kind: str, entry_id: str) -> list[StoredEntry]:
        """What the sandbox holds for an entry (by its marker)."""
        tag = marker(entry_id)
        return [s for s in self.sandboxes[kind].stored() if tag in s.internal_notes or tag in s.notes]

    async def runs(self, **params: str) -> list[dict[str, Any]]:
        response = await self.api.get("/api/v1/automation-runs", params=params)
        assert response.status_code == 200, response.text
        found: list[dict[str, Any]] = response.json()["runs"]
        return found


async def start_sandbox(kind: str, clock: Clock) -> Sandbox:
    module = sandbox_module(kind)
    app = module.create_app(clock=clock)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    host, port = runner.addresses[0][:2]
    instance, credentials = module.demo_instance(f"http://{host}:{port}")
    raw = msgspec.to_builtins(instance)
    raw.setdefault("options", {})
    creds = msgspec.to_builtins(credentials)
    return Sandbox(kind, module, app, runner, f"http://{host}:{port}", instance.name, raw, creds)


@contextlib.asynccontextmanager
async def world_of(
    tmp_path: Path,
    kinds: Iterable[str] = KINDS,
    *,
    clocks: dict[str, Clock] | None = None,
    extra: str = "",
    connect: bool = True,
    clock: Clock | None = None,
) -> AsyncIterator[World]:
    """A daemon (system clock) and the sandboxes of `kinds`, connected (unless not `connect`), with the "managed"
    company tags; `extra` is added to the config file."""
    sandboxes: dict[str, Sandbox] = {}
    try:
        for kind in kinds:
            sandboxes[kind] = await start_sandbox(kind, (clocks or {}).get(kind, SystemClock()))
        text = config_text(sandboxes.values()) + COMPANIES + extra
        daemon = await start_daemon(make_settings(tmp_path, config_text=text), clock=clock)
        try:
            world = World(daemon, sandboxes)
            for kind in sandboxes if connect else ():
                await world.connect(kind)
            yield world
        finally:
            await daemon.stop()
    finally:
        for sb in sandboxes.values():
            await sb.runner.cleanup()
