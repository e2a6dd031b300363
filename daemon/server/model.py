"""The team server's domain types: teams, people and their roles, an entry as a technician's daemon synced it."""

from __future__ import annotations

from typing import Literal

import msgspec

from daemon.entries.model import Entry

__all__ = ["ROLES", "Approval", "Person", "Role", "SyncedEntry", "Team"]

Role = Literal["technician", "approver1", "approver2"]
ROLES: tuple[Role, ...] = ("technician", "approver1", "approver2")
Approval = Literal["none", "one", "two"]


class Team(msgspec.Struct, kw_only=True):
    id: str
    name: str
    approval: Approval = "one"
    """Approval levels before the server posts a technician's submitted entry: none, one (level 1) or two."""
    created_at: float = 0.0


class Person(msgspec.Struct, kw_only=True):
    id: str
    email: str
    name: str
    is_admin: bool = False
    active: bool = True
    psa_identities: dict[str, str] = {}
    """PSA instance name -> who the PSA knows this person as (ConnectWise member identifier, Autotask resource
    email or user name, Halo agent name): the server posts their time as them."""
    roles: dict[str, list[Role]] = {}
    """team id -> this person's roles in it."""
    created_at: float = 0.0


class SyncedEntry(msgspec.Struct, kw_only=True):
    """One version of a technician's entry, as their daemon sent it (`version` grows with every local change)."""

    entry: Entry
    version: int
    device_id: str = ""
