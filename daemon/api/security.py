"""Loopback-only guards: Host (DNS rebinding), Origin (cross-site requests), body type, the bearer token, and
what a paired client may do. Also the daemon's side of the proof of identity (daemon/auth.py, docs/security.md).

Order matters: Host first (a rebinding page must learn nothing), then Origin, then the token, then its scope.

Scopes: the CLI token may do everything. A paired client (the browser extension) may call only the routes tagged
`CLIENT_TAGS` (browser events, timers, entries, notices); pairing codes, the client list and revocation, PSA
credentials and tests stay with the CLI token.
"""

from __future__ import annotations

import contextlib
import functools
import hmac
from collections.abc import Awaitable, Callable, Iterable
from typing import Annotated

import msgspec
from aiohttp import web

from daemon.api.connections import LIMITS
from daemon.api.errors import ApiError, ws_error
from daemon.api.routing import decode_json
from daemon.auth import (
    CHALLENGE_PATTERN,
    KID_PATTERN,
    SCOPE_FULL,
    Client,
    ClientDirectory,
    WebLogin,
    hash_token,
    key_id,
    proof,
)
from daemon.entries.timesheet import Viewer
from daemon.services import SERVICES

__all__ = [
    "AUTH",
    "CLIENT_TAGS",
    "SCRIPT_TAGS",
    "SCRIPT_WRITES",
    "SESSION_COOKIE",
    "SESSION_KEY_HEADER",
    "WS_UNPAIRED",
    "Guard",
    "Principal",
    "ProofMessage",
    "ProveMessage",
    "decode_prove",
    "guard_middleware",
    "is_extension_origin",
    "viewer_of",
    "web_denied",
]

CLIENT_TAGS = frozenset({"browser", "timers", "entries", "notices", "web"})
"""Route tags a paired client may use; everything else needs the CLI token."""
SCRIPT_TAGS = frozenset({"automation"})
"""Route tags for scripts (RMM scripts, workflow tools reporting automation runs): the CLI token has them, a paired
browser extension does not (they are not in CLIENT_TAGS)."""
UNPAIRED_PATHS = ("/api/v1/pair", "/api/v1/pair/managed", "/api/v1/hello")
"""Any browser extension may call these before it is paired (or after its pairing was revoked)."""
WS_UNPAIRED = 4401
"""WebSocket close code (reason "unpaired") for a client whose pairing is unknown or was revoked."""

Challenge = Annotated[str, msgspec.Meta(pattern=CHALLENGE_PATTERN)]
Kid = Annotated[str, msgspec.Meta(pattern=KID_PATTERN)]


class ProveMessage(msgspec.Struct, tag="prove", tag_field="type", forbid_unknown_fields=True, kw_only=True):
    """A client's first WebSocket message: prove you are my daemon before I send my hello with the token."""

    challenge: Challenge
    kid: Kid


class ProofMessage(msgspec.Struct, tag="proof", tag_field="type", kw_only=True):
    proof: str


_prove_decoder = msgspec.json.Decoder(ProveMessage)


def decode_prove(data: bytes | str) -> ProveMessage | None:
    """The prove message, or None when the frame is something else (then it is read as the hello)."""
    try:
        return decode_json(_prove_decoder.decode, data)
    except ApiError:  # not a prove message (or not JSON at all): the hello decode says what is wrong
        return None


EXTENSION_SCHEMES = ("chrome-extension://", "moz-extension://", "extension://")


SESSION_COOKIE = "tc_session"
SESSION_KEY_HEADER = "X-TicketClock-Key"
"""The page key that must come with the session cookie (daemon/auth.py `WebLogin`)."""
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


class Principal(msgspec.Struct):
    """Who is calling: the CLI/script token ("cli"), a paired client ("client"), or a web UI session ("web", whose
    `scope` is "full" when its login code was minted with the CLI token, else "web")."""

    kind: str
    client: Client | None = None
    scope: str = ""


