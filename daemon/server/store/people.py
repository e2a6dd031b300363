"""Teams, people and their roles."""

from __future__ import annotations

from typing import Any

import asyncpg

from daemon.server.model import Person, Role, Team
from daemon.server.store.db import Tx

__all__ = [
    "add_role",
    "create_person",
    "create_team",
    "password_hash",
    "person_by_email",
    "person_by_id",
    "person_by_session",
    "set_password_hash",
    "team_by_id",
    "teams",
]


async def create_team(tx: Tx, team: Team) -> None:
    await tx.execute(
        "INSERT INTO teams (id, name, approval, created_at) VALUES ($1, $2, $3, $4)",
        team.id,
        team.name,
        team.approval,
        team.created_at,
    )


async def team_by_id(tx: Tx, team_id: str) -> Team | None:
    row = await tx.fetchrow("SELECT id, name, approval, created_at FROM teams WHERE id = $1", team_id)
    return Team(**dict(row)) if row is not None else None


async def teams(tx: Tx) -> list[Team]:
    rows = await tx.fetch("SELECT id, name, approval, created_at FROM teams ORDER BY name")
    return [Team(**dict(r)) for r in rows]


async def create_person(tx: Tx, person: Person, password_hash: str | None = None) -> None:
    await tx.execute(
        "INSERT INTO people (id, email, name, password_hash, is_admin, active, psa_identities, created_at) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        person.id,
        person.email.lower(),
        person.name,
        password_hash,
        person.is_admin,
        person.active,
        person.psa_identities,
        person.created_at,
    )


async def add_role(tx: Tx, team_id: str, person_id: str, role: Role) -> None:
    await tx.execute(
        "INSERT INTO memberships (team_id, person_id, role) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        team_id,
        person_id,
        role,
    )


_PERSON = (
    "SELECT p.id, p.email, p.name, p.is_admin, p.active, p.psa_identities, p.created_at, "
    "coalesce((SELECT jsonb_object_agg(team_id, roles) FROM (SELECT team_id, jsonb_agg(role ORDER BY role) AS roles "
    "FROM memberships m WHERE m.person_id = p.id GROUP BY team_id) r), '{}') AS roles FROM people p "
)


def _person(row: asyncpg.Record | None) -> Person | None:
    if row is None:
        return None
    values: dict[str, Any] = dict(row)
    return Person(**values)


async def person_by_id(tx: Tx, person_id: str) -> Person | None:
    return _person(await tx.fetchrow(_PERSON + "WHERE p.id = $1", person_id))


async def person_by_session(tx: Tx, id_hash: str, now: float, idle_s: float, touch_every_s: float) -> Person | None:
    """The active person of a live session (not expired, used within `idle_s`), in one statement; the session's last
    use is moved to now when more than `touch_every_s` old."""
    return _person(
        await tx.fetchrow(
            "WITH live AS (SELECT person_id FROM sessions WHERE id_hash = $1 AND expires_at > $2 "  # noqa: S608 (constants)
            "AND last_seen_at > $2 - $3), "
            "moved AS (UPDATE sessions SET last_seen_at = $2 WHERE id_hash = $1 AND last_seen_at < $2 - $4 "
            "AND EXISTS (SELECT 1 FROM live)) " + _PERSON + "WHERE p.id = (SELECT person_id FROM live) AND p.active",
            id_hash,
            now,
            idle_s,
            touch_every_s,
        )
    )


async def person_by_email(tx: Tx, email: str) -> Person | None:
    return _person(await tx.fetchrow(_PERSON + "WHERE p.email = $1", email.lower()))


async def password_hash(tx: Tx, email: str) -> tuple[str, str | None] | None:
    """(person id, their password hash or None) of an active person, by e-mail."""
    row = await tx.fetchrow("SELECT id, password_hash FROM people WHERE email = $1 AND active", email.lower())
    return (row["id"], row["password_hash"]) if row is not None else None


async def set_password_hash(tx: Tx, person_id: str, hashed: str) -> None:
    await tx.execute("UPDATE people SET password_hash = $2 WHERE id = $1", person_id, hashed)
