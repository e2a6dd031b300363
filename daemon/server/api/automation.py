"""Automations from the cloud: workflow tools report runs to the team server with a per-integration token (`tci_…`),
and each run becomes an entry of the person the integration logs for, going through that team's approval flow.

The body is the daemon's (`POST /api/v1/automation-runs`, daemon/automation/model.py `RunIn`). The entry's id comes
from the run's idempotency key (the person and `run_id`), so a retried run is one entry: the retry answers 200 with
`repeat`. It arrives as `submitted` (flow.receive): approvers see it like any other entry; a team with approval
"none" queues it for posting at once.

The automations' settings (`GET/PUT /api/team/v1/automations`, admins; the daemon's `[[automations]]` type and
validation) say, per automation: `enabled` and `apply_to = "none"` (a run is answered `skipped` with the reason, and
the audit trail records it: never silently dropped), `minutes` (the entry ends at the run's end), the notes
template, `work_type` and `billable`. Not on the server yet: `apply_to = "tag:…"` (no company tags here: such a run
is skipped, saying so), `log_as` (the time is always the integration's person's, posted as their PSA identity) and
`overlap`. An automation without settings uses the defaults.

Admins manage integrations: create (name, person, team; the token is shown once), list, revoke.
"""

from __future__ import annotations

import secrets
import uuid
from typing import Any

import msgspec
from aiohttp import web

from daemon.api.errors import ApiError
from daemon.api.routing import Route, json_response, read_json
from daemon.automation.model import AutomationConfig, AutomationsBody, AutomationsView, RunIn
from daemon.automation.service import AutomationError, parse_automations, run_notes
from daemon.entries.model import Entry
from daemon.server import flow
from daemon.server.auth import BEARERS, Principal, admin_of, principal_of, token_hash
from daemon.server.model import SyncedEntry
from daemon.server.services import SERVER, ServerServices
from daemon.server.store import audit, entries, integrations, people, psa
from daemon.server.store.integrations import Integration

__all__ = ["ROUTES", "run_entry_id"]

TOKEN_PREFIX = "tci_"
RUNS = uuid.UUID("5f0b7d62-8a43-4c1e-9f55-3c2f1d6b7a10")
"""uuid5 namespace of the entry ids made from automation runs."""


class IntegrationIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    name: str
    person_id: str
    team_id: str


class IntegrationCreated(msgspec.Struct, kw_only=True):
    integration: Integration
    token: str
    """Shown once: only its hash is stored."""


class IntegrationList(msgspec.Struct, kw_only=True):
    integrations: list[Integration]


class RunAccepted(msgspec.Struct, kw_only=True):
    run_id: str
    automation: str
    entry_id: str | None
    status: str
    """The entry's status on the server (submitted, or queued with team approval "none"), or "skipped"."""
    reason: str = ""
    """Skipped: why."""
    repeat: bool = False


def _settings_for(saved: list[AutomationConfig], name: str) -> AutomationConfig:
    key = name.strip().casefold()
    found = [a for a in saved if a.name.strip().casefold() == key]
    return found[0] if found else AutomationConfig(name=name)


def _skipped(settings: AutomationConfig) -> str:
    if not settings.enabled:
        return f"automation {settings.name!r} is disabled"
    if settings.apply_to == "none":
        return f"automation {settings.name!r} applies to no client (apply_to = none)"
    if settings.apply_to.startswith("tag:"):
        return f"automation {settings.name!r} applies to tagged clients, and the team server has no client tags yet"
    return ""


def run_entry_id(person_id: str, run_id: str) -> str:
    """The entry a run becomes: the same run of the same person is always the same entry."""
    return str(uuid.uuid5(RUNS, f"{person_id}\n{run_id}"))


