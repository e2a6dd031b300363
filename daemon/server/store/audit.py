"""The audit trail: every action names the person (or the server itself) who did it, and how (web, device, API)."""

from __future__ import annotations

from typing import Any

import msgspec

from daemon.server.store.db import Tx

__all__ = ["write", "write_many"]


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


async def write_many(
    tx: Tx, *, at: float, actor_id: str | None, actor_name: str, via: str, lines: list[tuple[str, str, dict[str, Any]]]
) -> None:
    """Several lines of one actor at once: (action, entry id, detail) each, in one statement."""
    if not lines:
        return
    await tx.execute(
        "INSERT INTO audit (at, actor_id, actor_name, via, action, entry_id, detail) "
        "SELECT $1, $2, $3, $4, u.action, u.entry_id, u.detail::jsonb "
        "FROM unnest($5::text[], $6::text[], $7::text[]) WITH ORDINALITY AS u(action, entry_id, detail, n) ORDER BY n",
        at,
        actor_id,
        actor_name,
        via,
        [line[0] for line in lines],
        [line[1] for line in lines],
        [msgspec.json.encode(line[2]).decode() for line in lines],  # JSON text: jsonb[] parameters are not
    )
