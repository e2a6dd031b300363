"""The running daemon's parts, built once by `create_app` and reached by handlers through `SERVICES`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec
from aiohttp import web

from daemon.auth import Pairing
from daemon.automation.service import AutomationService
from daemon.clock import Clock
from daemon.entries.service import EntryService
from daemon.outbox import OutboxService
from daemon.psa import PsaService
from daemon.rules.service import RulesService
from daemon.settings import Settings
from daemon.store import Database
from daemon.store.clients import ClientStore
from daemon.sync import SyncService
from daemon.timers.service import TimerService

if TYPE_CHECKING:
    import httpx  # built on first use by `ticketclock serve` (daemon/cli/serving.py)

__all__ = ["SERVICES", "Services"]


class Services(msgspec.Struct):
    settings: Settings
    clock: Clock
    http: httpx.AsyncClient
    db: Database
    clients: ClientStore
    pairing: Pairing
    entries: EntryService
    timers: TimerService
    psa: PsaService
    outbox: OutboxService
    rules: RulesService
    automation: AutomationService
    sync: SyncService


SERVICES = web.AppKey("services", Services)
