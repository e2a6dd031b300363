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
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from daemon.clock import Clock
from daemon.private import make_private
from daemon.store.clients import Client, ClientStore

__all__ = [
    "CHALLENGE_PATTERN",
    "KID_PATTERN",
    "PAIRING_CODE_TTL_S",
    "Client",
    "ClientDirectory",
    "Pairing",
    "PairingError",
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


@dataclass
class _Code:
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
