"""The PSA credentials the team server holds, encrypted at rest (Fernet: AES-128-CBC with an HMAC-SHA256) with a key
from outside the database (`TICKETCLOCK_SECRET_KEY_FILE`, else `TICKETCLOCK_SECRET_KEY`).

The database holds only ciphertext; a copy of it (a backup, a replica, a read-only SQL user) reveals nothing without
the key. The plaintext lives only in the poster's connectors, in memory; it is never logged or returned.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

from daemon.clock import Clock
from daemon.server.store import ServerDatabase, ServerStoreError, psa

if TYPE_CHECKING:
    from cryptography.fernet import Fernet

__all__ = ["NoSecretKey", "ServerCredentials", "check_key", "fernet_of", "new_key"]


class NoSecretKey(ServerStoreError):
    """The database holds credentials this process has no key for (or the key is not a Fernet key)."""


def new_key() -> str:
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()


def fernet_of(key: str) -> Fernet | None:
    """The cipher for a configured key, None when none is configured; `NoSecretKey` when it is malformed."""
    if not key:
        return None
    from cryptography.fernet import Fernet

    try:
        return Fernet(key.encode())
    except ValueError:
        raise NoSecretKey(
            "the secret key (TICKETCLOCK_SECRET_KEY_FILE / TICKETCLOCK_SECRET_KEY) is not a Fernet key: "
            "32 url-safe base64-encoded bytes (make one with `python -c 'from cryptography.fernet import "
            "Fernet; print(Fernet.generate_key().decode())'`)"
        ) from None


async def check_key(db: ServerDatabase, cipher: Fernet | None) -> None:
    """Refuse to start (`NoSecretKey`) when credentials are stored and this process has no key to read them."""
    if cipher is not None:
        return
    async with db.connection() as conn:
        stored = await psa.count_with_credentials(conn)
    if stored:
        raise NoSecretKey(
            f"the database holds PSA credentials for {stored} instance(s) and no key to decrypt them was given: "
            "set TICKETCLOCK_SECRET_KEY_FILE (or TICKETCLOCK_SECRET_KEY) to the key they were saved with"
        )


class ServerCredentials:
    """`daemon.psa.PsaService`'s credential source on the server: decrypts an instance's row when a connector is
    built. Saving goes through `seal` (the admin API stores the ciphertext with the identity, audited)."""

    def __init__(self, db: ServerDatabase, cipher: Fernet | None, clock: Clock) -> None:
        self._db = db
        self._cipher = cipher
        self._clock = clock

    def describe(self) -> str:
        return "the team server's database, encrypted (Fernet)"

    def seal(self, credentials: dict[str, Any]) -> bytes:
        if self._cipher is None:
            raise NoSecretKey("no secret key is configured: set TICKETCLOCK_SECRET_KEY_FILE")
        return self._cipher.encrypt(msgspec.json.encode(credentials))

    async def get(self, instance: str) -> dict[str, Any] | None:
        async with self._db.connection() as conn:
            sealed = await psa.ciphertext(conn, instance)
        if sealed is None or self._cipher is None:
            return None
        from cryptography.fernet import InvalidToken

        try:
            plain = self._cipher.decrypt(sealed)
        except InvalidToken:
            return None  # saved with another key: the instance waits as "no credentials" until they are set again
        found: dict[str, Any] = msgspec.json.decode(plain)
        return found

    async def put(self, instance: str, credentials: dict[str, Any]) -> None:
        sealed = self.seal(credentials)
        async with self._db.transaction() as tx:
            await psa.set_credentials(tx, instance, sealed, "", self._clock.now())
