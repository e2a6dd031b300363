"""The admin API: teams, people, their roles (admins only; 403 for everyone else), and a person's own password."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import msgspec
from aiohttp import web

from daemon.api.routing import Route, json_response, read_json
from daemon.server.auth import COOKIE, admin_of, person_of, token_hash
from daemon.server.model import Person, Team
from daemon.server.people import (
    Actor,
    NewPerson,
    NewTeam,
    PersonChanges,
    TeamChanges,
    add_person,
    add_team,
    change_own_password,
    change_person,
    change_team,
    set_role,
)
from daemon.server.services import SERVER
from daemon.server.store import admin, people

__all__ = ["ROUTES"]

PREFIX = "/api/team/v1/admin"


class PasswordChange(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    old_password: str
    new_password: str


def _admin(request: web.Request) -> Actor:
    person = admin_of(request)
    return Actor(person.id, person.name, "web")


async def list_teams(request: web.Request) -> web.Response:
    _admin(request)
    async with request.app[SERVER].db.connection() as conn:
        return json_response(await people.teams(conn))


async def create_team(request: web.Request) -> web.Response:
    actor = _admin(request)
    body = await read_json(request, NewTeam)
    return json_response(await add_team(request.app[SERVER], actor, body), status=201)


async def update_team(request: web.Request) -> web.Response:
    actor = _admin(request)
    body = await read_json(request, TeamChanges)
    return json_response(await change_team(request.app[SERVER], actor, request.match_info["team_id"], body))


async def list_people(request: web.Request) -> web.Response:
    _admin(request)
    async with request.app[SERVER].db.connection() as conn:
        return json_response(await admin.people(conn))


async def create_person(request: web.Request) -> web.Response:
    actor = _admin(request)
    body = await read_json(request, NewPerson)
    return json_response(await add_person(request.app[SERVER], actor, body), status=201)


async def update_person(request: web.Request) -> web.Response:
    actor = _admin(request)
    body = await read_json(request, PersonChanges)
    return json_response(await change_person(request.app[SERVER], actor, request.match_info["person_id"], body))


def _role(granted: bool) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handler(request: web.Request) -> web.Response:
        actor = _admin(request)
        info = request.match_info
        person = await set_role(request.app[SERVER], actor, info["team_id"], info["person_id"], info["role"], granted)
        return json_response(person)

    return handler


async def own_password(request: web.Request) -> web.Response:
    person = person_of(request)
    body = await read_json(request, PasswordChange)
    session = token_hash(request.cookies.get(COOKIE, ""))
    await change_own_password(request.app[SERVER], person, body.old_password, body.new_password, session)
    return web.Response(status=204)


_ROLE = PREFIX + "/teams/{team_id}/people/{person_id}/roles/{role}"

ROUTES = [
    Route("GET", PREFIX + "/teams", list_teams, "Every team (admins)", "admin", response=list[Team]),
    Route("POST", PREFIX + "/teams", create_team, "Create a team (admins)", "admin", body=NewTeam, response=Team,
          status=201),
    Route("PATCH", PREFIX + "/teams/{team_id}", update_team, "Rename a team or change its approval levels (admins)",
          "admin", body=TeamChanges, response=Team),
    Route("GET", PREFIX + "/people", list_people, "Every person with their roles (admins)", "admin",
          response=list[Person]),
    Route("POST", PREFIX + "/people", create_person, "Create a person (admins)", "admin", body=NewPerson,
          response=Person, status=201),
    Route("PATCH", PREFIX + "/people/{person_id}", update_person,
          "Change a person: name, e-mail, password, admin, active (false ends their sessions), PSA identities",
          "admin", body=PersonChanges, response=Person),
    Route("PUT", _ROLE, _role(True), "Grant a role in a team (admins)", "admin", response=Person),
    Route("DELETE", _ROLE, _role(False), "Revoke a role in a team (admins)", "admin", response=Person),
    Route("POST", "/api/team/v1/me/password", own_password, "Change my own password (the old one required)",
          "people", body=PasswordChange, status=204),
]  # fmt: skip
