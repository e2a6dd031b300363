"""People, teams and roles as admins manage them: the one place their rules live (e-mail shape, unique e-mail and
team name, password length, known roles, an admin keeping their own access), used by the admin API and by
`ticketclock server-admin add-admin`. Every change is written to the audit trail in its own transaction."""

from __future__ import annotations

import re
import uuid
from typing import Any

import msgspec

from daemon.api.errors import ApiError
from daemon.server import auth
from daemon.server.auth import hash_password
from daemon.server.model import ROLES, Approval, Person, Role, Team
from daemon.server.services import ServerServices
from daemon.server.store import admin, audit, people

__all__ = [
    "MIN_PASSWORD",
    "Actor",
    "NewPerson",
    "NewTeam",
    "PersonChanges",
    "TeamChanges",
    "add_person",
    "add_team",
    "change_own_password",
    "change_person",
    "change_team",
    "check_email",
    "check_new_password",
    "set_role",
]

MIN_PASSWORD = 12
_EMAIL = re.compile(r"[^@\s]+@[^@\s.]+(\.[^@\s.]+)+")


class NewTeam(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    name: str
    approval: Approval = "one"


class TeamChanges(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, omit_defaults=True):
    name: str | None = None
    approval: Approval | None = None


class NewPerson(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    email: str
    name: str
    password: str | None = None
    """An initial password (12 characters or more), or none: the person signs in through OIDC only."""
    is_admin: bool = False
    active: bool = True
    psa_identities: dict[str, str] = {}


class PersonChanges(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, omit_defaults=True):
    email: str | None = None
    name: str | None = None
    password: str | None = None
    """A new password set by an admin (the person's sessions end)."""
    is_admin: bool | None = None
    active: bool | None = None
    """false: deactivated, their sessions end and they cannot sign in."""
    psa_identities: dict[str, str] | None = None


class Actor(msgspec.Struct, frozen=True):
    """Who makes a change, as the audit trail names them."""

    id: str | None
    name: str
    via: str


def check_email(email: str) -> str:
    """The e-mail address as stored (trimmed, lower case); 422 when it does not look like one."""
    clean = email.strip().lower()
    if len(clean) > 254 or not _EMAIL.fullmatch(clean):
        raise ApiError.of("invalid_input", f"{email!r} is not an e-mail address")
    return clean


def check_new_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise ApiError.of("invalid_input", f"a password needs {MIN_PASSWORD} characters or more")
    return password


def _check_name(name: str, what: str) -> str:
    clean = name.strip()
    if not clean or len(clean) > 200:
        raise ApiError.of("invalid_input", f"the {what} needs a name (1 to 200 characters)")
    return clean


def _check_identities(identities: dict[str, str]) -> dict[str, str]:
    clean = {k.strip(): v.strip() for k, v in identities.items()}
    if any(not k or not v or len(k) > 100 or len(v) > 200 for k, v in clean.items()):
        raise ApiError.of("invalid_input", "psa_identities maps a PSA instance name to a non-empty identity")
    return clean


async def _write(tx: Any, services: ServerServices, actor: Actor, action: str, detail: dict[str, Any]) -> None:
    await audit.write(
        tx,
        at=services.clock.now(),
        actor_id=actor.id,
        actor_name=actor.name,
        via=actor.via,
        action=action,
        detail=detail,
    )


async def add_team(services: ServerServices, actor: Actor, body: NewTeam) -> Team:
    team = Team(
        id=uuid.uuid4().hex,
        name=_check_name(body.name, "team"),
        approval=body.approval,
        created_at=services.clock.now(),
    )
    async with services.db.transaction() as tx:
        try:
            await admin.insert_team(tx, team)
        except admin.Taken:
            raise ApiError.of("team_name_taken", f"a team named {team.name!r} exists already") from None
        await _write(
            tx, services, actor, "team_created", {"team_id": team.id, "name": team.name, "approval": team.approval}
        )
    return team


async def change_team(services: ServerServices, actor: Actor, team_id: str, body: TeamChanges) -> Team:
    changes = msgspec.structs.asdict(body)
    changes = {k: v for k, v in changes.items() if v is not None}
    if "name" in changes:
        changes["name"] = _check_name(changes["name"], "team")
    async with services.db.transaction() as tx:
        try:
            team = await admin.update_team(tx, team_id, changes)
        except admin.Taken:
            raise ApiError.of("team_name_taken", f"a team named {changes.get('name')!r} exists already") from None
        if team is None:
            raise ApiError.of("not_found", "no such team")
        await _write(tx, services, actor, "team_changed", {"team_id": team_id, **changes})
    return team


async def add_person(services: ServerServices, actor: Actor, body: NewPerson) -> Person:
    email = check_email(body.email)
    hashed = hash_password(check_new_password(body.password)) if body.password is not None else None
    person = Person(
        id=uuid.uuid4().hex,
        email=email,
        name=_check_name(body.name, "person"),
        is_admin=body.is_admin,
        active=body.active,
        psa_identities=_check_identities(body.psa_identities),
        created_at=services.clock.now(),
    )
    async with services.db.transaction() as tx:
        try:
            await admin.insert_person(tx, person, hashed)
        except admin.Taken:
            raise ApiError.of("email_taken", f"{email} is taken by another person") from None
        await _write(
            tx,
            services,
            actor,
            "person_created",
            {
                "person_id": person.id,
                "email": email,
                "is_admin": person.is_admin,
                "active": person.active,
                "password": hashed is not None,
            },
        )
        created = await people.person_by_id(tx, person.id)
    assert created is not None
    return created


async def change_person(services: ServerServices, actor: Actor, person_id: str, body: PersonChanges) -> Person:
    changes = {k: v for k, v in msgspec.structs.asdict(body).items() if v is not None}
    if person_id == actor.id and (changes.get("is_admin") is False or changes.get("active") is False):
        raise ApiError.of("conflict", "you cannot take away your own admin rights or deactivate yourself")
    if "email" in changes:
        changes["email"] = check_email(changes["email"])
    if "name" in changes:
        changes["name"] = _check_name(changes["name"], "person")
    if "psa_identities" in changes:
        changes["psa_identities"] = _check_identities(changes["psa_identities"])
    password = changes.pop("password", None)
    stored = dict(changes)
    if password is not None:
        stored["password_hash"] = hash_password(check_new_password(password))
    async with services.db.transaction() as tx:
        try:
            person = await admin.update_person(tx, person_id, stored)
        except admin.Taken:
            raise ApiError.of("email_taken", f"{changes.get('email')} is taken by another person") from None
        if person is None:
            raise ApiError.of("not_found", "no such person")
        ended = 0
        if changes.get("active") is False or password is not None:
            ended = await admin.end_sessions(tx, person_id)
        await _write(
            tx,
            services,
            actor,
            "person_changed",
            {
                "person_id": person_id,
                **changes,
                **({"password": "changed"} if password is not None else {}),
                "sessions_ended": ended,
            },
        )
    return person


async def set_role(
    services: ServerServices, actor: Actor, team_id: str, person_id: str, role: str, granted: bool
) -> Person:
    if role not in ROLES:
        raise ApiError.of("invalid_input", f"unknown role {role!r}: one of {', '.join(ROLES)}")
    the_role: Role = role
    async with services.db.transaction() as tx:
        if await people.team_by_id(tx, team_id) is None:
            raise ApiError.of("not_found", "no such team")
        if await people.person_by_id(tx, person_id) is None:
            raise ApiError.of("not_found", "no such person")
        if granted:
            await people.add_role(tx, team_id, person_id, the_role)
        else:
            await admin.remove_role(tx, team_id, person_id, the_role)
        await _write(
            tx,
            services,
            actor,
            "role_granted" if granted else "role_revoked",
            {"team_id": team_id, "person_id": person_id, "role": role},
        )
        person = await people.person_by_id(tx, person_id)
    assert person is not None
    return person


async def change_own_password(services: ServerServices, person: Person, old: str, new: str, session_hash: str) -> None:
    """A person's own new password, proven by the old one; their other sessions end."""
    check_new_password(new)
    if await auth.check_password(services, person.email, old) != person.id:  # throttled like signing in
        raise ApiError.of("sign_in_failed", "the old password is not right")
    hashed = hash_password(new)
    async with services.db.transaction() as tx:
        await people.set_password_hash(tx, person.id, hashed)
        ended = await admin.end_sessions(tx, person.id, keep_hash=session_hash)
        await _write(
            tx,
            services,
            Actor(person.id, person.name, "web"),
            "password_changed",
            {"person_id": person.id, "sessions_ended": ended},
        )
