"""The running server process's parts, built once by `create_server_app` and reached by handlers through `SERVER`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiohttp import web

from daemon.clock import Clock
from daemon.server.config import ServerConfig
from daemon.server.store import ServerDatabase

if TYPE_CHECKING:
    from daemon.server.posting import Poster

__all__ = ["SERVER", "ServerServices"]


@dataclass
class ServerServices:
    config: ServerConfig
    clock: Clock
    db: ServerDatabase
    process_id: str
    """This process's name in leases and logs (host:pid:random)."""
    poster: Poster | None = None
    """Posts approved entries and holds the PSA credentials' cipher (daemon/server/posting.py)."""
    oidc: Any = None
    """The OIDC provider's discovery document and keys, cached by this process (daemon/server/oidc.py)."""


SERVER = web.AppKey("server", ServerServices)
