"""Devices: technicians' daemons enroll (by a one-time invite code, or by password and an admin's approval), get a
device token (`tcd_…`, shown once, only its hash stored), and can be revoked by an admin at once.

    POST   /api/team/v1/invites              admin: {person_id} -> {code, expires_at}   (24 h, once)
    POST   /api/team/v1/devices/enroll       {name, invite_code} -> active, or {name, email, password} -> pending
    GET    /api/team/v1/device               the calling device (device token): its status, person, team
    DELETE /api/team/v1/device               the calling device leaves (revokes its own token)
    GET    /api/team/v1/devices              admin: every device
    POST   /api/team/v1/devices/{id}/approve admin: pending -> active
    DELETE /api/team/v1/devices/{id}         admin: revoked (its token is refused from the next request on)

The "tcd_" bearer resolver is registered in `daemon.server.auth.BEARERS` when this module is imported (the app's
route table imports it).
"""

from __future__ import annotations

import base64
import secrets
import uuid

import msgspec
from aiohttp import web

from daemon.api.errors import ApiError
from daemon.api.routing import Route, json_response, read_json
from daemon.server.auth import BEARERS, Principal, admin_of, principal_of, token_hash, verify_password
from daemon.server.model import Person
from daemon.server.services import SERVER, ServerServices
from daemon.server.store import Tx, audit, devices, people
from daemon.server.store.devices import Device

__all__ = ["DEVICE_PREFIX", "INVITE_TTL_S", "ROUTES", "device_of", "new_invite_code", "technician_team"]

DEVICE_PREFIX = "tcd_"
INVITE_TTL_S = 24 * 3600
NAME_MAX = 100


class InviteBody(msgspec.Struct, forbid_unknown_fields=True):
    person_id: str


class Invite(msgspec.Struct, kw_only=True):
    code: str
    """Shown once: give it to the technician (`ticketclock team join URL --invite CODE`)."""
    person_id: str
    expires_at: float


