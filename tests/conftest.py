"""Fixtures shared by every test: fresh settings in tmp_path, a daemon on a real loopback port, a fake clock.

Helpers (make_settings, start_daemon, spawn_daemon, vacant_port, wait_until, await_until) live in tests/support.py.
Every server a test starts binds port 0 and reports the port it got.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from daemon.clock import FakeClock
from daemon.settings import Settings
from tests.support import RunningDaemon, make_settings, start_daemon


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
async def daemon(settings: Settings) -> AsyncIterator[RunningDaemon]:
    running = await start_daemon(settings)
    try:
        yield running
    finally:
        await running.stop()


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def tc(request: pytest.FixtureRequest, tmp_path: Path, fake_clock: FakeClock) -> AsyncIterator[RunningDaemon]:
    """A daemon on the fake clock, configured by the test module's `CONFIG` (TOML text), on a real loopback port."""
    config = getattr(request.module, "CONFIG", "")
    running = await start_daemon(make_settings(tmp_path, config_text=config), clock=fake_clock)
    try:
        yield running
    finally:
        await running.stop()
