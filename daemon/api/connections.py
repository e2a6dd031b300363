"""Stalled and surplus connections: read deadlines, and a cap on connections that have not shown a token.

Left to itself aiohttp keeps a half-sent request open for an hour and accepts connections until the process runs
out of file descriptors, after which not even health is answered. Three parts, one policy (`ConnectionLimits`):

- Headers: aiohttp's keep-alive timer runs from the moment a connection opens (and again after each response)
  and closes it if no complete request head has arrived by then; `handler_args()` sets it to `read_timeout_s`,
  and the lingering read of an unread body after a response to the same.
- Bodies: `read_json` reads the body under the same deadline (408 `request_timeout`).
- The cap: a connection counts as unauthenticated until one of its requests got past the token check (a bearer
  token, or the WebSocket's hello). When a new connection would make more than `max_unauthenticated`, the oldest
  unauthenticated connections are closed at once: a flood of stalled peers can never starve a client that
  completes its request (such as `GET /api/v1/health`). Only `GuardedRunner` enforces the cap.
- The file limit: under a low RLIMIT_NOFILE the cap, and the listening backlog (how many connections the event
  loop accepts in one go, before any of them can be dropped), shrink to a quarter of what the limit leaves
  after a reserve for the database, logs and authenticated clients.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

__all__ = ["LIMITS", "ConnectionLimits", "GuardedRunner", "file_limit"]

log = logging.getLogger("ticketclock.api")


FD_RESERVE = 64
DEFAULT_BACKLOG = 128


def file_limit() -> int | None:
    """This process's soft limit on open files, or None where there is none to speak of (Windows)."""
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        return None
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return None if soft == resource.RLIM_INFINITY else int(soft)


class ConnectionLimits:
    def __init__(self, *, read_timeout_s: float, max_unauthenticated: int, files: int | None = None) -> None:
        self.read_timeout_s = read_timeout_s
        share = DEFAULT_BACKLOG if files is None else max(8, (files - FD_RESERVE) // 4)
        self.max_unauthenticated = min(max_unauthenticated, share)
        self.backlog = min(DEFAULT_BACKLOG, share)
        """For the listening socket (`web.TCPSite(..., backlog=)`)."""
        self.dropped = 0
        """Connections closed because of the cap (for the log and the tests)."""
        self._live: dict[RequestHandler, None] = {}
        """Open connections, oldest first."""
        self._trusted: set[RequestHandler] = set()

    def handler_args(self) -> dict[str, Any]:
        return {"keepalive_timeout": self.read_timeout_s, "lingering_time": self.read_timeout_s}

    def trust(self, request: web.BaseRequest) -> None:
        """This connection carried an authenticated request: it no longer counts against the cap."""
        protocol = request.protocol
        if isinstance(protocol, RequestHandler) and protocol in self._live:
            self._trusted.add(protocol)

    def opened(self, handler: RequestHandler) -> None:
        self._live[handler] = None
        waiting = [h for h in self._live if h not in self._trusted]
        for victim in waiting[: max(0, len(waiting) - self.max_unauthenticated)]:
            self.closed(victim)
            victim.force_close()
            self.dropped += 1
            if self.dropped in (1, 10, 100, 1000) or self.dropped % 10_000 == 0:
                log.warning(
                    "more than %d unauthenticated connections: dropped the oldest (%d so far)",
                    self.max_unauthenticated,
                    self.dropped,
                )

    def closed(self, handler: RequestHandler) -> None:
        self._live.pop(handler, None)
        self._trusted.discard(handler)


LIMITS = web.AppKey("connection_limits", ConnectionLimits)


class _CappedServer(web.Server):
    """aiohttp's low-level server, telling the limits about every connection that opens or closes."""

    def __init__(self, plain: web.Server, limits: ConnectionLimits) -> None:
        super().__init__(
            plain.request_handler,
            request_factory=plain.request_factory,
            handler_cancellation=plain.handler_cancellation,
            loop=asyncio.get_running_loop(),
            **plain._kwargs,  # the runner's and the app's handler_args, as aiohttp assembled them
        )
        self.limits = limits

    def connection_made(self, handler: RequestHandler, transport: asyncio.Transport) -> None:
        super().connection_made(handler, transport)
        self.limits.opened(handler)

    def connection_lost(self, handler: RequestHandler, exc: BaseException | None = None) -> None:
        super().connection_lost(handler, exc)
        self.limits.closed(handler)


class GuardedRunner(web.AppRunner):
    """`web.AppRunner` whose server enforces the app's `ConnectionLimits` cap."""

    async def _make_server(self) -> web.Server:
        plain = await super()._make_server()  # runs the app's start-up
        return _CappedServer(plain, self.app[LIMITS])
