"""The team's web API: approvers' queues and bulk decisions, team timesheets and summaries, entry lists with their
audit trail, and period close per team.

Who sees what (`visible`, the one rule): an admin sees every team's time; an approver (level 1 or 2) sees the time
of the teams they approve, and their own; everyone else sees only their own time. Decisions on entries go through
the entry flow (daemon/server/flow.py), one transaction per entry.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

import msgspec
from aiohttp import web

from daemon.api.errors import ApiError
from daemon.api.routing import Route, json_response, read_json
from daemon.entries.periods import Period, day_bounds, local_day, parse_day, period_of, zone
from daemon.server import flow
from daemon.server.auth import person_of
from daemon.server.flow import FlowError
from daemon.server.model import Approval, Person, Role, Team
from daemon.server.services import SERVER
from daemon.server.store import Tx, audit, decisions, people
from daemon.server.store import team as store
from daemon.server.store.team import GROUPS, AuditRow, ClosedPeriod, Scope, SummaryRow, TeamEntry
from daemon.settings import TimesheetConfig

__all__ = ["ROUTES", "team_periods", "visible"]

APPROVER_ROLES: frozenset[str] = frozenset({"approver1", "approver2"})
QUEUE_STATUS = {1: "submitted", 2: "approved_l1"}
"""The status an entry waits at for each approval level."""
MAX_PAGE = 500
MAX_BULK = 500


# --- who sees what ----------------------------------------------------------------------------------------------


def approver_teams(person: Person, level: int | None = None) -> list[str]:
    """The teams `person` approves (at `level`, or at either)."""
    wanted = APPROVER_ROLES if level is None else {f"approver{level}"}
    return sorted(t for t, roles in person.roles.items() if wanted & set(roles))


def visible(person: Person, team: str | None = None, *, mine: bool = False) -> Scope:
    """The entries `person` may see, narrowed to one team and/or their own time."""
    if mine:
        return Scope(teams=[team] if team else None, person=person.id)
    if person.is_admin:
        return Scope(teams=[team] if team else None)
    approves = approver_teams(person)
    if team is not None:
        return Scope(teams=[team]) if team in approves else Scope(teams=[team], person=person.id)
    if approves:
        return Scope(teams=approves, person=person.id, either=True)
    return Scope(teams=None, person=person.id)


def _may_see_team(person: Person, team_id: str) -> None:
    if not person.is_admin and team_id not in approver_teams(person):
        raise ApiError.of("forbidden", "only the team's approvers and admins see the whole team's time")


# --- teams and their periods --------------------------------------------------------------------------------------


class TeamSheet(msgspec.Struct, kw_only=True, frozen=True):
    """A team's `settings` for time: how periods are cut (as the daemon cuts them) and the team's time zone."""

    period: Literal["weekly", "biweekly", "semimonthly", "monthly"] = "weekly"
    first_weekday: str = "monday"
    anchor: date | None = None
    timezone: str = "UTC"


def team_periods(settings: dict[str, Any]) -> tuple[TimesheetConfig, str]:
    """(the period settings, the IANA zone) of a team's `settings`; defaults (weekly from Monday, UTC) for any
    setting missing or not understood."""
    try:
        sheet = msgspec.convert(settings, TeamSheet)
        config = msgspec.convert(
            {"period": sheet.period, "first_weekday": sheet.first_weekday, "anchor": sheet.anchor},
            TimesheetConfig,
        )
    except msgspec.ValidationError:
        return TimesheetConfig(), "UTC"
    return config, zone(sheet.timezone).key


class TeamInfo(msgspec.Struct, kw_only=True):
    id: str
    name: str
    approval: Approval
    period: str
    timezone: str
    roles: list[Role]
    """The signed-in person's roles in this team."""


async def _team(conn: Tx, team_id: str) -> tuple[Team, TimesheetConfig, str]:
    found = await store.team_and_settings(conn, team_id)
    if found is None:
        raise ApiError.of("not_found", "no such team")
    config, tz = team_periods(found[1])
    return found[0], config, tz


def _team_info(person: Person, team: Team, config: TimesheetConfig, tz: str) -> TeamInfo:
    return TeamInfo(
        id=team.id, name=team.name, approval=team.approval, period=config.period, timezone=tz,
        roles=list(person.roles.get(team.id, [])),
    )  # fmt: skip


