"""Signing in through the organisation's OIDC provider (Microsoft Entra ID), and which ways to sign in there are."""

from __future__ import annotations

import msgspec
from aiohttp import web

from daemon.api.errors import ApiError
from daemon.api.routing import Route, json_response
from daemon.server.auth import open_session, set_cookie
from daemon.server.oidc import LOGIN_TTL_S, OidcError, begin, finish
from daemon.server.services import SERVER, ServerServices
from daemon.server.store import audit, people

__all__ = ["ROUTES"]

STATE_COOKIE = "tc_oidc"
"""The sign-in's `state`, binding the provider's callback to the browser that started it (no login CSRF)."""


class AuthMethods(msgspec.Struct, kw_only=True):
    password: bool = True
    oidc: bool = False
    oidc_label: str = ""


async def auth_methods(request: web.Request) -> web.Response:
    config = request.app[SERVER].config
    return json_response(AuthMethods(oidc=config.oidc, oidc_label=config.oidc_label if config.oidc else ""))


def _configured(services: ServerServices) -> None:
    if not services.config.oidc:
        raise ApiError.of("oidc_not_configured", "OIDC sign-in is not configured on this server")


async def start(request: web.Request) -> web.Response:
    services = request.app[SERVER]
    _configured(services)
    try:
        target, state = await begin(services, request.query.get("login_hint", "")[:254])
    except OidcError as exc:
        raise ApiError.of("oidc_failed", str(exc)) from None
    response = web.Response(status=302, headers={"Location": target, "Cache-Control": "no-store"})
    response.set_cookie(STATE_COOKIE, state, max_age=LOGIN_TTL_S, httponly=True, samesite="Lax",
                        secure=services.config.secure_cookies, path="/api/team/v1/oidc/")  # fmt: skip
    return response


async def callback(request: web.Request) -> web.Response:
    services = request.app[SERVER]
    _configured(services)
    query = request.query
    if "error" in query:
        raise ApiError.of("oidc_failed", f"the sign-in provider said: {query['error'][:100]}")
    state, code = query.get("state", ""), query.get("code", "")
    if not state or not code or request.cookies.get(STATE_COOKIE) != state:
        raise ApiError.of("oidc_failed", "this sign-in was not started in this browser; start again")
    try:
        email = await finish(services, state, code)
    except OidcError as exc:
        raise ApiError.of("oidc_failed", str(exc)) from None
    async with services.db.connection() as conn:
        person = await people.person_by_email(conn, email)
    signed = await open_session(services, person.id) if person is not None and person.active else None
    if signed is None:
        raise ApiError.of("oidc_unknown_person", f"{email} is not an active person on this TicketClock server")
    who, token = signed
    async with services.db.transaction() as tx:
        await audit.write(tx, at=services.clock.now(), actor_id=who.id, actor_name=who.name, via="oidc",
                          action="signed_in")  # fmt: skip
    response = web.Response(status=302, headers={"Location": "/", "Cache-Control": "no-store"})
    set_cookie(response, services, token)
    response.del_cookie(STATE_COOKIE, path="/api/team/v1/oidc/")
    return response


ROUTES = [
    Route("GET", "/api/team/v1/auth-methods", auth_methods, "The ways to sign in here", "people",
          response=AuthMethods, auth=False),
    Route("GET", "/api/team/v1/oidc/start", start, "Sign in through the OIDC provider (a redirect to it)", "people",
          status=302, auth=False, params={"login_hint": "the e-mail address to suggest to the provider"}),
    Route("GET", "/api/team/v1/oidc/callback", callback,
          "The provider's redirect back: a session cookie and a redirect to /", "people", status=302, auth=False,
          params={"code": "the authorization code", "state": "this sign-in's state"}),
]  # fmt: skip
