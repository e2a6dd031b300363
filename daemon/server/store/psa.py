"""The MSP's PSA instances (as the daemon's config describes one) and their credentials, kept only encrypted: this
module stores and returns the ciphertext; `daemon.server.credentials` holds the key and never writes it here."""

from __future__ import annotations

from typing import Any

import msgspec

from daemon.server.store.db import Tx
from daemon.settings import InstanceConfig

__all__ = [
    "StoredInstance",
    "add",
    "ciphertext",
    "count_with_credentials",
    "instances",
    "set_credentials",
    "signature",
]


class StoredInstance(msgspec.Struct, kw_only=True):
    instance: InstanceConfig
    has_credentials: bool
    identity: str
    """Who the stored credentials act as (the connector's `test()`), "" without credentials."""
    updated_at: float


async def add(tx: Tx, instance: InstanceConfig, now: float) -> bool:
    """Add an instance; False when one of that name exists (nothing changed)."""
    row = await tx.fetchrow(
        "INSERT INTO psa_instances (name, kind, config, created_at, updated_at) VALUES ($1, $2, $3, $4, $4) "
        "ON CONFLICT (name) DO NOTHING RETURNING name",
        instance.name,
        instance.kind,
        msgspec.to_builtins(instance),
        now,
    )
    return row is not None


def _stored(row: Any) -> StoredInstance:
    return StoredInstance(
        instance=msgspec.convert(row["config"], InstanceConfig),
        has_credentials=row["has_credentials"],
        identity=row["identity"],
        updated_at=row["updated_at"],
    )


async def instances(tx: Tx) -> list[StoredInstance]:
    rows = await tx.fetch(
        "SELECT config, credentials IS NOT NULL AS has_credentials, identity, updated_at FROM psa_instances "
        "ORDER BY name"
    )
    return [_stored(r) for r in rows]


async def set_credentials(tx: Tx, name: str, sealed: bytes, identity: str, now: float) -> bool:
    """Store an instance's encrypted credentials; False when there is no such instance."""
    row = await tx.fetchrow(
        "UPDATE psa_instances SET credentials = $2, identity = $3, updated_at = $4 WHERE name = $1 RETURNING name",
        name,
        sealed,
        identity,
        now,
    )
    return row is not None


async def ciphertext(tx: Tx, name: str) -> bytes | None:
    found: bytes | None = await tx.fetchval("SELECT credentials FROM psa_instances WHERE name = $1", name)
    return found


async def count_with_credentials(tx: Tx) -> int:
    return int(await tx.fetchval("SELECT count(*) FROM psa_instances WHERE credentials IS NOT NULL"))


async def signature(tx: Tx) -> tuple[int, float]:
    """(how many instances, their latest change): a poster rebuilds its connectors when this changes."""
    row = await tx.fetchrow("SELECT count(*) AS n, coalesce(max(updated_at), 0) AS at FROM psa_instances")
    assert row is not None
    return int(row["n"]), float(row["at"])
