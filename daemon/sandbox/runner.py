"""Serve the sandbox PSAs on loopback ports (the `sandbox` and `demo` commands)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec
from aiohttp import web

from daemon.clock import Clock
from daemon.sandbox import KINDS, TICKET_PATHS, sandbox_module
from daemon.sandbox.control import CONTROL_PREFIX, FaultSwitches, apply_switches
from daemon.sandbox.faults import FAULTS
from daemon.settings import InstanceConfig

__all__ = ["RunningSandbox", "start_sandboxes", "ticket_pages"]


@dataclass
class RunningSandbox:
    kind: str
    base_url: str
    app: web.Application
    runner: web.AppRunner
    instance: InstanceConfig
    credentials: dict[str, Any]

    @property
    def control_url(self) -> str:
        return f"{self.base_url}{CONTROL_PREFIX}"


def ticket_pages(kind: str, base_url: str) -> list[str]:
    """Two ticket pages to open in the browser: the seeded service ticket and the second (project) ticket."""
    seed = sandbox_module(kind).SEED
    return [f"{base_url.rstrip('/')}{TICKET_PATHS[kind]}{t}" for t in (seed.service_ticket, seed.project_ticket)]


async def start_sandboxes(
    clock: Clock,
    *,
    port_base: int = 0,
    kinds: tuple[str, ...] = KINDS,
    faults: FaultSwitches | None = None,
) -> list[RunningSandbox]:
    """Start one sandbox per kind on 127.0.0.1 (port_base + i, or free ports when port_base is 0), each with
    `faults` switched on. The bound port is read back from the socket."""
    running: list[RunningSandbox] = []
    runners: list[web.AppRunner] = []
    try:
        for i, kind in enumerate(kinds):
            module = sandbox_module(kind)
            app = module.create_app(clock=clock)
            if faults is not None:
                apply_switches(app[FAULTS], faults)
            # handler_cancellation: a request the sandbox hangs on ends when the client gives up, so stopping
            # does not wait for it.
            runner = web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=0.5)
            runners.append(runner)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", port_base + i if port_base else 0)
            await site.start()
            base = f"http://127.0.0.1:{runner.addresses[0][1]}"
            instance, creds = module.demo_instance(base)
            running.append(RunningSandbox(kind, base, app, runner, instance, msgspec.to_builtins(creds)))
    except BaseException:
        for runner in runners:
            await runner.cleanup()
        raise
    return running
