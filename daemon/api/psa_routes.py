"""PSA connections (status, test, credentials) and the outbox."""

from __future__ import annotations

from typing import Any

import msgspec
from aiohttp import web

from daemon.api.routing import Route, json_response, read_json
from daemon.outbox import OutboxView
from daemon.psa import PsaStatus
from daemon.services import SERVICES

__all__ = ["routes"]


class PsaList(msgspec.Struct, kw_only=True):
    instances: list[PsaStatus]


class TestResult(msgspec.Struct, kw_only=True):
    ok: bool
    identity: str


class CredentialsBody(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    credentials: dict[str, Any]


async def list_psa(request: web.Request) -> web.Response:
    return json_response(PsaList(instances=await request.app[SERVICES].psa.status()))


async def test_psa(request: web.Request) -> web.Response:
    identity = await request.app[SERVICES].psa.test(request.match_info["name"])
    return json_response(TestResult(ok=True, identity=identity.name or identity.id))


async def put_credentials(request: web.Request) -> web.Response:
    body = await read_json(request, CredentialsBody)
    services = request.app[SERVICES]
    name = request.match_info["name"]
    identity = await services.psa.save_credentials(name, body.credentials)
    services.outbox.wake(name)
    return json_response(TestResult(ok=True, identity=identity.name or identity.id))


async def outbox(request: web.Request) -> web.Response:
    return json_response(await request.app[SERVICES].outbox.view())


routes = [
    Route(
        "GET", "/api/v1/psa", list_psa, "PSA instances and their health (secrets never shown)", "psa", response=PsaList
    ),
    Route(
        "POST",
        "/api/v1/psa/{name}/test",
        test_psa,
        "Test the stored credentials against the PSA",
        "psa",
        response=TestResult,
    ),
    Route(
        "PUT",
        "/api/v1/psa/{name}/credentials",
        put_credentials,
        "Check credentials against the PSA, then store them (keyring or user-only file)",
        "psa",
        body=CredentialsBody,
        response=TestResult,
    ),
    Route(
        "GET",
        "/api/v1/outbox",
        outbox,
        "What is queued or failed, attempts, next try, last error",
        "psa",
        response=OutboxView,
    ),
]
