"""The running server process's parts, built once by `create_server_app` and reached by handlers through `SERVER`."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from daemon.clock import Clock
from daemon.server.config import ServerConfig
from daemon.server.store import ServerDatabase

__all__ = ["SERVER", "ServerServices"]


@dataclass
class ServerServices:
    config: ServerConfig
    clock: Clock
    db: ServerDatabase
    process_id: str
    """This process's name in leases and logs (host:pid:random)."""


SERVER = web.AppKey("server", ServerServices)
