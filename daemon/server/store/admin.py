"""What admins change: teams, people, roles, and the sessions of people they deactivate."""

from __future__ import annotations

from typing import Any

import asyncpg

from daemon.server.model import Person, Role, Team
from daemon.server.store.db import Tx
from daemon.server.store.people import create_person, create_team, person_by_id, team_by_id

__all__ = [
    "Taken",
    "end_sessions",
    "insert_person",
    "insert_team",
    "people",
    "remove_role",
    "update_person",
    "update_team",
]


class Taken(Exception):
    """A unique name (a person's e-mail, a team's name) already used by another row."""


async def update_team(tx: Tx, team_id: str, changes: dict[str, Any]) -> Team | None:
    """Set `changes` (name, approval) on a team; None when there is no such team. Raises `Taken` for a used name."""
    try:
        await tx.execute(
            "UPDATE teams SET name = coalesce($2, name), approval = coalesce($3, approval) WHERE id = $1",
            team_id,
            changes.get("name"),
            changes.get("approval"),
        )
    except asyncpg.UniqueViolationError:
        raise Taken("name") from None
    return await team_by_id(tx, team_id)


async def people(tx: Tx) -> list[Person]:
    rows = await tx.fetch("SELECT id FROM people ORDER BY email")
    found = [await person_by_id(tx, r["id"]) for r in rows]
    return [p for p in found if p is not None]


async def update_person(tx: Tx, person_id: str, changes: dict[str, Any]) -> Person | None:
    """Set `changes` (email, name, is_admin, active, psa_identities, password_hash) on a person; None when there is
    no such person. Raises `Taken` for an e-mail another person has."""
    email = changes.get("email")
    try:
        done = await tx.fetchval(
            "UPDATE people SET email = coalesce($2, email), name = coalesce($3, name), "
            "is_admin = coalesce($4, is_admin), active = coalesce($5, active), "
            "psa_identities = coalesce($6, psa_identities), password_hash = coalesce($7, password_hash) "
            "WHERE id = $1 RETURNING id",
            person_id,
            email.lower() if email is not None else None,
            changes.get("name"),
            changes.get("is_admin"),
            changes.get("active"),
            changes.get("psa_identities"),
            changes.get("password_hash"),
        )
    except asyncpg.UniqueViolationError:
        raise Taken("email") from None
    return await person_by_id(tx, person_id) if done is not None else None


async def remove_role(tx: Tx, team_id: str, person_id: str, role: Role) -> None:
    await tx.execute(
        "DELETE FROM memberships WHERE team_id = $1 AND person_id = $2 AND role = $3", team_id, person_id, role
    )


async def end_sessions(tx: Tx, person_id: str, *, keep_hash: str = "") -> int:
    """Delete a person's web sessions (but `keep_hash`'s); how many ended."""
    done = await tx.fetch(
        "DELETE FROM sessions WHERE person_id = $1 AND id_hash <> $2 RETURNING 1", person_id, keep_hash
    )
    return len(done)


async def insert_team(tx: Tx, team: Team) -> None:
    """`people.create_team`, raising `Taken` for a name another team has."""
    try:
        await create_team(tx, team)
    except asyncpg.UniqueViolationError:
        raise Taken("name") from None


async def insert_person(tx: Tx, person: Person, password_hash: str | None) -> None:
    """`people.create_person`, raising `Taken` for an e-mail another person has."""
    try:
        await create_person(tx, person, password_hash)
    except asyncpg.UniqueViolationError:
        raise Taken("email") from None
