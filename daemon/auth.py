"""Tokens, pairing, and the daemon's proof of identity.

Before a client sends a token it makes the daemon prove it holds the same secret (docs/security.md): the client
sends a random challenge and the key id of its token; the daemon answers
`HMAC-SHA256(key, "ticketclock-proof:" + challenge + ":" + port)`, keyed by the raw SHA-256 of the token (the
daemon keeps only that digest for paired clients, and both sides can compute it). A program that merely holds the
port cannot answer; a real daemon on another port cannot be used as a relay, since the port is signed too.

The CLI and scripts use the token in the token file (readable by the user only). A browser extension pairs:
`ticketclock pair` asks the running daemon for a short-lived, single-use code; the extension's options page
exchanges it at `POST /api/v1/pair` for a token of its own, and its origin becomes an allowed origin.

Errors::

    PairingError                 the code cannot be exchanged; `code` is the API error code
     ├── pairing_code_invalid    wrong code (counts as an attempt)
     ├── pairing_code_expired    the code timed out
     └── too_many_attempts       too many wrong codes: every outstanding code is void, wait `retry_after`
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path
from typing import Protocol

import msgspec

from daemon.clock import Clock
from daemon.private import make_private
from daemon.store.clients import Client, ClientStore
from daemon.store.sessions import SessionRow, SessionStore

__all__ = [
    "CHALLENGE_PATTERN",
    "KID_PATTERN",
    "LOGIN_CODE_TTL_S",
    "PAIRING_CODE_TTL_S",
    "SCOPE_FULL",
    "SCOPE_WEB",
    "SESSION_IDLE_S",
    "SESSION_MAX_S",
    "Client",
    "ClientDirectory",
    "LoginRefused",
    "Pairing",
    "PairingError",
    "SignedIn",
    "WebLogin",
    "WebSession",
    "ensure_token_file",
    "hash_token",
    "key_id",
    "new_challenge",
    "new_token",
    "proof",
    "proof_matches",
    "restrict_to_user",
]


class ClientDirectory(Protocol):
    """The paired clients, as the API's guard reads and revokes them (the store's `ClientStore` is one)."""

    async def by_token(self, token_sha256: str) -> Client | None: ...
    async def token_digests(self) -> list[str]: ...
    async def all(self) -> list[Client]: ...
    async def remove(self, client_id: str) -> bool: ...


PAIRING_CODE_TTL_S = 300.0
MAX_ATTEMPTS = 5
LOCKOUT_S = 60.0


def new_token() -> str:
    return "tc_" + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


CHALLENGE_PATTERN = r"^[A-Za-z0-9_-]{22,128}$"
"""At least 128 bits of base64url: a recorded proof is never asked for again."""
KID_PATTERN = r"^[0-9a-f]{32}$"


def key_id(token_sha256: str) -> str:
    """The public name of a token's proof key: lets the daemon pick the key without the client revealing it."""
    return hashlib.sha256(("ticketclock-kid:" + token_sha256).encode()).hexdigest()[:32]


def proof(token_sha256: str, challenge: str, port: int) -> str:
    """What the daemon answers to a challenge: HMAC-SHA256 keyed by the token's raw SHA-256 digest."""
    message = f"ticketclock-proof:{challenge}:{port}".encode()
    return hmac.new(bytes.fromhex(token_sha256), message, hashlib.sha256).hexdigest()


def new_challenge() -> str:
    return secrets.token_urlsafe(32)


def proof_matches(token: str, challenge: str, port: int, answer: object) -> bool:
    """The client's check, in constant time: did whoever answered hold this token's digest?"""
    if not isinstance(answer, str) or not answer.isascii():
        return False
    return hmac.compare_digest(proof(hash_token(token), challenge, port), answer)