async def _resolve(services: ServerServices, token: str) -> Principal | None:
    async with services.db.connection() as conn:
        found = await integrations.by_token_hash(conn, token_hash(token))
        person = await people.person_by_id(conn, found.person_id) if found is not None else None
    if found is None or person is None or not person.active:
        return None
    return Principal(kind="integration", person=person, token_id=found.id)


BEARERS[TOKEN_PREFIX] = _resolve


async def create_integration(request: web.Request) -> web.Response:
    admin = admin_of(request)
    body = await read_json(request, IntegrationIn)
    name = body.name.strip()
    if not name or len(name) > 100:
        raise ApiError.of("invalid_input", "name: 1 to 100 characters")
    services = request.app[SERVER]
    now = services.clock.now()
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    integration = Integration(
        id=uuid.uuid4().hex, name=name, person_id=body.person_id, team_id=body.team_id, created_by=admin.id,
        created_at=now,
    )  # fmt: skip
    async with services.db.transaction() as tx:
        person = await people.person_by_id(tx, body.person_id)
        if person is None:
            raise ApiError.of("invalid_input", "person_id: no such person")
        if "technician" not in person.roles.get(body.team_id, []):
            raise ApiError.of("invalid_input", "team_id: the person is not a technician of that team")
        await integrations.create(tx, integration, token_hash(token))
        await audit.write(
            tx, at=now, actor_id=admin.id, actor_name=admin.name, via="web", action="integration_created",
            detail={"integration": integration.id, "name": name, "person_id": person.id, "team_id": body.team_id},
        )  # fmt: skip
    return json_response(IntegrationCreated(integration=integration, token=token), status=201)


async def list_integrations(request: web.Request) -> web.Response:
    admin_of(request)
    async with request.app[SERVER].db.connection() as conn:
        found = await integrations.listing(conn)
    return json_response(IntegrationList(integrations=found))


async def revoke_integration(request: web.Request) -> web.Response:
    admin = admin_of(request)
    services = request.app[SERVER]
    integration_id = request.match_info["id"]
    now = services.clock.now()
    async with services.db.transaction() as tx:
        if not await integrations.revoke(tx, integration_id, now):
            raise ApiError.of("not_found", "no such integration (or revoked already)")
        await audit.write(
            tx, at=now, actor_id=admin.id, actor_name=admin.name, via="web", action="integration_revoked",
            detail={"integration": integration_id},
        )  # fmt: skip
    return web.Response(status=204)


