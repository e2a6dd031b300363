"""Integrations: workflow tools that report automation runs with a `tci_…` token (only its hash is stored), each
logging its runs for one person in one team."""

from __future__ import annotations

import msgspec

from daemon.server.store.db import Tx

__all__ = ["Integration", "by_token_hash", "create", "listing", "revoke"]


class Integration(msgspec.Struct, kw_only=True):
    id: str
    name: str
    person_id: str
    team_id: str
    created_by: str
    created_at: float
    revoked_at: float | None = None


_COLUMNS = "id, name, person_id, team_id, created_by, created_at, revoked_at"


async def create(tx: Tx, integration: Integration, token_hash: str) -> None:
    await tx.execute(
        "INSERT INTO integrations (id, name, token_hash, person_id, team_id, created_by, created_at) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7)",
        integration.id,
        integration.name,
        token_hash,
        integration.person_id,
        integration.team_id,
        integration.created_by,
        integration.created_at,
    )


async def by_token_hash(tx: Tx, token_hash: str) -> Integration | None:
    """The live (not revoked) integration whose token has this hash."""
    row = await tx.fetchrow(
        f"SELECT {_COLUMNS} FROM integrations WHERE token_hash = $1 AND revoked_at IS NULL",  # noqa: S608
        token_hash,
    )
    return Integration(**dict(row)) if row is not None else None


async def listing(tx: Tx) -> list[Integration]:
    rows = await tx.fetch(f"SELECT {_COLUMNS} FROM integrations ORDER BY created_at, id")  # noqa: S608
    return [Integration(**dict(r)) for r in rows]


async def revoke(tx: Tx, integration_id: str, now: float) -> bool:
    """Revoke it (its token stops working at once); False when there is no such live integration."""
    row = await tx.fetchrow(
        "UPDATE integrations SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL RETURNING id",
        integration_id,
        now,
    )
    return row is not None
