"""PsaService keeps one connector per instance: callers that ask at once get the same one, and credentials that were
just checked keep the connector that checked them."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import msgspec

from daemon.clock import SystemClock
from daemon.psa import PsaService
from daemon.sandbox import sandbox_module
from daemon.settings import Config


class SlowCredentials:
    """A credential source that takes a moment to read, as the keyring and the team server's database do."""

    def __init__(self, stored: dict[str, dict[str, Any]]) -> None:
        self.stored = stored
        self.reads = 0

    def describe(self) -> str:
        return "memory"

    async def get(self, instance: str) -> dict[str, Any] | None:
        self.reads += 1
        await asyncio.sleep(0.01)
        return self.stored.get(instance)

    async def put(self, instance: str, credentials: dict[str, Any]) -> None:
        self.stored[instance] = credentials


async def test_callers_asking_at_once_share_one_connector() -> None:
    instance, credentials = sandbox_module("autotask").demo_instance("http://127.0.0.1:9")
    source = SlowCredentials({instance.name: msgspec.to_builtins(credentials)})
    async with httpx.AsyncClient() as http:
        psa = PsaService(Config(instances=[instance]), source, http, SystemClock())
        made = await asyncio.gather(*(psa.connector(instance.name) for _ in range(6)))
        assert len({id(c) for c in made}) == 1
        assert source.reads == 1  # the others waited for the one being built
        assert await psa.connector(instance.name) is made[0]
        await psa.aclose()
