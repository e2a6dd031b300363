"""Who is asking: people by web session (a cookie), daemons and integrations by bearer token.

`principal_middleware` resolves every request's `Principal` once (or none); handlers ask `person_of(request)`
(a signed-in person, 401 otherwise) or the resolver of their own kind of token. A bearer token names its kind by
prefix (`BEARERS`: "tcd_" a device, "tci_" an integration), and only a hash of any token is stored.

Sessions as in the daemon's web UI: 12 hours unused or 7 days at most, HttpOnly, SameSite=Lax (an OIDC provider's
redirect back must carry it), Secure when the public address is https. A request that changes something with a
session cookie must come from the server's own origin (the Origin header), so another site cannot make a signed-in
browser act.
"""

from __future__ import annotations

import hashlib
import math
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from aiohttp import web

from daemon.api.errors import ApiError
from daemon.server.model import Person
from daemon.server.services import SERVER, ServerServices
from daemon.server.store import people, sessions, signins

__all__ = [
    "BEARERS",
    "COOKIE",
    "PRINCIPAL",
    "PUBLIC",
    "Principal",
    "admin_of",
    "check_password",
    "hash_password",
    "person_of",
    "principal_middleware",
    "principal_of",
    "sign_in",
    "sign_out",
    "token_hash",
    "verify_password",
]

COOKIE = "tc_team"
IDLE_S = 12 * 3600
MAX_AGE_S = 7 * 24 * 3600
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Principal:
    kind: Literal["person", "device", "integration"]
    person: Person | None = None
    """The person (for a device: its owner)."""
    token_id: str = ""
    """The device's or integration's id."""


PRINCIPAL = web.RequestKey("team.principal", Principal)

BEARERS: dict[str, Callable[[ServerServices, str], Awaitable[Principal | None]]] = {}
"""Bearer token prefix -> its resolver (registered by the modules that issue such tokens)."""


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def hash_password(password: str) -> str:
    from argon2 import PasswordHasher

    return PasswordHasher().hash(password)


def verify_password(hashed: str | None, password: str) -> bool:
    from argon2 import PasswordHasher
    from argon2.exceptions import InvalidHashError, VerificationError

    if not hashed:
        PasswordHasher().hash(password)  # same work as a real check: no timing tells whether the e-mail exists
        return False
    try:
        return PasswordHasher().verify(hashed, password)
    except (VerificationError, InvalidHashError):
        return False


THROTTLE_LIMIT = 5
THROTTLE_WINDOW_S = 15 * 60
THROTTLE_LOCK_S = 15 * 60
"""Password sign-in throttling: the 5th failure for one e-mail within 15 minutes refuses its sign-ins (even with
the right password) for 15 minutes; counted in the database, so every server process applies it."""


async def sign_in(services: ServerServices, email: str, password: str) -> tuple[Person, str] | None:
    """(the person, a new session token) when the e-mail and password match an active person; None otherwise.
    Raises 429 `too_many_attempts` while the e-mail is locked by too many failures."""
    person_id = await check_password(services, email, password)
    return await open_session(services, person_id) if person_id is not None else None


async def check_password(services: ServerServices, email: str, password: str) -> str | None:
    """The id of the active person with this e-mail and password, or None; every failure counts towards the
    e-mail's throttling (429 `too_many_attempts` while it is locked), a success forgets them."""
    email = email.strip().lower()
    now = services.clock.now()
    async with services.db.connection() as conn:
        locked = await signins.locked_until(conn, email)
        found = await people.password_hash(conn, email) if locked <= now else None
    if locked > now:
        raise _too_many(locked - now)
    if not verify_password(found[1] if found else None, password) or found is None:
        async with services.db.transaction() as tx:
            until = await signins.record_failure(
                tx, email, now, window_s=THROTTLE_WINDOW_S, limit=THROTTLE_LIMIT, lock_s=THROTTLE_LOCK_S
            )
        if until:
            raise _too_many(until - now)
        return None
    async with services.db.transaction() as tx:
        await signins.clear_failures(tx, email)
    return found[0]


def _too_many(wait_s: float) -> ApiError:
    minutes = max(1, math.ceil(wait_s / 60))
    return ApiError.of(
        "too_many_attempts",
        f"too many failed sign-ins for this e-mail; try again in {minutes} min",
        headers={"Retry-After": str(max(1, math.ceil(wait_s)))},
    )


async def open_session(services: ServerServices, person_id: str) -> tuple[Person, str] | None:
    """A new session for a person already proven (password or OIDC)."""
    token = "tcs_" + secrets.token_urlsafe(32)
    now = services.clock.now()
    async with services.db.transaction() as tx:
        person = await people.person_by_id(tx, person_id)
        if person is None or not person.active:
            return None
        await sessions.create(tx, token_hash(token), person_id, now, now + MAX_AGE_S)
    return person, token


async def sign_out(services: ServerServices, token: str) -> None:
    async with services.db.transaction() as tx:
        await sessions.delete(tx, token_hash(token))


def set_cookie(response: web.StreamResponse, services: ServerServices, token: str) -> None:
    response.set_cookie(
        COOKIE,
        token,
        max_age=MAX_AGE_S,
        httponly=True,
        samesite="Lax",
        secure=services.config.secure_cookies,
        path="/",
    )


def clear_cookie(response: web.StreamResponse, services: ServerServices) -> None:
    response.del_cookie(COOKIE, path="/", secure=services.config.secure_cookies, samesite="Lax")


async def _resolve(request: web.Request, services: ServerServices) -> Principal | None:
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise ApiError.of("unauthorized", "use Authorization: Bearer <token>")
        resolver = BEARERS.get(token[:4])
        found = await resolver(services, token) if resolver is not None else None
        if found is None:
            raise ApiError.of("unauthorized", "that token is not valid (revoked, or never issued)")
        return found
    cookie = request.cookies.get(COOKIE)
    if not cookie:
        return None
    if request.method not in SAFE_METHODS and request.headers.get("Origin") != services.config.origin:
        raise ApiError.of("origin_forbidden", "a change with a session must come from this server's own pages")
    async with services.db.connection() as conn:  # one statement: the session checked and touched, its person
        person = await people.person_by_session(
            conn, token_hash(cookie), services.clock.now(), IDLE_S, sessions.TOUCH_EVERY_S
        )
    if person is None or not person.active:
        return None
    return Principal(kind="person", person=person)


PUBLIC = web.AppKey("team.public_routes", frozenset)
"""(method, path template) of the routes that need nobody (`Route.auth` False): health, sign-in, the pages' files."""


@web.middleware
async def principal_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    resource = request.match_info.route.resource
    if resource is not None and (request.method, resource.canonical) in request.app[PUBLIC]:
        return await handler(request)  # nobody is asked for: no session look-up for a health probe or a script file
    found = await _resolve(request, request.app[SERVER])
    if found is not None:
        request[PRINCIPAL] = found
    return await handler(request)


def principal_of(request: web.Request) -> Principal:
    found: Principal | None = request.get(PRINCIPAL)
    if found is None:
        raise ApiError.of("unauthorized", "sign in first")
    return found


def person_of(request: web.Request) -> Person:
    """The signed-in person making this request (by web session); 401 for anyone else."""
    found = principal_of(request)
    if found.kind != "person" or found.person is None:
        raise ApiError.of("unauthorized", "sign in first")
    return found.person


def admin_of(request: web.Request) -> Person:
    """The signed-in admin making this request; 403 for anyone else signed in (the one admin check)."""
    person = person_of(request)
    if not person.is_admin:
        raise ApiError.of("forbidden", "only an admin may do that")
    return person