async def post_run(request: web.Request) -> web.Response:
    principal = principal_of(request)
    if principal.kind != "integration" or principal.person is None:
        raise ApiError.of("unauthorized", "report automation runs with an integration's token (Bearer tci_…)")
    body = await read_json(request, RunIn)
    if body.finished_at < body.started_at:
        raise ApiError.of("invalid_input", "finished_at: before started_at")
    services = request.app[SERVER]
    person = principal.person
    now = services.clock.now()
    async with services.db.transaction() as tx:
        found = [i for i in await integrations.listing(tx) if i.id == principal.token_id]
        names = [s.instance.name for s in await psa.instances(tx)]
        instance = body.instance or (names[0] if len(names) == 1 else "")
        if instance not in names:
            raise ApiError.of("invalid_input", f"instance: one of {', '.join(names) or '(no PSA instance yet)'}")
        team = await people.team_by_id(tx, found[0].team_id) if found else None
        if team is None:
            raise ApiError.of("unauthorized", "that token is not valid (revoked, or never issued)")
        entry_id = run_entry_id(person.id, body.run_id)
        known = await entries.get(tx, entry_id)
        if known is not None:  # the same run again: its first answer (even if the settings changed since)
            return json_response(
                RunAccepted(
                    run_id=body.run_id, automation=known[0].entry.automation, entry_id=entry_id,
                    status=known[0].entry.status, repeat=True,
                )
            )  # fmt: skip
        saved, _at = await integrations.automations(tx)
        settings = _settings_for(msgspec.convert(saved, list[AutomationConfig]), body.automation)
        why = _skipped(settings)
        if why:
            await audit.write(
                tx, at=now, actor_id=person.id, actor_name=person.name, via=f"integration:{principal.token_id}",
                action="automation_run_skipped", detail={"run_id": body.run_id, "automation": body.automation,
                                                         "reason": why},
            )  # fmt: skip
            skipped = RunAccepted(
                run_id=body.run_id, automation=body.automation, entry_id=None, status="skipped", reason=why
            )
            return json_response(skipped)
        start = body.finished_at - settings.minutes * 60 if settings.minutes is not None else body.started_at
        seconds = round(body.finished_at - start)
        entry = Entry(
            id=entry_id, source="automation", automation=settings.name,
            instance=instance, ticket_id=body.ticket if isinstance(body.ticket, int) else None,
            ticket_number=body.ticket if isinstance(body.ticket, str) else None,
            started_at=start, ended_at=body.finished_at, actual_seconds=seconds, billed_seconds=seconds,
            notes=run_notes(settings, body.outcome, body.started_by, body.notes), status="submitted",
            work_type=settings.work_type, billable="agreement" if settings.billable == "default" else settings.billable,
            created_at=now, updated_at=now,
        )  # fmt: skip
        synced = SyncedEntry(entry=entry, version=1, device_id=f"integration:{principal.token_id}")
        received = await flow.receive(tx, team, person, synced, now)
        stored = await entries.get(tx, entry.id)
        status = stored[0].entry.status if stored is not None else "?"
    answer = RunAccepted(
        run_id=body.run_id, automation=body.automation, entry_id=entry.id, status=status,
        repeat=received != "stored",
    )  # fmt: skip
    return json_response(answer, status=200 if answer.repeat else 201)


async def get_automations(request: web.Request) -> web.Response:
    admin_of(request)
    async with request.app[SERVER].db.connection() as conn:
        saved, at = await integrations.automations(conn)
    listed = msgspec.convert(saved, list[AutomationConfig])
    return json_response(AutomationsView(automations=listed, source="stored", updated_at=at))


async def put_automations(request: web.Request) -> web.Response:
    admin = admin_of(request)
    raw: Any = await read_json(request, Any)
    try:
        listed = parse_automations(raw)
    except AutomationError as exc:
        raise ApiError.of(exc.code, exc.message, details={"field": exc.field} if exc.field else None) from None
    services = request.app[SERVER]
    now = services.clock.now()
    async with services.db.transaction() as tx:
        await integrations.set_automations(tx, msgspec.to_builtins(listed), admin.id, now)
        await audit.write(
            tx, at=now, actor_id=admin.id, actor_name=admin.name, via="web", action="automations_set",
            detail={"automations": msgspec.to_builtins(listed)},
        )  # fmt: skip
    return json_response(AutomationsView(automations=listed, source="stored", updated_at=now))


ROUTES = [
    Route("GET", "/api/team/v1/automations", get_automations, "The automations' settings (admins)", "automation",
          response=AutomationsView),
    Route("PUT", "/api/team/v1/automations", put_automations,
          "Replace the automations' settings (admins; validated: 400 naming the field, nothing changes)",
          "automation", body=AutomationsBody, response=AutomationsView),
    Route("POST", "/api/team/v1/integrations", create_integration,
          "Create an integration token for automation runs (admins; the token is shown once)", "automation",
          body=IntegrationIn, response=IntegrationCreated, status=201),
    Route("GET", "/api/team/v1/integrations", list_integrations, "The integrations (admins; no tokens)", "automation",
          response=IntegrationList),
    Route("DELETE", "/api/team/v1/integrations/{id}", revoke_integration, "Revoke an integration's token (admins)",
          "automation", status=204),
    Route("POST", "/api/v1/automation-runs", post_run,
          "Report an automation run (Bearer tci_…): one entry per run, through the team's approval", "automation",
          body=RunIn, response=RunAccepted),
]  # fmt: skip