async def list_teams(request: web.Request) -> web.Response:
    person = person_of(request)
    async with request.app[SERVER].db.connection() as conn:
        teams = await store.all_teams(conn)
    return json_response(
        [_team_info(person, team, *team_periods(settings)) for team, settings in teams
         if person.is_admin or team.id in person.roles]
    )  # fmt: skip


# --- query parameters -------------------------------------------------------------------------------------------


def _text(value: str, name: str) -> str:
    """A name or id from the address: PostgreSQL text cannot hold NUL, so one is refused here (a 400, not the
    database's error)."""
    if "\x00" in value:
        raise ApiError.of("invalid_query", f"{name}: contains a NUL character")
    return value


def _limit(request: web.Request, default: int = 100) -> int:
    text = request.query.get("limit", str(default))
    if not text.isdigit() or not 1 <= int(text) <= MAX_PAGE:
        raise ApiError.of("invalid_query", f"limit: a whole number from 1 to {MAX_PAGE}")
    return int(text)


def _cursor(text: str | None, name: str) -> tuple[float, str] | None:
    """A page cursor `started_at:id` as the previous page's `next` gave it."""
    if not text:
        return None
    at, sep, entry_id = text.partition(":")
    try:
        moment = float(at)
    except ValueError:
        moment = float("nan")
    if not sep or not entry_id or moment != moment or abs(moment) > 1e11:
        raise ApiError.of("invalid_query", f"{name}: not a cursor this API gave")
    return moment, _text(entry_id, name)


def _day(text: str, name: str) -> date:
    try:
        day = parse_day(text, name)
    except ValueError as exc:
        raise ApiError.of("invalid_query", str(exc)) from None
    if not 1970 <= day.year <= 9000:
        raise ApiError.of("invalid_query", f"{name}: out of range")
    return day


def _team_param(request: web.Request) -> str | None:
    team = request.query.get("team") or None
    return _text(team, "team") if team is not None else None


# --- approvals ----------------------------------------------------------------------------------------------------


class ApprovalQueue(msgspec.Struct, kw_only=True):
    level: int
    entries: list[TeamEntry]
    total: int
    """Entries waiting in this queue in all (every page)."""
    next: str | None = None
    """The cursor of the next page (`after=`), or None on the last page."""


async def approval_queue(request: web.Request) -> web.Response:
    person = person_of(request)
    level_text = request.query.get("level", "1")
    if level_text not in ("1", "2"):
        raise ApiError.of("invalid_query", "level: 1 or 2")
    level = int(level_text)
    teams = approver_teams(person, level)
    team = _team_param(request)
    if team is not None:
        if team not in teams:
            raise ApiError.of("forbidden", f"you are not a level-{level} approver of that team")
        teams = [team]
    limit = _limit(request)
    after = _cursor(request.query.get("after"), "after")
    found: list[TeamEntry] = []
    total = 0
    if teams:
        async with request.app[SERVER].db.connection() as conn:
            found, total = await store.queue(
                conn, teams=teams, status=QUEUE_STATUS[level], approver_id=person.id, limit=limit, after=after
            )
    last = found[-1] if len(found) == limit else None
    return json_response(
        ApprovalQueue(level=level, entries=found, total=total, next=f"{last.started_at!r}:{last.id}" if last else None)
    )


NO_NUL = "^[^\x00]*$"
"""PostgreSQL text cannot hold NUL: such input is refused as invalid, not sent to the database."""


class Decide(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    ids: Annotated[list[Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern=NO_NUL)]],
                   msgspec.Meta(min_length=1, max_length=MAX_BULK)]  # fmt: skip
    level: Literal[1, 2]
    action: Literal["approve", "reject"]
    comment: Annotated[str, msgspec.Meta(max_length=2000, pattern=NO_NUL)] = ""
    """Required to reject: the technician reads it."""


class Decided(msgspec.Struct, kw_only=True):
    id: str
    ok: bool
    status: str = ""
    """The entry's new status (ok)."""
    code: str = ""
    """Why not (not ok): a code of the error catalogue."""
    message: str = ""


class DecideResult(msgspec.Struct, kw_only=True):
    results: list[Decided]
    done: int
    refused: int


