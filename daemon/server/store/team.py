"""What the team's web pages read: approvers' queues, team timesheets and summaries, entry lists, audit trails, and
the periods closed per team.

Who may see what is decided by the caller (daemon/server/api/team.py `visible`); the reads here take it as a
`Scope`: the teams whose entries count (None: every team), and optionally one person (a technician's own time).
SQL text is put together only from the fixed fragments here and `$n` placeholders (every value is a parameter).
Every read filters a team's entries by start time, so PostgreSQL walks `entries_team_started` (or
`entries_team_status` for a queue); sums are computed in SQL, never by fetching rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

import msgspec

from daemon.server.model import Team
from daemon.server.store.db import Tx

__all__ = [
    "GROUPS",
    "AuditRow",
    "ClosedPeriod",
    "Group",
    "QueueEntry",
    "Scope",
    "SummaryRow",
    "TeamEntry",
    "TimesheetCell",
    "all_teams",
    "audit_of",
    "close_period",
    "closed_periods",
    "closed_ranges",
    "entries",
    "entry_scope",
    "lock_periods",
    "queue",
    "reopen_period",
    "summary",
    "team_and_settings",
    "technicians",
    "timesheet",
]

Group = Literal["technician", "day", "company", "work_type", "status", "ticket"]
GROUPS: tuple[Group, ...] = ("technician", "day", "company", "work_type", "status", "ticket")


@dataclass(frozen=True)
class Scope:
    teams: list[str] | None
    """Entries of these teams; None: of every team."""
    person: str | None = None
    """This person's entries: only theirs (`either` False), or theirs as well as the teams' (`either` True)."""
    either: bool = False
    entry: str | None = None
    """Only this entry."""

    def where(self, args: list[Any], alias: str = "e") -> str:
        """SQL conditions for this scope, appending their values to `args` ($n numbered after those already
        there)."""
        parts = []
        if self.teams is not None:
            parts.append(_in_teams(self.teams, args, alias))
        if self.person is not None:
            args.append(self.person)
            parts.append(f"{alias}.person_id = ${len(args)}")
        found = "(" + (" OR " if self.either else " AND ").join(parts) + ")" if parts else "true"
        if self.entry is not None:
            args.append(self.entry)
            found += f" AND {alias}.id = ${len(args)}"
        return found


def _in_teams(teams: list[str], args: list[Any], alias: str = "e") -> str:
    """`team_id` in `teams` (one team by `=`, so an index on (team_id, status, started_at) also gives the order)."""
    if len(teams) == 1:
        args.append(teams[0])
        return f"{alias}.team_id = ${len(args)}"
    args.append(teams)
    return f"{alias}.team_id = ANY(${len(args)}::text[])"


class TeamEntry(msgspec.Struct, kw_only=True):
    """An entry as the team pages show it: its technician, team, status (with the approver's comment) and content."""

    id: str
    person_id: str
    person_name: str
    team_id: str
    version: int
    status: str
    status_comment: str
    source: str
    kind: str
    instance: str
    ticket_id: int | None
    ticket_number: str | None
    task: str | None
    summary: str
    company: str
    work_type: str
    billable: str
    started_at: float
    ended_at: float
    actual_seconds: int
    billed_seconds: int
    notes: str
    updated_at: float


QueueEntry = TeamEntry

_ENTRY = (
    "SELECT e.id, e.person_id, p.name AS person_name, e.team_id, e.version, e.status, e.status_comment, e.source, "
    "e.kind, e.instance, e.ticket_id, e.ticket_number, e.task, e.summary, e.company, e.work_type, e.billable, "
    "e.started_at, e.ended_at, e.actual_seconds, e.billed_seconds, coalesce(e.body->>'notes', '') AS notes, "
    "e.updated_at FROM entries e JOIN people p ON p.id = e.person_id "
)


def _entries(rows: list[Any]) -> list[TeamEntry]:
    return [TeamEntry(**dict(r)) for r in rows]


async def queue(
    conn: Tx, *, teams: list[str], status: str, approver_id: str, limit: int, after: tuple[float, str] | None
) -> tuple[list[TeamEntry], int]:
    """An approver's queue: entries of `teams` at `status` that are not the approver's own, oldest first, `limit`
    after the cursor (started_at, id); and how many there are in all."""
    args: list[Any] = [status, approver_id]
    where = f"e.status = $1 AND e.person_id <> $2 AND {_in_teams(teams, args)}"
    total: int = await conn.fetchval(f"SELECT count(*) FROM entries e WHERE {where}", *args)  # noqa: S608
    args.append(limit)
    if after is not None:
        args += [after[0], after[1]]
        where += " AND (e.started_at, e.id) > ($5, $6)"
    rows = await conn.fetch(f"{_ENTRY}WHERE {where} ORDER BY e.started_at, e.id LIMIT $4", *args)
    found = [TeamEntry(**dict(r)) for r in rows]
    return found, total


async def entries(
    conn: Tx,
    scope: Scope,
    *,
    start: float | None,
    end: float | None,
    status: str | None,
    limit: int,
    before: tuple[float, str] | None,
) -> list[TeamEntry]:
    """Entries in scope, newest first, `limit` before the cursor (started_at, id)."""
    args: list[Any] = []
    where = [scope.where(args)]
    if start is not None:
        args.append(start)
        where.append(f"e.started_at >= ${len(args)}")
    if end is not None:
        args.append(end)
        where.append(f"e.started_at < ${len(args)}")
    if status is not None:
        args.append(status)
        where.append(f"e.status = ${len(args)}")
    if before is not None:
        args += [before[0], before[1]]
        where.append(f"(e.started_at, e.id) < (${len(args) - 1}, ${len(args)})")
    args.append(limit)
    sql = f"{_ENTRY}WHERE {' AND '.join(where)} ORDER BY e.started_at DESC, e.id DESC LIMIT ${len(args)}"
    return _entries(await conn.fetch(sql, *args))


async def entry_scope(conn: Tx, entry_id: str) -> tuple[str, str] | None:
    """(person id, team id) of an entry, or None."""
    row = await conn.fetchrow("SELECT person_id, team_id FROM entries WHERE id = $1", entry_id)
    return (row["person_id"], row["team_id"]) if row is not None else None


class AuditRow(msgspec.Struct, kw_only=True):
    at: float
    actor: str
    via: str
    action: str
    detail: dict[str, Any] = {}


async def audit_of(conn: Tx, entry_id: str) -> list[AuditRow]:
    rows = await conn.fetch(
        "SELECT at, actor_name AS actor, via, action, detail FROM audit WHERE entry_id = $1 ORDER BY seq", entry_id
    )
    return [AuditRow(**dict(r)) for r in rows]


class SummaryRow(msgspec.Struct, kw_only=True):
    key: str
    label: str
    entries: int
    seconds: int
    billed_seconds: int


_GROUP_KEY: dict[Group, str] = {
    "technician": "e.person_id",
    "day": "to_char((to_timestamp(e.started_at) AT TIME ZONE {tz})::date, 'YYYY-MM-DD')",
    "company": "e.company",
    "work_type": "e.work_type",
    "status": "e.status",
    "ticket": "coalesce(e.task, e.ticket_number, e.ticket_id::text, '')",
}


async def summary(conn: Tx, scope: Scope, *, group: Group, start: float, end: float, tz: str) -> list[SummaryRow]:
    """Entries started in [start, end) in scope, summed per `group` (days in the time zone `tz`)."""
    args: list[Any] = [start, end]
    where = f"e.started_at >= $1 AND e.started_at < $2 AND {scope.where(args)}"
    key = _GROUP_KEY[group]
    if group == "day":
        args.append(tz)
        key = key.format(tz=f"${len(args)}::text")
    inner = (
        f"SELECT {key} AS key, count(*) AS entries, sum(e.actual_seconds) AS seconds, "  # noqa: S608
        f"sum(e.billed_seconds) AS billed_seconds FROM entries e WHERE {where} GROUP BY 1"
    )
    if group == "technician":
        sql = (
            f"SELECT s.key, p.name AS label, s.entries, s.seconds, s.billed_seconds FROM ({inner}) s "  # noqa: S608
            "JOIN people p ON p.id = s.key ORDER BY p.name, s.key"
        )
    else:
        sql = f"SELECT s.key, s.key AS label, s.entries, s.seconds, s.billed_seconds FROM ({inner}) s ORDER BY s.key"  # noqa: S608
    rows = await conn.fetch(sql, *args)
    return [SummaryRow(**dict(r)) for r in rows]


class TimesheetCell(msgspec.Struct, kw_only=True):
    person_id: str
    day: str
    seconds: int
    entries: int
    statuses: list[str]


async def timesheet(conn: Tx, team_id: str, *, start: float, end: float, tz: str) -> list[TimesheetCell]:
    """A team's entries started in [start, end), summed per technician and local day (in `tz`)."""
    rows = await conn.fetch(
        "SELECT e.person_id, to_char((to_timestamp(e.started_at) AT TIME ZONE $4)::date, 'YYYY-MM-DD') AS day, "
        "sum(e.actual_seconds) AS seconds, count(*) AS entries, array_agg(DISTINCT e.status) AS statuses "
        "FROM entries e WHERE e.team_id = $1 AND e.started_at >= $2 AND e.started_at < $3 GROUP BY 1, 2 "
        "ORDER BY 1, 2",
        team_id,
        start,
        end,
        tz,
    )
    return [TimesheetCell(**{**dict(r), "statuses": sorted(r["statuses"])}) for r in rows]


async def technicians(conn: Tx, team_id: str) -> list[tuple[str, str]]:
    """(id, name) of the team's technicians, by name."""
    rows = await conn.fetch(
        "SELECT DISTINCT p.id, p.name FROM memberships m JOIN people p ON p.id = m.person_id "
        "WHERE m.team_id = $1 AND m.role = 'technician' ORDER BY p.name, p.id",
        team_id,
    )
    return [(r["id"], r["name"]) for r in rows]


async def team_and_settings(conn: Tx, team_id: str) -> tuple[Team, dict[str, Any]] | None:
    """A team and its `settings`, or None."""
    row = await conn.fetchrow("SELECT id, name, approval, created_at, settings FROM teams WHERE id = $1", team_id)
    if row is None:
        return None
    values = dict(row)
    settings: dict[str, Any] = values.pop("settings") or {}
    return Team(**values), settings


async def all_teams(conn: Tx) -> list[tuple[Team, dict[str, Any]]]:
    """Every team with its `settings`, by name."""
    rows = await conn.fetch("SELECT id, name, approval, created_at, settings FROM teams ORDER BY name")
    found = []
    for row in rows:
        values = dict(row)
        settings: dict[str, Any] = values.pop("settings") or {}
        found.append((Team(**values), settings))
    return found


class ClosedPeriod(msgspec.Struct, kw_only=True):
    team_id: str
    start_day: date
    end_day: date
    starts_at: float
    ends_at: float
    closed_at: float
    closed_by: str


async def close_period(tx: Tx, period: ClosedPeriod) -> bool:
    """Close a team's period; False when it was closed already."""
    row = await tx.fetchrow(
        "INSERT INTO closed_periods (team_id, start_day, end_day, starts_at, ends_at, closed_at, closed_by) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING RETURNING team_id",
        period.team_id,
        period.start_day,
        period.end_day,
        period.starts_at,
        period.ends_at,
        period.closed_at,
        period.closed_by,
    )
    return row is not None


async def reopen_period(tx: Tx, team_id: str, start_day: date) -> bool:
    """Reopen a team's closed period; False when it was not closed."""
    row = await tx.fetchrow(
        "DELETE FROM closed_periods WHERE team_id = $1 AND start_day = $2 RETURNING team_id", team_id, start_day
    )
    return row is not None


async def closed_periods(conn: Tx, team_id: str, start: float, end: float) -> list[ClosedPeriod]:
    """The team's closed periods overlapping [start, end)."""
    rows = await conn.fetch(
        "SELECT team_id, start_day, end_day, starts_at, ends_at, closed_at, closed_by FROM closed_periods "
        "WHERE team_id = $1 AND starts_at < $3 AND ends_at > $2 ORDER BY starts_at",
        team_id,
        start,
        end,
    )
    return [ClosedPeriod(**dict(r)) for r in rows]


async def lock_periods(tx: Tx, team_id: str, *, exclusive: bool) -> None:
    """Order closing a team's period against arrivals: closing and reopening hold the team's period lock
    exclusively, an arrival shares it, each until its transaction ends (so no version lands in a period while it
    closes)."""
    fn = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
    await tx.execute(f"SELECT {fn}(hashtext('periods:' || $1))", team_id)


async def closed_ranges(tx: Tx, team_id: str) -> list[tuple[float, float]]:
    """The team's closed periods as [starts_at, ends_at) ranges. Shares the team's period lock until the transaction
    ends (as `closed_for`), so none closes while the caller stores versions."""
    await lock_periods(tx, team_id, exclusive=False)
    rows = await tx.fetch("SELECT starts_at, ends_at FROM closed_periods WHERE team_id = $1", team_id)
    return [(r["starts_at"], r["ends_at"]) for r in rows]