class PairingError(Exception):
    def __init__(self, code: str, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retry_after = retry_after


class _Code(msgspec.Struct):
    code: str
    expires_at: float


class Pairing:
    """Pairing codes live in memory only: a restart voids them, which is what a short-lived code should do."""

    def __init__(self, clients: ClientStore, clock: Clock, *, managed_secret: str = "") -> None:
        self._clients = clients
        self._clock = clock
        self._managed_secret = managed_secret
        self._codes: list[_Code] = []
        self._failures = 0
        self._locked_until = 0.0

    def new_code(self) -> tuple[str, float]:
        """A fresh 8-digit code and its expiry time."""
        now = self._clock.now()
        code = f"{secrets.randbelow(10**8):08d}"
        expires = now + PAIRING_CODE_TTL_S
        self._codes = [c for c in self._codes if c.expires_at > now]
        self._codes.append(_Code(code, expires))
        return code, expires

    async def exchange(self, code: str, *, name: str, origin: str | None) -> tuple[Client, str]:
        """Trade a code for a new client and its token (returned once, stored only as a hash)."""
        now = self._clock.now()
        if now < self._locked_until:
            raise PairingError(
                "too_many_attempts",
                "too many wrong pairing codes; wait and try again",
                retry_after=self._locked_until - now,
            )
        match = next((c for c in self._codes if hmac.compare_digest(c.code, code)), None)
        if match is None:
            self._failures += 1
            if self._failures >= MAX_ATTEMPTS:
                self._failures = 0
                self._codes.clear()
                self._locked_until = now + LOCKOUT_S
                raise PairingError(
                    "too_many_attempts",
                    "too many wrong pairing codes: every outstanding code is void; run `ticketclock pair` again",
                    retry_after=LOCKOUT_S,
                )
            raise PairingError("pairing_code_invalid", "that pairing code is not valid")
        self._codes.remove(match)
        if match.expires_at <= now:
            raise PairingError("pairing_code_expired", "that pairing code has expired; run `ticketclock pair` again")
        self._failures = 0
        return await self._new_client(name, origin)

    async def exchange_managed(self, secret: str, *, name: str, origin: str) -> tuple[Client, str]:
        """Pre-approved pairing: the secret the browser's policy and this daemon's config both hold, instead of a
        code. Wrong secrets count towards the same lockout as wrong codes."""
        now = self._clock.now()
        if not self._managed_secret:
            raise PairingError("managed_pairing_off", "this daemon has no pairing.managed_secret: pair with a code")
        if now < self._locked_until:
            raise PairingError(
                "too_many_attempts", "too many wrong pairing attempts; wait", retry_after=self._locked_until - now
            )
        if not hmac.compare_digest(secret.encode(), self._managed_secret.encode()):
            self._failures += 1
            if self._failures >= MAX_ATTEMPTS:
                self._failures = 0
                self._locked_until = now + LOCKOUT_S
            raise PairingError("managed_secret_invalid", "the managed pairing secret is not this daemon's")
        self._failures = 0
        return await self._new_client(name, origin)

    async def _new_client(self, name: str, origin: str | None) -> tuple[Client, str]:
        token = new_token()
        client = Client(id="c_" + secrets.token_hex(6), name=name, origin=origin, created_at=self._clock.now())
        await self._clients.add(client, hash_token(token))
        return client, token


def ensure_token_file(path: Path) -> str:
    """Read the CLI token, creating it (readable by the user only) on first use."""
    if path.exists():
        token = path.read_text(encoding="utf-8").strip()
        if token:
            restrict_to_user(path)
            return token
    path.parent.mkdir(parents=True, exist_ok=True)
    token = new_token()
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(token + "\n")
    restrict_to_user(tmp)
    os.replace(tmp, path)
    return token


def restrict_to_user(path: Path) -> None:
    """Only this user may read or write the file (0600 on POSIX, a user-only ACL on Windows): `daemon.private`."""
    make_private(path)


# --- The web UI's sign-in (web-contract.md "Sessions") ---------------------------------------------------------

LOGIN_CODE_TTL_S = 60.0
SESSION_IDLE_S = 12 * 3600.0
SESSION_MAX_S = 7 * 86400.0
SCOPE_FULL = "full"
"""A session minted with the CLI token: it may do what the CLI may."""
SCOPE_WEB = "web"
"""A session minted by a paired extension: the web UI's scope (no pairing codes, pairings or PSA credentials)."""


class LoginRefused(Exception):
    """A login code that cannot be used: unknown, already used, or expired (`reason` says which)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class WebSession(msgspec.Struct, frozen=True):
    scope: str
    created_at: float


class SignedIn(msgspec.Struct, frozen=True):
    cookie: str
    """The session cookie's value."""
    key: str
    """The page key: handed to the page in the URL fragment, kept in its origin's localStorage, sent as a header."""


class WebLogin:
    """One-time login codes (memory only, 60 s) that become sessions (stored by the SHA-256 of the cookie value).

    A session is the cookie AND a page key. Cookies are not scoped by port: a browser sends the cookie of
    127.0.0.1:47600 to any program listening on another port of 127.0.0.1 (another user's, on a shared machine), and
    SameSite does not help (ports do not make sites). The key is given to the page in the URL fragment of the 303
    (fragments never reach a server) and kept in localStorage, which is scoped by origin, port included; the API
    wants it with every cookie request. A cookie leaked to another port is therefore useless on its own.

    A session ends when signed out, after `SESSION_IDLE_S` without a request, or `SESSION_MAX_S` after sign-in.
    """

    def __init__(self, sessions: SessionStore, clock: Clock) -> None:
        self._sessions = sessions
        self._clock = clock
        self._codes: dict[str, tuple[str, float]] = {}
        """sha256(code) -> (scope, expires_at). A used code is removed, so its second use is refused."""
        self._used: dict[str, float] = {}
        """sha256(code) -> when its expiry passes: tells "already used" apart from "never issued"."""

    def new_code(self, scope: str) -> tuple[str, float]:
        now = self._clock.now()
        self._forget_old(now)
        code = secrets.token_urlsafe(24)
        self._codes[hash_token(code)] = (scope, now + LOGIN_CODE_TTL_S)
        return code, LOGIN_CODE_TTL_S

    def _forget_old(self, now: float) -> None:
        self._codes = {k: v for k, v in self._codes.items() if v[1] > now - LOGIN_CODE_TTL_S}
        self._used = {k: v for k, v in self._used.items() if v > now - LOGIN_CODE_TTL_S}

    async def redeem(self, code: str) -> SignedIn:
        """Trade a code for a new session: its cookie value and page key (returned once, stored only as hashes)."""
        now = self._clock.now()
        digest = hash_token(code) if code.isascii() else ""
        held = self._codes.pop(digest, None)
        if held is None:
            raise LoginRefused("used" if digest in self._used else "unknown")
        scope, expires = held
        self._used[digest] = expires
        if expires <= now:
            raise LoginRefused("expired")
        token = "tcs_" + secrets.token_urlsafe(32)
        key = secrets.token_urlsafe(24)
        await self._sessions.add(
            SessionRow(
                token_sha256=hash_token(token),
                scope=scope,
                created_at=now,
                last_seen_at=now,
                key_sha256=hash_token(key),
            )
        )
        return SignedIn(cookie=token, key=key)

    async def resolve(self, token: str, key: str) -> WebSession | None:
        """The live session for a cookie value and its page key, or None (unknown, wrong or missing key, signed out
        or expired); a hit counts as activity."""
        if not token or not token.isascii() or len(token) > 200 or not key.isascii() or len(key) > 200:
            return None
        digest = hash_token(token)
        row = await self._sessions.get(digest)
        if row is None or not row.key_sha256 or not hmac.compare_digest(row.key_sha256, hash_token(key)):
            return None
        now = self._clock.now()
        if now - row.last_seen_at > SESSION_IDLE_S or now - row.created_at > SESSION_MAX_S:
            await self._sessions.remove(digest)
            return None
        if now - row.last_seen_at > 60:  # idle time is counted in minutes: no write per request
            await self._sessions.touch(digest, now)
        return WebSession(scope=row.scope, created_at=row.created_at)

    async def end(self, token: str) -> None:
        if token and token.isascii():
            await self._sessions.remove(hash_token(token))
        now = self._clock.now()
        await self._sessions.purge(idle_before=now - SESSION_IDLE_S, created_before=now - SESSION_MAX_S)