async def decide(request: web.Request) -> web.Response:
    person = person_of(request)
    body = await read_json(request, Decide)
    if body.action == "reject" and not body.comment.strip():
        raise ApiError.of("invalid_input", "comment: a rejection needs a comment for the technician")
    services = request.app[SERVER]
    results = []
    for entry_id in dict.fromkeys(body.ids):  # each once, in the order given
        try:
            async with services.db.transaction() as tx:
                now = services.clock.now()
                if body.action == "approve":
                    status = await flow.approve(tx, entry_id, person, body.level, now)
                else:
                    await flow.reject(tx, entry_id, person, body.level, body.comment.strip(), now)
                    status = "rejected"
            results.append(Decided(id=entry_id, ok=True, status=status))
        except FlowError as exc:
            results.append(Decided(id=entry_id, ok=False, code=exc.code, message=exc.message))
    done = sum(r.ok for r in results)
    return json_response(DecideResult(results=results, done=done, refused=len(results) - done))


# --- team timesheet -----------------------------------------------------------------------------------------------


class PeriodInfo(msgspec.Struct, kw_only=True):
    id: str
    kind: str
    start: str
    end: str
    days: list[str]
    closed: bool
    closed_at: float | None = None
    previous: str
    next: str


class DayCell(msgspec.Struct, kw_only=True):
    day: str
    seconds: int = 0
    entries: int = 0
    statuses: list[str] = []


class TimesheetRow(msgspec.Struct, kw_only=True):
    person_id: str
    name: str
    days: list[DayCell]
    seconds: int


class TeamTimesheet(msgspec.Struct, kw_only=True):
    team: TeamInfo
    period: PeriodInfo
    rows: list[TimesheetRow]
    day_seconds: list[int]
    seconds: int


async def _period_info(
    conn: Tx, team: Team, period: Period, config: TimesheetConfig, tz: str
) -> tuple[PeriodInfo, float, float]:
    start, end = day_bounds(period.start, period.end, zone(tz))
    closed = [c for c in await store.closed_periods(conn, team.id, start, end) if c.start_day == period.start]
    from daemon.entries.periods import following, previous

    info = PeriodInfo(
        id=period.id, kind=period.kind, start=period.start.isoformat(), end=period.end.isoformat(),
        days=[d.isoformat() for d in period.days], closed=bool(closed),
        closed_at=closed[0].closed_at if closed else None,
        previous=previous(period, config).id, next=following(period, config).id,
    )  # fmt: skip
    return info, start, end


async def team_timesheet(request: web.Request) -> web.Response:
    person = person_of(request)
    services = request.app[SERVER]
    text = request.query.get("period", "current")
    asked = None if text == "current" else _day(text, "period")
    async with services.db.connection() as conn:
        team, config, tz = await _team(conn, _text(request.match_info["id"], "team id"))
        _may_see_team(person, team.id)
        period = period_of(asked or local_day(services.clock.now(), zone(tz)), config)
        info, start, end = await _period_info(conn, team, period, config, tz)
        cells = await store.timesheet(conn, team.id, start=start, end=end, tz=tz)
        names = dict(await store.technicians(conn, team.id))
        missing = {c.person_id for c in cells} - names.keys()
        for person_id in sorted(missing):  # time synced by someone no longer a technician of the team
            found = await people.person_by_id(conn, person_id)
            names[person_id] = found.name if found else person_id
    by_person: dict[str, dict[str, store.TimesheetCell]] = {}
    for cell in cells:
        by_person.setdefault(cell.person_id, {})[cell.day] = cell
    rows = []
    for person_id, name in sorted(names.items(), key=lambda item: (item[1].lower(), item[0])):
        mine = by_person.get(person_id, {})
        days = [
            DayCell(day=d, seconds=c.seconds, entries=c.entries, statuses=c.statuses) if (c := mine.get(d)) else
            DayCell(day=d)
            for d in info.days
        ]  # fmt: skip
        rows.append(TimesheetRow(person_id=person_id, name=name, days=days, seconds=sum(c.seconds for c in days)))
    day_seconds = [sum(r.days[i].seconds for r in rows) for i in range(len(info.days))]
    return json_response(
        TeamTimesheet(
            team=_team_info(person, team, config, tz),
            period=info,
            rows=rows,
            day_seconds=day_seconds,
            seconds=sum(day_seconds),
        )
    )


# --- summary ------------------------------------------------------------------------------------------------------


