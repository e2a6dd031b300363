"""HaloPSA payloads, with the vendor's own lower-case field names.

Decoding ignores the many fields we do not read and tolerates Halo's `null`s; encoding omits defaults, so a request
carries only what we mean to send. Schemas: `tests/contracts/halopsa.openapi.json` (`Actions`, `Faults`, `Uname`).
"""

from __future__ import annotations

import msgspec

__all__ = [
    "Action",
    "ActionList",
    "Agent",
    "AgentList",
    "NewAction",
    "Ticket",
    "Token",
    "action_list_decoder",
    "agent_decoder",
    "agent_list_decoder",
    "created_decoder",
    "ticket_decoder",
    "token_decoder",
]


class Token(msgspec.Struct, kw_only=True):
    """The auth server's answer to a client_credentials grant (not in the swagger; see NOTES §3.1)."""

    access_token: str
    token_type: str = "Bearer"
    expires_in: float = 3600.0


class Agent(msgspec.Struct, kw_only=True):
    """Swagger `Uname` (what `/api/Agent` returns)."""

    id: int
    name: str | None = None
    email: str | None = None
    isdisabled: bool | None = None


class AgentList(msgspec.Struct, kw_only=True):
    """`/api/Agent` as a keyed object: `results` when paginated; `agents` seen elsewhere (NOTES §3.3)."""

    agents: list[Agent] | None = None
    results: list[Agent] | None = None
    record_count: int | None = None

    def items(self) -> list[Agent]:
        return self.agents or self.results or []


class Ticket(msgspec.Struct, kw_only=True):
    """Swagger `Faults` (a ticket)."""

    id: int
    summary: str | None = None
    client_id: int | None = None
    client_name: str | None = None
    status_id: int | None = None
    status_name: str | None = None
    team: str | None = None
    agent_id: int | None = None
    agent_name: str | None = None
    tickettype_id: int | None = None
    is_project: bool | None = None


class Action(msgspec.Struct, kw_only=True):
    """Swagger `Actions`, as Halo returns it."""

    id: int
    ticket_id: int | None = None
    note: str | None = None
    private_note: str | None = None
    who_agentid: int | None = None
    timetaken: float | None = None
    actionarrivaldate: str | None = None
    actioncompletiondate: str | None = None


class ActionList(msgspec.Struct, kw_only=True):
    """`GET /api/Actions` → `{"actions": [...], "record_count": N}`."""

    actions: list[Action] | None = None
    record_count: int | None = None


class NewAction(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One item of the array `POST /api/Actions` takes.

    Every key is a property of the swagger `Actions` schema except `who`: Halo acts on the agent *user name* given
    in `who` when creating an action (djpsa, n8n; NOTES §3.2), yet the swagger lists only the read-back
    `who_agentid`. We send both when logging on behalf of someone: `who_agentid` (the id, in the schema) and `who`
    (the agent's name, the documented exception the schema-key test allows).
    """

    ticket_id: int
    timetaken: float
    """Hours."""
    actionarrivaldate: str
    actioncompletiondate: str
    note: str
    hiddenfromuser: bool | None = None
    sendemail: bool | None = None
    outcome: str | None = None
    outcome_id: int | None = None
    private_note: str | None = None
    who: str | None = None
    who_agentid: int | None = None
    actisbillable: bool | None = None
    nonbilltime: float | None = None
    chargerate: int | None = None


token_decoder = msgspec.json.Decoder(Token)
agent_decoder = msgspec.json.Decoder(Agent)
agent_list_decoder = msgspec.json.Decoder(list[Agent] | AgentList)
ticket_decoder = msgspec.json.Decoder(Ticket)
action_list_decoder = msgspec.json.Decoder(list[Action] | ActionList)
created_decoder = msgspec.json.Decoder(list[Action] | Action)
