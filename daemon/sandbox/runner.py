"""Serve the sandbox PSAs on loopback ports (the `sandbox` and `demo` commands)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec
from aiohttp import web

from daemon.clock import Clock
from daemon.sandbox import KINDS, sandbox_module
from daemon.settings import InstanceConfig

__all__ = ["RunningSandbox", "start_sandboxes"]


@dataclass
class RunningSandbox:
    kind: str
    base_url: str
    app: web.Application
    runner: web.AppRunner
    instance: InstanceConfig
    credentials: dict[str, Any]


async def start_sandboxes(clock: Clock, *, port_base: int = 0, kinds: tuple[str, ...] = KINDS) -> list[RunningSandbox]:
    """Start one sandbox per kind on 127.0.0.1 (port_base + i, or free ports when port_base is 0)."""
    running: list[RunningSandbox] = []
    for i, kind in enumerate(kinds):
        module = sandbox_module(kind)
        app = module.create_app(clock=clock)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", port_base + i if port_base else 0)
        await site.start()
        port = runner.addresses[0][1]
        base = f"http://127.0.0.1:{port}"
        instance, creds = module.demo_instance(base)
        running.append(RunningSandbox(kind, base, app, runner, instance, msgspec.to_builtins(creds)))
    return running
