"""Signing in and out with a password, and who am I."""

from __future__ import annotations

import msgspec
from aiohttp import web

from daemon.api.errors import ApiError
from daemon.api.routing import Route, json_response, read_json
from daemon.server.auth import COOKIE, clear_cookie, person_of, set_cookie, sign_in, sign_out
from daemon.server.model import Person
from daemon.server.services import SERVER

__all__ = ["ROUTES"]


class SignIn(msgspec.Struct, forbid_unknown_fields=True):
    email: str
    password: str


async def create_session(request: web.Request) -> web.Response:
    services = request.app[SERVER]
    origin = request.headers.get("Origin")
    if origin is not None and origin != services.config.origin:
        # another site's page must not sign this browser in (to an account of its own: login CSRF); scripts and
        # the CLI send no Origin
        raise ApiError.of("origin_forbidden", "sign in from this server's own pages")
    body = await read_json(request, SignIn)
    signed = await sign_in(services, body.email.strip(), body.password)
    if signed is None:
        raise ApiError.of("sign_in_failed", "that e-mail and password do not match an active account")
    person, token = signed
    response = json_response(person)
    set_cookie(response, services, token)
    return response


async def delete_session(request: web.Request) -> web.Response:
    services = request.app[SERVER]
    person_of(request)
    await sign_out(services, request.cookies.get(COOKIE, ""))
    response = web.Response(status=204)
    clear_cookie(response, services)
    return response


async def me(request: web.Request) -> web.Response:
    return json_response(person_of(request))


ROUTES = [
    Route("POST", "/api/team/v1/session", create_session, "Sign in with e-mail and password", "people",
          body=SignIn, response=Person, auth=False),
    Route("DELETE", "/api/team/v1/session", delete_session, "Sign out", "people", status=204),
    Route("GET", "/api/team/v1/me", me, "The signed-in person, with their roles per team", "people", response=Person),
]  # fmt: skip
