"""Integrations: workflow tools that report automation runs with a `tci_…` token (only its hash is stored), each
logging its runs for one person in one team; and the per-automation settings those runs follow."""

from __future__ import annotations

from typing import Any

import msgspec

from daemon.server.store.db import Tx

__all__ = ["Integration", "automations", "by_token_hash", "create", "listing", "revoke", "set_automations"]


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


async def automations(tx: Tx) -> tuple[list[dict[str, Any]], float | None]:
    """The per-automation settings saved by an admin (as JSON, the daemon's `AutomationConfig`), and when."""
    row = await tx.fetchrow("SELECT automations, updated_at FROM automation_settings WHERE id = 1")
    return (list(row["automations"]), float(row["updated_at"])) if row is not None else ([], None)


async def set_automations(tx: Tx, settings: list[dict[str, Any]], person_id: str, now: float) -> None:
    await tx.execute(
        "INSERT INTO automation_settings (id, automations, updated_at, updated_by) VALUES (1, $1, $2, $3) "
        "ON CONFLICT (id) DO UPDATE SET automations = excluded.automations, updated_at = excluded.updated_at, "
        "updated_by = excluded.updated_by",
        settings,
        now,
        person_id,
    )