class Enroll(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    name: str
    """The device's name as the admin will see it (e.g. the laptop's host name)."""
    invite_code: str | None = None
    email: str | None = None
    password: str | None = None


class Enrolled(msgspec.Struct, kw_only=True):
    device: Device
    token: str
    """The device token, shown once (only its hash is stored)."""


class DeviceInfo(msgspec.Struct, kw_only=True):
    device: Device
    team: str | None
    """The name of the team where the device's person is a technician (None: none, or more than one)."""


async def resolve_device(services: ServerServices, token: str) -> Principal | None:
    """The "tcd_" bearer: the device's person as principal, unless the device was revoked (read on every request)."""
    async with services.db.connection() as conn:
        device = await devices.by_token(conn, token_hash(token))
        person = await people.person_by_id(conn, device.person_id) if device is not None else None
    if device is None or person is None:
        return None
    return Principal(kind="device", person=person, token_id=device.id)


BEARERS[DEVICE_PREFIX] = resolve_device


def device_of(request: web.Request) -> tuple[Person, str]:
    """(the device's person, the device id) of a request made with a device token; 401 for anyone else."""
    found = principal_of(request)
    if found.kind != "device" or found.person is None:
        raise ApiError.of("unauthorized", "this needs a device token (ticketclock team join)")
    return found.person, found.token_id


def technician_team(person: Person) -> str:
    """The id of the one team where `person` is a technician; `no_team` (409) when none or several."""
    teams = [team_id for team_id, roles in person.roles.items() if "technician" in roles]
    if len(teams) != 1:
        why = "is not a technician of any team" if not teams else f"is a technician of {len(teams)} teams"
        raise ApiError.of("no_team", f"{person.name} {why}: an admin makes them a technician of exactly one team")
    return teams[0]


def new_invite_code() -> str:
    """A one-time invite code a person can type and a command line takes as an argument: 120 random bits as six
    groups of four base32 letters and digits ("K3QX-…"), never starting with "-" (which argparse reads as an option)."""
    letters = base64.b32encode(secrets.token_bytes(15)).decode()
    return "-".join(letters[i : i + 4] for i in range(0, 24, 4))


def normal_invite_code(code: str) -> str:
    """The code as it was issued, whatever case and surrounding spaces it is typed with."""
    return code.strip().upper()


async def create_invite(request: web.Request) -> web.Response:
    admin = admin_of(request)
    body = await read_json(request, InviteBody)
    services = request.app[SERVER]
    code = new_invite_code()
    now = services.clock.now()
    async with services.db.transaction() as tx:
        person = await people.person_by_id(tx, body.person_id)
        if person is None or not person.active:
            raise ApiError.of("not_found", "no active person with that id")
        await devices.create_invite(tx, token_hash(code), person.id, admin.id, now, now + INVITE_TTL_S)
        await audit.write(
            tx, at=now, actor_id=admin.id, actor_name=admin.name, via="web", action="invite_created",
            detail={"person_id": person.id, "expires_at": now + INVITE_TTL_S},
        )  # fmt: skip
    return json_response(Invite(code=code, person_id=person.id, expires_at=now + INVITE_TTL_S), status=201)


async def enroll(request: web.Request) -> web.Response:
    body = await read_json(request, Enroll)
    name = body.name.strip()
    if not name or len(name) > NAME_MAX:
        raise ApiError.of("invalid_input", f"name: 1 to {NAME_MAX} characters")
    by_invite = body.invite_code is not None
    if by_invite == (body.email is not None or body.password is not None):
        raise ApiError.of("invalid_input", "give either invite_code, or email and password")
    services = request.app[SERVER]
    now = services.clock.now()
    device_id = uuid.uuid4().hex
    token = DEVICE_PREFIX + secrets.token_urlsafe(32)
    if body.invite_code is not None:
        async with services.db.transaction() as tx:
            person_id = await devices.use_invite(tx, token_hash(normal_invite_code(body.invite_code)), device_id, now)
            if person_id is None:
                raise ApiError.of("invite_invalid", "that invite code is unknown, used already, or expired")
            person = await people.person_by_id(tx, person_id)
            assert person is not None
            await _enrolled(tx, device_id, person, name, token, "active", "invite", now)
    else:
        if body.email is None or body.password is None:
            raise ApiError.of("invalid_input", "give both email and password")
        async with services.db.connection() as conn:
            found = await people.password_hash(conn, body.email.strip())
        if not verify_password(found[1] if found else None, body.password) or found is None:
            raise ApiError.of("sign_in_failed", "that e-mail and password do not match an active account")
        async with services.db.transaction() as tx:
            person = await people.person_by_id(tx, found[0])
            assert person is not None
            await _enrolled(tx, device_id, person, name, token, "pending", "password", now)
    async with services.db.connection() as conn:
        device = await devices.get(conn, device_id)
    assert device is not None
    return json_response(Enrolled(device=device, token=token), status=201)


async def _enrolled(
    tx: Tx, device_id: str, person: Person, name: str, token: str, status: str, via: str, now: float
) -> None:
    await devices.create(tx, device_id, person.id, name, token_hash(token), status, via, now)  # type: ignore[arg-type]
    await audit.write(
        tx, at=now, actor_id=person.id, actor_name=person.name, via=f"device:{device_id}", action="device_enrolled",
        detail={"device_id": device_id, "name": name, "status": status, "by": via},
    )  # fmt: skip


async def this_device(request: web.Request) -> web.Response:
    person, device_id = device_of(request)
    services = request.app[SERVER]
    async with services.db.connection() as conn:
        device = await devices.get(conn, device_id)
        team_ids = [t for t, roles in person.roles.items() if "technician" in roles]
        team = await people.team_by_id(conn, team_ids[0]) if len(team_ids) == 1 else None
    assert device is not None
    return json_response(DeviceInfo(device=device, team=team.name if team is not None else None))


async def leave(request: web.Request) -> web.Response:
    """The calling device revokes itself (`ticketclock team leave`): its token stops working."""
    person, device_id = device_of(request)
    services = request.app[SERVER]
    now = services.clock.now()
    async with services.db.transaction() as tx:
        await devices.decide(tx, device_id, "revoked", ("pending", "active"), person.id, now)
        await audit.write(
            tx, at=now, actor_id=person.id, actor_name=person.name, via=f"device:{device_id}", action="device_left",
            detail={"device_id": device_id},
        )  # fmt: skip
        device = await devices.get(tx, device_id)
    return json_response(device)


async def list_devices(request: web.Request) -> web.Response:
    admin_of(request)
    services = request.app[SERVER]
    async with services.db.connection() as conn:
        return json_response(await devices.list_all(conn))


async def approve_device(request: web.Request) -> web.Response:
    return await _decide(request, "active", ("pending",), "device_approved")


async def revoke_device(request: web.Request) -> web.Response:
    return await _decide(request, "revoked", ("pending", "active"), "device_revoked")


async def _decide(request: web.Request, to: devices.DeviceStatus, frm: tuple[str, ...], action: str) -> web.Response:
    admin = admin_of(request)
    services = request.app[SERVER]
    device_id = request.match_info["device_id"]
    now = services.clock.now()
    async with services.db.transaction() as tx:
        current = await devices.get(tx, device_id)
        if current is None:
            raise ApiError.of("not_found", "no such device")
        if not await devices.decide(tx, device_id, to, frm, admin.id, now):
            raise ApiError.of("invalid_transition", f"the device is {current.status}")
        await audit.write(
            tx, at=now, actor_id=admin.id, actor_name=admin.name, via="web", action=action,
            detail={"device_id": device_id, "person_id": current.person_id},
        )  # fmt: skip
        device = await devices.get(tx, device_id)
    return json_response(device)


ROUTES = [
    Route("POST", "/api/team/v1/invites", create_invite, "Make a one-time invite code for a person's device (admin)",
          "devices", body=InviteBody, response=Invite, status=201),
    Route("POST", "/api/team/v1/devices/enroll", enroll, "Enroll a device: by invite (active) or password (pending)",
          "devices", body=Enroll, response=Enrolled, status=201, auth=False),
    Route("GET", "/api/team/v1/device", this_device, "The calling device (device token)", "devices",
          response=DeviceInfo),
    Route("DELETE", "/api/team/v1/device", leave, "The calling device leaves: its token stops working", "devices",
          response=Device),
    Route("GET", "/api/team/v1/devices", list_devices, "Every device (admin)", "devices", response=list[Device]),
    Route("POST", "/api/team/v1/devices/{device_id}/approve", approve_device, "Approve a pending device (admin)",
          "devices", response=Device),
    Route("DELETE", "/api/team/v1/devices/{device_id}", revoke_device, "Revoke a device: its token stops working",
          "devices", response=Device),
]  # fmt: skip
