"""The team server's fixtures: one throw-away PostgreSQL cluster per test session (tests/server/pg.py), a fresh
database per test, and a server on a real loopback port."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from daemon.clock import FakeClock
from tests.server.pg import Cluster
from tests.server.support import RunningServer, start_server


@pytest.fixture(scope="session")
def pg() -> Iterator[Cluster]:
    cluster = Cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def pg_url(pg: Cluster) -> str:
    return pg.new_database()


@pytest.fixture
async def server(pg_url: str, fake_clock: FakeClock) -> AsyncIterator[RunningServer]:
    running = await start_server(pg_url, clock=fake_clock)
    try:
        yield running
    finally:
        await running.stop()
