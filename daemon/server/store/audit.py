"""The audit trail: every action names the person (or the server itself) who did it, and how (web, device, API)."""

from __future__ import annotations

from typing import Any

from daemon.server.store.db import Tx

__all__ = ["write"]


async def write(
    tx: Tx,
    *,
    at: float,
    actor_id: str | None,
    actor_name: str,
    via: str,
    action: str,
    entry_id: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    await tx.execute(
        "INSERT INTO audit (at, actor_id, actor_name, via, action, entry_id, detail) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7)",
        at,
        actor_id,
        actor_name,
        via,
        action,
        entry_id,
        detail or {},
    )