class Summary(msgspec.Struct, kw_only=True):
    group: str
    start: str
    end: str
    timezone: str
    rows: list[SummaryRow]
    entries: int
    seconds: int
    billed_seconds: int


async def summary(request: web.Request) -> web.Response:
    person = person_of(request)
    services = request.app[SERVER]
    group = request.query.get("group", "technician")
    if group not in GROUPS:
        raise ApiError.of("invalid_query", f"group: one of {', '.join(GROUPS)}")
    team_id = _team_param(request)
    first = _day(request.query.get("from", ""), "from")
    last = _day(request.query.get("to", request.query.get("from", "")), "to")
    if last < first:
        raise ApiError.of("invalid_query", "to: before from")
    scope = visible(person, team_id, mine=request.query.get("mine") == "1")
    async with services.db.connection() as conn:
        tz = (await _team(conn, team_id))[2] if team_id is not None else "UTC"
        start, end = day_bounds(first, last, zone(tz))
        rows = await store.summary(conn, scope, group=group, start=start, end=end, tz=tz)
    return json_response(
        Summary(
            group=group, start=first.isoformat(), end=last.isoformat(), timezone=tz, rows=rows,
            entries=sum(r.entries for r in rows), seconds=sum(r.seconds for r in rows),
            billed_seconds=sum(r.billed_seconds for r in rows),
        )
    )  # fmt: skip


# --- entries and their audit trail ------------------------------------------------------------------------------


class EntryPage(msgspec.Struct, kw_only=True):
    entries: list[TeamEntry]
    next: str | None = None
    """The cursor of the next (older) page (`before=`), or None on the last page."""


STATUSES = frozenset(
    {"pending", "submitted", "approved_l1", "approved", "rejected", "queued", "sending", "posted", "failed", "voided"}
)


async def list_entries(request: web.Request) -> web.Response:
    person = person_of(request)
    services = request.app[SERVER]
    team_id = _team_param(request)
    status = request.query.get("status") or None
    if status is not None and status not in STATUSES:
        raise ApiError.of("invalid_query", f"status: one of {', '.join(sorted(STATUSES))}")
    first_day = _day(request.query["from"], "from") if request.query.get("from") else None
    last_day = _day(request.query["to"], "to") if request.query.get("to") else None
    limit = _limit(request)
    before = _cursor(request.query.get("before"), "before")
    scope = visible(person, team_id, mine=request.query.get("mine") == "1")
    async with services.db.connection() as conn:
        tz = zone((await _team(conn, team_id))[2] if team_id is not None else "UTC")
        start = day_bounds(first_day, first_day, tz)[0] if first_day else None
        end = day_bounds(last_day, last_day, tz)[1] if last_day else None
        found = await store.entries(conn, scope, start=start, end=end, status=status, limit=limit, before=before)
    last = found[-1] if len(found) == limit else None
    return json_response(EntryPage(entries=found, next=f"{last.started_at!r}:{last.id}" if last else None))


class EntryTrail(msgspec.Struct, kw_only=True):
    entry: TeamEntry
    audit: list[AuditRow]


async def entry_audit(request: web.Request) -> web.Response:
    person = person_of(request)
    entry_id = _text(request.match_info["id"], "entry id")
    async with request.app[SERVER].db.connection() as conn:
        owner = await store.entry_scope(conn, entry_id)
        allowed = owner is not None and (person.is_admin or owner[0] == person.id or owner[1] in approver_teams(person))
        found = await store.entries(
            conn, Scope(teams=None, entry=entry_id), start=None, end=None, status=None, limit=1, before=None
        ) if allowed else []  # fmt: skip
        trail = await store.audit_of(conn, entry_id) if found else []
    if not found:  # another technician's entry is as unknown as one that does not exist
        raise ApiError.of("not_found", "no such entry")
    return json_response(EntryTrail(entry=found[0], audit=trail))


# --- period close -------------------------------------------------------------------------------------------------


class PeriodChange(msgspec.Struct, kw_only=True):
    team_id: str
    start: str
    end: str
    closed: bool
    technicians: int
    """How many technicians' feeds got the decision."""


