"""Health, the daemon's proof of identity, pairing and paired clients, the OpenAPI document."""

from __future__ import annotations

import os
import re
from typing import Annotated

import msgspec
from aiohttp import web

from daemon import __version__
from daemon.api.errors import ApiError
from daemon.api.routing import OPENAPI, Route, json_response, read_json
from daemon.api.security import AUTH, is_extension_origin
from daemon.auth import CHALLENGE_PATTERN, KID_PATTERN
from daemon.services import SERVICES

__all__ = ["routes"]


class Health(msgspec.Struct, kw_only=True):
    status: str
    version: str
    pid: int
    """The daemon's process id: lets a client check it reached the process named in `daemon.json`."""


class Proof(msgspec.Struct, kw_only=True):
    proof: str
    """HMAC-SHA256(sha256(token), "ticketclock-proof:" + challenge + ":" + port), hex (docs/security.md)."""


class PairRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    code: Annotated[str, msgspec.Meta(pattern=r"^[0-9]{8}$")]
    client: Annotated[str, msgspec.Meta(min_length=1, max_length=80)] = "browser extension"


class ManagedPairRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    secret: Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
    client: Annotated[str, msgspec.Meta(min_length=1, max_length=80)] = "browser extension"


class PairResponse(msgspec.Struct, kw_only=True):
    token: str
    client_id: str


class PairingCode(msgspec.Struct, kw_only=True):
    code: str
    expires_at: float


class ClientInfo(msgspec.Struct, kw_only=True):
    id: str
    name: str
    origin: str | None
    created_at: float


class ClientList(msgspec.Struct, kw_only=True):
    clients: list[ClientInfo]


async def health(request: web.Request) -> web.Response:
    return json_response(Health(status="ok", version=__version__, pid=os.getpid()))


async def hello(request: web.Request) -> web.Response:
    """Prove this is the daemon that holds the caller's token, before the caller sends it (no token needed)."""
    challenge = request.query.get("challenge", "")
    kid = request.query.get("kid", "")
    if not re.fullmatch(CHALLENGE_PATTERN, challenge) or not re.fullmatch(KID_PATTERN, kid):
        raise ApiError(
            422, "invalid_input", "give challenge (22-128 base64url characters) and kid (32 hex digits) in the query"
        )
    answer = await request.app[AUTH].prove(challenge, kid)
    if answer is None:
        raise ApiError(401, "unpaired", "this daemon knows no such token: pair again")
    return json_response(Proof(proof=answer))


async def pair(request: web.Request) -> web.Response:
    body = await read_json(request, PairRequest)
    services = request.app[SERVICES]
    origin = request.headers.get("Origin")
    if origin is not None and not is_extension_origin(origin) and not request.app[AUTH].origin_allowed(origin):
        raise ApiError(403, "origin_forbidden", "only a browser extension or a local program can pair")
    client, token = await services.pairing.exchange(body.code, name=body.client, origin=origin)
    if client.origin:
        request.app[AUTH].paired_origins.add(client.origin)
    return json_response(PairResponse(token=token, client_id=client.id))


async def pair_managed(request: web.Request) -> web.Response:
    """Pre-approved pairing of a managed extension (docs/security.md "Managed pairing"): browser extensions only."""
    body = await read_json(request, ManagedPairRequest)
    origin = request.headers.get("Origin")
    if origin is None or not is_extension_origin(origin):
        raise ApiError(403, "origin_forbidden", "managed pairing is for the browser extension only")
    client, token = await request.app[SERVICES].pairing.exchange_managed(body.secret, name=body.client, origin=origin)
    request.app[AUTH].paired_origins.add(origin)
    return json_response(PairResponse(token=token, client_id=client.id))


async def new_pairing_code(request: web.Request) -> web.Response:
    code, expires = request.app[SERVICES].pairing.new_code()
    return json_response(PairingCode(code=code, expires_at=expires), status=201)


async def list_clients(request: web.Request) -> web.Response:
    clients = await request.app[SERVICES].clients.all()
    return json_response(
        ClientList(
            clients=[ClientInfo(id=c.id, name=c.name, origin=c.origin, created_at=c.created_at) for c in clients]
        )
    )


async def revoke_client(request: web.Request) -> web.Response:
    if not await request.app[AUTH].revoke(request.match_info["id"]):
        raise ApiError(404, "not_found", "no paired client with that id")
    return web.Response(status=204)


async def openapi(request: web.Request) -> web.Response:
    """The document, with `servers` naming the port this request arrived on (not a fixed default)."""
    sockname = request.transport.get_extra_info("sockname") if request.transport is not None else None
    port = sockname[1] if sockname else request.app[SERVICES].settings.port
    return json_response({**request.app[OPENAPI].document(), "servers": [{"url": f"http://127.0.0.1:{port}"}]})


routes = [
    Route("GET", "/api/v1/health", health, "Daemon status and version", "system", response=Health, auth=False),
    Route(
        "GET",
        "/api/v1/hello",
        hello,
        "Prove to a client that this daemon holds its token before it sends it",
        "system",
        response=Proof,
        auth=False,
        params={"challenge": "22-128 random base64url characters", "kid": "key id of the caller's token"},
    ),
    Route(
        "POST",
        "/api/v1/pair",
        pair,
        "Exchange a pairing code for a client token",
        "system",
        body=PairRequest,
        response=PairResponse,
        auth=False,
    ),
    Route(
        "POST",
        "/api/v1/pair/managed",
        pair_managed,
        "Pair a managed extension with the secret its policy and the daemon's config share",
        "system",
        body=ManagedPairRequest,
        response=PairResponse,
        auth=False,
    ),
    Route(
        "POST",
        "/api/v1/pair/codes",
        new_pairing_code,
        "Create a short-lived pairing code (what `ticketclock pair` shows)",
        "system",
        response=PairingCode,
        status=201,
    ),
    Route("GET", "/api/v1/clients", list_clients, "Paired clients", "system", response=ClientList),
    Route(
        "DELETE",
        "/api/v1/clients/{id}",
        revoke_client,
        "Revoke a pairing: its token stops working and its WebSocket closes as unpaired",
        "system",
        status=204,
    ),
    Route("GET", "/api/v1/openapi.json", openapi, "This document", "system"),
]
