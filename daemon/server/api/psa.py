"""The MSP's PSA instances and their credentials (admins only): add and list instances, set credentials.

Credentials are checked with the connector's `test()` first (as `ticketclock connect` does), then stored encrypted
(daemon/server/credentials.py); no answer, log line or audit record ever holds them.
"""

from __future__ import annotations

from typing import Any

import msgspec
from aiohttp import web

from daemon.api.errors import ApiError
from daemon.api.routing import Route, json_response, read_json
from daemon.psa import PsaError, PsaService
from daemon.server.auth import admin_of
from daemon.server.credentials import NoSecretKey
from daemon.server.services import SERVER, ServerServices
from daemon.server.store import audit, psa
from daemon.settings import Config, InstanceConfig

__all__ = ["ROUTES", "PsaInstance", "PsaInstances", "admin_of"]


class PsaInstance(msgspec.Struct, kw_only=True):
    name: str
    kind: str
    origins: list[str]
    api_url: str
    options: dict[str, str | int | float | bool]
    credentials: bool
    """Whether credentials are stored (they are never returned)."""
    identity: str
    """Who the stored credentials act as, as the PSA named it when they were set."""


class PsaInstances(msgspec.Struct, kw_only=True):
    instances: list[PsaInstance]


class CredentialsBody(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    credentials: dict[str, Any]


def _view(stored: psa.StoredInstance) -> PsaInstance:
    i = stored.instance
    return PsaInstance(
        name=i.name, kind=i.kind, origins=list(i.origins), api_url=i.api_url, options=dict(i.options),
        credentials=stored.has_credentials, identity=stored.identity,
    )  # fmt: skip


async def _find(services: ServerServices, name: str) -> psa.StoredInstance:
    async with services.db.connection() as conn:
        found = [s for s in await psa.instances(conn) if s.instance.name == name]
    if not found:
        raise ApiError.of("not_found", f"no PSA instance named {name!r}")
    return found[0]


async def list_instances(request: web.Request) -> web.Response:
    admin_of(request)
    async with request.app[SERVER].db.connection() as conn:
        stored = await psa.instances(conn)
    return json_response(PsaInstances(instances=[_view(s) for s in stored]))


async def add_instance(request: web.Request) -> web.Response:
    admin = admin_of(request)
    instance = await read_json(request, InstanceConfig)
    services = request.app[SERVER]
    now = services.clock.now()
    async with services.db.transaction() as tx:
        if not await psa.add(tx, instance, now):
            raise ApiError.of("conflict", f"a PSA instance named {instance.name!r} exists already")
        await audit.write(
            tx, at=now, actor_id=admin.id, actor_name=admin.name, via="web", action="psa_added",
            detail={"name": instance.name, "kind": instance.kind, "api_url": instance.api_url},
        )  # fmt: skip
    if services.poster is not None:
        services.poster.changed()
    return json_response(_view(await _find(services, instance.name)), status=201)


async def set_credentials(request: web.Request) -> web.Response:
    admin = admin_of(request)
    body = await read_json(request, CredentialsBody)
    services = request.app[SERVER]
    stored = await _find(services, request.match_info["name"])
    poster = services.poster
    assert poster is not None
    try:
        sealed = poster.credentials.seal({})  # no key: refused before the PSA is asked anything
    except NoSecretKey as exc:
        raise ApiError.of("no_secret_key", str(exc)) from None
    import httpx

    name = stored.instance.name
    async with httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=10.0)) as http:
        checker = PsaService(Config(instances=[stored.instance]), poster.credentials, http, services.clock)
        try:
            identity = await checker.test(name, body.credentials)
        except PsaError as exc:
            raise ApiError.of(exc.code, exc.message) from None
    sealed = poster.credentials.seal(body.credentials)
    who = identity.name or identity.id
    now = services.clock.now()
    async with services.db.transaction() as tx:
        await psa.set_credentials(tx, name, sealed, who, now)
        await audit.write(
            tx, at=now, actor_id=admin.id, actor_name=admin.name, via="web", action="psa_credentials_set",
            detail={"name": name, "identity": who},
        )  # fmt: skip
    poster.changed()
    return json_response(_view(await _find(services, name)))


ROUTES = [
    Route("GET", "/api/team/v1/psa", list_instances, "The PSA instances (admins)", "psa", response=PsaInstances),
    Route("POST", "/api/team/v1/psa", add_instance, "Add a PSA instance (admins)", "psa", body=InstanceConfig,
          response=PsaInstance, status=201),
    Route("PUT", "/api/team/v1/psa/{name}/credentials", set_credentials,
          "Set an instance's credentials, checked against the PSA first, stored encrypted (admins)", "psa",
          body=CredentialsBody, response=PsaInstance),
]  # fmt: skip
