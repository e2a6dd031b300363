"""An entry's way through the team server: arrival from a daemon, approval by other people, the outbox.

The one place that answers "may this happen to this entry now?" on the server. Sync, the approvers' API and the
poster call these functions inside their transaction; each change of status is recorded three times, together: the
entry's row, a decision in its technician's feed (their daemon applies it), and the audit trail (naming the person).

Statuses (the daemon's, DESIGN §5)::

    pending ─(submitted by the technician)→ submitted ─(level 1)→ approved_l1 ─(level 2)→ approved → queued → posted
                                                  ╰──────(team approval "one")──────────╯
    team approval "none": submitted → approved at once.      rejected: back to the technician (with a comment).
    failed: the PSA refused it; the technician edits it (a new version) and submits again.

The conflict rule (README, "Team server"): the technician's daemon owns an entry's content, the approvers own the
decisions. A newer version from the daemon replaces the server's copy while the entry is the technician's (pending,
submitted, rejected, failed, voided). Once an approver has approved it at any level (approved_l1, approved, queued,
posted) the approved version stands: a newer version is refused as a conflict, and a `conflict` decision sends the
approved state back so the daemon restores it and tells the technician.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from daemon.entries.model import Entry
from daemon.server.model import Person, SyncedEntry, Team
from daemon.server.store import Tx, audit, decisions, entries, outbox, people
from daemon.server.store import team as team_store

__all__ = ["LOCKED", "FlowError", "Received", "approve", "receive", "receive_many", "reject"]

LOCKED = frozenset({"approved_l1", "approved", "queued", "posted"})
"""Statuses in which the approvers' decision stands against the technician's later edits."""
SYNCABLE = frozenset({"pending", "submitted", "rejected", "failed", "voided"})
"""Statuses a daemon may send (its own states; the approvers' states come only from the server)."""

Received = Literal["stored", "duplicate", "conflict", "refused", "closed"]


class FlowError(Exception):
    """An action the entry's state or the person's roles do not allow; `code` is in the error catalogue."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


async def receive(tx: Tx, team: Team, person: Person, synced: SyncedEntry, now: float) -> Received:
    """Store a version a daemon sent (`receive_many` of one)."""
    return (await receive_many(tx, team, person, [synced], now))[synced.entry.id]


async def receive_many(tx: Tx, team: Team, person: Person, batch: list[SyncedEntry], now: float) -> dict[str, Received]:
    """Store the versions a daemon sent, in a few statements whatever the batch's size; per entry id:
    `stored`; `duplicate`: the server has it or a newer one (an idempotent resend), or it is another person's;
    `conflict`: approved already (see the conflict rule); `refused`: a status a daemon may not set; `closed`: the
    entry is in a period its team closed (read-only until reopened; the daemon has a `period_closed` decision).
    Of several versions of one id in a batch, the newest counts."""
    newest: dict[str, SyncedEntry] = {}
    for synced in map(_storable, batch):
        known = newest.get(synced.entry.id)
        if known is None or synced.version > known.version:
            newest[synced.entry.id] = synced
    results: dict[str, Received] = {}
    wanted: list[SyncedEntry] = []
    for entry_id, synced in newest.items():
        if synced.entry.status not in SYNCABLE:
            results[entry_id] = "refused"
        else:
            wanted.append(synced)
    held = await entries.lock_many(tx, [s.entry.id for s in wanted])
    closed = await team_store.closed_ranges(tx, team.id) if wanted else []

    def in_closed(started_at: float) -> bool:
        return any(start <= started_at < end for start, end in closed)

    storing: list[SyncedEntry] = []
    for synced in wanted:
        entry, current = synced.entry, held.get(synced.entry.id)
        if current is not None and (current.person_id != person.id or current.version >= synced.version):
            results[entry.id] = "duplicate"
        elif current is not None and current.status in LOCKED:
            await _conflict(tx, person, synced, current.status, current.version, now)
            results[entry.id] = "conflict"
        elif in_closed(entry.started_at) or (current is not None and in_closed(current.started_at)):
            results[entry.id] = "closed"  # an entry is not moved into, out of or within a closed period
        else:
            storing.append(synced)
    stored = await entries.put_many(tx, person.id, team.id, storing, now)
    done = [s for s in storing if s.entry.id in stored]
    for synced in storing:
        results[synced.entry.id] = "stored" if synced.entry.id in stored else "duplicate"
    for device_id in sorted({s.device_id for s in done}):
        await audit.write_many(
            tx, at=now, actor_id=person.id, actor_name=person.name, via=f"device:{device_id}",
            lines=[(f"synced:{s.entry.status}", s.entry.id, {"version": s.version}) for s in done
                   if s.device_id == device_id],
        )  # fmt: skip
    if team.approval == "none":
        for synced in done:
            if synced.entry.status == "submitted":
                entry = synced.entry
                await _approved(tx, entry.id, person.id, entry.instance, synced.version, "approved", None, now)
    return results


def _storable(synced: SyncedEntry) -> SyncedEntry:
    """The version with every NUL character replaced by U+FFFD: PostgreSQL text cannot hold NUL, and an entry's text
    comes from people, ticket pages and PSAs. Refusing it would leave the time unsynced, unapproved and unposted for
    good (and a batch's statement would fail for every entry in it)."""
    if b"\\u0000" not in msgspec.json.encode(synced.entry):
        return synced

    def clean(value: Any) -> Any:
        if isinstance(value, str):
            return value.replace("\x00", "\ufffd")
        if isinstance(value, list):
            return [clean(v) for v in value]
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        return value

    entry = msgspec.convert(clean(msgspec.to_builtins(synced.entry)), Entry)
    return msgspec.structs.replace(synced, entry=entry)


async def _conflict(tx: Tx, person: Person, synced: SyncedEntry, status: str, version: int, now: float) -> None:
    entry_id = synced.entry.id
    await decisions.record(
        tx, person.id, "conflict", actor="server", at=now, entry_id=entry_id, version=version,
        comment=f"approved as version {version} before this edit arrived; the approved version stands",
        detail={"status": status, "refused_version": synced.version},
    )  # fmt: skip
    await audit.write(
        tx, at=now, actor_id=person.id, actor_name=person.name, via=f"device:{synced.device_id}",
        action="conflict", entry_id=entry_id, detail={"status": status, "refused_version": synced.version},
    )  # fmt: skip


async def approve(tx: Tx, entry_id: str, approver: Person, level: Literal[1, 2], now: float) -> str:
    """Approve at `level`; returns the entry's new status. Someone else's entry only, with that level's role in its
    team; level 2 by someone other than level 1's approver."""
    status, version, owner, team_id, instance = await _locked(tx, entry_id)
    team = await people.team_by_id(tx, team_id)
    assert team is not None
    _may_decide(approver, owner, team, level)
    if level == 1:
        if status != "submitted":
            raise FlowError("invalid_transition", f"the entry is {status}, not submitted")
        new = "approved_l1" if team.approval == "two" else "approved"
    else:
        if team.approval != "two":
            raise FlowError("invalid_transition", f"team {team.name} approves at one level only")
        if status != "approved_l1":
            raise FlowError("invalid_transition", f"the entry is {status}, not approved at level 1")
        first = await decisions.last_actor(tx, entry_id, "approved_l1")
        if first == approver.id:
            raise FlowError("forbidden", "level 2 must be approved by someone other than level 1's approver")
        new = "approved"
    await _approved(tx, entry_id, owner, instance, version, new, approver, now)
    return new


async def reject(tx: Tx, entry_id: str, approver: Person, level: Literal[1, 2], comment: str, now: float) -> None:
    """Send the entry back to its technician with a comment (required: they need to know what to fix)."""
    if not comment.strip():
        raise FlowError("invalid_input", "a rejection needs a comment for the technician")
    status, version, owner, team_id, _instance = await _locked(tx, entry_id)
    team = await people.team_by_id(tx, team_id)
    assert team is not None
    _may_decide(approver, owner, team, level)
    wanted = "submitted" if level == 1 else "approved_l1"
    if status != wanted:
        raise FlowError("invalid_transition", f"the entry is {status}, not {wanted}")
    await entries.set_status(tx, entry_id, "rejected", comment=comment, version=version, now=now)
    await decisions.record(
        tx, owner, "rejected", actor=approver.name, at=now, entry_id=entry_id, version=version, comment=comment,
        detail={"actor_id": approver.id, "level": level},
    )  # fmt: skip
    await audit.write(
        tx, at=now, actor_id=approver.id, actor_name=approver.name, via="web", action=f"rejected_l{level}",
        entry_id=entry_id, detail={"comment": comment, "version": version},
    )  # fmt: skip


async def _locked(tx: Tx, entry_id: str) -> tuple[str, int, str, str, str]:
    current = await entries.lock(tx, entry_id)
    if current is None:
        raise FlowError("not_found", "no such entry")
    return current


def _may_decide(approver: Person, owner: str, team: Team, level: int) -> None:
    role = "approver1" if level == 1 else "approver2"
    if role not in approver.roles.get(team.id, []):
        raise FlowError("forbidden", f"you are not a level-{level} approver of team {team.name}")
    if approver.id == owner:
        raise FlowError("forbidden", "your own time is approved by someone else")


async def _approved(
    tx: Tx, entry_id: str, owner: str, instance: str, version: int, status: str, approver: Person | None, now: float
) -> None:
    actor, actor_id = (approver.name, approver.id) if approver is not None else ("server", None)
    final = status == "approved"
    await entries.set_status(tx, entry_id, "queued" if final else status, comment="", version=version, now=now)
    await decisions.record(
        tx, owner, status, actor=actor, at=now, entry_id=entry_id, version=version, detail={"actor_id": actor_id}
    )
    await audit.write(
        tx, at=now, actor_id=actor_id, actor_name=actor, via="web" if approver else "server", action=status,
        entry_id=entry_id, detail={"version": version},
    )  # fmt: skip
    if final:
        await outbox.enqueue(tx, entry_id, instance, now)