async def _period_change(request: web.Request, close: bool) -> web.Response:
    person = person_of(request)
    services = request.app[SERVER]
    async with services.db.connection() as conn:
        team, config, tz = await _team(conn, _text(request.match_info["id"], "team id"))
    if not person.is_admin and "approver2" not in person.roles.get(team.id, []):
        raise ApiError.of("forbidden", "periods are closed and reopened by the team's level-2 approvers or an admin")
    day = _day(request.match_info["start"], "start")
    period = period_of(day, config)
    if period.start != day:
        raise ApiError.of(
            "invalid_input", f"start: {day.isoformat()} is not the first day of a period (that is {period.id})"
        )
    start, end = day_bounds(period.start, period.end, zone(tz))
    now = services.clock.now()
    kind = "period_closed" if close else "period_reopened"
    async with services.db.transaction() as tx:
        await store.lock_periods(tx, team.id, exclusive=True)
        if close:
            changed = await store.close_period(
                tx, ClosedPeriod(team_id=team.id, start_day=period.start, end_day=period.end, starts_at=start,
                                 ends_at=end, closed_at=now, closed_by=person.id),
            )  # fmt: skip
            if not changed:
                raise ApiError.of("period_closed", f"the period from {period.id} is closed already")
        elif not await store.reopen_period(tx, team.id, period.start):
            raise ApiError.of("invalid_transition", f"the period from {period.id} is not closed")
        detail = {"team_id": team.id, "team": team.name, "start": period.id, "end": period.end.isoformat(),
                  "first_day": period.start.isoformat(), "last_day": period.end.isoformat(),  # what daemons read
                  "starts_at": start, "ends_at": end, "actor_id": person.id}  # fmt: skip
        techs = await store.technicians(tx, team.id)
        for tech_id, _name in techs:
            await decisions.record(tx, tech_id, kind, actor=person.name, at=now, detail=detail)
        await audit.write(tx, at=now, actor_id=person.id, actor_name=person.name, via="web", action=kind, detail=detail)
    return json_response(
        PeriodChange(team_id=team.id, start=period.id, end=period.end.isoformat(), closed=close,
                     technicians=len(techs))
    )  # fmt: skip


async def close_period(request: web.Request) -> web.Response:
    return await _period_change(request, close=True)


async def reopen_period(request: web.Request) -> web.Response:
    return await _period_change(request, close=False)


ROUTES = [
    Route("GET", "/api/team/v1/teams", list_teams, "The teams the signed-in person belongs to (an admin: all)",
          "team", response=list[TeamInfo]),
    Route("GET", "/api/team/v1/approvals", approval_queue,
          "The signed-in approver's queue at a level: their teams' entries waiting for it, not their own", "team",
          response=ApprovalQueue,
          params={"level": "1 or 2", "team": "one team's only", "limit": "page size (≤ 500)",
                  "after": "the previous page's `next`"}),
    Route("POST", "/api/team/v1/approvals", decide,
          "Approve or reject entries (each on its own: the answer says per id what happened)", "team",
          body=Decide, response=DecideResult),
    Route("GET", "/api/team/v1/teams/{id}/timesheet", team_timesheet,
          "A team's timesheet: technicians by days of a period (the team's periods)", "team",
          response=TeamTimesheet, params={"period": "current, or any day (YYYY-MM-DD) in the period"}),
    Route("GET", "/api/team/v1/summary", summary, "Totals of the time the signed-in person may see, grouped",
          "team", response=Summary,
          params={"team": "one team's only", "from": "first day (YYYY-MM-DD)", "to": "last day (YYYY-MM-DD)",
                  "group": ", ".join(GROUPS), "mine": "1: only the signed-in person's own time"}),
    Route("GET", "/api/team/v1/entries", list_entries, "Entries the signed-in person may see, newest first",
          "team", response=EntryPage,
          params={"mine": "1: only their own", "team": "one team's only", "status": "one status",
                  "from": "first day", "to": "last day", "limit": "page size (≤ 500)",
                  "before": "the previous page's `next`"}),
    Route("GET", "/api/team/v1/entries/{id}/audit", entry_audit, "An entry and its audit trail", "team",
          response=EntryTrail),
    Route("POST", "/api/team/v1/teams/{id}/periods/{start}/close", close_period,
          "Close a team's period (level-2 approvers, admins): its entries become read-only", "team",
          response=PeriodChange),
    Route("POST", "/api/team/v1/teams/{id}/periods/{start}/reopen", reopen_period,
          "Reopen a team's closed period (level-2 approvers, admins)", "team", response=PeriodChange),
]  # fmt: skip
