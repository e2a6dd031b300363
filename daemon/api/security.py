"""Loopback-only guards: Host (DNS rebinding), Origin (cross-site requests), body type, and the bearer token.

Order matters: Host first (a rebinding page must learn nothing), then Origin, then the token.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web

from daemon.api.errors import ApiError
from daemon.auth import hash_token
from daemon.store.clients import Client, ClientStore

__all__ = ["AUTH", "Guard", "Principal", "guard_middleware", "is_extension_origin"]

EXTENSION_SCHEMES = ("chrome-extension://", "moz-extension://", "extension://")


@dataclass
class Principal:
    """Who is calling: the CLI/script token, a paired client, or the web UI session."""

    kind: str
    client: Client | None = None


@dataclass
class Guard:
    port: int
    cli_token_sha256: str
    clients: ClientStore
    extension_origins: set[str] = field(default_factory=set)
    public: set[tuple[str, str]] = field(default_factory=set)
    """(method, path) pairs that need no token."""
    paired_origins: set[str] = field(default_factory=set)
    _known: dict[str, Principal] = field(default_factory=dict)
    """Paired clients' token digests already checked against the database (clients are never edited)."""

    def allowed_hosts(self) -> set[str]:
        # not [::1]: the daemon listens on 127.0.0.1 only (DESIGN §11), so no honest client names it
        return {f"127.0.0.1:{self.port}", f"localhost:{self.port}"}

    def own_origins(self) -> set[str]:
        return {f"http://127.0.0.1:{self.port}", f"http://localhost:{self.port}"}

    def origin_allowed(self, origin: str, *, pairing: bool = False) -> bool:
        if origin in self.own_origins() or origin in self.extension_origins or origin in self.paired_origins:
            return True
        return pairing and is_extension_origin(origin)

    async def authenticate(self, token: str) -> Principal | None:
        if not token or not token.isascii():  # tokens are ASCII; undecodable header bytes must not raise
            return None
        digest = hash_token(token)
        if hmac.compare_digest(digest, self.cli_token_sha256):
            return Principal("cli")
        known = self._known.get(digest)
        if known is not None:
            return known
        client = await self.clients.by_token(digest)
        if client is None:
            return None
        principal = self._known[digest] = Principal("client", client)
        return principal


AUTH = web.AppKey("auth_guard", Guard)
PRINCIPAL = web.RequestKey("ticketclock.principal", Principal)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def is_extension_origin(origin: str) -> bool:
    return origin.startswith(EXTENSION_SCHEMES) and len(origin) < 200


def bearer(request: web.Request) -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


@web.middleware
async def guard_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    guard = request.app[AUTH]
    host = request.headers.get("Host", "").lower()
    if host not in guard.allowed_hosts():
        raise ApiError(421, "host_forbidden", "this daemon answers only to 127.0.0.1 or localhost on its own port")
    pairing = request.path == "/api/v1/pair"
    origin = request.headers.get("Origin")
    if origin is not None and not guard.origin_allowed(origin, pairing=pairing):
        raise ApiError(403, "origin_forbidden", "requests from this origin are not allowed; pair the extension first")
    if request.method in ("POST", "PUT", "PATCH") and request.can_read_body:
        if request.content_type != "application/json":
            raise ApiError(415, "unsupported_media_type", "send the body as application/json")
    if (request.method, request.path) in guard.public or request.path == "/api/v1/ws":
        return await handler(request)  # the WebSocket authenticates in its hello message
    principal = await guard.authenticate(bearer(request))
    if principal is None:
        raise ApiError(
            401,
            "unauthorized",
            "a valid token is required (Authorization: Bearer …)",
            headers={"WWW-Authenticate": 'Bearer realm="ticketclock"'},
        )
    request[PRINCIPAL] = principal
    return await handler(request)