SCRIPT_WRITES = ("/api/v1/automation-runs", "/api/v1/automations", "/api/v1/rules")
"""Paths whose unsafe methods change what time is logged, for whom (`log_as`), and how it is shaped: the CLI token's
(and a session it minted). A session minted by the extension may read them, and dry-run a rule (`/rules/explain`),
but not change them: the extension can mint and redeem a sign-in code itself, so whatever its sessions may do, it
may do, and it gets 403 on these routes."""


def web_denied(routes: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
    """What a session minted by the extension may not do: mint pairing codes, see or revoke pairings, touch PSA
    credentials (a page script must not be able to widen its own access or read secrets' surroundings), or change
    automation runs, automation settings and rules (`SCRIPT_WRITES`)."""
    return {
        (method, path)
        for method, path in routes
        if path.startswith(("/api/v1/pair", "/api/v1/clients"))
        or path.endswith(("/credentials", "/test"))
        or (method not in SAFE_METHODS and path in SCRIPT_WRITES)
    }


class Guard(msgspec.Struct):
    port: int
    cli_token_sha256: str
    clients: ClientDirectory
    extension_origins: set[str] = msgspec.field(default_factory=set)
    managed_sha256: str = ""
    """Digest of `pairing.managed_secret` (empty: none): `prove` answers for it, so a managed extension can check
    this is the daemon that holds the secret before sending it."""
    public: set[tuple[str, str]] = msgspec.field(default_factory=set)
    """(method, path) pairs that need no token."""
    paired_origins: set[str] = msgspec.field(default_factory=set)
    client_routes: set[tuple[str, str]] = msgspec.field(default_factory=set)
    """(method, path template) pairs a paired client may call (the routes tagged CLIENT_TAGS)."""
    login: WebLogin | None = None
    """The web UI's sign-in (sessions); None in a guard built without it (then cookies are ignored)."""
    web_denied: set[tuple[str, str]] = msgspec.field(default_factory=set)
    """(method, path template) pairs an extension-minted web session may not call (see `web_denied`)."""
    _known: dict[str, Principal] = msgspec.field(default_factory=dict)
    """Paired clients' token digests already checked against the database (clients are never edited)."""
    _sockets: dict[web.WebSocketResponse, Principal] = msgspec.field(default_factory=dict)
    _hosts: frozenset[str] = frozenset()
    _own: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        # built once: every request checks its Host (and Origin) against them
        # not [::1]: the daemon listens on 127.0.0.1 only (DESIGN §11), so no honest client names it
        self._hosts = frozenset({f"127.0.0.1:{self.port}", f"localhost:{self.port}"})
        self._own = frozenset({f"http://127.0.0.1:{self.port}", f"http://localhost:{self.port}"})

    def allowed_hosts(self) -> frozenset[str]:
        return self._hosts

    def own_origins(self) -> frozenset[str]:
        return self._own

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

    async def prove(self, challenge: str, kid: str) -> str | None:
        """The proof for the token named by `kid`, or None when no such token is known (unpaired or revoked)."""
        digest = self.cli_token_sha256
        if not hmac.compare_digest(key_id(digest), kid):
            digests = [*await self.clients.token_digests(), *([self.managed_sha256] if self.managed_sha256 else [])]
            digest = next((d for d in digests if hmac.compare_digest(key_id(d), kid)), "")
            if not digest:
                return None
        return proof(digest, challenge, self.port)

    async def session(self, request: web.Request, key: str | None = None) -> Principal | None:
        """The web session named by the request's cookie and page key (the header, or `key` from a WebSocket hello),
        or None (no cookie, no or wrong key, unknown, signed out, expired)."""
        token = request.cookies.get(SESSION_COOKIE, "")
        if not token or self.login is None:
            return None
        found = await self.login.resolve(token, request.headers.get(SESSION_KEY_HEADER, "") if key is None else key)
        return None if found is None else Principal("web", scope=found.scope)

    def may_call(self, principal: Principal, method: str, template: str) -> bool:
        if principal.kind == "web":
            return principal.scope == SCOPE_FULL or (method, template) not in self.web_denied
        return principal.kind == "cli" or (method, template) in self.client_routes

    def attach(self, ws: web.WebSocketResponse, principal: Principal) -> None:
        """Remember who holds an authenticated WebSocket, so that revoking them closes it."""
        self._sockets[ws] = principal

    def detach(self, ws: web.WebSocketResponse) -> None:
        self._sockets.pop(ws, None)

    async def revoke(self, client_id: str) -> bool:
        """Forget a paired client: its token stops working now and its open WebSockets close as unpaired."""
        removed = await self.clients.remove(client_id)
        for digest, known in list(self._known.items()):
            if known.client is not None and known.client.id == client_id:
                del self._known[digest]
        self.paired_origins = {c.origin for c in await self.clients.all() if c.origin}
        for ws, held in list(self._sockets.items()):
            if held.client is not None and held.client.id == client_id:
                self.detach(ws)
                with contextlib.suppress(Exception):
                    await ws.send_str(ws_error("unpaired", "this pairing was revoked"))
                    await ws.close(code=WS_UNPAIRED, message=b"unpaired")
        return removed


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
    pairing = request.path in UNPAIRED_PATHS
    origin = request.headers.get("Origin")
    if origin is not None and not guard.origin_allowed(origin, pairing=pairing):
        if is_extension_origin(origin):  # never paired, or its pairing was revoked: the extension shows "unpaired"
            raise ApiError(401, "unpaired", "this browser extension is not paired: pair it from its options page")
        raise ApiError(403, "origin_forbidden", "requests from this origin are not allowed; pair the extension first")
    if request.method in ("POST", "PUT", "PATCH") and request.can_read_body:
        if request.content_type != "application/json":
            raise ApiError(415, "unsupported_media_type", "send the body as application/json")
    resource = request.match_info.route.resource
    template = resource.canonical if resource is not None else request.path
    if (request.method, template) in guard.public or request.path == "/api/v1/ws":
        return await handler(request)  # the WebSocket authenticates in its hello message
    token = bearer(request)
    principal = await guard.authenticate(token) if token or SESSION_COOKIE not in request.cookies else None
    if principal is None and not token and SESSION_COOKIE in request.cookies:
        if request.method not in SAFE_METHODS and origin not in guard.own_origins():
            # a cookie rides along on any request the browser makes: unsafe ones must come from our own pages
            raise ApiError(403, "origin_forbidden", "a signed-in page may change things only from this daemon's origin")
        principal = await guard.session(request)
        if principal is None:
            raise ApiError(
                401, "session_expired", "you are signed out or the session expired: run `ticketclock open` again"
            )
    if principal is None:
        raise ApiError(
            401,
            "unauthorized",
            "a valid token is required (Authorization: Bearer …)",
            headers={"WWW-Authenticate": 'Bearer realm="ticketclock"'},
        )
    if resource is not None and not guard.may_call(principal, request.method, template):
        raise ApiError(
            403, "cli_only", "only the TicketClock command line may do this; a paired browser extension may not"
        )
    request[PRINCIPAL] = principal
    limits = request.app.get(LIMITS)
    if limits is not None:  # past the guard: the connection no longer counts against the unauthenticated cap
        limits.trust(request)
    return await handler(request)


LOCAL_ROLES = ["technician", "approver", "admin"]


def viewer_of(request: web.Request) -> Viewer:
    """Who is looking. The local daemon has one person: config `user_name` (default: the OS login name), with
    every role (technician, approver and admin at once)."""
    name = request.app[SERVICES].settings.config.user_name or _login_name()
    return Viewer(name=name, roles=list(LOCAL_ROLES))


@functools.cache
def _login_name() -> str:
    """The OS login name, looked up once (a user-database look-up each time cost ~0.1 ms per created entry)."""
    import getpass  # on first use: not needed by a start

    try:
        return getpass.getuser()
    except Exception:  # no login name in the environment (a service account on Windows): still someone
        return "local user"
