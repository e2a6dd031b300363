"""Devices (technicians' daemons) and the one-time invite codes that enroll them; only hashes of tokens and codes.

A device is `pending` (enrolled with a password, waiting for an admin), `active` or `revoked`. Every request reads its
row (no cache in process memory), so a revocation takes effect at once on every server process.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from daemon.server.store.db import Tx

__all__ = [
    "Device",
    "DeviceStatus",
    "by_token",
    "create",
    "create_invite",
    "decide",
    "get",
    "list_all",
    "synced",
    "use_invite",
]

DeviceStatus = Literal["pending", "active", "revoked"]


class Device(msgspec.Struct, kw_only=True):
    id: str
    person_id: str
    person_name: str = ""
    name: str
    status: DeviceStatus
    via: Literal["invite", "password"]
    created_at: float
    decided_at: float | None = None
    decided_by: str | None = None
    last_sync_at: float | None = None


_SELECT = (
    "SELECT d.id, d.person_id, p.name AS person_name, d.name, d.status, d.via, d.created_at, d.decided_at, "
    "d.decided_by, d.last_sync_at FROM devices d JOIN people p ON p.id = d.person_id "
)


async def create(
    tx: Tx, device_id: str, person_id: str, name: str, token_hash: str, status: DeviceStatus, via: str, now: float
) -> None:
    await tx.execute(
        "INSERT INTO devices (id, person_id, name, token_hash, status, via, created_at) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7)",
        device_id,
        person_id,
        name,
        token_hash,
        status,
        via,
        now,
    )


async def by_token(tx: Tx, token_hash: str) -> Device | None:
    """The device holding this token, unless it was revoked (or its person deactivated)."""
    row = await tx.fetchrow(_SELECT + "WHERE d.token_hash = $1 AND d.status <> 'revoked' AND p.active", token_hash)
    return Device(**dict(row)) if row is not None else None


async def get(tx: Tx, device_id: str) -> Device | None:
    row = await tx.fetchrow(_SELECT + "WHERE d.id = $1", device_id)
    return Device(**dict(row)) if row is not None else None


async def list_all(tx: Tx) -> list[Device]:
    rows = await tx.fetch(_SELECT + "ORDER BY d.created_at, d.id")
    return [Device(**dict(r)) for r in rows]


async def decide(tx: Tx, device_id: str, to: DeviceStatus, frm: tuple[str, ...], by: str, now: float) -> bool:
    """Move the device to `to` if it is in one of `frm`; True when it moved."""
    row = await tx.fetchrow(
        "UPDATE devices SET status = $2, decided_at = $4, decided_by = $5 WHERE id = $1 AND status = ANY($3::text[]) "
        "RETURNING id",
        device_id,
        to,
        list(frm),
        now,
        by,
    )
    return row is not None


async def synced(tx: Tx, device_id: str, now: float) -> DeviceStatus | None:
    """Mark a sync by the device and return its status now (read in the sync's transaction: a revocation that
    committed before it is seen)."""
    status: DeviceStatus | None = await tx.fetchval(
        "UPDATE devices SET last_sync_at = $2 WHERE id = $1 AND status = 'active' RETURNING status", device_id, now
    )
    if status is None:
        status = await tx.fetchval("SELECT status FROM devices WHERE id = $1", device_id)
    return status


async def create_invite(tx: Tx, code_hash: str, person_id: str, created_by: str, now: float, expires_at: float) -> None:
    await tx.execute(
        "INSERT INTO invites (code_hash, person_id, created_by, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
        code_hash,
        person_id,
        created_by,
        now,
        expires_at,
    )


async def use_invite(tx: Tx, code_hash: str, device_id: str, now: float) -> str | None:
    """Spend an unused, unexpired invite for `device_id`; its person's id, or None (unknown, used or expired)."""
    person_id: str | None = await tx.fetchval(
        "UPDATE invites SET used_at = $3, device_id = $2 WHERE code_hash = $1 AND used_at IS NULL AND expires_at > $3 "
        "RETURNING person_id",
        code_hash,
        device_id,
        now,
    )
    return person_id
